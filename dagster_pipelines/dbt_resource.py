"""The dbt resource of every job: dagster-dbt's ``DbtCliResource`` without two start-up costs that every
`dbt build` of a learning run paid and this project never uses.

* ``dbt --version`` in a subprocess (~2.4 CPU-s: a whole dbt start-up) to learn the version of the dbt it
  runs. That dbt is the venv's dbt-core (``convintel.dbt.dbt_executable``), whose version its package
  metadata gives.
* A dbt adapter built in the Dagster process (importing dbt, loading the profile and the project), which
  dagster-dbt only uses to fetch row counts and column metadata; the assets ask for neither.

Both override private members of dagster-dbt; tests/test_dbt_resource.py fails if they stop applying.
"""

from functools import cached_property
from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from packaging import version


class DbtCoreCliResource(DbtCliResource):
    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args) -> None:
        return None

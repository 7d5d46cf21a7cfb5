"""The dbt project as Dagster sees it. Kept in its own module so `dagster-dbt project
prepare-and-package --file` and the tests can prepare the manifest without loading everything."""

from dagster_dbt import DbtProject

from convintel.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` this re-parses on load; CLI and tests run `convintel manifest` first.
dbt_project.prepare_if_dev()

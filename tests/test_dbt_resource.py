"""The dbt resource (dagster_pipelines/dbt_resource.py) skips dagster-dbt's `dbt --version` subprocess and its
in-process dbt adapter. It does so by overriding private members of DbtCliResource: these tests fail when an
upgrade of dagster-dbt renames them (the overrides would silently stop applying) or when the version the
resource reports differs from the one the dbt it runs reports."""

import inspect
import re
import subprocess

import dagster_dbt.core.resource as dagster_dbt_resource
import pytest
from dagster_dbt import DbtCliResource

from convintel.dbt import dbt_executable
from dagster_pipelines.dbt_resource import DbtCoreCliResource
from dagster_pipelines.resources import build_resources


def test_the_overridden_members_are_the_ones_dbt_cli_resource_uses():
    source = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in source
    assert "self._initialize_dbt_core_adapter(" in source
    assert isinstance(build_resources()["dbt"], DbtCoreCliResource)


@pytest.mark.slow
def test_the_version_is_the_one_the_dbt_executable_reports():
    reported = subprocess.check_output([dbt_executable(), "--version"], text=True)
    resource = build_resources()["dbt"]
    assert str(resource._cli_version) == re.search(r"(\d+\.\d+\.\d+)", reported).group(1)


@pytest.mark.slow
def test_an_invocation_starts_no_version_process_and_builds_no_adapter(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess: {args}")

    monkeypatch.setattr(dagster_dbt_resource, "check_output", refuse)
    invocation = build_resources()["dbt"].cli(["debug", "--config-dir"], raise_on_error=True)
    invocation.wait()
    assert invocation.is_successful()
    assert invocation.adapter is None

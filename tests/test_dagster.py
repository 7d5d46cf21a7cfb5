"""Dagster wiring: the definitions load, and the dbt assets materialise against a real database."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
import pytest
from dagster import AssetKey, Definitions, materialize

from convintel.synth import generate
from dagster_pipelines.assets.dbt import dbt_models
from dagster_pipelines.definitions import defs
from dagster_pipelines.resources import build_resources

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


def test_definitions_load_with_dbt_layers_as_asset_groups() -> None:
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"int_lead_outcomes", "int_touches", "fct_data_quality_exclusions"} <= keys
    groups = {graph.get(AssetKey(name)).group_name for name in ("stg_activities", "int_touches")}
    assert groups == {"dbt_staging", "dbt_intermediate"}
    assert defs.resolve_job_def("dbt_build") is not None and defs.resolve_job_def("learning") is not None
    assert graph.get(AssetKey("who_patterns")).group_name == "detectors"
    assert AssetKey("fct_who_dimension_stats") in graph.get(AssetKey("who_patterns")).parent_keys
    assert AssetKey("who_patterns") in graph.get(AssetKey("conversion_patterns")).parent_keys
    # The invariants (singular dbt tests) show as asset checks on the model they guard.
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert ("int_touches", "assert_one_converting_touch_per_converted_lead") in checks
    assert ("int_touches", "assert_no_touch_at_or_after_booking") in checks


@pytest.fixture(scope="module")
def world(module_db_url: str) -> dict:
    """Three clients, the whole dbt project materialised through Dagster once: the first test checks that
    build, the second runs the learning job's WHO detector over the marts it left (a dbt build costs a
    full parse, so the module makes one)."""
    summary = generate(module_db_url, clients=3, leads=3000, seed=12, as_of=AS_OF)
    result = materialize([dbt_models], resources=build_resources(module_db_url, dbt_schema="analytics"))
    with psycopg.connect(module_db_url) as conn:
        leads = conn.execute("select count(*) from analytics.int_lead_outcomes").fetchone()[0]
        converted = conn.execute(
            "select count(*) from analytics.int_lead_outcomes where outcome = 'converted'").fetchone()[0]
    return {"url": module_db_url, "summary": summary, "result": result, "leads": leads, "converted": converted}


@pytest.mark.slow
def test_dbt_assets_materialise_on_a_synthetic_world(world: dict) -> None:
    result, summary = world["result"], world["summary"]
    assert result.success
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"stg_leads", "int_lead_outcomes", "int_touches"} <= materialised
    assert world["leads"] == summary.leads
    assert world["converted"] == summary.conversions


@pytest.mark.slow
def test_learning_job_runs_detector_shards_as_parallel_steps_under_the_multiprocess_executor(
    world: dict, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """The learning job as a deployment runs it (each step in its own process), limited to the WHO
    detector over the marts the module's build made, so that only the sharding is under test."""
    from dagster import build_reconstructable_job, execute_job, instance_for_test

    db_url = world["url"]
    assert world["result"].success
    monkeypatch.setenv("DATABASE_URL", db_url)       # the definitions' resources read the environment
    monkeypatch.setenv("DBT_SCHEMA", "analytics")
    monkeypatch.setenv("CONVINTEL_LEARNING_SHARDS", "2")
    (tmp_path / "dagster").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = execute_job(
            build_reconstructable_job("dagster_pipelines.definitions", "resolved_job", reconstructable_kwargs={"name": "learning"}),
            instance=instance, asset_selection=[AssetKey("who_patterns")],
            run_config={"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
        )
        assert result.success
        steps = {event.step_key for event in result.all_events if event.is_step_success}
        [materialisation] = result.get_asset_materialization_events()
        metadata = {key: value.value for key, value in materialisation.materialization.metadata.items()}
    assert steps == {"who_patterns.who_plan_shards", "who_patterns.who_combine_shards",
                     "who_patterns.who_detect_shard[shard_000]", "who_patterns.who_detect_shard[shard_001]"}
    assert (metadata["clients"], metadata["shards"], metadata["gate_passed"]) == (3, 2, 3)
    from dagster_pipelines.assets.detector_factory import findings_header
    from dagster_pipelines.assets.who import WHO

    findings = metadata["top_findings"].splitlines()  # the steps' rows, combined in client order
    assert findings[:2] == findings_header(WHO) and len(findings) == 2 + 3
    assert [row.split(" | ")[0] for row in findings[2:]] == sorted(row.split(" | ")[0] for row in findings[2:])

"""The detectors of the learning path and the stored ``conversion_patterns`` (group ``patterns``).

``DETECTORS`` is the one registry: the store, the jobs, the command line and the tests all iterate it."""

import uuid
from collections import Counter

import psycopg
from dagster import AssetExecutionContext, AssetIn, AssetKey, Failure, MetadataValue, asset

from convintel import settings

from dagster_pipelines.assets.agency import agency_patterns
from dagster_pipelines.assets.detector_factory import DetectorSpec, StagedResults, run_timestamp
from dagster_pipelines.assets.how import HOW, how_patterns
from dagster_pipelines.assets.what import WHAT, what_patterns
from dagster_pipelines.assets.when import WHEN, when_patterns
from dagster_pipelines.assets.who import WHO, who_patterns
from dagster_pipelines.markdown import markdown_header, markdown_row
from dagster_pipelines.marts.quality import exclusions_markdown, load_exclusion_counts
from dagster_pipelines.pattern_store import store_client_results
from dagster_pipelines.resources import DatabaseResource, LearningScope
from dagster_pipelines.result_staging import StagedKey, delete_staged, missing_staged, staged_client_results

DETECTORS: tuple[DetectorSpec, ...] = (WHO, WHAT, WHEN, HOW)


def detector_spec(pattern_type: str) -> DetectorSpec:
    """The registered detector of ``pattern_type`` (a worker process or the bench names it by type)."""
    for spec in DETECTORS:
        if spec.pattern_type == pattern_type:
            return spec
    raise ValueError(f"no detector of pattern type {pattern_type!r}; expected one of {[s.pattern_type for s in DETECTORS]}")
# The agency-wide patterns lead the list: every detector reads its prior from them.
DETECTOR_ASSETS = [agency_patterns, who_patterns, what_patterns, when_patterns, how_patterns]


@asset(group_name="patterns", ins={spec.asset_name: AssetIn() for spec in DETECTORS},
       deps=[AssetKey("fct_data_quality_exclusions")],
       description="Stores every detector's patterns: one transaction per client (SPEC §7 storage), read one client "
                   "at a time from the results the detectors staged; then deletes the staged rows.")
def conversion_patterns(context: AssetExecutionContext, database: DatabaseResource, learning_scope: LearningScope,
                        **detector_results: StagedResults) -> None:
    # The results the detector steps staged (a re-executed run reuses steps of its parent run, and their
    # rows); a client's results are stored in the detectors' order, as they come here.
    keys = [key for summary in detector_results.values() for key in summary.keys()]
    actions: Counter[str] = Counter()
    kept_reasons: list[str] = []
    clients = 0
    url = database.resolved_url()
    with psycopg.connect(url) as reader, psycopg.connect(url, autocommit=True) as conn:
        if missing := missing_staged(reader, keys):
            raise Failure(description=not_staged_message(missing, len(keys)), allow_retries=False)
        run_id, computed_at = uuid.UUID(context.run.run_id), run_timestamp(context)
        for client_id, results in staged_client_results(reader, keys):
            clients += 1
            for outcome in store_client_results(conn, client_id, results, run_id=run_id, computed_at=computed_at):
                actions[outcome.action] += 1
                if outcome.reason:
                    kept_reasons.append(markdown_row([client_id, outcome.pattern_type, outcome.action, outcome.reason]))
        delete_staged(conn, [(run, pattern_type) for run, _, pattern_type in keys])
        schema = database.dbt_schema or settings.dbt_schema()
        exclusions = load_exclusion_counts(conn, schema, [uuid.UUID(c) for c in learning_scope.client_ids])
    context.add_output_metadata({
        "run_id": str(run_id),
        "clients": clients,
        "patterns_stored": actions["stored"],
        "patterns_kept_previous": actions["kept_previous"],
        "nothing_stored": actions["nothing_stored"],
        "gate_failures": MetadataValue.md("\n".join([*markdown_header(["client", "type", "action", "why"]), *kept_reasons]))
        if kept_reasons else "none",
        "excluded_rows": int(exclusions["row_count"].sum()),
        "exclusions_by_reason": MetadataValue.md(exclusions_markdown(exclusions)),
    })


def not_staged_message(missing: list[StagedKey], reported: int) -> str:
    """Why the store refuses to run: some results its detector steps reported are no longer staged."""
    runs = sorted({str(run_id) for run_id, _, _ in missing})
    return (f"{len(missing)} of the {reported} detector results this store was handed are no longer staged (runs "
            f"{', '.join(runs)}): their run stored them already, or they were older than the staging retention "
            "and pruned. The store writes only what its detector steps staged: materialise conversion_patterns "
            "together with its detectors (the learning job). Nothing was stored; the stored patterns are unchanged.")

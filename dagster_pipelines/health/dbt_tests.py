"""The dbt data tests in the daily health job: every data test the learning build leaves out
(``convintel.dbt.LEARNING_BUILD_EXCLUDES``) runs here, over the models the last build left.

Which tests run: those whose parents all exist — models with a relation in the dbt schema, seeds, the
sources (``--indirect-selection cautious`` drops a test with a parent that was not built). Left out
(``left_out_tests``): unit tests and the tests on seeds only (they check the project's own code and files:
the test suite runs them), the uniqueness tests the learning build itself ran on these very tables (a
failure there stopped the build), the uniqueness tests a unique index of their model enforces (tag
``convintel.dbt.UNIQUE_INDEX_TAG``: a duplicate fails the index creation and so the build; they cannot
fail on a table that was built, and neither job runs them), and the tests that compare a table of the
last build with a live source or staging view: the sources move on between learning runs, so such a test
would fail on rows that arrived after the build, not on a fault. The learning build runs no such test either; ``convintel dbt build`` (or the ``dbt_build`` job with ``all_tests``) runs them all.

Each failing or erroring test is a high-severity finding (``dbt_test_failed`` / ``dbt_test_error``): the
data the stored patterns were learned from breaks a rule the models declare, and a person should look.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from convintel.dbt import UNIQUE_INDEX_TAG, run_dbt, runs_in_learning_build
from convintel.settings import DBT_PROJECT_DIR
from dagster_pipelines.health.rules import Finding

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_LIVE = {"view", "source", "ephemeral"}
_BUILT = {"table", "incremental", "materialized_view"}


@dataclass(frozen=True)
class DbtTestsOutcome:
    evaluated: int
    failed: int
    findings: list[Finding]
    left_out: list[str] = field(default_factory=list)


def _kinds(manifest: Mapping[str, Any]) -> dict[str, str]:
    """unique_id -> 'table' / 'view' / … / 'seed' / 'source' for every node a test can depend on."""
    kinds = {uid: "source" for uid in manifest.get("sources", {})}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] == "model":
            kinds[uid] = node["config"].get("materialized", "view")
        elif node["resource_type"] == "seed":
            kinds[uid] = "seed"
    return kinds


def left_out_tests(manifest: Mapping[str, Any]) -> list[str]:
    """Data tests the health job does not run: those with a parent of the last build (a table) and a live
    parent (a source or a view), those on seeds only (the seeds are files of the project: their tests
    change only with the code, and the test suite runs them), those the learning build ran, and those a
    unique index enforces (they cannot fail on a built table)."""
    kinds = _kinds(manifest)
    left_out = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test":
            continue
        parents = {kinds.get(parent, "") for parent in node["depends_on"]["nodes"]}
        if ((parents & _LIVE and parents & _BUILT) or parents == {"seed"} or runs_in_learning_build(node)
                or UNIQUE_INDEX_TAG in node.get("tags", ())):
            left_out.append(node["name"])
    return sorted(left_out)


def built_nodes(conn: psycopg.Connection, manifest: Mapping[str, Any], dbt_schema: str) -> list[str]:
    """Names of the models and seeds of ``manifest`` that have a relation in ``dbt_schema``."""
    present = {row[0] for row in conn.execute(
        "select table_name from information_schema.tables where table_schema = %s", (dbt_schema,))}
    return sorted(node["name"] for node in manifest["nodes"].values()
                  if node["resource_type"] in ("model", "seed") and (node.get("alias") or node["name"]) in present)


def run_dbt_tests(url: str, dbt_schema: str, manifest_path: Path = MANIFEST) -> DbtTestsOutcome:
    """`dbt test` of the data tests described in the module docstring; failures as findings."""
    manifest = json.loads(manifest_path.read_text())
    with psycopg.connect(url) as conn:
        built = built_nodes(conn, manifest, dbt_schema)
    left_out = left_out_tests(manifest)
    args = ["test", "--select", " ".join([*built, "source:*"]), "--indirect-selection", "cautious",
            "--exclude", " ".join(["test_type:unit", *left_out])]
    with tempfile.TemporaryDirectory(prefix="health-dbt-test-", dir=manifest_path.parent) as folder:
        target = Path(folder)
        try:
            run_dbt(args, url, schema=dbt_schema, capture=True, target_path=target)
        except subprocess.CalledProcessError as exc:
            if not (target / "run_results.json").exists():  # dbt itself failed (no connection, parse error)
                output = (exc.stdout or "")[-1500:] + (exc.stderr or "")[-500:]
                return DbtTestsOutcome(0, 0, [Finding("dbt_test_error", "high", f"dbt test did not run: {output.strip()}",
                                                      details={"args": args})], left_out)
        results = json.loads((target / "run_results.json").read_text())["results"]
    findings = [_finding(result, manifest) for result in results if result["status"] in ("fail", "error")]
    return DbtTestsOutcome(len(results), len(findings), findings, left_out)


def _finding(result: Mapping[str, Any], manifest: Mapping[str, Any]) -> Finding:
    node = manifest["nodes"].get(result["unique_id"], {})
    name = node.get("name", result["unique_id"])
    parents = sorted(parent.rsplit(".", 1)[-1] for parent in node.get("depends_on", {}).get("nodes", []))
    details = {"test": name, "models": parents, "failures": result.get("failures"), "status": result["status"]}
    if result["status"] == "error":
        return Finding("dbt_test_error", "high", f"dbt test {name} on {', '.join(parents)} raised an error: "
                       f"{(result.get('message') or '')[:300]}", details=details)
    return Finding("dbt_test_failed", "high",
                   f"dbt test {name} on {', '.join(parents)} failed ({result.get('failures')} failing rows)", details=details)

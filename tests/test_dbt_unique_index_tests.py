"""Uniqueness tests a unique index enforces (convintel.dbt.UNIQUE_INDEX_TAG) are left out of the learning build.

A model built with a unique index on the test's columns cannot be built with duplicates (the index creation,
or the incremental insert, fails and stops the build), so its uniqueness test repeats that check. The tag
must say exactly that: a tagged test without such an index would be silently dropped, an untagged one with
it costs a node for nothing. The rule (``enforced_by_unique_index``) is pinned on hand-made manifest nodes,
then the project's manifest (parsed at session start, tests/conftest.py) is checked against it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from convintel.dbt import (LEARNING_BUILD_EXCLUDES, UNIQUE_INDEX_TAG, UNIQUENESS_TESTS, enforced_by_unique_index,
                           runs_in_learning_build)
from dagster_pipelines.health.dbt_tests import MANIFEST, left_out_tests

MODEL = "model.p.m"


def manifest_with(materialized: str = "table", indexes: list[dict] | None = None, contract: bool = False,
                  not_null: tuple[str, ...] = ()) -> dict[str, Any]:
    columns = {name: {"constraints": [{"type": "not_null"}] if name in not_null else []} for name in ("a", "b")}
    return {"nodes": {MODEL: {"resource_type": "model", "columns": columns, "config": {
        "materialized": materialized, "indexes": indexes or [], "contract": {"enforced": contract}}}}}


def unique(column: str) -> dict[str, Any]:
    return {"attached_node": MODEL, "test_metadata": {"name": "unique", "kwargs": {"column_name": column}}}


def combination(*columns: str) -> dict[str, Any]:
    return {"attached_node": MODEL,
            "test_metadata": {"name": "unique_combination_of_columns", "kwargs": {"combination_of_columns": list(columns)}}}


UNIQUE_A = [{"columns": ["a"], "unique": True}]
UNIQUE_AB = [{"columns": ["b", "a"], "unique": True}]


@pytest.mark.parametrize(("test", "manifest", "enforced"), [
    (unique("a"), manifest_with(indexes=UNIQUE_A), True),
    (unique("a"), manifest_with("incremental", UNIQUE_A), True),
    (unique('"A"'), manifest_with(indexes=UNIQUE_A), True),                                  # quoting and case
    (unique("a"), manifest_with(indexes=[{"columns": ["a"], "unique": False}]), False),     # a plain index
    (unique("a"), manifest_with(indexes=[{"columns": ["a"]}]), False),
    (unique("a"), manifest_with(indexes=UNIQUE_AB), False),                                  # (a, b) unique: a may repeat
    (unique("b"), manifest_with(indexes=UNIQUE_A), False),                                   # another column
    (unique("a"), manifest_with("view", UNIQUE_A), False),                                   # a view has no index
    (unique("a"), manifest_with(), False),
    # NULLs: the index lets (NULL, 1) repeat, the combination test groups them: not null required.
    (combination("a", "b"), manifest_with(indexes=UNIQUE_AB), False),
    (combination("a", "b"), manifest_with(indexes=UNIQUE_AB, contract=True, not_null=("a",)), False),
    (combination("a", "b"), manifest_with(indexes=UNIQUE_AB, not_null=("a", "b")), False),  # contract not enforced
    (combination("a", "b"), manifest_with(indexes=UNIQUE_AB, contract=True, not_null=("a", "b")), True),
    (combination("a"), manifest_with(indexes=UNIQUE_A), False),
    (combination("a"), manifest_with(indexes=UNIQUE_A, contract=True, not_null=("a",)), True),
    ({"attached_node": MODEL, "test_metadata": {"name": "not_null", "kwargs": {"column_name": "a"}}},
     manifest_with(indexes=UNIQUE_A), False),
    ({"attached_node": "seed.p.s", "test_metadata": {"name": "unique", "kwargs": {"column_name": "a"}}},
     manifest_with(indexes=UNIQUE_A), False),
])
def test_the_rule_of_a_uniqueness_test_a_unique_index_enforces(test: dict, manifest: dict, enforced: bool) -> None:
    assert enforced_by_unique_index(test, manifest) is enforced


def test_a_tagged_test_is_left_out_of_the_learning_build_and_the_health_job() -> None:
    tagged = {**unique("a"), "name": "unique_m_a", "tags": [UNIQUE_INDEX_TAG]}
    assert f"tag:{UNIQUE_INDEX_TAG}" in LEARNING_BUILD_EXCLUDES
    assert not runs_in_learning_build(tagged)
    assert runs_in_learning_build({**tagged, "tags": []})
    manifest = manifest_with(indexes=UNIQUE_A)
    manifest["nodes"]["test.p.unique_m_a"] = {**tagged, "resource_type": "test", "depends_on": {"nodes": [MODEL]}}
    assert left_out_tests(manifest) == ["unique_m_a"]


def test_the_project_tags_exactly_the_uniqueness_tests_a_unique_index_enforces() -> None:
    manifest = json.loads(MANIFEST.read_text())
    tests = [node for node in manifest["nodes"].values()
             if node["resource_type"] == "test" and (node.get("test_metadata") or {}).get("name") in UNIQUENESS_TESTS]
    tagged = {node["name"] for node in tests if UNIQUE_INDEX_TAG in node["tags"]}
    enforced = {node["name"] for node in tests if enforced_by_unique_index(node, manifest)}
    assert tagged == enforced
    # The touch-level models' keys (int_activities_cleaned, int_touches, int_what_*: ~1 s a test at 100k leads).
    assert {"unique_int_activities_cleaned_activity_id", "unique_int_touches_touch_id",
            "unique_int_what_texts_touch_id", "unique_int_lead_outcomes_lead_id"} <= tagged
    assert not [node["name"] for node in tests if UNIQUE_INDEX_TAG in node["tags"] and runs_in_learning_build(node)]
    assert tagged <= set(left_out_tests(manifest))
    # The tag is for these tests only: anything else tagged would leave the learning build unchecked.
    assert not [node["name"] for node in manifest["nodes"].values()
                if UNIQUE_INDEX_TAG in node.get("tags", []) and node["name"] not in tagged]

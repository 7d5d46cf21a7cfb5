"""The learning profile of the benchmark's results (bench/learning_profile.py) on a hand-made row."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.learning_profile import learning_parts, learning_profile_lines  # noqa: E402

ROW = {
    "leads": 10_000, "learning_seconds": 28.1, "floor_seconds": 0.05,
    "stages": {
        "dbt_build": {"seconds": 24.0, "node_seconds": {"model": 14.0, "test": 10.0, "unit_test": 4.0, "seed": 0.5}},
        "detect:who": {"seconds": 0.8}, "detect:what": {"seconds": 1.4}, "detect:when": {"seconds": 0.5},
        "detect:how": {"seconds": 1.3}, "store": {"seconds": 0.1},
    },
    "naive": {"finished": True, "seconds": 16.5},
}


def test_learning_parts_split_dbt_by_node_type_over_its_threads() -> None:
    assert learning_parts(ROW) == {
        "dbt outside its nodes (start-up, parse, bookkeeping, an idle thread)": 9.75,   # 24 − (14 + 10 + 4 + 0.5) / 2
        "dbt models": 7.0, "dbt data tests": 5.0, "detectors": 4.0, "dbt unit tests": 2.0,
        "dbt seeds": 0.25, "store": 0.1,
    }


def test_the_profile_names_what_each_target_allows_and_notes_the_big_parts() -> None:
    lines = learning_profile_lines(ROW, floor_ratio=10, naive_ratio=5)
    assert lines[0].startswith("Learning at 10,000 leads: 28.1 s — dbt outside its nodes (start-up, parse, bookkeeping, an idle "
                               "thread) 9.8 s (35%), "
                               "dbt models 7.0 s (25%), dbt data tests 5.0 s (18%), detectors 4.0 s (14%)")
    assert lines[0].endswith("The targets would allow ≤ 10× the floor: 0.5 s; ≥ 5× faster than naive: 3.3 s.")
    assert [line.split(":")[0] for line in lines[1:]] == ["- dbt outside its nodes (start-up, parse, bookkeeping, an idle thread)", "- dbt models",
                                                          "- dbt data tests", "- detectors"]

"""The benchmark's weekly re-run (bench/run.py ``weekly_rerun``): the week of new activity it adds
(bench/stage.py ``ADD_WEEK_SQL``) and the table that reports it."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

# bench/ is not an installed package (it runs from the project folder, like `make bench` does).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import rerun_lines  # noqa: E402
from bench.stage import ADD_WEEK_SQL, AS_OF, WEEK, add_week_params  # noqa: E402
from convintel.synth import generate  # noqa: E402

# Written out here (not derived from the seed as the bench does): the leads out of play.
TERMINAL = ("converted", "unsubscribed", "bounced", "not_interested", "dead")


@pytest.mark.slow
def test_a_week_of_new_activity_repeats_the_last_week_of_leads_still_in_play(db_url: str) -> None:
    generate(db_url, clients=2, leads=400, seed=5, as_of=AS_OF)
    with psycopg.connect(db_url) as conn:
        before = conn.execute("select count(*), max(created_at) from activities").fetchone()
        expected = conn.execute(
            "select count(*) from activities a join leads l on l.id = a.lead_id "
            "where a.created_at >= %s and a.created_at < %s and l.status <> all(%s) "
            "and a.action is distinct from 'meeting_booked'", (AS_OF - WEEK, AS_OF, list(TERMINAL))).fetchone()[0]
        converted_at = conn.execute("select count(*), max(converted_at) from leads where converted_at is not null").fetchone()
        added = conn.execute(ADD_WEEK_SQL, add_week_params()).rowcount
        after = conn.execute("select count(*), min(created_at), max(created_at) from activities where created_at >= %s",
                             (AS_OF,)).fetchone()
        new_terminal = conn.execute(
            "select count(*) from activities a join leads l on l.id = a.lead_id "
            "where a.created_at >= %s and (l.status = any(%s) or a.action = 'meeting_booked')",
            (AS_OF, list(TERMINAL))).fetchone()[0]
        assert conn.execute("select count(*), max(converted_at) from leads where converted_at is not null").fetchone() \
            == converted_at
    assert before[1] < AS_OF  # the world has nothing after its as_of
    assert expected > 0 and added == expected
    assert after[0] == added and AS_OF <= after[1] and after[2] < AS_OF + WEEK
    assert new_terminal == 0  # no new activity for leads out of play, and no booking


def test_the_rerun_table_sets_the_rerun_beside_the_cold_run_and_the_floor() -> None:
    stage = lambda seconds: {"seconds": seconds}  # noqa: E731
    row = {"leads": 10_000, "learning_seconds": 20.0, "floor_seconds": 0.05, "rerun": {
        "activities_added": 1_234, "learning_seconds": 10.0,
        "stages": {"dbt_build": {"seconds": 6.5, "slowest_nodes": {"int_touches": 1.2}}, "detect:who": stage(1.0),
                   "detect:what": stage(1.0), "detect:when": stage(0.5), "detect:how": stage(0.8), "store": stage(0.2)}}}
    lines = rerun_lines([row, {"leads": 100, "learning_seconds": 1.0, "floor_seconds": 0.01}])
    assert lines[-1] == ("| 10,000 | 1,234 | 6.5 | 1.0 | 1.0 | 0.5 | 0.8 | 0.2 | 10.0 | 20.0 | 0.50 | 200.0 | "
                         "int_touches 1 s |")
    assert len([line for line in lines if line.startswith("| ") and line[2].isdigit()]) == 1
    assert rerun_lines([{"leads": 100, "learning_seconds": 1.0, "floor_seconds": 0.01}]) == []

"""The benchmark's naive row-by-row implementation (bench/naive.py) does the same learning as dbt + the
detectors: on a small synthetic world its headline numbers — per client, leads with a final outcome,
conversions, and touches per channel — equal the dbt models' (int_lead_outcomes, int_touches), and it runs every detector for every client."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

# bench/ is not an installed package (it runs from the project folder, like `make bench` does).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.naive import NaiveTimeout, run_naive  # noqa: E402
from convintel.synth import generate  # noqa: E402
from support import dbt_or_fail  # noqa: E402

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
SCHEMA = "dbt_bench_naive_test"


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory) -> str:
    generate(module_db_url, clients=2, leads=600, seed=11, as_of=AS_OF)
    dbt_or_fail(["build", "--select", "+int_touches", "--exclude", "resource_type:test",
                 "--vars", json.dumps({"as_of": AS_OF.isoformat()}), "--quiet"],
                module_db_url, tmp_path_factory.mktemp("dbt"), schema=SCHEMA)
    return module_db_url


def test_naive_headline_numbers_equal_the_marts(world: str) -> None:
    naive = run_naive(world, AS_OF)
    with psycopg.connect(world) as conn:
        summary = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(
            f"select client_id, count(*) filter (where has_final_outcome), count(*) filter (where is_converted) "
            f"from {SCHEMA}.int_lead_outcomes group by client_id")}
        touches: dict = {}
        for client_id, channel, count in conn.execute(
                f"select client_id, channel, count(*) from {SCHEMA}.int_touches group by 1, 2"):
            touches.setdefault(client_id, {})[channel] = count
    assert naive.clients == 2 and set(naive.headline) == set(summary)
    for client_id, (leads_with_outcome, conversions) in summary.items():
        headline = naive.headline[client_id]
        assert (headline["leads_with_outcome"], headline["conversions"]) == (leads_with_outcome, conversions)
        assert headline["touches_by_channel"] == touches[client_id]
    assert conversions > 10  # the world is big enough for the detectors to run past their gates
    assert set(naive.gate_passed) == {"who", "what", "when", "how"}
    assert naive.gate_passed["when"] == 2


def test_naive_stops_at_its_deadline(world: str) -> None:
    with pytest.raises(NaiveTimeout):
        run_naive(world, AS_OF, time_limit=1e-9)

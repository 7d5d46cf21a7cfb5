"""Learning runs limited to some clients, and two learning runs at once (issue 7)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import psycopg
import pytest

from convintel.synth import generate
from support import learn_all, run_metadata, stored_patterns

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)

pytestmark = pytest.mark.slow


def test_learning_scope_limits_the_run_to_the_chosen_clients(db_url: str) -> None:
    generate(db_url, clients=2, leads=1200, seed=24, as_of=AS_OF)
    with psycopg.connect(db_url, autocommit=True) as conn:
        chosen, other = [row[0] for row in conn.execute("select id from clients order by id")]
    result = learn_all(db_url, client_ids=[str(chosen)], shards=8)
    assert (run_metadata(result, "who_patterns")["clients"], run_metadata(result, "who_patterns")["shards"]) == (1, 1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert {client for client, _ in stored_patterns(conn, [chosen, other])} == {chosen}


def test_two_learning_runs_at_once_neither_corrupt_nor_duplicate(db_url: str) -> None:
    """Both runs build dbt (serialised by the schema's build lock) and store (serialised per client):
    afterwards one pattern per client and type, two history rows from two runs, identical patterns."""
    generate(db_url, clients=2, leads=1200, seed=25, as_of=AS_OF)
    with psycopg.connect(db_url, autocommit=True) as conn:
        clients = [row[0] for row in conn.execute("select id from clients order by id")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: learn_all(db_url), range(2)))
    assert runs[0].run_id != runs[1].run_id
    with psycopg.connect(db_url, autocommit=True) as conn:
        stored = stored_patterns(conn, clients)
        history = conn.execute(
            "select client_id, pattern_type, count(*), count(distinct run_id), count(distinct patterns - 'computed_at') "
            "from conversion_pattern_history group by 1, 2").fetchall()
    assert {(c, "who") for c in clients} <= set(stored)
    assert {(c, t): (n, r, p) for c, t, n, r, p in history} == {key: (2, 2, 1) for key in stored}

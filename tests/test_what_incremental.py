"""The WHAT content cache (int_what_texts, int_what_content: incremental by fingerprint) on one small synthetic
world and one schema: after new, changed and deleted activities, a changed lead company and a changed
vocabulary phrase, a re-run matches exactly the touches whose inputs changed (all of them after the vocabulary
change, SPEC §5), and after the data changes its result equals a `--full-refresh` build, relation by relation,
both ways."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from convintel.synth import generate
from support import dbt_or_fail

pytestmark = pytest.mark.slow

SCHEMA = "dbt_what_incremental"
AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)
DBT_VARS = json.dumps({"as_of": AS_OF.isoformat()})
# The content models and everything upstream (after source changes), or the WHAT models alone; `dbt run`
# leaves the seed tables as they are (the vocabulary change below edits a seed table in place).
UPSTREAM_TOO = ["--select", "+int_what_touch_features"]
WHAT_ONLY = ["--select", "int_what_vocabulary", "int_what_texts", "int_what_content", "int_what_subject_templates",
             "int_what_touch_features"]
CACHES = ("int_what_texts", "int_what_content")
COMPARED = ("int_what_touch_features", "int_what_subject_templates", "int_what_content", "int_what_texts")


def _run(url: str, target: Path, selection: list[str], *extra: str) -> dict[str, int]:
    """dbt run of the selected models; returns how many rows of each cache the run wrote (matched): rows whose
    xmin (the transaction that wrote them) no row had before the run."""
    with psycopg.connect(url) as conn:
        before = {cache: [r[0] for r in conn.execute(f"select distinct xmin::text from {SCHEMA}.{cache}")]
                  for cache in CACHES}
    dbt_or_fail(["run", *selection, "--vars", DBT_VARS, *extra], url, target, schema=SCHEMA)
    with psycopg.connect(url) as conn:
        return {cache: conn.execute(f"select count(*) from {SCHEMA}.{cache} where not (xmin::text = any(%s))",
                                    (before[cache],)).fetchone()[0]
                for cache in CACHES}


def _differences_from_full_refresh(url: str, target: Path) -> dict[str, tuple[int, int, int]]:
    """Keep the incremental result, rebuild from scratch, and count (rows, only incremental, only rebuilt)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in COMPARED:
            conn.execute(f"drop table if exists {SCHEMA}.kept_{table}")
            conn.execute(f"create table {SCHEMA}.kept_{table} as select * from {SCHEMA}.{table}")
    _run(url, target, WHAT_ONLY, "--full-refresh")
    counts = {}
    with psycopg.connect(url) as conn:
        for table in COMPARED:
            kept, rebuilt = f"select * from {SCHEMA}.kept_{table}", f"select * from {SCHEMA}.{table}"
            counts[table] = conn.execute(
                f"select (select count(*) from {SCHEMA}.{table}), (select count(*) from ({kept} except all {rebuilt}) d),"
                f" (select count(*) from ({rebuilt} except all {kept}) d)").fetchone()
    return counts


def _orphans(conn: psycopg.Connection) -> int:
    return sum(conn.execute(f"select count(*) from {SCHEMA}.{cache} c where not exists"
                            f" (select from {SCHEMA}.int_touches t where t.touch_id = c.touch_id)").fetchone()[0]
               for cache in CACHES)


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    url, target = module_db_url, tmp_path_factory.mktemp("what_incremental")
    generate(url, clients=2, leads=300, seed=411, as_of=AS_OF)
    dbt_or_fail(["build", *UPSTREAM_TOO, "--vars", DBT_VARS, "--exclude", "resource_type:test"], url, target,
                schema=SCHEMA)
    with psycopg.connect(url) as conn:
        touches = conn.execute(f"select count(*) from {SCHEMA}.int_touches").fetchone()[0]
    return {"url": url, "target": target, "touches": touches}


def test_a_rerun_matches_only_new_and_changed_touches_and_equals_a_full_refresh(world: dict) -> None:
    url, target = world["url"], world["target"]
    with psycopg.connect(url) as conn, conn.transaction():
        # New: a copy of the last touch of 5 in-flight leads, an hour later, with new text (no snapshot).
        new_ids = [r[0] for r in conn.execute(f"""
            insert into activities (client_id, campaign_id, lead_id, channel, action, sequence_step, subject,
                                    content_preview, created_at)
            select a.client_id, a.campaign_id, a.lead_id, a.channel, a.action, a.sequence_step + 1,
                   'Re: ' || coalesce(a.subject, 'follow-up'), 'A new note about manual work. Book a call.',
                   a.created_at + interval '1 hour'
            from {SCHEMA}.int_touches t join activities a on a.id = t.touch_id
            where t.lead_outcome = 'in_flight' and t.is_last_touch and t.touched_at < %s
            order by t.touch_id limit 5
            returning id""", (AS_OF - timedelta(hours=2),)).fetchall()]
        # Changed: one touch's body; one lead's company (every touch of that lead); deleted: one touch.
        changed_touch, changed_lead, deleted_touch = conn.execute(f"""
            select (select touch_id from {SCHEMA}.int_touches where touch_number = 1 order by touch_id limit 1),
                   (select lead_id from {SCHEMA}.int_touches where lead_touch_count >= 3 order by lead_id desc limit 1),
                   (select touch_id from {SCHEMA}.int_touches where touch_number = 2 order by touch_id desc limit 1)
            """).fetchone()
        conn.execute("update activities set content_preview = 'Quick question: worth a short conversation?',"
                     " content_snapshot = null where id = %s", (changed_touch,))
        conn.execute("update leads set company = 'Zebra Widgets Ltd' where id = %s", (changed_lead,))
        conn.execute("delete from activities where id = %s", (deleted_touch,))
    matched = _run(url, target, UPSTREAM_TOO)
    with psycopg.connect(url) as conn:
        expected = conn.execute(
            f"select count(*), count(*) filter (where touch_id = any(%s)) from {SCHEMA}.int_touches"
            " where touch_id = any(%s) or touch_id = %s or lead_id = %s",
            (new_ids, new_ids, changed_touch, changed_lead)).fetchone()
        orphans = _orphans(conn)
    assert expected[1] == 5  # every new activity became a touch
    assert expected[0] >= 5 + 1 + 3 - 1  # the changed lead's touches may include the changed touch
    assert matched == {"int_what_texts": expected[0], "int_what_content": expected[0]}
    # the other touches kept their cached rows (exactly the count above was matched, a small share)
    assert matched["int_what_content"] < world["touches"] / 20
    assert orphans == 0
    counts = _differences_from_full_refresh(url, target)
    assert {table: (only_old, only_new) for table, (_, only_old, only_new) in counts.items()} == {
        table: (0, 0) for table in COMPARED}
    assert counts["int_what_touch_features"][0] == world["touches"] + 5 - 1


def test_a_vocabulary_change_relabels_all_history(world: dict) -> None:
    url, target = world["url"], world["target"]
    with psycopg.connect(url) as conn, conn.transaction():
        touches = conn.execute(f"select count(*) from {SCHEMA}.int_touches").fetchone()[0]
        before = conn.execute(f"select count(*) from {SCHEMA}.int_what_content"
                              " where 'time' = any(pain_points)").fetchone()[0]
        conn.execute(f"insert into {SCHEMA}.pain_point_keywords (pain_point, keyword) values ('time', 'you')")
    matched = _run(url, target, WHAT_ONLY)
    with psycopg.connect(url) as conn:
        after = conn.execute(f"select count(*) from {SCHEMA}.int_what_content"
                             " where 'time' = any(pain_points)").fetchone()[0]
        fingerprints = conn.execute(f"select count(distinct vocabulary_fingerprint) from {SCHEMA}.int_what_content").fetchone()[0]
    # every touch matched again (under one vocabulary: none keeps the old fingerprint), no text normalised
    # again; the rows are those a full refresh gives (the same code matched them all, and the test above
    # shows the cache's delete+insert equals a full refresh)
    assert matched == {"int_what_texts": 0, "int_what_content": touches}
    assert fingerprints == 1
    assert after > before

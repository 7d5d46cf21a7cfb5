"""The synthetic world generator (SPEC §10) against real PostgreSQL: determinism, planted truth,
outcome invariants, content vocabulary, and refusal to write twice."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psycopg
import pytest

from convintel.db import create_database, drop_database
from convintel.synth import SynthError, generate
from convintel.synth import catalog
from convintel.synth.content import ContentTables, draw_style, plan_content, render
from convintel.synth.model import (CHANNELS, EFFECTIVE_THRESHOLD, LENGTH_BINS, LENGTH_UNIT, MAX_TOUCHES, NEUTRAL_BOUND,
                                   PERSONALIZATION, als_score, als_tier, baseline_logit, draw_client_effects)
from convintel.synth.vocab import load_vocabulary, phrase_regex, python_regex
from convintel.synth.world import split_leads

AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)
CLIENTS, LEADS, SEED = 3, 6_000, 11
OUTBOUND = "('email_sent', 'linkedin_sent', 'sms_sent', 'voice_completed', 'mail_sent')"
FAILED = "('unsubscribed', 'bounced', 'not_interested', 'dead')"
TABLES = {
    "clients": "id = any(%(ids)s)",
    "campaigns": "client_id = any(%(ids)s)",
    "leads": "client_id = any(%(ids)s)",
    "activities": "client_id = any(%(ids)s)",
}


def _fresh_database(server_url: str, template_url: str) -> str:
    return create_database(server_url, template=template_url.rsplit("/", 1)[1])


def _client_ids(truth: dict) -> list[str]:
    return [c["client_id"] for c in truth["clients"]]


def _digests(url: str, client_ids: list[str]) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every row's text, in id order, per source table (the clients' rows only)."""
    out = {}
    with psycopg.connect(url) as conn:
        for table, where in TABLES.items():
            out[table] = conn.execute(
                f"select count(*), md5(coalesce(string_agg(t::text, E'\\n' order by t.id), '')) "
                f"from {table} as t where {where}", {"ids": client_ids}).fetchone()
    return out


@pytest.fixture(scope="module")
def world(server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """One small world shared by the read-only tests of this module."""
    url = _fresh_database(server_url, template_url)
    truth_path = tmp_path_factory.mktemp("truth") / "truth.json"
    try:
        summary = generate(url, clients=CLIENTS, leads=LEADS, seed=SEED, truth_path=truth_path, as_of=AS_OF)
        truth = json.loads(truth_path.read_text())
        assert summary.leads == LEADS and summary.clients == CLIENTS
        assert summary.conversions == truth["totals"]["conversions"]
        yield url, truth
    finally:
        drop_database(url)


# -- determinism -------------------------------------------------------------------------------------

def test_same_seed_gives_identical_tables_and_truth(world: tuple[str, dict], db_url: str, tmp_path: Path) -> None:
    url, truth = world
    again = tmp_path / "again.json"
    generate(db_url, clients=CLIENTS, leads=LEADS, seed=SEED, truth_path=again, as_of=AS_OF)
    ids = _client_ids(truth)
    first, second = _digests(url, ids), _digests(db_url, ids)
    assert first == second
    assert first["activities"][0] > LEADS  # the digests cover real data
    assert json.loads(again.read_text()) == truth


def test_other_seed_gives_other_world_in_the_same_database(world: tuple[str, dict], db_url: str, tmp_path: Path) -> None:
    url, truth = world
    other_path = tmp_path / "other.json"
    generate(db_url, clients=CLIENTS, leads=LEADS, seed=SEED + 1, truth_path=other_path, as_of=AS_OF)
    other = json.loads(other_path.read_text())
    assert set(_client_ids(other)).isdisjoint(_client_ids(truth))
    mine, theirs = _digests(url, _client_ids(truth)), _digests(db_url, _client_ids(other))
    assert all(mine[t][1] != theirs[t][1] for t in TABLES)
    assert other["clients"][0]["planted"] != truth["clients"][0]["planted"]


def test_refuses_to_write_the_same_world_twice(db_url: str) -> None:
    first = generate(db_url, clients=2, leads=300, seed=5, as_of=AS_OF)
    with psycopg.connect(db_url) as conn:
        before = conn.execute("select (select count(*) from leads), (select count(*) from activities)").fetchone()
    with pytest.raises(SynthError, match="already holds 2 of the 2 clients"):
        generate(db_url, clients=2, leads=300, seed=5, as_of=AS_OF)
    with psycopg.connect(db_url) as conn:
        after = conn.execute("select (select count(*) from leads), (select count(*) from activities)").fetchone()
    assert before == after == (first.leads, first.activities)


def test_a_failed_load_leaves_nothing_behind(db_url: str) -> None:
    """Writers commit per batch (of 10,000 leads): when one batch fails, the batches already
    committed are removed again, and the same command can simply be run again."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        # A sequence is not transactional: exactly the second COPY into leads fails, whichever writer runs it.
        conn.execute("""
            create sequence lead_loads;
            create function fail_second_load() returns trigger language plpgsql as $$
            begin
                if nextval('lead_loads') = 2 then raise exception 'disk full (simulated)'; end if;
                return null;
            end $$;
            create trigger fail_second_load after insert on leads
                for each statement execute function fail_second_load()""")
    with pytest.raises(psycopg.errors.RaiseException, match="disk full"):
        generate(db_url, clients=1, leads=12_000, seed=3, as_of=AS_OF)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("select (select count(*) from clients), (select count(*) from campaigns), "
                            "(select count(*) from leads), (select count(*) from activities)").fetchone() == (0, 0, 0, 0)
        assert conn.execute("select last_value from lead_loads").fetchone()[0] == 2
        conn.execute("drop trigger fail_second_load on leads")
    calls: list[tuple[str, int, int]] = []
    summary = generate(db_url, clients=1, leads=12_000, seed=3, as_of=AS_OF, progress=lambda *call: calls.append(call))
    assert summary.leads == 12_000
    assert calls[:2] == [("clients", 0, 1), ("clients", 1, 1)]
    done = [d for stage, d, total in calls[2:] if stage == "leads" and total == 12_000]
    assert len(done) == len(calls) - 2 == 3 and done[0] == 0 and done[-1] == 12_000 and done == sorted(done)


def test_rejects_bad_arguments(db_url: str) -> None:
    with pytest.raises(SynthError, match="timezone-aware"):
        generate(db_url, clients=1, leads=10, seed=1, as_of=datetime(2025, 6, 30))
    with pytest.raises(SynthError, match="at least the number of clients"):
        generate(db_url, clients=5, leads=4, seed=1, as_of=AS_OF)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from clients").fetchone()[0] == 0


def test_leads_are_split_unevenly_but_deterministically() -> None:
    split = split_leads(SEED, 7, 70_000)
    assert sum(split) == 70_000
    assert min(split) >= 70_000 // 21
    assert len(set(split)) > 1
    assert split == split_leads(SEED, 7, 70_000)
    assert split_leads(SEED, 3, 3) == [1, 1, 1]


# -- truth against the database ------------------------------------------------------------------------

def test_truth_counts_match_the_database(world: tuple[str, dict]) -> None:
    url, truth = world
    cut = AS_OF - timedelta(days=truth["parameters"]["stale_after_days"])
    with psycopg.connect(url) as conn:
        for client in truth["clients"]:
            row = conn.execute(
                f"""
                with lead_touch as (
                    select l.id, l.status, l.created_at,
                           max(a.created_at) filter (where a.action in {OUTBOUND}) as last_touch,
                           count(*) filter (where a.action in {OUTBOUND}) as touches,
                           count(a.id) as activities
                    from leads as l left join activities as a on a.lead_id = l.id
                    where l.client_id = %(client)s
                    group by l.id
                ), classified as (
                    select *, status not in ('converted', 'unsubscribed', 'bounced', 'not_interested', 'dead')
                              and coalesce(last_touch, created_at) <= %(cut)s as is_stale
                    from lead_touch
                )
                select count(*), count(*) filter (where touches = 0), sum(touches), sum(activities),
                       count(*) filter (where status = 'converted'), count(*) filter (where status in {FAILED}),
                       count(*) filter (where status = 'bounced'), count(*) filter (where status = 'dead'),
                       count(*) filter (where is_stale),
                       count(*) filter (where status not in ('converted', 'unsubscribed', 'bounced', 'not_interested', 'dead')
                                          and not is_stale)
                from classified
                """, {"client": client["client_id"], "cut": cut}).fetchone()
            counts = client["counts"]
            assert row == (counts["leads"], counts["untouched"], counts["outbound_touches"], counts["activities"],
                           counts["conversions"], counts["failures"], counts["failed_bounced"], counts["failed_dead"],
                           counts["stale"], counts["in_flight"])
            by_step = dict(conn.execute(
                "select sequence_step, count(*) from activities where client_id = %s and led_to_booking group by 1",
                (client["client_id"],)).fetchall())
            assert {int(k): v for k, v in client["conversions_by_touch"].items() if v} == by_step
    assert truth["totals"]["leads"] == LEADS == sum(truth["parameters"]["leads_per_client"])
    assert truth["as_of"] == "2025-06-30T00:00:00Z"
    # A world worth learning from: every kind of lead is present in every client.
    for client in truth["clients"]:
        counts = client["counts"]
        assert min(counts["conversions"], counts["failures"], counts["stale"], counts["in_flight"],
                   counts["sequence_unfinished"], counts["untouched"]) > 0


def test_every_booking_has_exactly_one_converting_touch_before_it(world: tuple[str, dict]) -> None:
    url, truth = world
    with psycopg.connect(url) as conn:
        row = conn.execute(f"""
            with conv as (
                select l.id, l.converted_at,
                       (select count(*) from activities a where a.lead_id = l.id and a.led_to_booking) as marked,
                       (select a.id from activities a where a.lead_id = l.id and a.led_to_booking) as marked_id,
                       (select a.id from activities a where a.lead_id = l.id and a.action in {OUTBOUND}
                          and a.created_at < l.converted_at order by a.created_at desc, a.id desc limit 1) as last_touch,
                       (select count(*) from activities a where a.lead_id = l.id and a.action in {OUTBOUND}
                          and a.created_at >= l.converted_at) as touches_after,
                       (select array_agg(a.created_at) from activities a
                         where a.lead_id = l.id and a.action = 'meeting_booked') as bookings
                from leads l where l.status = 'converted'
            )
            select count(*),
                   count(*) filter (where marked = 1 and marked_id = last_touch),
                   sum(touches_after),
                   count(*) filter (where bookings = array[converted_at])
            from conv""").fetchone()
        conversions = truth["totals"]["conversions"]
        assert row == (conversions, conversions, 0, conversions)
        stray = conn.execute("""
            select count(*) from activities a join leads l on l.id = a.lead_id
            where l.status <> 'converted' and (a.led_to_booking or a.action = 'meeting_booked')""").fetchone()[0]
        assert stray == 0
        # The booking comes hours to a few days after the converting touch.
        gap = conn.execute("""
            select min(l.converted_at - a.created_at), max(l.converted_at - a.created_at)
            from activities a join leads l on l.id = a.lead_id where a.led_to_booking""").fetchone()
        assert gap[0] > timedelta(0) and gap[1] <= timedelta(days=4)


def test_failures_end_sequences_with_a_matching_event(world: tuple[str, dict]) -> None:
    url, _ = world
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"""
            select l.status,
                   (select count(*) from activities a where a.lead_id = l.id and a.metadata ->> 'failure' = l.status),
                   (select max(a.created_at) from activities a where a.lead_id = l.id and a.action in {OUTBOUND})
                     < (select max(a.created_at) from activities a where a.lead_id = l.id and a.metadata ? 'failure')
            from leads l where l.status in {FAILED}""").fetchall()
    assert rows and all(n == 1 and after for _, n, after in rows)
    assert {status for status, _, _ in rows} == {"bounced", "unsubscribed", "not_interested", "dead"}


def test_nothing_is_dated_after_as_of(world: tuple[str, dict]) -> None:
    url, _ = world
    with psycopg.connect(url) as conn:
        row = conn.execute("""
            select (select max(created_at) from activities),
                   (select max(greatest(created_at, updated_at, scored_at, converted_at)) from leads),
                   (select max(created_at) from campaigns), (select max(created_at) from clients)""").fetchone()
    assert all(value < AS_OF for value in row)
    assert row[0] > AS_OF - timedelta(days=2)  # the world runs right up to its "now"


def test_sends_fall_in_local_waking_hours(world: tuple[str, dict]) -> None:
    """Local time as PostgreSQL computes it (lead zone, else client zone) matches the schedule."""
    url, _ = world
    with psycopg.connect(url) as conn:
        hours = dict(conn.execute(f"""
            select extract(hour from a.created_at at time zone coalesce(l.timezone, c.timezone))::int, count(*)
            from activities a join leads l on l.id = a.lead_id join clients c on c.id = a.client_id
            where a.action in {OUTBOUND} group by 1""").fetchall())
    assert set(hours) <= set(range(6, 23))
    business = sum(n for h, n in hours.items() if 8 <= h <= 17) / sum(hours.values())
    assert 0.82 < business < 0.88


def test_lead_attributes(world: tuple[str, dict]) -> None:
    url, truth = world
    with psycopg.connect(url) as conn:
        leads = conn.execute("""
            select als_components, als_score, als_tier, status, timezone, organization_employee_count, seniority_level
            from leads""").fetchall()
        zones = {row[0] for row in conn.execute("select name from pg_timezone_names")}
        campaigns = [n for (n,) in conn.execute("select count(*) from campaigns group by client_id")]
        channels = {row[0] for row in conn.execute("select distinct channel from activities")}
    components = np.array([[c[k] for k in ("data_quality", "authority", "company_fit", "timing")] for c, *_ in leads])
    risk = np.array([c["risk"] for c, *_ in leads])
    score = als_score(components, risk)
    stored = np.array([row[1] for row in leads])
    penalised = np.array([row[3] in ("bounced", "unsubscribed") for row in leads])
    assert np.array_equal(stored[~penalised], score[~penalised])
    assert np.all(stored[penalised] == np.maximum(0, score[penalised] - 15))
    assert [row[2] for row in leads] == als_tier(stored).tolist()
    assert set(als_tier(score)) == {"hot", "warm", "cool", "cold", "dead"}
    assert {row[4] for row in leads if row[4]} <= zones
    assert any(row[4] is None for row in leads)
    sizes = [row[5] for row in leads if row[5] is not None]
    assert min(sizes) <= 5 and max(sizes) > 500
    assert all(1 <= n <= 3 for n in campaigns) and len(campaigns) == CLIENTS
    assert channels == set(CHANNELS)
    assert len({c["timezone"] for c in truth["clients"]}) == CLIENTS


# -- planted truth ---------------------------------------------------------------------------------

def test_planted_effects_separate_winners_from_neutral_categories() -> None:
    vocab = load_vocabulary()
    share = np.array([0.5, 0.3, 0.1, 0.05, 0.05])
    for seed in range(20):
        fx = draw_client_effects(np.random.default_rng(seed), vocab, null_world=False, first_channel_share=share)
        for values, winners, losers in ((fx.pain_point, 2, 2), (fx.cta, 3, 3), (fx.subject_template, 2, 2),
                                        (fx.angle, 2, 2), (fx.industry, 1, 1), (fx.title, 1, 1)):
            assert (values >= EFFECTIVE_THRESHOLD).sum() == winners
            assert (values <= -EFFECTIVE_THRESHOLD).sum() == losers
            assert (np.abs(values) <= NEUTRAL_BOUND).sum() == len(values) - winners - losers
        assert int(np.argmax(fx.day)) < 5 and 8 <= int(np.argmax(fx.hour)) <= 17
        assert share[int(np.argmax(fx.first_channel + fx.channel))] >= 0.2
        assert abs(fx.als_weights.sum() - 0.85) < 1e-3 and fx.als_weights.min() >= 0.08 - 1e-4


def test_truth_file_describes_the_planted_effects(world: tuple[str, dict]) -> None:
    _, truth = world
    assert truth["format_version"] == 1 and truth["seed"] == SEED and truth["null_world"] is False
    baseline = truth["hazard"]["baseline_logit_by_touch"]
    assert len(baseline) == MAX_TOUCHES and max(baseline, key=baseline.get) == "3"
    vocab = load_vocabulary()
    for client in truth["clients"]:
        planted = client["planted"]
        log_odds, best = planted["log_odds"], planted["best"]
        assert best["industry"] == max(log_odds["industry"], key=log_odds["industry"].get)
        assert best["day"] == int(max(log_odds["day"], key=log_odds["day"].get))
        assert set(planted["effective"]["pain_points"]) == {
            p for p, v in log_odds["pain_point"].items() if v >= EFFECTIVE_THRESHOLD}
        assert len(planted["effective"]["ctas"]) == 3 and set(planted["effective"]["ctas"]) <= set(vocab.cta_phrases)
        assert best["sweet_spot"]["min"] == truth["definitions"]["size_buckets"][best["size_bucket"]][0]
        assert set(best["length"]) == set(LENGTH_BINS)


def test_null_world_plants_nothing(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "null.json"
    summary = generate(db_url, clients=2, leads=3_000, seed=SEED, null_world=True, truth_path=path, as_of=AS_OF)
    truth = json.loads(path.read_text())
    assert truth["null_world"] is True
    assert len(set(truth["hazard"]["baseline_logit_by_touch"].values())) == 1
    np.testing.assert_array_equal(baseline_logit(True), np.full(MAX_TOUCHES, baseline_logit(True)[0]))

    def values(node: object) -> Iterator[float]:
        if isinstance(node, dict):
            for child in node.values():
                yield from values(child)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            yield float(node)

    for client in truth["clients"]:
        planted = client["planted"]
        effects = dict(planted["log_odds"])
        als = effects.pop("als")
        assert set(values(effects)) == {0.0}
        assert als["scale"] == als["risk_scale"] == 0.0 and planted["intercept"] == 0.0
        assert all(v is None for k, v in planted["best"].items() if k != "length")
        assert all(v is None for v in planted["best"]["length"].values())
        assert all(v is None for v in planted["worst"].values())
        assert all(v == [] for group in ("effective", "ineffective") for v in planted[group].values())
    assert summary.failures > 0 and summary.conversions > 0 and summary.stale > 0


# -- content -------------------------------------------------------------------------------------------

def _plan_sample(n: int, seed: int = 3):
    """Plan and render n touches with random channels, positions and lead values."""
    vocab = load_vocabulary()
    tables = ContentTables(vocab)
    rng = np.random.default_rng(seed)
    channel = rng.integers(0, len(CHANNELS), n)
    touch_number = rng.integers(1, MAX_TOUCHES + 1, n)
    first = [catalog.FIRST_NAMES[i] for i in rng.integers(0, len(catalog.FIRST_NAMES), n)]
    company = [f"{catalog.COMPANY_STEMS[i]} {catalog.COMPANY_SUFFIXES[j]}" for i, j in
               zip(rng.integers(0, len(catalog.COMPANY_STEMS), n), rng.integers(0, len(catalog.COMPANY_SUFFIXES), n))]
    industry = [catalog.INDUSTRIES[i][0] for i in rng.integers(0, len(catalog.INDUSTRIES), n)]
    sender = [catalog.SENDER_NAMES[i] for i in rng.integers(0, len(catalog.SENDER_NAMES), n)]
    values = {"first_name": first, "company": company, "industry": industry, "sender": sender}
    plan = plan_content(
        rng, tables, draw_style(rng, vocab), channel=channel, touch_number=touch_number,
        slot_words={k: np.array([len(v.split()) for v in vs]) for k, vs in values.items()},
        slot_chars={k: np.array([len(v) for v in vs]) for k, vs in values.items()})
    subjects, bodies = render(tables, plan, np.arange(n), channel, {**values, "client": ["Lumen Agency"] * n})
    return vocab, plan, channel, touch_number, values, subjects, bodies


def test_texts_carry_exactly_the_planted_vocabulary() -> None:
    vocab, plan, channel, touch_number, values, subjects, bodies = _plan_sample(4_000)
    pain = [[phrase_regex(k) for k in keywords] for keywords in vocab.pain_keywords]
    ctas = [phrase_regex(p) for p in vocab.cta_phrases]
    angles = [[phrase_regex(c) for c in cues] for cues in vocab.angle_cues]
    templates = [python_regex(p) for p in vocab.subject_patterns]
    for i, (subject, body) in enumerate(zip(subjects, bodies)):
        text = body if subject is None else f"{subject}\n{body}"
        assert {p for p, regexes in enumerate(pain) if any(r.search(text) for r in regexes)} == {plan.pain_point[i]}
        found = sorted((m.start(), c) for c, r in enumerate(ctas) for m in r.finditer(text))
        expected_ctas = [plan.cta[i]] + ([plan.cta2[i]] if plan.cta2[i] >= 0 else [])
        assert [c for _, c in found] == expected_ctas  # the first CTA in the text is the planted one
        assert {a for a, regexes in enumerate(angles) if any(r.search(text) for r in regexes)} == set(
            np.flatnonzero(plan.angles[i]))
        if channel[i] == CHANNELS.index("email"):
            assert [t for t, r in enumerate(templates) if r.search(subject)] == [plan.template[i]]
        else:
            assert subject is None and plan.template[i] == -1
        assert len(body.split()) == plan.words[i] and len(body) == plan.chars[i]


def test_personalisation_is_visible_in_the_text() -> None:
    _, plan, _, _, values, subjects, bodies = _plan_sample(3_000, seed=4)
    markers = {
        "company_mention": lambda i: values["company"][i],
        "first_name": lambda i: values["first_name"][i],
        "recent_news": lambda i: r"recent (news|announcement)",
        "mutual_connection": lambda i: "mutual connection",
        "industry_specific": lambda i: values["industry"][i],
    }
    for i, (subject, body) in enumerate(zip(subjects, bodies)):
        text = f"{subject or ''}\n{body}"
        for j, name in enumerate(PERSONALIZATION):
            assert bool(re.search(rf"\b{markers[name](i)}\b", text)) == bool(plan.personalization[i, j]), (name, text)


def test_length_bins_follow_the_exact_length() -> None:
    _, plan, channel, _, _, _, bodies = _plan_sample(4_000, seed=5)
    for name, bins in LENGTH_BINS.items():
        rows = np.flatnonzero(channel == CHANNELS.index(name))
        size = plan.chars[rows] if LENGTH_UNIT[name] == "chars" else plan.words[rows]
        lows = np.array([b[1] for b in bins])
        np.testing.assert_array_equal(plan.length_bin[rows], np.searchsorted(lows, size, side="right") - 1)
        assert set(plan.length_bin[rows]) == set(range(len(bins)))  # every bin is used
    assert np.all(plan.length_bin[(channel == CHANNELS.index("voice")) | (channel == CHANNELS.index("mail"))] == -1)


def test_catalog_strings_carry_no_vocabulary() -> None:
    vocab = load_vocabulary()
    phrases = [phrase_regex(p) for group in (vocab.pain_keywords, vocab.angle_cues) for keywords in group for p in keywords]
    phrases += [phrase_regex(p) for p in vocab.cta_phrases]
    companies = [f"{s} {x}" for s in catalog.COMPANY_STEMS for x in catalog.COMPANY_SUFFIXES]
    names = catalog.FIRST_NAMES + catalog.SENDER_NAMES + catalog.CONNECTOR_NAMES + tuple(n for n, _ in catalog.INDUSTRIES)
    for text in companies + list(names):
        assert not any(r.search(text) for r in phrases), text
    # No vocabulary phrase contains another one (a match must identify its label).
    flat = [p for keywords in vocab.pain_keywords for p in keywords] + list(vocab.cta_phrases) + [
        c for cues in vocab.angle_cues for c in cues]
    for a in flat:
        assert [b for b in flat if b != a and phrase_regex(a).search(b)] == [], a


def test_stored_snapshots_agree_with_the_columns(world: tuple[str, dict]) -> None:
    url, _ = world
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"""
            select channel, subject, content_preview, content_snapshot, sequence_step from activities
            where action in {OUTBOUND} order by id limit 2000""").fetchall()
    assert len(rows) == 2000
    for channel, subject, preview, snapshot, step in rows:
        assert snapshot["channel"] == channel and snapshot["subject"] == subject
        assert snapshot["sequence_step"] == step
        assert preview == snapshot["body"][:200]
        assert snapshot["word_count"] == len(snapshot["body"].split())
        assert snapshot["char_count"] == len(snapshot["body"])
        assert (subject is None) == (channel != "email")
        assert set(snapshot["personalization"]) == set(PERSONALIZATION)

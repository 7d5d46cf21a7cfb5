"""Agent context (api/context.py, GET /patterns/{client_id}/context, `convintel context`).

Hand-made pattern JSON pins the exact text: a labelled item with q >= 0.10 or n < min_sample never
appears, a losing item appears under "avoid", thin data says so. A learned synthetic world (WHAT marts
only: one effects client, one null-world client) checks over HTTP with tenant keys that planted
no-effect items never appear and that listed items point the planted way.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import psycopg
import pytest

from api.context import CONSUMERS, TEXT_BUDGET, build_context, read_stored

COMPUTED = "2026-06-01T00:00:00+00:00"


def ranked(category: Any, n: int, booked: int, lift: float, low: float, high: float, q: float | None,
           label: str | None, rank: int | None, *, adjusted: bool = True) -> dict[str, Any]:
    """A ranking entry as the detectors store it (rank_categories[_adjusted] + to_records)."""
    entry = {"category": category, "sample": n, "conversions": booked, "rate": round(booked / n, 6),
             "ci_low": 0.01, "ci_high": 0.3, "lift": lift, "lift_ci_low": low, "lift_ci_high": high}
    if adjusted:
        entry |= {"adjusted_lift": lift, "adjusted_lift_ci_low": low, "adjusted_lift_ci_high": high}
    return entry | {"p_value": None if q is None else q / 2, "q_value": q, "label": label, "rank": rank,
                    "is_ranked": rank is not None}


def stored(patterns: dict[str, Any], confidence: float, **extra: Any) -> dict[str, Any]:
    return {"patterns": {"computed_at": COMPUTED, "min_sample": 5, "q_threshold": 0.1, **patterns},
            "confidence": confidence, "computed_at": COMPUTED, "valid_until": "2026-06-15T00:00:00+00:00",
            "sample_size": 2000, "is_valid": True, **extra}


WHAT = {
    "type": "what", "conversions": 40,
    "subject_patterns": {"winning": [], "losing": [ranked("question_about", 300, 6, 0.45, 0.2, 0.9, 0.04, "losing", 9)],
                         "length_tags": [ranked("short", 800, 50, 1.1, 0.9, 1.3, 0.4, None, 1)]},
    "pain_points": {
        "effective": [ranked("time", 400, 60, 1.6, 1.2, 2.1, 0.01, "winning", 1),
                      ranked("noise", 300, 40, 1.3, 1.0, 1.7, 0.12, "winning", 2),      # q >= 0.10
                      ranked("tiny", 4, 3, 5.0, 1.5, 9.0, 0.01, "winning", 3)],          # n < 5
        "ineffective": [ranked("cost", 380, 12, 0.55, 0.4, 0.76, 0.02, "losing", 8)]},
    "ctas": {"effective": [ranked("let us set up a call", 200, 30, 1.8, 1.2, 2.6, 0.03, "winning", 1)],
             "ineffective": []},
    "angles": {"effective": [], "ineffective": [],
               "rankings": [ranked("authority", 900, 90, 1.9, 1.5, 2.4, 0.001, None, 1)]},  # unlabelled: absent
    "optimal_length": {"email": {"unit": "words", "bins": [
        ranked("60-99", 500, 70, 1.5, 1.2, 1.9, 0.03, "winning", 1),
        ranked("200+", 300, 9, 0.5, 0.3, 0.8, 0.05, "losing", 5)]}, "linkedin": None, "sms": None},
    "personalization_lift": {
        "company_mention": {"with": {"sample": 600, "conversions": 40, "rate": 0.066667}, "lift": 1.05, "ci_low": 0.8,
                            "ci_high": 1.3, "q_value": 0.7, "label": None},
        "mutual_connection": {"with": {"sample": 300, "conversions": 36, "rate": 0.12}, "lift": 1.7, "ci_low": 1.2,
                              "ci_high": 2.4, "q_value": 0.02, "label": "winning"}},
}

MESSAGING_TEXT = """\
MESSAGING GUIDANCE for MessagingGeneratorSkill
Source: what pattern (scope client, computed 2026-06-01T00:00:00+00:00, confidence 0.83): learned.
Listed: only findings with BH q < 0.10 and n >= 5; evidence = lift x [95% CI] (booked/n).
Subject lines: avoid question_about 0.45x [0.20-0.90] (6/300 touches)
Pain points: use time 1.60x [1.20-2.10] (60/400 touches) | avoid cost 0.55x [0.40-0.76] (12/380 touches)
CTAs (first in the text): use "let us set up a call" 1.80x [1.20-2.60] (30/200 touches)
Angles: no significant difference.
Length: use email 60-99 words 1.50x [1.20-1.90] (70/500 touches) | avoid email 200+ words 0.50x [0.30-0.80] (9/300 touches)
Personalisation: use mutual connection 1.70x [1.20-2.40] (36/300 touches)"""


def test_messaging_lists_only_findings_that_pass_the_rules_with_their_evidence() -> None:
    block = build_context({"what": stored(WHAT, 0.83)}, ["messaging"])["messaging"]
    assert block.text == MESSAGING_TEXT
    assert block.text_chars == len(MESSAGING_TEXT) <= TEXT_BUDGET and block.text_top_k == 3
    for absent in ("noise", "tiny", "authority", "short", "company mention"):
        assert absent not in block.text
    pain = next(s for s in block.sections if s.key == "pain_points")
    assert [(f.item, f.direction, f.sample, f.conversions, f.rate, f.lift, f.lift_ci_low, f.lift_ci_high, f.q_value)
            for f in (*pain.use, *pain.avoid)] == [("time", "use", 400, 60, 0.15, 1.6, 1.2, 2.1, 0.01),
                                                   ("cost", "avoid", 380, 12, 0.031579, 0.55, 0.4, 0.76, 0.02)]


def test_confidence_decides_learned_tentative_or_withheld_and_missing_patterns_say_so() -> None:
    tentative = build_context({"what": stored(WHAT, 0.62)}, ["messaging"])["messaging"]
    assert tentative.text.splitlines()[1] == (
        "Source: what pattern (scope client, computed 2026-06-01T00:00:00+00:00, confidence 0.62): tentative "
        "(confidence 0.5-0.7), weigh against your defaults.")
    assert tentative.text.splitlines()[2:] == MESSAGING_TEXT.splitlines()[2:]
    low = build_context({"what": stored(WHAT, 0.42)}, ["messaging"])["messaging"]
    assert low.text == (
        "MESSAGING GUIDANCE for MessagingGeneratorSkill\n"
        "Source: not enough data: what pattern (scope client, computed 2026-06-01T00:00:00+00:00, confidence 0.42) "
        "< 0.5 (40 conversions); findings withheld, use your defaults.")
    assert low.sections == [] and low.sources[0].use == "defaults"
    missing = build_context({}, ["sequencing"])["sequencing"]
    assert missing.text == (
        "SEQUENCING GUIDANCE for SequenceBuilderSkill\n"
        "Source: not enough data: no how pattern for this client (not learned yet, or below its minimum-data gate); "
        "use your defaults.\n"
        "Source: not enough data: no when pattern for this client (not learned yet, or below its minimum-data gate); "
        "use your defaults.")
    agency = stored(WHAT, 0.9, is_valid=False)
    agency["patterns"]["scope"] = "agency"
    expired = build_context({"what": agency}, ["messaging"])
    assert expired["messaging"].text.splitlines()[1] == (
        "Source: what pattern (scope agency, computed 2026-06-01T00:00:00+00:00, confidence 0.90): learned; "
        "expired 2026-06-15, re-learning due.")
    assert expired["messaging"].sources[0].scope == "agency"


HOW = {
    "type": "how", "conversions": 60,
    "first_touch_effectiveness": {
        "email_first": ranked("x", 500, 30, 0.7, 0.55, 0.9, 0.01, "losing", 3, adjusted=False) | {"channel": "email"},
        "linkedin_first": ranked("x", 300, 45, 1.6, 1.3, 2.0, 0.001, "winning", 1, adjusted=False) | {"channel": "linkedin"},
        "sms_first": ranked("x", 3, 2, 4.0, 1.1, 9.0, 0.05, "winning", None, adjusted=False) | {"channel": "sms"}},
    "winning_sequences": [
        {"sequence": ["linkedin", "email"], "sample_size": 120, "conversions": 18, "conversion_rate": 0.15,
         "ci_low": 0.1, "ci_high": 0.22, "lift": 1.9, "lift_ci_low": 1.2, "lift_ci_high": 3.0, "q_value": 0.04,
         "label": "winning", "rank": 1},
        {"sequence": ["email", "email"], "sample_size": 90, "conversions": 9, "conversion_rate": 0.1, "ci_low": 0.05,
         "ci_high": 0.18, "lift": 1.4, "lift_ci_low": 0.8, "lift_ci_high": 2.4, "q_value": 0.3, "label": None, "rank": 2}],
    "multi_channel_lift": {"1_channel": ranked("1_channel", 2000, 40, 0.9, 0.7, 1.1, 0.5, None, 2),
                           "2_channels": None},
}
WHEN = {
    "type": "when", "conversions": 60, "time_basis": "lead_local",
    "best_days": [ranked(3, 900, 40, 1.5, 1.2, 1.9, 0.01, "winning", 1) | {"day": "thursday", "day_of_week": 3},
                  ranked(5, 200, 2, 0.3, 0.1, 0.8, 0.03, "losing", 7) | {"day": "saturday", "day_of_week": 5}],
    "best_hours": [ranked(14, 600, 30, 1.4, 1.1, 1.8, 0.09, "winning", 1) | {"hour": 14},
                   ranked(9, 600, 20, 1.2, 0.9, 1.6, 0.11, None, 2) | {"hour": 9}],
    "touch_hazard": [{"touch_number": 3, "leads_reached": 800, "bookings": 24, "hazard": 0.03, "ci_low": 0.02,
                      "ci_high": 0.044, "lift": 1.5, "lift_ci_low": 1.1, "lift_ci_high": 2.1, "q_value": 0.02,
                      "label": "winning", "rank": 1, "is_ranked": True}],
    "peak_converting_touch": {"touch_number": 3, "hazard": 0.03, "label": "winning"},
    "sequence_gap_details": {
        "touch_1_to_2": {"days": 2.5, "source": "data", "sequences": 40, "p25_days": 1.5, "p75_days": 3.5},
        "touch_2_to_3": {"days": 3.0, "source": "default", "sequences": 3, "p25_days": None, "p75_days": None}},
}

SEQUENCING_TEXT = """\
SEQUENCING GUIDANCE for SequenceBuilderSkill
Source: how pattern (scope client, computed 2026-06-01T00:00:00+00:00, confidence 0.88): learned.
Source: when pattern (scope client, computed 2026-06-01T00:00:00+00:00, confidence 0.88): learned.
Listed: only findings with BH q < 0.10 and n >= 5; evidence = lift x [95% CI] (booked/n).
First channel: use linkedin first 1.60x [1.30-2.00] (45/300 leads) | avoid email first 0.70x [0.55-0.90] (30/500 leads)
Sequences (booking right after the last touch): use linkedin > email 1.90x [1.20-3.00] (18/120 leads)
Channels used so far: no significant difference.
Days (lead's local time): use Thursday 1.50x [1.20-1.90] (40/900 touches) | avoid Saturday 0.30x [0.10-0.80] (2/200 touches)
Hours (lead's local time): use 14:00 1.40x [1.10-1.80] (30/600 touches)
Peak converting touch (booking hazard): use touch 3 1.50x [1.10-2.10] (24/800 leads reaching it)
Gaps (median days between touches of converted sequences): 1->2 2.5d (IQR 1.5-3.5, n=40)."""


def test_sequencing_block_from_how_and_when() -> None:
    patterns = {"how": stored(HOW, 0.88), "when": stored(WHEN, 0.88)}
    block = build_context(patterns, ["sequencing"])["sequencing"]
    assert block.text == SEQUENCING_TEXT
    assert block.sequence_gaps == [{"gap": "touch_1_to_2", "days": 2.5, "sequences": 40, "p25_days": 1.5,
                                    "p75_days": 3.5, "label": "1->2"}]
    no_gaps = build_context({"when": stored({**WHEN, "sequence_gap_details": {}}, 0.88)}, ["sequencing"])["sequencing"]
    assert no_gaps.text.endswith("Gaps: too few converted sequences to measure; use your defaults.")


WHO = {
    "type": "who", "conversions": 50,
    "title_rankings": {"by_title": [ranked("vp sales", 200, 40, 2.0, 1.5, 2.7, 0.001, "winning", 1, adjusted=False),
                                    ranked("cmo", 150, 4, 0.3, 0.1, 0.8, 0.02, "losing", 9, adjusted=False)],
                       "by_seniority": []},
    "industry_rankings": [ranked("fintech", 100, 15, 1.3, 0.9, 1.9, 0.2, None, 1, adjusted=False)],
    "size_analysis": {"sweet_spot": None, "distribution": [
        ranked("51-100", 300, 45, 1.8, 1.4, 2.3, 0.003, "winning", 1, adjusted=False)]},
    "timing_signals": {"new_role_lift": {"lift": 1.5, "ci_low": 1.2, "ci_high": 1.9, "q_value": 0.01, "label": "winning",
                                         "with_signal": {"sample": 250, "conversions": 38, "rate": 0.152}},
                       "funded_lift": {"lift": 1.1, "ci_low": 0.8, "ci_high": 1.5, "q_value": 0.6, "label": None,
                                       "with_signal": {"sample": 90, "conversions": 10, "rate": 0.111}}},
}

CAMPAIGN_TEXT = """\
CAMPAIGN GUIDANCE for CampaignGenerationAgent
Source: who pattern (scope client, computed 2026-06-01T00:00:00+00:00, confidence 0.86): learned.
Source: what pattern (scope client, computed 2026-06-01T00:00:00+00:00, confidence 0.83): learned.
Source: not enough data: no how pattern for this client (not learned yet, or below its minimum-data gate); use your defaults.
Source: when pattern (scope client, computed 2026-06-01T00:00:00+00:00, confidence 0.88): learned.
Listed: only findings with BH q < 0.10 and n >= 5; evidence = lift x [95% CI] (booked/n).
Titles: use vp sales 2.00x [1.50-2.70] (40/200 leads) | avoid cmo 0.30x [0.10-0.80] (4/150 leads)
Seniority: no significant difference.
Industries: no significant difference.
Company size (employees): use 51-100 1.80x [1.40-2.30] (45/300 leads)
Timing signals: use new in role (< 6 months) 1.50x [1.20-1.90] (38/250 leads)
Messaging summary: use pain point time 1.60x [1.20-2.10] (60/400 touches); CTA "let us set up a call" 1.80x [1.20-2.60] (30/200 touches) | avoid subject question_about 0.45x [0.20-0.90] (6/300 touches); pain point cost 0.55x [0.40-0.76] (12/380 touches)
Sequencing summary: use local day Thursday 1.50x [1.20-1.90] (40/900 touches); local hour 14:00 1.40x [1.10-1.80] (30/600 touches) | avoid local day Saturday 0.30x [0.10-0.80] (2/200 touches)
(top 2 per list shown, to fit 1500 characters)"""


def test_campaign_block_who_converts_and_a_summary_of_the_others() -> None:
    patterns = {"who": stored(WHO, 0.86), "what": stored(WHAT, 0.83), "when": stored(WHEN, 0.88)}
    block = build_context(patterns, ["campaign"])["campaign"]
    assert block.text == CAMPAIGN_TEXT


def test_the_text_keeps_its_length_budget_and_is_deterministic() -> None:
    def what_with(name_length: int) -> dict[str, Any]:
        def entries(prefix: str, label: str) -> list[dict[str, Any]]:
            good = label == "winning"
            return [ranked(f"{prefix} {i:02d} " + "x" * name_length, 500 + i, 60 if good else 10,
                           1.5 - i / 100 if good else 0.4 + i / 100, 1.1, 2.0, 0.01, label, i + 1 if good else 30 - i)
                    for i in range(6)]
        return {**WHAT, "pain_points": {"effective": entries("pain", "winning"), "ineffective": entries("bad", "losing")},
                "angles": {"effective": entries("angle", "winning"), "ineffective": []}}

    first = build_context({"what": stored(what_with(60), 0.9)}, ["messaging"])["messaging"]
    again = build_context({"what": stored(json.loads(json.dumps(what_with(60))), 0.9)}, ["messaging"])["messaging"]
    assert first.text == again.text and first.as_dict() == again.as_dict()
    assert (first.text_top_k, len(first.text)) == (2, first.text_chars) and first.text_chars <= TEXT_BUDGET
    assert first.text.endswith(f"(top 2 per list shown, to fit {TEXT_BUDGET} characters)")
    pain = next(s for s in first.sections if s.key == "pain_points")
    assert [f.item[:7] for f in pain.use] == ["pain 00", "pain 01", "pain 02"]   # best rank first; top 3 in the JSON
    assert [f.item[:6] for f in pain.avoid] == ["bad 00", "bad 01", "bad 02"]     # worst (highest) rank first

    cut = build_context({"what": stored(what_with(400), 0.9)}, ["messaging"])["messaging"]
    assert cut.text_chars <= TEXT_BUDGET and cut.text_top_k == 1
    assert cut.text.endswith("(cut to fit the length budget; the JSON lists every finding)")
    assert cut.text.splitlines()[:3] == first.text.splitlines()[:3]


# --- a learned synthetic world, over HTTP ---------------------------------------------------------------

SCHEMA = "dbt_context_test"
AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)
DBT_VARS = json.dumps({"as_of": AS_OF.isoformat(), "stale_after_days": 30})
# section key -> the truth's log-odds of its items (docs/synthetic_world.md)
PLANTED_EFFECT = 0.30          # the synth's planted winners/losers: |log-odds| >= 0.30, neutral ones <= 0.12
NEUTRAL_LISTED = 2           # measured: 14 findings listed, 12 of them planted effects (seeds 61, 62)
TRUTH_KEYS = {"subject_templates": "subject_template", "pain_points": "pain_point", "ctas": "cta", "angles": "angle",
              "personalization": "personalization", "lengths": "length_bin"}


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One effects client and one null-world client; the WHAT marts only, one WHAT run, stored."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.keys import create_key
    from api.settings import ApiSettings
    from dagster_pipelines.assets.what import WHAT as WHAT_SPEC
    from dagster_pipelines.pattern_store import store_client_results
    from support import dbt_or_fail, generate_worlds

    url, tmp = module_db_url, tmp_path_factory.mktemp("context")
    truth = generate_worlds(url, tmp, [("effects", 61, 1, 2500, False), ("null", 62, 1, 1200, True)], AS_OF)
    dbt_or_fail(["build", "--vars", DBT_VARS, "--select", *(f"+{m}" for m in WHAT_SPEC.marts),
                 "--exclude", "resource_type:test", "resource_type:unit_test"], url, tmp / "target", schema=SCHEMA)
    by_world = {world: uuid.UUID(client) for client, (world, _, _) in truth.items()}
    with psycopg.connect(url, autocommit=True) as conn:
        for result in WHAT_SPEC.run(conn, SCHEMA, sorted(by_world.values()), AS_OF):
            conn.execute("select set_config('app.client_ids', %s, false)", (str(result.client_id),))
            store_client_results(conn, result.client_id, [result], run_id=uuid.uuid4(), computed_at=AS_OF)
        _, key_a = create_key(conn, client_ids=[by_world["effects"], by_world["null"]], name="tenant A")
        other = conn.execute("insert into clients (name) values ('tenant B client') returning id").fetchone()[0]
        _, key_b = create_key(conn, client_ids=[other], name="tenant B")
    with TestClient(create_app(ApiSettings(database_url=url))) as http:
        yield {"url": url, "http": http, "truth": {w: truth[str(c)][2] for w, c in by_world.items()},
               "clients": by_world, "key_a": key_a, "key_b": key_b, "other": other}


def _get(world: dict, client: uuid.UUID, key: str, **params: str):
    return world["http"].get(f"/patterns/{client}/context", params=params, headers={"Authorization": f"Bearer {key}"})


def _planted(truth: dict, section: str, item: str) -> float | None:
    log_odds = truth["planted"]["log_odds"][TRUTH_KEYS[section]]
    if section == "lengths":
        channel, length_bin, _unit = item.split(" ")
        return log_odds[channel][length_bin]
    return log_odds.get(item.strip('"').replace(" ", "_") if section == "personalization" else item.strip('"'))


@pytest.mark.slow
def test_planted_no_effect_items_never_appear_and_listed_items_point_the_planted_way(world: dict) -> None:
    for name in ("effects", "null"):
        response = _get(world, world["clients"][name], world["key_a"])
        assert response.status_code == 200
        consumers = response.json()["consumers"]
        assert list(consumers) == list(CONSUMERS)
        truth = world["truth"][name]
        zero = {(key, item) for key, field_ in TRUTH_KEYS.items() if key != "lengths"
                for item, value in truth["planted"]["log_odds"][field_].items() if value == 0.0}
        if name == "effects":
            assert ("personalization", "company_mention") in zero   # the synth's planted exactly-0 flag
        listed = [(section["key"], finding) for block in consumers.values() for section in block["sections"]
                  for finding in (*section["use"], *section["avoid"])
                  if section["key"] in TRUTH_KEYS and section["source"] == "what"]
        if name == "null":
            assert listed == []                                      # every item is planted at 0
            assert "use " not in consumers["messaging"]["text"] and "avoid " not in consumers["messaging"]["text"]
            continue
        assert "company mention" not in consumers["messaging"]["text"]
        planted = [(_planted(truth, key, f["item"]), f["direction"]) for key, f in listed]
        planted = [(value, direction) for value, direction in planted if value is not None]  # length tags: not planted
        assert all(value != 0.0 for value, _ in planted)
        effective = [(value, direction) for value, direction in planted if abs(value) >= PLANTED_EFFECT]
        # A planted winner never shows under "avoid", nor a planted loser under "use".
        assert all((value > 0) == (direction == "use") for value, direction in effective), effective
        # Near-neutral items (|log-odds| <= 0.12) may be labelled (BH controls the false discovery rate
        # at 10%, not at 0): NEUTRAL_LISTED, as measured in this world.
        assert len(effective) >= 8 and len(planted) - len(effective) <= NEUTRAL_LISTED


@pytest.mark.slow
def test_route_auth_consumer_filter_etag_and_the_cli_print_the_same_text(world: dict, monkeypatch) -> None:
    from typer.testing import CliRunner

    from convintel.cli import app

    effects = world["clients"]["effects"]
    assert _get(world, effects, world["key_b"]).status_code == 404          # another tenant's client
    assert _get(world, world["other"], world["key_a"]).status_code == 404
    assert world["http"].get(f"/patterns/{effects}/context").status_code == 401
    assert _get(world, effects, world["key_a"], consumer="pricing").status_code == 422
    only = _get(world, effects, world["key_a"], consumer="messaging")
    assert list(only.json()["consumers"]) == ["messaging"]
    not_modified = world["http"].get(f"/patterns/{effects}/context", params={"consumer": "messaging"}, headers={
        "Authorization": f"Bearer {world['key_a']}", "If-None-Match": only.headers["ETag"]})
    assert not_modified.status_code == 304
    assert _get(world, effects, world["key_a"]).headers["ETag"] != only.headers["ETag"]

    with psycopg.connect(world["url"]) as conn:
        direct = build_context(read_stored(conn, effects))
    full = _get(world, effects, world["key_a"]).json()["consumers"]
    assert {name: block["text"] for name, block in full.items()} == {name: b.text for name, b in direct.items()}
    monkeypatch.setenv("DATABASE_URL", world["url"])
    printed = CliRunner().invoke(app, ["context", str(effects), "--consumer", "messaging"])
    assert printed.exit_code == 0, printed.output
    assert printed.output == full["messaging"]["text"] + "\n"
    assert CliRunner().invoke(app, ["context", str(uuid.uuid4())]).exit_code == 1

"""Pattern-health rules (SPEC §8) on small hand-made patterns: exact findings, thresholds at their edges."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dagster_pipelines.health.report import findings_markdown
from dagster_pipelines.health.rules import (
    TOP_ITEM_EXTRACTORS,
    AgencyPattern,
    Finding,
    HistoryPair,
    StoredPattern,
    check_confidence,
    check_drift,
    check_missing_types,
    check_sample,
    check_validity,
    check_who_weights,
    evaluate_rules,
    item_label,
    top_entry,
    who_weights,
)

NOW = datetime(2026, 6, 1, 6, 0, tzinfo=timezone.utc)
A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
B = uuid.UUID("00000000-0000-0000-0000-00000000000b")


def who(**weights: float) -> dict[str, Any]:
    base = {"data_quality": 0.20, "authority": 0.25, "company_fit": 0.25, "timing": 0.15}
    return {"type": "who", "recommended_weights": {**base, **weights, "source": "learned"},
            "title_rankings": {"by_title": [{"category": "ceo", "rank": 1}, {"category": "cto", "rank": 2}],
                               "by_seniority": [{"category": "c_level", "rank": 1}]},
            "industry_rankings": [{"category": "saas", "rank": 1}],
            "size_analysis": {"sweet_spot": {"bucket": "16-30", "min": 16, "max": 30}}}


def stored(pattern_type: str = "who", patterns: dict | None = None, *, sample: int = 100, confidence: float = 0.8,
           valid_for: timedelta = timedelta(days=10), client: uuid.UUID = A) -> StoredPattern:
    return StoredPattern(client, pattern_type, patterns if patterns is not None else {"type": pattern_type},
                         sample, confidence, NOW + valid_for - timedelta(days=14), NOW + valid_for)


def keys(findings: list[Finding]) -> list[tuple]:
    return [(f.client_id, f.pattern_type, f.rule, f.severity) for f in findings]


def test_validity_expired_is_high_expiring_within_three_days_is_medium() -> None:
    assert keys(check_validity(stored(valid_for=timedelta(0)), NOW)) == [(A, "who", "expired", "high")]
    assert keys(check_validity(stored(valid_for=timedelta(days=-2)), NOW)) == [(A, "who", "expired", "high")]
    assert keys(check_validity(stored(valid_for=timedelta(days=3)), NOW)) == [(A, "who", "expiring_soon", "medium")]
    assert keys(check_validity(stored(valid_for=timedelta(seconds=1)), NOW)) == [(A, "who", "expiring_soon", "medium")]
    assert check_validity(stored(valid_for=timedelta(days=3, seconds=1)), NOW) == []
    expired = check_validity(stored(valid_for=timedelta(days=-2)), NOW)[0]
    assert expired.message == "expired 2.0 days ago (valid until 2026-05-30 06:00 UTC)"
    assert expired.details["valid_until"] == "2026-05-30T06:00:00+00:00"


def test_an_agency_wide_pattern_expires_like_a_clients() -> None:
    agency = AgencyPattern("when", 12, NOW - timedelta(days=16), NOW - timedelta(days=2))
    [expired] = check_validity(agency, NOW)
    assert keys([expired]) == [(None, "when", "expired", "high")]
    assert expired.message == ("agency-wide pattern (12 clients pooled, served to clients without their own) "
                               "expired 2.0 days ago (valid until 2026-05-30 06:00 UTC)")
    assert expired.details["scope"] == "agency" and expired.details["clients_pooled"] == 12
    assert keys(check_validity(AgencyPattern("how", 12, NOW, NOW + timedelta(days=3)), NOW)) == [(None, "how", "expiring_soon", "medium")]
    assert check_validity(AgencyPattern("who", 12, NOW, NOW + timedelta(days=4)), NOW) == []


def test_sample_and_confidence_thresholds() -> None:
    assert keys(check_sample(stored(sample=29))) == [(A, "who", "small_sample", "medium")]
    assert check_sample(stored(sample=30)) == []
    assert keys(check_confidence(stored(confidence=0.499))) == [(A, "who", "low_confidence", "medium")]
    assert check_confidence(stored(confidence=0.5)) == []
    assert check_confidence(stored(confidence=0.499))[0].message == "confidence 0.50 < 0.5"


def test_who_weights_above_045_high_below_008_medium_only_for_who() -> None:
    findings = check_who_weights(stored(patterns=who(authority=0.46, timing=0.07, data_quality=0.08, company_fit=0.45)))
    # 0.08 and 0.45 themselves are fine (the rules are "< 0.08" and "> 0.45").
    assert [(f.rule, f.severity, f.details["component"], f.details["weight"]) for f in findings] == [
        ("who_weight_high", "high", "authority", 0.46),
        ("who_weight_low", "medium", "timing", 0.07),
    ]
    assert findings[0].message == "weight authority = 0.46 > 0.45"
    assert check_who_weights(stored(patterns=who())) == []
    # Not a WHO pattern, or no weights at all: nothing to check, no error.
    assert check_who_weights(stored("what", {"type": "what", "recommended_weights": {"authority": 0.9}})) == []
    assert check_who_weights(stored(patterns={"type": "who"})) == []
    assert who_weights({"recommended_weights": {"authority": "0.9", "timing": None, "data_quality": 0.2, "source": "x"}}) == {
        "data_quality": 0.2}


def test_missing_type_only_for_clients_with_at_least_ten_conversions() -> None:
    findings = check_missing_types({A: {"who", "when"}, B: set()}, {A: 10, B: 9})
    assert keys(findings) == [(A, "what", "missing_type", "medium"), (A, "how", "missing_type", "medium")]
    assert findings[0].details == {"conversions": 10}
    assert check_missing_types({A: {"who", "what", "when", "how"}}, {A: 500}) == []


def pair(pattern_type: str, current: dict, previous: dict | None) -> HistoryPair:
    return HistoryPair(A, pattern_type, current, previous, NOW, NOW - timedelta(days=7))


def test_drift_weight_moving_more_than_015_is_medium() -> None:
    findings = check_drift(pair("who", who(authority=0.41, data_quality=0.10, company_fit=0.20, timing=0.14), who()))
    assert keys(findings) == [(A, "who", "weight_drift", "medium")]
    assert findings[0].details["component"] == "authority"
    assert findings[0].details["delta"] == pytest.approx(0.16, abs=1e-9)
    # Exactly 0.15 is not a drift (the rule is "> 0.15"); 0.25 -> 0.10 is.
    assert check_drift(pair("who", who(authority=0.40, data_quality=0.05), who())) == []
    assert [f.details["component"] for f in check_drift(pair("who", who(company_fit=0.09), who()))] == ["company_fit"]
    assert check_drift(pair("who", who(authority=0.45), None)) == []


def test_drift_top_item_change_is_low_per_type_and_tolerant_of_missing_keys() -> None:
    before = who()
    after = who()
    after["title_rankings"]["by_title"] = [{"category": "cto", "rank": 1}, {"category": "ceo", "rank": 2}]
    after["size_analysis"]["sweet_spot"] = None  # nothing ranked now: not a change
    findings = check_drift(pair("who", after, before))
    assert [(f.rule, f.severity, f.details["item"], f.details["previous"], f.details["current"]) for f in findings] == [
        ("top_item_changed", "low", "top_title", "ceo", "cto")]
    what_before = {"pain_points": {"effective": [{"category": "revenue"}]}, "ctas": {"effective": ["call"]}}
    what_after = {"pain_points": {"effective": [{"category": "time"}]}, "ctas": {}}
    assert [f.details["item"] for f in check_drift(pair("what", what_after, what_before))] == ["top_pain_point"]
    when_before = {"peak_converting_touch": 2, "best_days": [{"day": 1, "rate": 0.1}], "best_hours": [10.0]}
    when_after = {"peak_converting_touch": {"touch": 3}, "best_days": [{"day": 1}], "best_hours": [10]}
    assert [(f.details["item"], f.details["current"]) for f in check_drift(pair("when", when_after, when_before))] == [
        ("peak_converting_touch", "3")]
    assert [f.message for f in check_drift(pair("how", {"best_first_channel": "linkedin"}, {"best_first_channel": "email"}))] == [
        "best_first_channel changed: email → linkedin"]
    assert check_drift(pair("how", {}, {"best_first_channel": "email"})) == []
    # The WHEN detector's own shape: the peak is an entry of the hazard table.
    stored_before = {"peak_converting_touch": {"touch_number": 2, "hazard": 0.024, "bookings": 27}}
    stored_after = {"peak_converting_touch": {"touch_number": 3, "hazard": 0.031, "bookings": 30}}
    assert [(f.details["previous"], f.details["current"]) for f in check_drift(pair("when", stored_after, stored_before))] == [
        ("2", "3")]
    assert check_drift(pair("what", {"pain_points": "garbage"}, {"pain_points": [1, 2]})) == []


def test_item_labels() -> None:
    assert item_label([{"category": "b", "rank": 2}, {"category": "a", "rank": 1}]) == "a"
    assert item_label([{"category": "b", "rank": None}]) is None          # ranked lists with no rank-1 entry
    assert item_label(["monday", "tuesday"]) == "monday"                  # unranked lists: their order
    assert item_label({"channel": "sms"}) == "sms"
    assert item_label(9.0) == "9" and item_label(9.5) == "9.5" and item_label(True) == "true"
    assert item_label({"unknown": 1}) is None and item_label("") is None and item_label([]) is None
    assert top_entry([]) is None
    assert set(TOP_ITEM_EXTRACTORS) == {"who", "what", "when", "how"}


def test_evaluate_rules_combines_every_rule() -> None:
    patterns = [
        stored(patterns=who(authority=0.5, data_quality=0.04)),
        stored("what", {"type": "what"}, sample=12, confidence=0.3, valid_for=timedelta(days=-1)),
        stored("who", who(), client=B),
    ]
    history = [pair("who", who(authority=0.5, data_quality=0.04), who())]
    findings = evaluate_rules(patterns, history, {A: 40, B: 3}, NOW)
    assert sorted(keys(findings), key=str) == sorted([
        (A, "who", "who_weight_high", "high"),
        (A, "who", "who_weight_low", "medium"),
        (A, "what", "expired", "high"),
        (A, "what", "small_sample", "medium"),
        (A, "what", "low_confidence", "medium"),
        (A, "who", "weight_drift", "medium"),      # authority 0.25 -> 0.50
        (A, "who", "weight_drift", "medium"),      # data_quality 0.20 -> 0.04
        (A, "when", "missing_type", "medium"),
        (A, "how", "missing_type", "medium"),
    ], key=str)
    with pytest.raises(ValueError):
        evaluate_rules([], [], {}, datetime(2026, 6, 1))


def test_findings_markdown_escapes_and_limits() -> None:
    findings = [Finding("r", "low", "a | b", A, "who")] * 3
    table = findings_markdown(findings, limit=2)
    assert table.splitlines()[2] == f"| low | {A} | who | r | a \\| b |"
    assert table.splitlines()[-1].startswith("| … | 1 more")
    assert findings_markdown([]) == "no findings"
    with pytest.raises(ValueError):
        Finding("r", "critical", "m")

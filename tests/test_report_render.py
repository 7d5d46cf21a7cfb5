"""The report page from hand-made ``ClientReport`` values (no database): WHAT against the SPEC §7 keys,
tolerance of odd shapes, escaping, the too-little-data page, and no network references."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest

from convintel.report.data import ClientReport, Drift, StoredPattern
from convintel.report.render import render_report
from test_report_charts import Elements

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
HOSTILE = '<script>alert("pwned")</script>'


def _entry(category: str, rate: float, lift: float, n: int, rank: int | None, label: str | None = None) -> dict:
    return {"category": category, "rate": rate, "ci_low": rate / 2, "ci_high": rate * 1.5, "sample": n,
            "conversions": round(rate * n), "adjusted_rate": rate, "adjusted_lift": lift,
            "adjusted_lift_ci_low": lift / 1.5, "adjusted_lift_ci_high": lift * 1.5, "label": label,
            "rank": rank, "is_ranked": rank is not None}


WHAT = {
    "type": "what", "sample_size": 900, "conversions": 40, "baseline_rate": 0.044, "unit": "touch",
    "pain_points": {"effective": [_entry("revenue", 0.08, 1.9, 200, 1, "winning")], "ineffective": [],
                    "rankings": [_entry("revenue", 0.08, 1.9, 200, 1, "winning"), _entry("cost", 0.03, 0.7, 150, 2)]},
    "ctas": {"effective": [], "by_type": [_entry("meeting", 0.05, 1.2, 300, 1)]},  # no rankings: use what is there
    "angles": {"rankings": [_entry("roi_focused", 0.06, 1.4, 120, 1), _entry("urgency", 0.02, 0.5, 3, None)]},
    "subject_patterns": {"winning": [_entry("quick_question", 0.09, 2.1, 80, 1, "winning")],
                         "losing": [_entry("partnership", 0.01, 0.3, 90, 5, "losing")]},
    "optimal_length": {"email": {"optimal_words": 74, "range_min": 51, "range_max": 100, "bin": "51-100", "unit": "words",
                                 "bins": [_entry("0-50", 0.03, 0.8, 200, 2), _entry("51-100", 0.06, 1.5, 300, 1)]},
                       "linkedin": None, "sms": {"unit": "chars", "bins": []}},
    "personalization_lift": {"first_name": {"with": {"sample": 500, "rate": 0.05}, "without": {"sample": 400, "rate": 0.035},
                                            "lift": 1.4, "ci_low": 1.1, "ci_high": 1.8, "label": "winning"},
                             "recent_news": {"with": {"sample": 0}, "without": {"sample": 900}, "lift": None}},
}


def _report(name: str = "Acme", **patterns: dict) -> ClientReport:
    stored = {t: StoredPattern(t, p, int(p.get("sample_size", 0) or 0), 0.8, NOW, NOW) for t, p in patterns.items()}
    return ClientReport(uuid.UUID(int=7), name, NOW, patterns=stored)


def test_what_section_renders_every_spec_field_it_finds() -> None:
    page = render_report(_report(what=WHAT))
    parsed = Elements(page)
    [revenue] = parsed.having("g", data_key="what.pain_point.revenue")
    assert (revenue["data-lift"], revenue["data-n"], revenue["data-tag"]) == ("1.9", "200", "winning")
    assert parsed.having("g", data_key="what.pain_point.cost")
    assert parsed.having("g", data_key="what.cta_type.meeting")
    assert parsed.having("g", data_key="what.angle.urgency")  # unranked (n=3) is still shown, after the ranked
    subjects = [g["data-key"] for g in parsed.having("g") if g.get("data-key", "").startswith("what.subject.")]
    assert subjects == ["what.subject.quick_question", "what.subject.partnership"]  # union of winning and losing, by rank
    [chosen] = parsed.having("g", data_key="what.length.email.51-100")
    assert chosen["data-tag"] == "optimal" and "optimal ≈ 74 words (bin 51–100)" in page
    assert "Length curve: sms" in page and "no length bins stored" in page
    [first_name] = parsed.having("g", data_key="what.personalization.first_name")
    assert (first_name["data-lift"], first_name["data-n"]) == ("1.4", "500")
    assert not parsed.having("g", data_key="what.personalization.recent_news")  # no estimate, no point


@pytest.mark.parametrize("odd", [
    {},
    {"pain_points": [], "ctas": "n/a", "angles": {"rankings": [1, "x", None]}, "optimal_length": [], "personalization_lift": 3},
    {"subject_patterns": {"winning": [{"rate": "high"}]}, "optimal_length": {"email": {"bins": [{"category": None}]}}},
])
def test_odd_or_missing_keys_never_crash(odd: dict) -> None:
    who = {"title_rankings": [], "industry_rankings": {"x": 1}, "size_analysis": None, "recommended_weights": "default"}
    when = {"touch_hazard": [{"touch_number": "one"}], "best_days": None, "peak_converting_touch": 4}
    how = {"first_touch_effectiveness": [], "winning_sequences": [{"sequence": "email"}], "multi_channel_lift": [],
           "markov_attribution": {"channels": {"email": 3}}}
    page = render_report(_report(what=odd, who=who, when=when, how=how))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_hostile_client_name_and_labels_are_escaped() -> None:
    who = {"title_rankings": {"by_title": [_entry(HOSTILE, 0.2, 1.5, 30, 1)]}, "baseline_rate": 0.1}
    report = _report(HOSTILE, who=who)
    report.health_run = {"checked_at": NOW}
    report.health_findings = [{"pattern_type": "who", "rule": HOSTILE, "severity": "medium", "message": HOSTILE, "details": {}}]
    report.drift = {"who": Drift("who", NOW, NOW, [{"rule": "top_item_changed", "severity": "low", "message": HOSTILE, "details": {}}],
                                 {"top_title": (HOSTILE, "cmo")}, {})}
    page = render_report(report)
    assert page.count("<script") == 1  # only the page's own error sentinel
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;pwned&quot;)" in page


def test_a_client_without_patterns_gets_a_plain_statement_not_empty_charts() -> None:
    report = _report("Tiny")
    report.data_counts = {"leads": 30, "leads_with_outcome": 28, "conversions": 2, "touches": 90,
                          "touches_with_content": 90, "converting_touches_with_content": 2}
    report.gate_reasons = {"who": "not enough data: 2 conversions (needs 10) and 28 leads with an outcome (needs 30)",
                           "what": "not enough data: 2 converting touches with content (needs 5)",
                           "when": "not enough data: 2 conversions (needs 5)", "how": "not enough data: 2 conversions (needs 5)"}
    page = render_report(report)
    parsed = Elements(page)
    assert parsed.having("section", data_insufficient="true")
    assert "Not enough data for a pattern report yet" in page
    assert [li["data-missing"] for li in parsed.having("li") if "data-missing" in li] == ["who", "what", "when", "how"]
    assert "2 conversions (needs 10) and 28 leads with an outcome (needs 30)" in page
    assert "<svg" not in page and parsed.having("dd", data_fact="counts.conversions")


def test_the_page_references_nothing_on_the_network() -> None:
    page = render_report(_report(what=WHAT))
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"<link\b|@import|url\(", page, re.I)
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))

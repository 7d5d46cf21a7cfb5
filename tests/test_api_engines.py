"""The engines' pure functions (api/engines.py): the confidence rule and tolerant reading of pattern JSON."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from api import engines
from detectors.who_weights import DEFAULT_WEIGHTS

LEARNED = {"data_quality": 0.10, "authority": 0.40, "company_fit": 0.20, "timing": 0.15}


@pytest.mark.parametrize(("confidence", "factor"), [
    (None, 0.0), (0.0, 0.0), (0.4999, 0.0), (0.5, 0.0), (0.6, 0.5), (0.65, 0.75), (0.7, 1.0), (0.95, 1.0),
    (float("nan"), 0.0),
])
def test_blend_factor_is_linear_between_0_5_and_0_7(confidence, factor) -> None:
    assert engines.blend_factor(confidence) == factor


def test_weights_prefer_the_clients_shipped_weights_then_learned_recommendations_else_defaults() -> None:
    who = {"recommended_weights": {**LEARNED, "source": "learned"}}
    assert engines.choose_weights(who, 0.9, None).weights == LEARNED
    shipped = {"data_quality": 0.3, "authority": 0.2, "company_fit": 0.2, "timing": 0.15}
    assert engines.choose_weights(who, 0.9, shipped).weights == shipped
    assert engines.choose_weights(who, 0.9, {"authority": 0.5}).weights == LEARNED  # incomplete: not used
    not_shipped = engines.choose_weights({"recommended_weights": {**DEFAULT_WEIGHTS, "source": "default"}}, 0.9, None)
    assert (not_shipped.source, not_shipped.weights) == ("default", DEFAULT_WEIGHTS)
    assert "did not beat the defaults" in not_shipped.reason
    assert engines.choose_weights({"recommended_weights": None}, 0.9, None).source == "default"


def test_score_formula_and_clipping() -> None:
    components = {"data_quality": 20, "authority": 25, "company_fit": 25, "timing": 15, "risk": 0}
    assert engines.als_score(components, DEFAULT_WEIGHTS)[0] == 85.0
    assert engines.als_score(components, {"data_quality": 0.5, "authority": 0.5, "company_fit": 0.5, "timing": 0.5})[0] == 100.0
    score, terms = engines.als_score({**components, "authority": 12.5, "risk": 7}, LEARNED)
    assert terms == {"data_quality": 10.0, "authority": 20.0, "company_fit": 20.0, "timing": 15.0} and score == 58.0


def test_rankings_are_read_tolerantly() -> None:
    days = [{"day": "Thursday", "rank": 2}, {"category": "tue", "rank": 1}, {"local_day_of_week": "5", "rank": 3},
            {"category": 0, "rank": 4, "label": "losing"}, {"category": "someday", "rank": 0}, "junk"]
    assert engines.ranked_values(days, ("day", "local_day_of_week", "category"), engines._parse_day) == [1, 3, 5]
    as_mapping = {"14": {"rank": 2}, "09:00": {"rank": 1}, "h20": {"rank": None}}
    assert engines.ranked_values(as_mapping, ("hour", "category"), engines._parse_hour) == [9, 14, 20]
    assert engines.ranked_values(None, ("category",), engines._parse_hour) == []
    assert engines.ranked_values([{"category": True, "rank": 1}, {"category": 24}], ("category",), engines._parse_hour) == []


def test_gaps_are_clamped_and_missing_ones_default() -> None:
    when = {"optimal_sequence_gaps": {"touch_1_to_2": {"days": 20}, "touch_2_to_3": 0, "touch_3_to_4": "x"}}
    plan = engines.allocate(when=when, when_confidence=0.9, how=None, how_confidence=None, tz_name="UTC",
                            start_at=datetime(2026, 3, 2, tzinfo=timezone.utc), touches=6)
    assert [t.gap_days for t in plan.touches] == [None, 14.0, 1.0, 4, 5, 7]
    assert plan.send_times.source == "default" and "no usable send days" in plan.send_times.reason


def test_first_channel_overrides_the_winning_sequence_start_and_sequences_fill_up_with_defaults() -> None:
    how = {"best_first_channel": {"channel": "sms"}, "winning_sequences": [{"sequence": ["email", "linkedin"]}]}
    plan = engines.allocate(when=None, when_confidence=None, how=how, how_confidence=0.75, tz_name="UTC",
                            start_at=datetime(2026, 3, 2, tzinfo=timezone.utc), touches=4)
    assert [t.channel for t in plan.touches] == ["sms", "linkedin", "email", "linkedin"]
    assert plan.channels.source == "learned"
    blended_low = engines.allocate(when=None, when_confidence=None, how=how, how_confidence=0.55, tz_name="UTC",
                                   start_at=datetime(2026, 3, 2, tzinfo=timezone.utc), touches=2)
    assert [t.channel for t in blended_low.touches] == ["email", "linkedin"] and blended_low.channels.source == "default"


def test_the_api_imports_no_orchestration_dbt_or_numerical_modules() -> None:
    """Serving must not pay for Dagster, dbt or Great Expectations (runs happen in a worker process), nor
    for numpy/pandas/scipy (the report and snapshot routes import what they need on first use)."""
    code = (
        "import sys\n"
        "from api.app import create_app\n"
        "from api.settings import ApiSettings\n"
        "create_app(ApiSettings(database_url='postgresql://nobody@127.0.0.1:1/none'))\n"
        "print(sorted(m for m in ('dagster', 'dbt', 'great_expectations', 'dagster_dbt', 'numpy', 'pandas', 'scipy')\n"
        "             if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

"""HOW detector and Markov attribution on small hand-made inputs: exact values (no database)."""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from detectors.how import (
    CHANNEL_COUNT_BUCKETS,
    HowInputs,
    channel_transitions,
    detect_how,
    first_touch_effectiveness,
    gate_reason,
    multi_channel_lift,
    sequence_prefixes,
    winning_sequences,
)
from detectors.markov import absorption_probability, markov_attribution, transition_counts

COMPUTED_AT = datetime(2025, 6, 30, tzinfo=timezone.utc)
Z = 1.959963984540054


def _paths(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    """Distinct paths as the mart delivers them, from (path, leads, conversions)."""
    frame = pd.DataFrame(rows, columns=["channel_path", "leads", "conversions"])
    split = frame["channel_path"].str.split(">")
    return frame.assign(
        touches=split.map(len), distinct_channels=split.map(lambda c: len(set(c))), first_channel=split.map(lambda c: c[0])
    )[["channel_path", "touches", "distinct_channels", "first_channel", "leads", "conversions"]]


def _touch_stats(rows: list[tuple[int, str, int, str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["touch_number", "channel", "channels_so_far", "first_channel", "als_tier",
                                       "touches", "bookings"])


# -- Markov attribution -------------------------------------------------------------------------------

def test_markov_removal_effects_solved_by_hand() -> None:
    """Paths: email → conversion (1 lead), email > linkedin → conversion (1), linkedin → null (1).

    Transitions: start→email 2, start→linkedin 1; email→conversion 1, email→linkedin 1;
    linkedin→conversion 1, linkedin→null 1. So P(conv | linkedin) = 1/2 and
    P(conv | email) = 1/2 + 1/2 · 1/2 = 3/4; P(conv | start) = 2/3 · 3/4 + 1/3 · 1/2 = 2/3 (= the observed
    2 of 3).
    Without email: only start→linkedin survives: 1/3 · 1/2 = 1/6, removal effect 1 − (1/6)/(2/3) = 3/4.
    Without linkedin: P(conv | email) = 1/2, so 2/3 · 1/2 = 1/3, removal effect 1 − (1/3)/(2/3) = 1/2.
    Attributed: email 3/4 / (5/4) · 2 = 6/5, linkedin 1/2 / (5/4) · 2 = 4/5; they sum to 2.
    """
    result = markov_attribution(["email", "email>linkedin", "linkedin"], [1, 1, 1], [1, 1, 0])
    assert result.channels == ("email", "linkedin")
    assert result.conversion_probability == pytest.approx(2 / 3, abs=1e-12)
    assert result.removal_conversion_probability.tolist() == pytest.approx([1 / 6, 1 / 3], abs=1e-12)
    assert result.removal_effect.tolist() == pytest.approx([0.75, 0.5], abs=1e-12)
    assert result.attributed_conversions.tolist() == pytest.approx([1.2, 0.8], abs=1e-12)
    frame = result.frame()
    assert frame["attributed_share"].tolist() == pytest.approx([0.6, 0.4], abs=1e-12)


def test_markov_self_loops_and_absorption_equal_observed_rate() -> None:
    """Repeated channels are self-loops; the fitted chain reproduces the observed conversion rate."""
    paths = ["email>email>linkedin", "email", "linkedin>email>email", "sms>email", "sms", "linkedin>linkedin"]
    leads, conversions = [7, 5, 3, 4, 2, 9], [2, 1, 1, 0, 1, 3]
    counts = transition_counts(paths, leads, conversions)
    assert counts.channels == ("email", "linkedin", "sms")
    assert counts.start.tolist() == [12, 12, 6]
    assert counts.between.tolist() == [[10, 7, 0], [3, 9, 0], [4, 0, 0]]
    assert counts.to_conversion.tolist() == [2, 5, 1]
    assert absorption_probability(counts) == pytest.approx(8 / 30, abs=1e-12)
    result = markov_attribution(paths, leads, conversions)
    assert result.attributed_conversions.sum() == pytest.approx(8.0, abs=1e-9)
    assert (result.removal_effect > 0).all() and (result.removal_effect <= 1).all()


def test_markov_single_channel_and_channel_that_never_helps() -> None:
    only = markov_attribution(["email", "email>email"], [10, 5], [2, 1])
    assert only.removal_effect.tolist() == [1.0]
    assert only.attributed_conversions.tolist() == pytest.approx([3.0])
    # mail only ever ends paths without a booking: removing it loses nothing.
    result = markov_attribution(["email", "email>mail", "mail"], [10, 10, 10], [4, 0, 0])
    effect = dict(zip(result.channels, result.removal_effect))
    assert effect["mail"] == pytest.approx(0.0, abs=1e-12) and effect["email"] == pytest.approx(1.0)
    assert dict(zip(result.channels, result.attributed_conversions)) == pytest.approx({"email": 4.0, "mail": 0.0})


def test_markov_without_conversions_and_bad_counts() -> None:
    none = markov_attribution(["email", "sms"], [3, 2], [0, 0])
    assert none.conversion_probability == 0.0
    assert np.isnan(none.removal_effect).all() and np.isnan(none.attributed_conversions).all()
    with pytest.raises(ValueError):
        markov_attribution(["email"], [1], [2])
    with pytest.raises(ValueError):
        markov_attribution(["email>"], [1], [0])


# -- sequences ------------------------------------------------------------------------------------------

def test_sequence_prefixes_count_reach_and_bookings_right_after() -> None:
    """A prefix's sample = leads whose path starts with it; its conversions = bookings right after its
    last touch (converted leads whose path IS the prefix)."""
    paths = _paths([("email", 4, 2), ("email>linkedin", 6, 1), ("email>linkedin>email", 5, 0), ("linkedin", 3, 0)])
    prefixes = sequence_prefixes(paths, max_length=2).set_index("sequence")
    assert prefixes.loc["email", ["leads", "conversions"]].tolist() == [15, 2]
    assert prefixes.loc["linkedin", ["leads", "conversions"]].tolist() == [3, 0]
    assert prefixes.loc["email>linkedin", ["leads", "conversions"]].tolist() == [11, 1]
    assert "email>linkedin>email" not in prefixes.index  # cut at max_length


def test_winning_sequences_compare_within_length_with_one_bh_family() -> None:
    paths = _paths([("email", 200, 10), ("linkedin", 200, 40), ("email>email", 150, 3), ("linkedin>email", 150, 3),
                    ("email>email>sms", 40, 0), ("sms", 2, 1)])
    entries = winning_sequences(paths, min_sample=5, q_threshold=0.10, max_length=6, limit=25)
    by_sequence = {">".join(e["sequence"]): e for e in entries}
    assert "sms" not in by_sequence  # 2 leads: below min_sample, not listed
    linkedin = by_sequence["linkedin"]
    # touch 1: 742 leads reached it (every path), 51 booked right after it
    assert linkedin["sample_size"] == 350 and linkedin["conversions"] == 40
    assert linkedin["baseline_rate"] == pytest.approx(51 / 742, abs=1e-6)
    assert linkedin["conversion_rate"] == pytest.approx(40 / 350, abs=1e-6)
    assert linkedin["label"] == "winning" and linkedin["rank"] == 1
    assert by_sequence["email"]["label"] == "losing"
    # touch 2: 340 leads reached it, 6 booked there; email>email 190 reached, 3 booked
    assert by_sequence["email>email"]["sample_size"] == 190
    assert by_sequence["email>email"]["baseline_rate"] == pytest.approx(6 / 340, abs=1e-6)
    assert [e["rank"] for e in entries] == list(range(1, len(entries) + 1))
    lifts = [e["shrunk_lift"] for e in entries]
    defined = [lift for lift in lifts if lift is not None]
    assert lifts[:len(defined)] == sorted(defined, reverse=True)
    # nobody booked at touch 3: its baseline is 0, the lift undefined, listed last
    assert lifts[len(defined):] == [None] and entries[-1]["sequence"] == ["email", "email", "sms"]


# -- channel counts at equal exposure -------------------------------------------------------------------

def test_multi_channel_lift_is_mantel_haenszel_within_touch_channel_and_first_channel() -> None:
    """One stratum holds both 1 and 2 channels: (touch 2, email, first email): 1 of 10 vs 4 of 20, so
    the lift vs 1 channel is (4/20)/(1/10) = 2 with the Katz interval exp(ln 2 ± z·√(1/4 − 1/20 + 1 − 1/10)).
    Touch 1 (all single-channel) and touch 3 (no single-channel touch) add nothing to it."""
    stats = _touch_stats([
        (1, "email", 1, "email", "warm", 30, 3),
        (2, "email", 1, "email", "warm", 10, 1),
        (2, "email", 2, "linkedin", "warm", 20, 4),   # other first channel: another stratum
        (2, "email", 2, "email", "warm", 20, 4),
        (3, "sms", 3, "email", "warm", 12, 1),
    ])
    paths = _paths([("email", 10, 2), ("email>linkedin", 10, 1)])
    lift = multi_channel_lift(stats, paths, min_sample=5, q_threshold=0.10)
    two = lift["2_channels"]
    se = math.sqrt(1 / 4 - 1 / 20 + 1 - 1 / 10)
    assert two["lift_vs_1_channel"] == pytest.approx(2.0, abs=1e-6)
    assert two["lift_vs_1_channel_ci_low"] == pytest.approx(round(2 * math.exp(-Z * se), 6), abs=2e-6)
    assert two["lift_vs_1_channel_ci_high"] == pytest.approx(round(2 * math.exp(Z * se), 6), abs=2e-5)
    assert two["strata_used"] == 1
    assert two["sample"] == 40 and two["conversions"] == 8 and two["unit"] == "touch"
    # naive lead-level comparison beside it: (1/10) / (2/10)
    assert two["naive_lead_level"]["lift_vs_1_channel"] == pytest.approx(0.5)
    assert lift["1_channel"]["lift_vs_1_channel"] == 1.0 and lift["1_channel"]["sample"] == 40
    assert lift["3_channels"]["lift_vs_1_channel"] is None  # no stratum shared with 1 channel
    assert lift["4_plus_channels"] is None
    assert set(lift) == set(CHANNEL_COUNT_BUCKETS)


def test_first_touch_effectiveness_and_transitions() -> None:
    paths = _paths([("email", 100, 5), ("email>sms", 100, 5), ("linkedin>email", 100, 30), ("voice", 3, 3)])
    entries = {e["channel"]: e for e in first_touch_effectiveness(paths, baseline=43 / 303, min_sample=5, q_threshold=0.1)}
    assert entries["email"]["sample"] == 200 and entries["email"]["conversions"] == 10
    assert entries["linkedin"]["rank"] == 1 and entries["linkedin"]["label"] == "winning"
    assert entries["voice"]["is_ranked"] is False and entries["voice"]["rank"] is None
    transitions = channel_transitions(pd.DataFrame(
        [("email", "sms", 30, 3), ("email", "email", 10, 0), ("sms", "email", 5, 1)],
        columns=["from_channel", "to_channel", "transitions", "bookings"]))
    assert [(t["from"], t["to"], t["share_of_from"], t["rate"]) for t in transitions] == [
        ("email", "email", 0.25, 0.0), ("email", "sms", 0.75, 0.1), ("sms", "email", 1.0, 0.2)]


# -- the whole pattern and the gate ---------------------------------------------------------------------

def _inputs(conversions: int, leads: int) -> HowInputs:
    paths = _paths([("email", leads - conversions - 4, 0), ("email>linkedin", 4, 0), ("linkedin>email", conversions, conversions)])
    touches = _touch_stats([
        (1, "email", 1, "email", "cool", leads - conversions, 0),
        (1, "linkedin", 1, "linkedin", "hot", conversions, 0),
        (2, "linkedin", 2, "email", "cool", 4, 0),
        (2, "email", 2, "linkedin", "hot", conversions, conversions),
    ])
    transitions = pd.DataFrame([("email", "linkedin", 4, 0), ("linkedin", "email", conversions, conversions)],
                               columns=["from_channel", "to_channel", "transitions", "bookings"])
    return HowInputs(uuid.UUID(int=7), leads, conversions, paths, touches, transitions)


def test_gate_needs_five_conversions_and_twenty_leads() -> None:
    assert gate_reason(20, 5) is None
    assert gate_reason(19, 5) == "not enough data: 19 leads with an outcome (needs 20)"
    failed = detect_how(_inputs(4, 40), computed_at=COMPUTED_AT)
    assert failed.patterns is None and failed.gate_reason == "not enough data: 4 conversions (needs 5)"
    assert failed.confidence == pytest.approx(4 / 12)


def test_pattern_has_every_spec_key_and_is_json() -> None:
    result = detect_how(_inputs(6, 40), computed_at=COMPUTED_AT)
    p = result.patterns
    assert p is not None and result.pattern_type == "how"
    for key in ("type", "version", "computed_at", "sample_size", "confidence", "booking_channel_distribution",
                "first_touch_effectiveness", "best_first_channel", "multi_channel_lift", "optimal_channel_count",
                "winning_sequences", "channel_effectiveness_by_tier", "channel_transitions", "markov_attribution"):
        assert key in p, key
    assert set(p["first_touch_effectiveness"]) == {"email_first", "linkedin_first"}
    assert p["best_first_channel"] == "linkedin"
    assert p["sample_size"] == 40 and p["conversions"] == 6 and p["confidence"] == pytest.approx(6 / 14, abs=1e-6)
    assert set(p["channel_effectiveness_by_tier"]) == {"hot", "cool"}
    assert p["channel_effectiveness_by_tier"]["hot"]["email"]["conversions"] == 6
    booking = {e["channel"]: e for e in p["booking_channel_distribution"]}
    assert booking["email"]["bookings"] == 6 and booking["email"]["share"] == 1.0
    markov = p["markov_attribution"]
    assert sum(c["attributed_conversions"] for c in markov["channels"]) == pytest.approx(6.0, abs=1e-5)
    assert markov["conversion_probability"] == pytest.approx(6 / 40, abs=1e-6)
    json.dumps(p, allow_nan=False)


def test_summary_lines_and_findings_read_the_pattern() -> None:
    from dagster_pipelines.assets.detector_factory import finding_row, findings_header
    from dagster_pipelines.assets.how import HOW, how_summary_lines

    result = detect_how(_inputs(6, 40), computed_at=COMPUTED_AT)
    lines = how_summary_lines(result.patterns)
    assert lines[0] == "6 booked of 40 touched leads with an outcome (15.0%)"
    assert lines[1].startswith("first touch linkedin 100.0% [61.0%, 100.0%] n=6")
    assert lines[2].startswith("channels    lift vs 1 channel at equal exposure: 2 channels ")
    assert lines[4].startswith("attribution ")
    assert findings_header(HOW)[0] == "| client | best first channel | optimal channel count | winning sequences | largest removal effect |"
    assert finding_row(HOW, result).startswith(f"| {result.client_id} | linkedin |")

"""Guidance for the platform's AI agents, built from a client's stored patterns (issue 10 part 1).

``build_context(stored, consumers)`` turns the stored patterns (the ``GET /patterns/{client_id}`` shape:
``{type: {patterns, confidence, computed_at, valid_until, is_valid, ...}}``) into one compact block per
consumer, as structured findings and as ready-to-insert prompt text:

* ``messaging`` (MessagingGeneratorSkill) — WHAT: subject templates, pain points, CTAs, angles, lengths
  per channel, personalisation; each as *use* / *avoid*.
* ``sequencing`` (SequenceBuilderSkill) — HOW: first channel, sequences, channel count; WHEN: gaps
  between touches, local days and hours, peak converting touch.
* ``campaign`` (CampaignGenerationAgent) — WHO: titles, seniority, industries, company size, timing
  signals; plus a short summary of the other two blocks.

Rules (SPEC §6, §9) — a finding appears only when all of these hold:

1. its entry is labelled ``winning`` (→ *use*) or ``losing`` (→ *avoid*) by the detector, AND its stored
   ``q_value`` is a number below the pattern's ``q_threshold`` (Benjamini–Hochberg, default 0.10), AND
   its sample is at least the pattern's ``min_sample`` (default 5). The label is not trusted alone: an
   entry whose q-value or sample fails is left out even when labelled.
2. the pattern's confidence (the stored column, SPEC §6 ``c / (c + 8)``) decides, with the engines'
   thresholds (``api.engines``: learned from 0.7, blend from 0.5):
   ``≥ 0.7`` → *learned*: findings listed as they are;
   ``0.5 – 0.7`` → *tentative*: findings listed, the block says "tentative … weigh against your
   defaults" (the engines blend numbers and keep defaults for choices up to 0.6 — a text reader gets
   the same caution in words);
   ``< 0.5`` → *defaults*: no findings; the block says "not enough data: … use your defaults".
3. no stored pattern → "not enough data: no <type> pattern learned for this client yet …".
   Sequence gaps are measurements, not tests: shown only when the detector measured them from at least
   ``min_sample`` converted sequences (``source = data``), with n and the interquartile range.

Every finding carries its evidence: lift with its 95% interval (position-adjusted where the detector
adjusts) and ``booked/n`` with the unit (touches or leads); the JSON adds the rate, its Wilson interval
and the q-value. Every block names the pattern type, scope (``client`` unless the pattern says
``agency``), ``computed_at`` and confidence it came from.

Budget: at most ``TOP_K`` (3) findings per list in the JSON; the text is at most ``TEXT_BUDGET`` (1,500)
characters — when the lists do not fit, the text shows fewer per list (3, 2, then 1) and says so; if
even one per list does not fit, whole lines are dropped from the end and the last line says so.

Deterministic: the output depends only on the stored patterns (lists sorted by the detector's rank,
ties by name; fixed number formats), so the same patterns give byte-identical text. Pure functions over
JSON: no numpy or pandas (the API starts without them).
"""

from __future__ import annotations

import json

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from api.engines import BLEND_FROM, LEARNED_FROM
from detectors.result import pattern_value

Consumer = Literal["messaging", "sequencing", "campaign"]
CONSUMERS: tuple[Consumer, ...] = ("messaging", "sequencing", "campaign")
AGENTS: dict[str, str] = {
    "messaging": "MessagingGeneratorSkill",
    "sequencing": "SequenceBuilderSkill",
    "campaign": "CampaignGenerationAgent",
}
SOURCES: dict[str, tuple[str, ...]] = {
    "messaging": ("what",),
    "sequencing": ("how", "when"),
    "campaign": ("who", "what", "how", "when"),
}
TOP_K = 3
TEXT_BUDGET = 1_500
# SPEC §6 defaults, used only when a stored pattern does not record its own thresholds.
DEFAULT_MIN_SAMPLE = 5
DEFAULT_Q_THRESHOLD = 0.10
SUMMARY_ITEMS = 3                      # per summarised block in the campaign block

Use = Literal["learned", "tentative", "defaults", "missing"]
Direction = Literal["use", "avoid"]
LABEL_DIRECTION: dict[str, Direction] = {"winning": "use", "losing": "avoid"}
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TIMING_SIGNAL_NAMES = {"new_role_lift": "new in role (< 6 months)", "hiring_lift": "company is hiring",
                       "funded_lift": "funded in the last 12 months"}
LENGTH_CHANNELS = ("email", "linkedin", "sms")


@dataclass(frozen=True)
class Finding:
    """One item that passed the rules, with its evidence."""

    item: str
    direction: Direction
    unit: str                      # what ``sample`` counts: touches, leads, leads reaching the touch ...
    sample: int
    conversions: int
    rate: float | None
    rate_ci_low: float | None
    rate_ci_high: float | None
    lift: float | None
    lift_ci_low: float | None
    lift_ci_high: float | None
    q_value: float | None
    evidence: str                  # the text form: "1.62x [1.21-2.17] (58/412 touches)"


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    source: str                    # the pattern type it came from
    short: str = ""                # what an item is, for the campaign summary ("pain point", "CTA" ...)
    use: list[Finding] = field(default_factory=list)
    avoid: list[Finding] = field(default_factory=list)
    note: str | None = None        # e.g. "no significant difference"


@dataclass(frozen=True)
class Source:
    pattern_type: str
    scope: str
    computed_at: str | None
    confidence: float | None
    sample_size: int | None
    conversions: int | None
    is_valid: bool | None
    use: Use
    min_sample: int
    q_threshold: float
    note: str


@dataclass(frozen=True)
class Block:
    consumer: str
    agent: str
    sources: list[Source]
    sections: list[Section]
    sequence_gaps: list[dict[str, Any]]   # sequencing only: the measured gaps (rule 3)
    text: str
    text_chars: int
    text_top_k: int
    limits: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- numbers --------------------------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number.is_integer() else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(low: float | None, high: float | None, digits: int = 2) -> str:
    return f"[{_fmt(low, digits)}-{_fmt(high, digits)}]"


# --- the rules ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    min_sample: int
    q_threshold: float

    @classmethod
    def of(cls, patterns: Mapping[str, Any]) -> Rules:
        min_sample = _count(patterns.get("min_sample"))
        q_threshold = _number(patterns.get("q_threshold"))
        return cls(DEFAULT_MIN_SAMPLE if min_sample is None else min_sample,
                   DEFAULT_Q_THRESHOLD if q_threshold is None else q_threshold)


def confidence_use(confidence: float | None) -> Use:
    """SPEC §9's rule for the text: learned ≥ 0.7, tentative in [0.5, 0.7), defaults below (module docstring)."""
    if confidence is None:
        return "defaults"
    if confidence >= LEARNED_FROM:
        return "learned"
    return "tentative" if confidence >= BLEND_FROM else "defaults"


# Field names of the ranked entries in the pattern JSON: (sample, conversions, rate, lift, lift interval).
_RANKED = ("sample", "conversions", "rate", "lift", "lift_ci_low", "lift_ci_high")
_ADJUSTED = ("sample", "conversions", "rate", "adjusted_lift", "adjusted_lift_ci_low", "adjusted_lift_ci_high")
_SEQUENCE = ("sample_size", "conversions", "conversion_rate", "lift", "lift_ci_low", "lift_ci_high")
_HAZARD = ("leads_reached", "bookings", "hazard", "lift", "lift_ci_low", "lift_ci_high")


def finding(entry: Any, item: str, unit: str, rules: Rules, keys: tuple[str, ...] | None = None) -> Finding | None:
    """The entry as a finding when it passes the rules (module docstring, rule 1), else None.
    ``keys`` name its (sample, conversions, rate, lift, lift low, lift high) fields; by default the
    position-adjusted ones when present, else the crude ones."""
    if not isinstance(entry, Mapping):
        return None
    direction = LABEL_DIRECTION.get(entry.get("label"))  # type: ignore[arg-type]
    q_value = _number(entry.get("q_value"))
    if keys is None:
        keys = _ADJUSTED if "adjusted_lift" in entry else _RANKED
    sample_key, conversions_key, rate_key, lift_key, low_key, high_key = keys
    sample, conversions = _count(entry.get(sample_key)), _count(entry.get(conversions_key))
    if (direction is None or q_value is None or not q_value < rules.q_threshold or sample is None
            or conversions is None or sample < rules.min_sample or entry.get("is_ranked") is False):
        return None
    lift, low, high = _number(entry.get(lift_key)), _number(entry.get(low_key)), _number(entry.get(high_key))
    evidence = f"{_fmt(lift)}x {_interval(low, high)} ({conversions}/{sample} {unit})"
    return Finding(item, direction, unit, sample, conversions, _number(entry.get(rate_key)),
                   _number(entry.get("ci_low")), _number(entry.get("ci_high")), lift, low, high, q_value, evidence)


def _rank_key(entry: Mapping[str, Any]) -> float:
    rank = _number(entry.get("rank"))
    return math.inf if rank is None else rank


def section(key: str, title: str, source: str, candidates: Iterable[tuple[Any, str, str, tuple[str, ...] | None]],
            rules: Rules, short: str = "") -> Section:
    """Findings from ``(entry, item, unit, keys)`` candidates: *use* by the detector's rank (best first),
    *avoid* worst first (the reverse rank); ties by item; at most TOP_K each."""
    passed: list[tuple[Mapping[str, Any], Finding]] = []
    for entry, item, unit, keys in candidates:
        found = finding(entry, item, unit, rules, keys)
        if found is not None:
            passed.append((entry, found))
    use = [f for e, f in sorted(((e, f) for e, f in passed if f.direction == "use"),
                                key=lambda ef: (_rank_key(ef[0]), -(ef[1].lift or 0.0), ef[1].item))]
    avoid = [f for e, f in sorted(((e, f) for e, f in passed if f.direction == "avoid"),
                                  key=lambda ef: (-_rank_key(ef[0]) if math.isfinite(_rank_key(ef[0])) else 0.0,
                                                  ef[1].lift if ef[1].lift is not None else math.inf, ef[1].item))]
    note = None if use or avoid else "no significant difference"
    return Section(key, title, source, short, use[:TOP_K], avoid[:TOP_K], note)


def _entries(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, list):
        return [e for e in value if isinstance(e, Mapping)]
    return []


def _named(entries: Iterable[Mapping[str, Any]], unit: str, name: Callable[[Mapping[str, Any]], str] | None = None,
           keys: tuple[str, ...] | None = None) -> list[tuple[Any, str, str, tuple[str, ...] | None]]:
    name = name or (lambda e: str(e.get("category")))
    return [(e, name(e), unit, keys) for e in entries]


# --- the sections of each pattern type ------------------------------------------------------------------

def what_sections(p: Mapping[str, Any]) -> list[Section]:
    rules = Rules.of(p)
    subjects = [*_named(_entries(pattern_value(p, "subject_patterns", "winning")), "touches"),
                *_named(_entries(pattern_value(p, "subject_patterns", "losing")), "touches"),
                *_named(_entries(pattern_value(p, "subject_patterns", "length_tags")), "touches",
                        lambda e: f"{e.get('category')} subject")]
    lengths = []
    for channel in LENGTH_CHANNELS:
        optimal = pattern_value(p, "optimal_length", channel)
        unit = pattern_value(optimal, "unit") or ""
        lengths += _named(_entries(pattern_value(optimal, "bins")), "touches",
                          lambda e, c=channel, u=unit: f"{c} {e.get('category')} {u}".rstrip())
    personal = []
    for flag, entry in sorted((pattern_value(p, "personalization_lift") or {}).items()):
        if isinstance(entry, Mapping) and isinstance(entry.get("with"), Mapping):
            flat = {**entry["with"], "lift": entry.get("lift"), "lift_ci_low": entry.get("ci_low"),
                    "lift_ci_high": entry.get("ci_high"), "q_value": entry.get("q_value"), "label": entry.get("label")}
            personal.append((flat, flag.replace("_", " "), "touches", _RANKED))
    return [
        section("subject_templates", "Subject lines", "what", subjects, rules, "subject"),
        section("pain_points", "Pain points", "what",
                _named([*_entries(pattern_value(p, "pain_points", "effective")), *_entries(pattern_value(p, "pain_points", "ineffective"))],
                       "touches"), rules, "pain point"),
        section("ctas", "CTAs (first in the text)", "what",
                _named([*_entries(pattern_value(p, "ctas", "effective")), *_entries(pattern_value(p, "ctas", "ineffective"))], "touches",
                       lambda e: f'"{e.get("category")}"'), rules, "CTA"),
        section("angles", "Angles", "what",
                _named([*_entries(pattern_value(p, "angles", "effective")), *_entries(pattern_value(p, "angles", "ineffective"))],
                       "touches"), rules, "angle"),
        section("lengths", "Length", "what", lengths, rules, "length"),
        section("personalization", "Personalisation", "what", personal, rules, "personalisation"),
    ]


def _channel_count(bucket: str) -> str:
    return {"1_channel": "1 channel", "2_channels": "2 channels", "3_channels": "3 channels",
            "4_plus_channels": "4+ channels"}.get(bucket, bucket)


def how_sections(p: Mapping[str, Any]) -> list[Section]:
    rules = Rules.of(p)
    first = pattern_value(p, "first_touch_effectiveness")
    first_entries = [first[k] for k in sorted(first)] if isinstance(first, Mapping) else []
    counts = pattern_value(p, "multi_channel_lift")
    count_entries = [(counts[k], _channel_count(k), "touches", None) for k in sorted(counts)
                     if isinstance(counts[k], Mapping)] if isinstance(counts, Mapping) else []
    sequences = [(e, " > ".join(str(c) for c in e.get("sequence") or []), "leads", _SEQUENCE)
                 for e in _entries(pattern_value(p, "winning_sequences"))]
    return [
        section("first_channel", "First channel", "how",
                _named(first_entries, "leads", lambda e: f"{e.get('channel')} first"), rules),
        section("sequences", "Sequences (booking right after the last touch)", "how", sequences, rules, "sequence"),
        section("channel_count", "Channels used so far", "how", count_entries, rules),
    ]


def when_sections(p: Mapping[str, Any]) -> list[Section]:
    rules = Rules.of(p)
    basis = "lead's local time" if p.get("time_basis") in (None, "lead_local") else str(p.get("time_basis"))
    days = _named(_entries(p.get("best_days")), "touches",
                  lambda e: DAY_NAMES[int(e["day_of_week"])] if _count(e.get("day_of_week")) in range(7)
                  else str(e.get("day")).capitalize())
    hours = _named(_entries(p.get("best_hours")), "touches",
                   lambda e: f"{hour:02d}:00" if (hour := _count(e.get("hour"))) is not None and hour < 24
                   else str(e.get("category")))
    peak = pattern_value(p, "peak_converting_touch")
    peak_number = _count(pattern_value(peak, "touch_number"))
    # The peak is the rank-1 touch; its test lives in touch_hazard (the peak's summary has no q-value).
    peak_entries = [e for e in _entries(p.get("touch_hazard")) if _count(e.get("touch_number")) == peak_number
                    and e.get("label") == "winning"]
    return [
        section("days", f"Days ({basis})", "when", days, rules, "local day"),
        section("hours", f"Hours ({basis})", "when", hours, rules, "local hour"),
        section("peak_touch", "Peak converting touch (booking hazard)", "when",
                _named(peak_entries, "leads reaching it", lambda e: f"touch {e.get('touch_number')}", _HAZARD), rules,
                "peak"),
    ]


def gap_lines(p: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Measured gaps (module docstring, rule 3): structured and as one text line."""
    rules = Rules.of(p)
    details = pattern_value(p, "sequence_gap_details")
    measured: list[dict[str, Any]] = []
    if isinstance(details, Mapping):
        for key in sorted(details, key=lambda k: (len(k), k)):
            entry = details[key]
            sequences = _count(pattern_value(entry, "sequences"))
            days = _number(pattern_value(entry, "days"))
            if (pattern_value(entry, "source") != "data" or sequences is None or sequences < rules.min_sample or days is None):
                continue
            parts = key.removeprefix("touch_").split("_to_")
            measured.append({"gap": key, "days": days, "sequences": sequences,
                             "p25_days": _number(pattern_value(entry, "p25_days")), "p75_days": _number(pattern_value(entry, "p75_days")),
                             "label": f"{parts[0]}->{parts[-1]}"})
    if not measured:
        return [], "Gaps: too few converted sequences to measure; use your defaults."
    text = "; ".join(f"{m['label']} {_fmt(m['days'], 1)}d (IQR {_fmt(m['p25_days'], 1)}-{_fmt(m['p75_days'], 1)}, "
                     f"n={m['sequences']})" for m in measured)
    return measured, f"Gaps (median days between touches of converted sequences): {text}."


def who_sections(p: Mapping[str, Any]) -> list[Section]:
    rules = Rules.of(p)
    signals = []
    for key, entry in sorted((pattern_value(p, "timing_signals") or {}).items()):
        if isinstance(entry, Mapping) and isinstance(entry.get("with_signal"), Mapping):
            flat = {**entry["with_signal"], "lift": entry.get("lift"), "lift_ci_low": entry.get("ci_low"),
                    "lift_ci_high": entry.get("ci_high"), "q_value": entry.get("q_value"), "label": entry.get("label")}
            signals.append((flat, TIMING_SIGNAL_NAMES.get(key, key), "leads", _RANKED))
    return [
        section("titles", "Titles", "who", _named(_entries(pattern_value(p, "title_rankings", "by_title")), "leads"), rules),
        section("seniority", "Seniority", "who", _named(_entries(pattern_value(p, "title_rankings", "by_seniority")), "leads"), rules),
        section("industries", "Industries", "who", _named(_entries(p.get("industry_rankings")), "leads"), rules),
        section("company_size", "Company size (employees)", "who",
                _named(_entries(pattern_value(p, "size_analysis", "distribution")), "leads"), rules),
        section("timing_signals", "Timing signals", "who", signals, rules),
    ]


SECTION_BUILDERS: dict[str, Callable[[Mapping[str, Any]], list[Section]]] = {
    "what": what_sections, "how": how_sections, "when": when_sections, "who": who_sections,
}


# --- sources --------------------------------------------------------------------------------------------

def source_of(pattern_type: str, stored: Mapping[str, Any] | None) -> Source:
    """Where a block's findings come from, and whether they may be used (module docstring, rules 2-3)."""
    if not isinstance(stored, Mapping) or not isinstance(stored.get("patterns"), Mapping):
        return Source(pattern_type, "client", None, None, None, None, None, "missing", DEFAULT_MIN_SAMPLE,
                      DEFAULT_Q_THRESHOLD,
                      f"not enough data: no {pattern_type} pattern for this client (not learned yet, or below "
                      f"its minimum-data gate); use your defaults")
    patterns = stored["patterns"]
    rules = Rules.of(patterns)
    confidence = _number(stored.get("confidence"))
    if confidence is None:
        confidence = _number(patterns.get("confidence"))
    scope = str(patterns.get("scope") or stored.get("scope") or "client")
    computed_at = stored.get("computed_at") or patterns.get("computed_at")
    sample_size = _count(stored.get("sample_size")) if "sample_size" in stored else _count(patterns.get("sample_size"))
    conversions = _count(patterns.get("conversions"))
    is_valid = stored.get("is_valid") if isinstance(stored.get("is_valid"), bool) else None
    use = confidence_use(confidence)
    where = f"{pattern_type} pattern (scope {scope}, computed {computed_at}, confidence {_fmt(confidence)})"
    if use == "learned":
        note = f"{where}: learned"
    elif use == "tentative":
        note = f"{where}: tentative (confidence {BLEND_FROM}-{LEARNED_FROM}), weigh against your defaults"
    else:
        booked = f"{conversions} conversions" if conversions is not None else "too few conversions"
        note = f"not enough data: {where} < {BLEND_FROM} ({booked}); findings withheld, use your defaults"
    if is_valid is False:
        note += f"; expired {str(stored.get('valid_until'))[:10]}, re-learning due"
    return Source(pattern_type, scope, None if computed_at is None else str(computed_at), confidence, sample_size,
                  conversions, is_valid, use, rules.min_sample, rules.q_threshold, note)


# --- text -----------------------------------------------------------------------------------------------

def section_line(s: Section, k: int) -> str:
    def listed(findings: list[Finding]) -> str:
        return "; ".join(f"{f.item} {f.evidence}" for f in findings[:k])

    parts = []
    if s.use:
        parts.append("use " + listed(s.use))
    if s.avoid:
        parts.append("avoid " + listed(s.avoid))
    return f"{s.title}: " + (" | ".join(parts) if parts else f"{s.note}.")


def legend(sources: list[Source]) -> str:
    usable = [s for s in sources if s.use in ("learned", "tentative")]
    q = "/".join(sorted({f"{s.q_threshold:.2f}" for s in usable}))
    n = "/".join(sorted({str(s.min_sample) for s in usable}))
    return f"Listed: only findings with BH q < {q} and n >= {n}; evidence = lift x [95% CI] (booked/n)."


def render(title: str, sources: list[Source], body: Callable[[int], list[str]], budget: int = TEXT_BUDGET) -> tuple[str, int]:
    """The block's text within ``budget`` characters: top-k per list from TOP_K down to 1, then whole
    lines dropped from the end (module docstring). Returns the text and the k it shows."""
    head = [title, *(f"Source: {s.note}." for s in sources)]
    shown = head
    for k in range(TOP_K, 0, -1):
        lines = body(k)
        shown = [*head, legend(sources), *lines] if lines else head
        if k < TOP_K and lines:
            shown.append(f"(top {k} per list shown, to fit {budget} characters)")
        text = "\n".join(shown)
        if len(text) <= budget:
            return text, k
    marker = "(cut to fit the length budget; the JSON lists every finding)"
    shown = shown[:-1]
    while shown and len("\n".join([*shown, marker])) > budget:
        shown.pop()
    return "\n".join([*shown, marker]), 1


def summary_sections(usable: Mapping[str, Mapping[str, Any]]) -> list[Section]:
    """The campaign block's summary: the first SUMMARY_ITEMS *use* and *avoid* findings of the messaging
    and sequencing sections, in section order, each named with its kind ("pain point leads")."""
    summaries: list[Section] = []
    for key, title, types in (("messaging_summary", "Messaging summary", ("what",)),
                              ("sequencing_summary", "Sequencing summary", ("how", "when"))):
        present = [t for t in types if t in usable]
        if not present:
            continue
        parts = [s for t in present for s in SECTION_BUILDERS[t](usable[t])]
        named = [(s, f) for s in parts for f in (*s.use, *s.avoid)]
        renamed = [replace(f, item=f"{s.short} {f.item}".strip()) for s, f in named]
        use = [f for f in renamed if f.direction == "use"][:SUMMARY_ITEMS]
        avoid = [f for f in renamed if f.direction == "avoid"][:SUMMARY_ITEMS]
        summaries.append(Section(key, title, "+".join(present), "", use, avoid,
                                 None if use or avoid else "no significant difference"))
    return summaries


def build_block(consumer: Consumer, stored: Mapping[str, Mapping[str, Any]]) -> Block:
    sources = [source_of(t, stored.get(t)) for t in SOURCES[consumer]]
    usable = {s.pattern_type: stored[s.pattern_type]["patterns"] for s in sources if s.use in ("learned", "tentative")}
    sections: list[Section] = []
    gaps: list[dict[str, Any]] = []
    gap_text: list[str] = []
    if consumer == "campaign":
        if "who" in usable:
            sections = who_sections(usable["who"])
        sections += summary_sections(usable)
    else:
        for pattern_type in SOURCES[consumer]:
            if pattern_type in usable:
                sections += SECTION_BUILDERS[pattern_type](usable[pattern_type])
        if "when" in usable:
            gaps, line = gap_lines(usable["when"])
            gap_text.append(line)

    def body(k: int) -> list[str]:
        return [*(section_line(s, k) for s in sections), *gap_text]

    text, k = render(f"{consumer.upper()} GUIDANCE for {AGENTS[consumer]}", sources, body)
    return Block(consumer, AGENTS[consumer], sources, sections, gaps, text, len(text), k,
                 {"top_k": TOP_K, "text_budget_chars": TEXT_BUDGET, "confidence_learned_from": LEARNED_FROM,
                  "confidence_tentative_from": BLEND_FROM})


def build_context(stored: Mapping[str, Mapping[str, Any]], consumers: Iterable[Consumer] = CONSUMERS) -> dict[str, Block]:
    """One block per consumer, in CONSUMERS order (see the module docstring)."""
    wanted = set(consumers)
    return {c: build_block(c, stored) for c in CONSUMERS if c in wanted}


# --- reading the store (the CLI; the API reads through its cache) ---------------------------------------

def read_stored(conn: Any, client_id: Any) -> dict[str, dict[str, Any]] | None:
    """A client's served patterns in the ``GET /patterns/{client_id}`` shape — its own per type, else the
    agency-wide one (``api/scopes.py``, one rule for the API and the CLI) — read in that client's
    row-level scope on a psycopg connection; None when the client does not exist."""
    from api.scopes import ROWS_SQL

    with conn.transaction():
        conn.execute("select set_config('app.client_ids', %s, true)", (str(client_id),))
        if conn.execute("select 1 from clients where id = %s", (client_id,)).fetchone() is None:
            return None
        rows = conn.execute(ROWS_SQL, {"client_id": client_id}).fetchall()
    served: dict[str, dict[str, Any]] = {}
    for scope, pattern_type, _id, _xmin, computed_at, is_valid, patterns, sample_size, confidence, valid_until, \
            clients_pooled in sorted(rows, key=lambda row: row[1]):
        served[pattern_type] = {
            "patterns": json.loads(patterns), "sample_size": int(sample_size), "confidence": float(confidence),
            "computed_at": computed_at.isoformat(), "valid_until": valid_until.isoformat(),
            "is_valid": bool(is_valid), "scope": scope,
            **({"clients_pooled": int(clients_pooled)} if scope == "agency" else {}),
        }
    return served

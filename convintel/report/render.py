"""One client's pattern report as ONE self-contained HTML page (inline CSS, inline SVG, no network).

``render_report(report)`` is pure: a ``ClientReport`` in, a string out. Every section renders what the
stored pattern holds and skips what it lacks (patterns differ between versions and branches); a type
without a stored pattern gets a plain statement of what is missing and why, never an empty chart.
Every client-derived text goes through ``html.escape``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from convintel.report.charts import (
    DAY_NAMES,
    Bar,
    Path,
    Point,
    attribution_bars,
    bar_chart,
    data_attrs,
    fmt,
    forest_plot,
    hazard_curve,
    heat_map,
    path_bars,
)
from convintel.report.data import ClientReport, StoredPattern
from convintel.report.kpis import kpi_section

SECTIONS = (("who", "WHO converts"), ("what", "WHAT converts"), ("when", "WHEN leads book"),
            ("how", "HOW (channels)"), ("health", "Health & drift"))
DEFAULT_WEIGHTS = {"data_quality": 0.20, "authority": 0.25, "company_fit": 0.25, "timing": 0.15}  # SPEC §7 who
_IDENTITY_KEYS = ("category", "bucket", "template", "pain_point", "cta", "phrase", "angle", "channel", "day",
                  "hour", "flag", "name")
ROW_LIMIT = 12


# --- small helpers over pattern JSON (tolerant: wrong shapes yield nothing) ------------------------

def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(round(number)) if number is not None else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _entries(value: Any) -> list[dict[str, Any]]:
    """A list of entry dicts from a list, or from a mapping of entries (e.g. ``{email_first: {...}}``)."""
    if isinstance(value, Mapping):
        return [dict(v, _key=k) for k, v in value.items() if isinstance(v, Mapping)]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _identity(entry: Mapping[str, Any]) -> str:
    for key in _IDENTITY_KEYS:
        value = entry.get(key)
        if value is not None and not isinstance(value, (Mapping, list)):
            return str(value)
    return str(entry.get("_key", "?"))


def _ranked_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked entries by rank, then the unranked (too small) by sample, largest first."""
    ranked = sorted((e for e in entries if _num(e.get("rank")) is not None), key=lambda e: e["rank"])
    rest = sorted((e for e in entries if _num(e.get("rank")) is None), key=lambda e: -(_num(e.get("sample")) or 0))
    return ranked + rest


def _first_list(section: Mapping[str, Any], *keys: str) -> list[dict[str, Any]]:
    """Entries of the first key holding any; with several label lists, their union (by identity)."""
    if "rankings" in keys and _entries(section.get("rankings")):
        return _entries(section["rankings"])
    seen, merged = set(), []
    for key in keys:
        for entry in _entries(section.get(key)):
            if _identity(entry) not in seen:
                seen.add(_identity(entry))
                merged.append(entry)
    return merged


def _slug(text: str) -> str:
    return str(text).strip().lower().replace(" ", "_")


def _rate_bars(entries: list[dict[str, Any]], prefix: str, *, label=_identity, limit: int = ROW_LIMIT,
               rate_key: str = "rate", n_key: str = "sample") -> list[Bar]:
    bars = []
    for entry in _ranked_first(entries)[:limit]:
        rate = _num(entry.get(rate_key))
        if rate is None:
            continue
        note = "" if entry.get("is_ranked", True) else "too few to rank"
        bars.append(Bar(f"{prefix}.{_slug(_identity(entry))}", label(entry), rate, _num(entry.get("ci_low")),
                        _num(entry.get("ci_high")), _int(entry.get(n_key)), entry.get("label") or None, note))
    return bars


def _adjusted_bars(entries: list[dict[str, Any]], prefix: str, *, label=_identity, limit: int = ROW_LIMIT) -> list[Bar]:
    """Position-adjusted lifts (SPEC §6) with the raw rate beside them."""
    bars = []
    for entry in _ranked_first(entries)[:limit]:
        lift = _num(entry.get("adjusted_lift"))
        low, high = _num(entry.get("adjusted_lift_ci_low")), _num(entry.get("adjusted_lift_ci_high"))
        if lift is None:
            lift, low, high = _num(entry.get("lift")), _num(entry.get("lift_ci_low")), _num(entry.get("lift_ci_high"))
        if lift is None:
            continue
        raw = _num(entry.get("rate"))
        note = f"raw {raw:.1%}" if raw is not None else ""
        bars.append(Bar(f"{prefix}.{_slug(_identity(entry))}", label(entry), lift, low, high,
                        _int(entry.get("sample")), entry.get("label") or None, note))
    return bars


def _figure(title: str, body: str, caption: str = "", wide: bool = False) -> str:
    cap = f'<p class="caption">{escape(caption)}</p>' if caption else ""
    return f'<figure class="card{" wide" if wide else ""}"><h3>{escape(title)}</h3>{body}{cap}</figure>'


def _facts(items: Sequence[tuple[str, str, str]]) -> str:
    """``(data-fact key, term, value)`` rows as a definition list."""
    rows = "".join(f'<div><dt>{escape(term)}</dt><dd data-fact="{escape(key, quote=True)}">{escape(value)}</dd></div>'
                   for key, term, value in items)
    return f'<dl class="facts">{rows}</dl>'


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if isinstance(moment, datetime) else escape(str(moment or "–"))


def _missing(report: ClientReport, pattern_type: str) -> str:
    reason = report.gate_reasons.get(pattern_type)
    if not reason:
        counts = report.data_counts or {}
        reason = ("the client's data now passes this detector's minimum-data gate"
                  + (f" ({counts.get('conversions', 0):,} bookings, {counts.get('leads_with_outcome', 0):,} leads with an outcome)"
                     if counts else "")
                  + ", but no learning run with this detector has stored a pattern yet (run `convintel learn`)")
    return (f'<div class="missing"{data_attrs(missing=pattern_type)}><strong>No {pattern_type.upper()} pattern for this client.</strong> '
            f'{escape(reason[:1].upper() + reason[1:])}.</div>')


def _header(pattern_type: str, stored: StoredPattern) -> str:
    p = stored.patterns
    conversions = _int(p.get("conversions"))
    baseline = _num(p.get("baseline_rate"))
    unit = str(p.get("unit") or "")
    bits = [f"n = {stored.sample_size:,}" + (f" ({escape('touches' if unit == 'touch' else unit)})" if unit else "")]
    if conversions is not None:
        bits.append(f"{conversions:,} bookings")
    if baseline is not None:
        bits.append(f"baseline {baseline:.1%}")
    bits.append(f"confidence {stored.confidence:.2f}")
    bits.append(f"computed {_when(stored.computed_at)}")
    bits.append(f"valid until {_when(stored.valid_until)}")
    return (f'<p class="meta"{data_attrs(type=pattern_type, sample=stored.sample_size, confidence=stored.confidence)}>'
            + " · ".join(bits) + "</p>")


# --- sections ---------------------------------------------------------------------------------------

def _who(report: ClientReport) -> str:
    stored = report.patterns.get("who")
    if stored is None:
        return _missing(report, "who")
    p = stored.patterns
    baseline = _num(p.get("baseline_rate"))
    titles = _dict(p.get("title_rankings"))
    figures = [
        _figure("Titles", bar_chart(_rate_bars(_entries(titles.get("by_title")), "who.title"), reference=baseline,
                                    title="booking rate by title", empty_text="no title rankings stored"),
                "booking rate per lead with 95% interval; dashed line = client baseline"),
        _figure("Seniority", bar_chart(_rate_bars(_entries(titles.get("by_seniority")), "who.seniority"), reference=baseline,
                                       title="booking rate by seniority", empty_text="no seniority rankings stored")),
        _figure("Industries", bar_chart(_rate_bars(_entries(p.get("industry_rankings")), "who.industry"), reference=baseline,
                                        title="booking rate by industry", empty_text="no industry rankings stored")),
    ]
    size = _dict(p.get("size_analysis"))
    order = ["1-5", "6-15", "16-30", "31-50", "51-100", "101-500", "500+"]
    distribution = sorted(_entries(size.get("distribution")),
                          key=lambda e: order.index(_identity(e)) if _identity(e) in order else len(order))
    spot = _dict(size.get("sweet_spot"))
    spot_text = (f"sweet spot {spot.get('bucket', '?')} employees: {fmt(_num(spot.get('conversion_rate')))} "
                 f"(n={spot.get('sample', '?')})") if spot else "no sweet spot (no size band ranked)"
    size_bars = [Bar(f"who.size.{_slug(_identity(e))}", _identity(e) + " employees", _num(e.get("rate")) or 0.0,
                     _num(e.get("ci_low")), _num(e.get("ci_high")), _int(e.get("sample")), e.get("label") or None)
                 for e in distribution if _num(e.get("rate")) is not None]
    figures.append(_figure("Company size", bar_chart(size_bars, reference=baseline, title="booking rate by company size",
                                                     empty_text="no size analysis stored"), spot_text))
    signals = _dict(p.get("timing_signals"))
    signal_bars = [Bar(f"who.timing.{name}", name.removesuffix("_lift").replace("_", " "), _num(s.get("lift")),
                       _num(s.get("ci_low")), _num(s.get("ci_high")), _int(_dict(s.get("with_signal")).get("sample")),
                       s.get("label") or None,
                       f"{fmt(_num(_dict(s.get('with_signal')).get('rate')))} vs {fmt(_num(_dict(s.get('without_signal')).get('rate')))}")
                   for name, s in signals.items() if isinstance(s, Mapping)]
    figures.append(_figure("Timing signals", forest_plot(signal_bars, title="timing signal lifts",
                                                         empty_text="no timing signals stored"),
                           "lift = rate with the signal / rate without; n = leads with the signal"))
    return _header("who", stored) + '<div class="grid">' + "".join(figures) + "</div>" + _weights(p)


def _weights(p: Mapping[str, Any]) -> str:
    weights = _dict(p.get("recommended_weights"))
    validation = _dict(p.get("weights_validation"))
    if not weights and not validation:
        return ""
    source = str(weights.get("source", "?"))
    rows = []
    for component, default in DEFAULT_WEIGHTS.items():
        value = _num(weights.get(component))
        delta = f"{value - default:+.2f}" if value is not None else "–"
        rows.append(f'<tr{data_attrs(key=f"who.weight.{component}", weight=value, default=default)}>'
                    f'<th>{escape(component.replace("_", " "))}</th><td>{default:.2f}</td>'
                    f'<td>{fmt(value, "ratio")}</td><td>{delta}</td>'
                    f'<td><span class="wbar" style="width:{(value or 0) * 200:.0f}px"></span></td></tr>')
    learned, default_auc = _num(validation.get("cv_auc_learned")), _num(validation.get("cv_auc_default"))
    shipped = validation.get("shipped")
    verdict = ("learned weights shipped (they beat the defaults out of sample)" if shipped
               else "defaults kept: learned weights did not beat them out of sample" if shipped is False else "")
    top = _dict(p.get("top_quintile_conversion_rate"))
    top_text = (f"top 20% of leads by lead score ({escape(str(top.get('weights_source', source)))} weights) book at "
                f"{fmt(_num(top.get('rate')))}{' [' + fmt(_num(top.get('ci_low'))) + '–' + fmt(_num(top.get('ci_high'))) + ']' if _num(top.get('ci_low')) is not None else ''}"
                f" (n={top.get('sample', '?')})") if top else ""
    return (
        '<div class="card wide"><h3>Lead-score weights: learned vs default</h3>'
        f'<table class="weights"{data_attrs(source=source, shipped=shipped if isinstance(shipped, bool) else None)}>'
        '<thead><tr><th>component</th><th>default</th><th>recommended (' + escape(source) + ')</th><th>Δ</th><th></th></tr></thead>'
        '<tbody>' + "".join(rows) + '</tbody></table>'
        + _facts([
            ("who.cv_auc_learned", "cross-validated AUC, learned", fmt(learned, "ratio") if learned is None else f"{learned:.3f}"),
            ("who.cv_auc_default", "cross-validated AUC, default", fmt(default_auc, "ratio") if default_auc is None else f"{default_auc:.3f}"),
            ("who.folds", "folds", str(validation.get("folds", "–"))),
            ("who.shipped", "verdict", verdict or "–"),
        ])
        + (f'<p class="caption">{escape(str(validation.get("reason")))}</p>' if validation.get("reason") else "")
        + (f'<p class="caption">{top_text}</p>' if top_text else "")
        + "</div>"
    )


def _what(report: ClientReport) -> str:
    stored = report.patterns.get("what")
    if stored is None:
        return _missing(report, "what")
    p = stored.patterns
    caption = "position-adjusted lift (touches compared within the same touch number) with 95% interval; raw per-touch rate beside it"
    figures = []
    subjects = _dict(p.get("subject_patterns"))
    for title, key, entries in (
        ("Pain points", "what.pain_point", _first_list(_dict(p.get("pain_points")), "rankings", "effective", "ineffective")),
        ("Calls to action (first in the text)", "what.cta", _first_list(_dict(p.get("ctas")), "rankings", "effective", "ineffective")),
        ("CTA types", "what.cta_type", _entries(_dict(p.get("ctas")).get("by_type"))),
        ("Angles", "what.angle", _first_list(_dict(p.get("angles")), "rankings", "effective", "ineffective")),
        ("Subject templates", "what.subject", _first_list(subjects, "rankings", "winning", "losing")),
        ("Subject length", "what.subject_length", _entries(subjects.get("length_tags"))),
    ):
        if entries:
            figures.append(_figure(title, forest_plot(_adjusted_bars(entries, key), title=title), caption))
    figures += _lengths(_dict(p.get("optimal_length")))
    personal = _dict(p.get("personalization_lift"))
    personal_bars = []
    for flag, entry in personal.items():
        if not isinstance(entry, Mapping):
            continue
        with_, without = _dict(entry.get("with")), _dict(entry.get("without"))
        personal_bars.append(Bar(f"what.personalization.{flag}", flag.replace("_", " "), _num(entry.get("lift")),
                                 _num(entry.get("ci_low")), _num(entry.get("ci_high")), _int(with_.get("sample")),
                                 entry.get("label") or None,
                                 f"{fmt(_num(with_.get('rate')))} vs {fmt(_num(without.get('rate')))}"))
    if personal:
        figures.append(_figure("Personalisation", forest_plot(personal_bars, title="personalisation lift",
                                                              empty_text="no personalisation flag was used often enough"),
                               "adjusted lift of touches with the flag vs without (raw rates: with vs without); n = touches with it"))
    if not figures:
        return _header("what", stored) + '<p class="empty">The stored WHAT pattern has no rankings to draw.</p>'
    return _header("what", stored) + '<div class="grid">' + "".join(figures) + "</div>"


def _lengths(optimal: Mapping[str, Any]) -> list[str]:
    figures = []
    for channel, entry in optimal.items():
        if not isinstance(entry, Mapping):
            continue
        unit = str(entry.get("unit", "words"))
        best = _num(entry.get("optimal_words", entry.get("optimal_chars")))
        chosen = entry.get("bin")
        bars = [Bar(f"what.length.{channel}.{_slug(_identity(b))}", f"{_identity(b)} {unit}", _num(b.get("rate")),
                    _num(b.get("ci_low")), _num(b.get("ci_high")), _int(b.get("sample")),
                    "optimal" if chosen is not None and _identity(b) == str(chosen) else (b.get("label") or None))
                for b in _entries(entry.get("bins"))]
        caption = (f"optimal ≈ {best:.0f} {unit} (bin {entry.get('range_min', '?')}–{entry.get('range_max', '?')}), chosen by comparing "
                   "booking rates across bins" if best is not None else "no length bin had enough touches to be chosen")
        figures.append(_figure(f"Length curve: {channel}", bar_chart(bars, title=f"booking rate by {channel} length",
                                                                    empty_text="no length bins stored"), caption))
    return figures


def _when_section(report: ClientReport) -> str:
    stored = report.patterns.get("when")
    if stored is None:
        return _missing(report, "when")
    p = stored.patterns
    basis = str(p.get("time_basis", "local"))
    figures = []
    if report.heat_cells is not None:
        total = sum(t for t, _ in report.heat_cells.values())
        figures.append(_figure(f"Day × hour, local time ({basis})", heat_map(report.heat_cells, title="day × hour heat map"),
                               f"per-touch booking rate by the lead's local day and hour over {total:,} touches "
                               "(raw, from the dbt mart at report time); hover a cell for its counts", wide=True))
    peak = _dict(p.get("peak_converting_touch"))
    peak_touch = _int(peak.get("touch_number"))
    points = [Point(int(e["touch_number"]), _num(e.get("hazard")), _num(e.get("ci_low")), _num(e.get("ci_high")),
                    _int(e.get("leads_reached")), _int(e.get("touch_number")) == peak_touch)
              for e in _entries(p.get("touch_hazard")) if _int(e.get("touch_number")) is not None]
    figures.append(_figure("Booking hazard per touch", hazard_curve(points, empty_text="no touch hazard stored"),
                           "P(booking at touch k | lead reached touch k) with 95% band; n = leads that reached the touch",
                           wide=True))

    def day_label(entry: Mapping[str, Any]) -> str:
        day = _int(entry.get("day_of_week"))
        return DAY_NAMES[day] if day is not None and 0 <= day < 7 else str(entry.get("day", "?"))

    days = _entries(p.get("best_days"))
    hours = _entries(p.get("best_hours"))
    caption = "position-adjusted lift vs the other slots (same touch number) with 95% interval; raw per-touch rate beside it"
    figures.append(_figure("Days (local)", forest_plot(_adjusted_bars(days, "when.day", label=day_label), title="day lifts",
                                                       empty_text="no day rankings stored"), caption))
    figures.append(_figure("Hours (local)", forest_plot(_adjusted_bars(hours, "when.hour", label=lambda e: f"{_identity(e)}:00",
                                                                       limit=24), title="hour lifts",
                                                        empty_text="no hour rankings stored"), caption))
    timing = _dict(p.get("conversion_timing"))
    gaps = _dict(p.get("optimal_sequence_gaps"))
    facts = [
        ("when.peak_touch", "peak converting touch",
         f"touch {peak_touch} ({fmt(_num(peak.get('hazard')))}, n={peak.get('leads_reached', '?')})" if peak_touch else "–"),
        ("when.avg_touches", "touches to convert (mean)", fmt(_num(p.get("avg_touches_to_convert")), "number")),
        ("when.median_days", "days from first touch to booking (median)", fmt(_num(timing.get("median_days_to_convert")), "number")),
        ("when.p80_days", "80th / 95th percentile days",
         f"{fmt(_num(timing.get('percentile_80')), 'number')} / {fmt(_num(timing.get('percentile_95')), 'number')}"),
        ("when.gaps", "recommended gaps (days)",
         ", ".join(f"{k.removeprefix('touch_').replace('_to_', '→')}: {v:g}" for k, v in gaps.items() if _num(v) is not None) or "–"),
    ]
    return (_header("when", stored) + '<div class="card wide">' + _facts(facts) + "</div>"
            + '<div class="grid">' + "".join(figures) + "</div>")


def _how(report: ClientReport) -> str:
    stored = report.patterns.get("how")
    if stored is None:
        return _missing(report, "how")
    p = stored.patterns
    baseline = _num(p.get("baseline_rate"))
    first = _entries(p.get("first_touch_effectiveness"))
    figures = [_figure("First channel", bar_chart(_rate_bars(first, "how.first"), reference=baseline, title="booking rate by first channel",
                                                  empty_text="no first-channel comparison stored"),
                       "booking rate of leads by the channel of their first touch; dashed = baseline")]
    booking = [Bar(f"how.booking.{_slug(_identity(e))}", _identity(e), _num(e.get("share")), _num(e.get("share_ci_low")),
                   _num(e.get("share_ci_high")), _int(e.get("bookings", e.get("conversions"))), e.get("label") or None,
                   f"per touch {fmt(_num(e.get('rate')))}" if _num(e.get("rate")) is not None else "")
               for e in sorted(_entries(p.get("booking_channel_distribution")), key=lambda e: -(_num(e.get("share")) or 0))]
    figures.append(_figure("Booking channel", bar_chart(booking, value_attr="share", title="share of bookings by channel",
                                                        empty_text="no booking channel distribution stored"),
                           "share of bookings whose converting touch used the channel; n = bookings; per-touch booking rate beside it"))
    sequences = _ranked_first(_entries(p.get("winning_sequences")))[:10]
    paths = [Path(f"how.path.{i}", tuple(str(s) for s in e.get("sequence", []) if s is not None),
                  _num(e.get("conversion_rate", e.get("rate"))), _num(e.get("ci_low")), _num(e.get("ci_high")),
                  _int(e.get("sample_size", e.get("sample"))), e.get("label") or None)
             for i, e in enumerate(sequences, start=1) if isinstance(e.get("sequence"), list)]
    figures.append(_figure("Channel paths", path_bars(paths, empty_text="no channel paths stored"),
                           "sequence prefixes ranked by shrunk lift over the hazard at their length; rate = booking right after "
                           "the last step", wide=True))
    lift = _dict(p.get("multi_channel_lift"))
    lift_bars = []
    for bucket, entry in lift.items():
        if not isinstance(entry, Mapping) or bucket == "1_channel":
            continue
        naive = _num(_dict(entry.get("naive_lead_level")).get("lift_vs_1_channel"))
        lift_bars.append(Bar(f"how.lift.{bucket}", bucket.replace("_", " "), _num(entry.get("lift_vs_1_channel")),
                             _num(entry.get("lift_vs_1_channel_ci_low")), _num(entry.get("lift_vs_1_channel_ci_high")),
                             _int(entry.get("sample")), entry.get("label") or None,
                             f"naive {naive:.2f}×" if naive is not None else ""))
    unestimated = [b for b, e in lift.items() if b != "1_channel" and isinstance(e, Mapping)
                   and _num(e.get("lift_vs_1_channel")) is None]
    figures.append(_figure("Multi-channel lift at equal exposure", forest_plot(lift_bars, title="multi-channel lift",
                                                                              empty_text="no multi-channel comparison stored"),
                           "vs 1 channel, among touches with the same touch number, channel and first channel "
                           "(Mantel–Haenszel); n = touches; naive = lead-level comparison that ignores exposure"
                           + (f"; no estimate for {', '.join(b.replace('_', ' ') for b in unestimated)}" if unestimated else "")))
    markov = _dict(p.get("markov_attribution"))
    channels = [(str(c.get("channel", "?")), _num(c.get("attributed_conversions")), _num(c.get("removal_effect")))
                for c in _entries(markov.get("channels"))]
    figures.append(_figure("Markov attribution", attribution_bars(channels),
                           f"bookings attributed by removal effect (first-order absorbing chain over "
                           f"{markov.get('leads', '?')} leads, {markov.get('conversions', '?')} bookings)"))
    facts = [("how.best_first_channel", "best first channel", str(p.get("best_first_channel") or "–")),
             ("how.optimal_channel_count", "optimal channel count", str(p.get("optimal_channel_count") or "–")),
             ("how.largest_removal_effect", "largest removal effect", str(markov.get("largest_removal_effect") or "–"))]
    return (_header("how", stored) + '<div class="card wide">' + _facts(facts) + "</div>"
            + '<div class="grid">' + "".join(figures) + "</div>")


def _health(report: ClientReport) -> str:
    parts = []
    if report.health_run is None:
        parts.append('<p class="empty">No pattern-health run has been recorded yet (run `convintel health`).</p>')
    else:
        run = report.health_run
        if report.health_findings:
            rows = "".join(
                f'<tr class="sev-{escape(f["severity"])}"{data_attrs(rule=f["rule"], severity=f["severity"])}>'
                f'<td><span class="sev">{escape(f["severity"])}</span></td><td>{escape(str(f.get("pattern_type") or "–"))}</td>'
                f'<td>{escape(f["rule"])}</td><td>{escape(f["message"])}</td></tr>'
                for f in report.health_findings)
            parts.append(f'<table class="findings"><thead><tr><th>severity</th><th>type</th><th>rule</th><th>finding</th></tr></thead>'
                         f'<tbody>{rows}</tbody></table>')
        else:
            parts.append('<p class="ok">No findings for this client in the latest health run.</p>')
        parts.append(f'<p class="caption">latest health run {_when(run.get("checked_at"))}</p>')
    drift_rows = []
    for pattern_type, drift in sorted(report.drift.items()):
        if drift.previous_computed_at is None:
            drift_rows.append(f'<tr><td>{pattern_type.upper()}</td><td colspan="3">first run ({_when(drift.current_computed_at)}): '
                              f'nothing to compare yet</td></tr>')
            continue
        changes = []
        for item, (before, now) in drift.top_items.items():
            if before is None and now is None:
                continue
            moved = before != now
            changes.append(f'<li class="{"changed" if moved else ""}"{data_attrs(item=item, previous=before or "", current=now or "")}>'
                           f'{escape(item.replace("_", " "))}: {escape(before or "–")} → {escape(now or "–")}</li>')
        for component, (before, now) in drift.weights.items():
            if before is not None and now is not None:
                changes.append(f'<li{data_attrs(item=f"weight.{component}", previous=before, current=now)}>'
                               f'weight {escape(component.replace("_", " "))}: {before:.2f} → {now:.2f} ({now - before:+.2f})</li>')
        flagged = "".join(f'<li class="sev-{escape(f["severity"])}">{escape(f["message"])}</li>' for f in drift.findings)
        drift_rows.append(
            f'<tr{data_attrs(drift=pattern_type, findings=len(drift.findings))}><td>{pattern_type.upper()}</td>'
            f'<td>{_when(drift.previous_computed_at)} → {_when(drift.current_computed_at)}</td>'
            f'<td><ul>{"".join(changes) or "<li>no ranked items</li>"}</ul></td>'
            f'<td><ul>{flagged or "<li>none</li>"}</ul></td></tr>')
    if drift_rows:
        parts.append('<h3>Drift since the last run</h3><table class="drift"><thead><tr><th>type</th><th>runs compared</th>'
                     '<th>rank-1 items and weights</th><th>flagged (health rules)</th></tr></thead>'
                     f'<tbody>{"".join(drift_rows)}</tbody></table>')
    else:
        parts.append('<p class="empty">No learning-run history for this client yet: no drift to show.</p>')
    return "".join(parts)


def _glance(report: ClientReport) -> str:
    """The headline of each stored type, in one card (each line links to its section)."""
    items: list[tuple[str, str, str]] = []

    def top(entries: Any) -> dict[str, Any] | None:
        ranked = [e for e in _entries(entries) if e.get("rank") == 1]
        return ranked[0] if ranked else None

    def rate_text(entry: Mapping[str, Any], rate_key: str = "rate", n_key: str = "sample") -> str:
        return f"{_identity(entry)} · {fmt(_num(entry.get(rate_key)))} (n={entry.get(n_key, '?')})" + (
            f" · {entry['label']}" if entry.get("label") else "")

    who = report.patterns.get("who")
    if who is not None:
        title = top(_dict(who.patterns.get("title_rankings")).get("by_title"))
        industry = top(who.patterns.get("industry_rankings"))
        if title:
            items.append(("glance.who.title", "top title", rate_text(title)))
        if industry:
            items.append(("glance.who.industry", "top industry", rate_text(industry)))
    what = report.patterns.get("what")
    if what is not None:
        for key, term, field, good in (("pain_point", "effective pain point", "pain_points", "effective"),
                                       ("cta", "effective CTA", "ctas", "effective")):
            best = next(iter(_entries(_dict(what.patterns.get(field)).get(good))), None)
            items.append((f"glance.what.{key}", term, _identity(best) + (f" · {_num(best.get('adjusted_lift')):.2f}× adj."
                                                                        if _num(best.get("adjusted_lift")) else "")
                          if best else "none labelled (q < 0.10)"))
    when = report.patterns.get("when")
    if when is not None:
        peak = _dict(when.patterns.get("peak_converting_touch"))
        if peak.get("touch_number") is not None:
            items.append(("glance.when.peak", "peak converting touch",
                          f"touch {peak['touch_number']} · {fmt(_num(peak.get('hazard')))} (n={peak.get('leads_reached', '?')})"))
        day = top(when.patterns.get("best_days"))
        if day:
            items.append(("glance.when.day", "best day (local)", f"{_identity(day)} · {fmt(_num(day.get('adjusted_rate')))} adj."))
    how = report.patterns.get("how")
    if how is not None:
        first = _dict(_dict(how.patterns.get("first_touch_effectiveness")).get(f"{how.patterns.get('best_first_channel')}_first"))
        channel = how.patterns.get("best_first_channel")
        if channel:
            items.append(("glance.how.first", "best first channel",
                          f"{channel}" + (f" · {fmt(_num(first.get('rate')))} (n={first.get('sample', '?')})" if first else "")))
        if how.patterns.get("optimal_channel_count"):
            items.append(("glance.how.channels", "optimal channel count", str(how.patterns["optimal_channel_count"])))
    if not items:
        return ""
    return '<div class="card glance"><h3>At a glance</h3>' + _facts(items) + "</div>"


def _insufficient(report: ClientReport) -> str:
    """The plain statement for a client without any pattern."""
    counts = report.data_counts
    if counts is None:
        what = "No learning run has built the dbt marts in this database yet, so there is nothing to learn from."
        table = ""
    else:
        what = "The learning run found too little data for every detector's minimum-data gate."
        table = _facts([(f"counts.{k}", k.replace("_", " "), f"{v:,}") for k, v in counts.items()])
    reasons = "".join(f'<li{data_attrs(missing=t)}><strong>{t.upper()}</strong>: {escape(report.gate_reasons.get(t) or "no pattern stored")}</li>'
                      for t in report.missing_types)
    return ('<section class="insufficient" id="insufficient" data-insufficient="true"><h2>Not enough data for a pattern report yet</h2>'
            f'<p>{escape(what)} No pattern is stored for this client, so this report shows no charts rather than empty ones.</p>'
            f'<ul class="reasons">{reasons}</ul>{table}'
            '<p class="caption">Gates (SPEC §7): WHO ≥ 10 bookings and ≥ 30 leads with an outcome; WHAT ≥ 5 converting touches and '
            '≥ 20 touches with content; WHEN ≥ 5 bookings; HOW ≥ 5 bookings and ≥ 20 leads with an outcome. '
            'A report appears after the next learning run that passes them.</p></section>')


CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#d9e2ec;--bg:#f5f7fa;--card:#fff;--bar:#4c78a8;--win:#2e7d32;--lose:#c62828;--accent:#334e68}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
header.top{background:var(--accent);color:#fff;padding:14px 24px}
header.top h1{margin:0;font-size:22px;font-weight:600}
header.top p{margin:2px 0 0;color:#d9e2ec;font-size:13px}
nav{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);padding:6px 24px;display:flex;gap:18px;flex-wrap:wrap}
nav a{color:var(--accent);text-decoration:none;font-weight:600;font-size:13px}
nav a.off{color:#9aa5b1;font-weight:400}
main{max-width:1500px;margin:0 auto;padding:8px 24px 40px}
section{margin-top:18px}
h2{font-size:19px;margin:18px 0 4px;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{font-size:14px;margin:0 0 6px;color:var(--accent)}
.meta{color:var(--muted);margin:4px 0 10px;font-size:13px}
.legend{color:var(--muted);font-size:12.5px;margin:6px 0 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(620px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:12px 14px;margin:0 0 14px;overflow-x:auto}
.grid .card{margin:0}
.card.wide{grid-column:1/-1}
figure{margin:0}
svg.chart{display:block;max-width:100%;height:auto}
.caption{color:var(--muted);font-size:12px;margin:6px 0 0}
.empty{color:var(--muted);font-style:italic}
.ok{color:var(--win)}
.missing{background:#fff8e1;border:1px solid #f0d48a;border-radius:6px;padding:10px 14px;margin:8px 0}
.insufficient{background:#fff8e1;border:1px solid #f0d48a;border-radius:6px;padding:4px 18px 14px}
.insufficient h2{border:0}
.facts{display:flex;flex-wrap:wrap;gap:6px 28px;margin:0}
.facts div{min-width:150px}.glance .facts dd{font-size:14px}.facts dt{color:var(--muted);font-size:12px}.facts dd{margin:0;font-weight:600;font-size:15px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
table.weights td{font-variant-numeric:tabular-nums}
.wbar{display:inline-block;height:10px;background:var(--bar);border-radius:2px}
td ul{margin:0;padding-left:16px}
li.changed{font-weight:600}
.sev{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;color:#fff;background:#9aa5b1}
.sev-high .sev{background:var(--lose)}.sev-medium .sev{background:#e09f3e}.sev-low .sev{background:#829ab1}
li.sev-high{color:var(--lose)}li.sev-medium{color:#b7791f}
.c-label{font-size:12px;fill:var(--ink)}
.c-value{font-size:11.5px;fill:#334e68;font-variant-numeric:tabular-nums}
.c-axis,.c-n{font-size:10.5px;fill:var(--muted)}
.c-grid{stroke:#eef2f6;stroke-width:1}
.c-rect{fill:var(--bar);opacity:.85}
.c-win .c-rect,.c-win .c-point{fill:var(--win)}
.c-lose .c-rect,.c-lose .c-point{fill:var(--lose)}
.c-whisker{stroke:#1f2933;stroke-width:1.3}
.c-ref{stroke:#e4572e;stroke-width:1.2;stroke-dasharray:4 3}
.c-ref-one{stroke:#52606d;stroke-dasharray:none;stroke-width:1.5}
.c-point{fill:var(--bar)}
tspan.c-win{fill:var(--win);font-weight:600}tspan.c-lose{fill:var(--lose);font-weight:600}tspan.c-tag{fill:#8e6c00;font-weight:600}
.c-band{fill:var(--bar);opacity:.18}
.c-line{fill:none;stroke:var(--bar);stroke-width:2}
.c-dot{fill:#fff;stroke:var(--bar);stroke-width:2}
.c-peak{fill:#e4572e;stroke:#e4572e}
.c-annot{font-size:11.5px;fill:#e4572e;font-weight:600}
.c-chip-text{font-size:10.5px;fill:#fff;font-weight:600}
.c-arrow{font-size:14px;fill:var(--muted)}
.c-cell:hover{stroke:#1f2933;stroke-width:1.5}
footer{color:var(--muted);font-size:12px;margin-top:30px}
@media print{nav{display:none}.grid{display:block}.card{break-inside:avoid}}
"""

# The only script: records JavaScript errors on <html> (a browser test reads them) and marks the page ready.
SCRIPT = """
(function(){var d=document.documentElement;window.addEventListener('error',function(e){
d.setAttribute('data-js-errors',(d.getAttribute('data-js-errors')||'')+(e.message||'error')+';');});
document.addEventListener('DOMContentLoaded',function(){d.setAttribute('data-report-ready',
String(document.querySelectorAll('svg.chart').length));});})();
"""


def render_report(report: ClientReport) -> str:
    """The whole page for one client."""
    name = escape(report.client_name)
    has_any = bool(report.patterns)
    nav = "".join(
        f'<a href="#{key}" class="{"" if key == "health" or key in report.patterns else "off"}">{escape(title)}</a>'
        for key, title in SECTIONS) + f'<a href="#kpis" class="{"" if report.kpis else "off"}">Business KPIs</a>'
    kpis = f'<section id="kpis" data-section="kpis"><h2>Business KPIs</h2>{kpi_section(report)}</section>'
    if has_any:
        body = "".join(
            f'<section id="{key}" data-section="{key}"><h2>{escape(title)}</h2>{renderer(report)}</section>'
            for (key, title), renderer in zip(SECTIONS, (_who, _what, _when_section, _how, _health)))
        legend = _glance(report) + ('<p class="legend">Bars and points: estimate with its 95% interval (whiskers, bands) and n = sample behind it. '
                  'Green/red and the words winning/effective or losing/ineffective only when the Benjamini–Hochberg q &lt; 0.10; '
                  'unlabelled differences may be noise. Lifts are on a log scale with the no-effect line at 1.0×.</p>')
    else:
        body = _insufficient(report) + f'<section id="health" data-section="health"><h2>Health &amp; drift</h2>{_health(report)}</section>'
        legend = ""
    body += kpis
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en" data-client-id="{escape(str(report.client_id), quote=True)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Conversion patterns · {name}</title><style>{CSS}</style><script>{SCRIPT}</script></head><body>"
        f'<header class="top"><h1>Conversion patterns: {name}</h1>'
        f'<p>client {escape(str(report.client_id))} · report generated {_when(report.generated_at)}</p></header>'
        f"<nav>{nav}</nav><main>{legend}{body}"
        '<footer>Conversion Intelligence pattern report · one self-contained file: no network access needed.</footer>'
        "</main></body></html>\n"
    )

"""The report's "Business KPIs" section (docs/kpis.md): the stored KPI document of the client as a table
per cohort week, one chart (booking rate per cohort week with its 95% interval) and the learning health
(weight convergence, latest confidence per type). Pure: a ``ClientReport`` in, HTML out."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from convintel.report.charts import Bar, bar_chart, data_attrs, fmt

KPI_WEEKS_SHOWN = 12
PATTERN_TYPES = ("who", "what", "when", "how")


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _rate(entry: Mapping[str, Any] | None) -> str:
    if not entry or _num(entry.get("rate")) is None:
        return "–"
    return f'{fmt(entry["rate"])} ({fmt(entry.get("ci_low"))}–{fmt(entry.get("ci_high"))})'


def _plain(value: Any, digits: int = 1) -> str:
    number = _num(value)
    return "–" if number is None else f"{number:.{digits}f}"


def _lift(entry: Mapping[str, Any] | None) -> str:
    if not entry or _num(entry.get("lift")) is None:
        return "– (no comparable touches)" if entry else "–"
    return f'{entry["lift"]:.2f}× ({_plain(entry.get("ci_low"), 2)}–{_plain(entry.get("ci_high"), 2)}; {entry.get("strata_used", 0)} strata)'


def _confidence(entries: Mapping[str, Any] | None) -> str:
    parts = []
    for pattern_type in PATTERN_TYPES:
        entry = (entries or {}).get(pattern_type)
        if entry:
            parts.append(f"{pattern_type.upper()} {entry['confidence']:.2f}")
    return ", ".join(parts) or "no run"


def kpi_section(report: Any) -> str:
    """The section's inner HTML (the caller wraps it in ``<section>``)."""
    document = getattr(report, "kpis", None)
    if not isinstance(document, Mapping) or not isinstance(document.get("weeks"), list):
        return ('<p class="empty">No business KPIs computed for this client yet: the next learning run computes them '
                '(`convintel learn`).</p>')
    weeks = [w for w in document["weeks"] if isinstance(w, Mapping)][-KPI_WEEKS_SHOWN:]
    rows = []
    for week in weeks:
        top = week.get("top_quintile") or {}
        rows.append(
            f'<tr{data_attrs(week=week.get("iso_week"), leads=week.get("leads"), conversions=week.get("conversions"), resolved=week.get("leads_with_outcome"))}>'
            f'<td>{escape(str(week.get("iso_week")))}</td>'
            f'<td>{week.get("leads", 0)} ({week.get("in_flight", 0)} in flight)</td>'
            f'<td>{week.get("conversions", 0)} / {week.get("leads_with_outcome", 0)}</td>'
            f'<td data-kpi="booking_rate">{escape(_rate(week.get("booking_rate")))}</td>'
            f'<td data-kpi="median_days">{_plain(week.get("median_days_to_convert"))}</td>'
            f'<td data-kpi="touches">{_plain(week.get("avg_touches_to_convert"))}</td>'
            f'<td data-kpi="multi_channel_lift">{escape(_lift(week.get("multi_channel_lift")))}</td>'
            f'<td data-kpi="top_quintile">{escape(_rate(top))}{" · " + escape(str(top.get("weights_source"))) + " weights" if top else ""}</td>'
            f'<td data-kpi="confidence">{escape(_confidence(week.get("pattern_confidence")))}</td></tr>')
    table = ('<table class="kpis"><thead><tr><th>cohort week</th><th>leads</th><th>booked / resolved</th>'
             '<th>booking rate (95% CI)</th><th>median days to book</th><th>touches to book</th>'
             '<th>multi-channel lift (≥ 2 vs 1 channel)</th><th>top-quintile rate</th><th>pattern confidence (runs that week)</th>'
             f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    bars = [Bar(f"kpi.week.{w.get('iso_week')}", str(w.get("iso_week")), _num((w.get("booking_rate") or {}).get("rate")),
                _num((w.get("booking_rate") or {}).get("ci_low")), _num((w.get("booking_rate") or {}).get("ci_high")),
                (w.get("booking_rate") or {}).get("sample"))
            for w in weeks if w.get("booking_rate")]
    chart = bar_chart(bars, title="booking rate per cohort week", empty_text="no cohort with a final outcome yet")
    health = document.get("learning_health") or {}
    stability = health.get("weight_stability") or {}
    latest = _confidence(health.get("latest_confidence"))
    facts = (f'<dl class="facts"><div><dt>weights converged</dt><dd data-fact="kpi.weights_converged">'
             f'{escape(str(stability.get("status", "–")))}</dd></div>'
             f'<div><dt>WHO runs</dt><dd data-fact="kpi.who_runs">{stability.get("runs", 0)}</dd></div>'
             f'<div><dt>latest confidence</dt><dd data-fact="kpi.latest_confidence">{escape(latest)}</dd></div></dl>')
    caption = escape(str(document.get("cohort_rule", "")))
    return (f'<div class="card wide"><h3>Learning health</h3>{facts}</div>'
            f'<figure class="card wide"><h3>Per cohort week</h3>{table}'
            f'<p class="caption">{caption}. Multi-channel lift: per-touch booking rate of leads that used ≥ 2 channels '
            'so far against single-channel leads at the same touch number, channel and first channel (Mantel–Haenszel). '
            'Top quintile: top 20% by ALS score under the weights in force at the start of the week.</p></figure>'
            f'<figure class="card wide"><h3>Booking rate per cohort week</h3>{chart}'
            '<p class="caption">Recent cohorts read high until their in-flight leads resolve.</p></figure>')

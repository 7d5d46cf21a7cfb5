"""The report's charts: small pure functions that turn numbers into inline SVG strings.

No JavaScript and no network: every chart is a self-contained ``<svg>`` element styled by the page's
inline CSS (classes ``c-*``). Every mark carries ``data-*`` attributes with the exact numbers it draws
(``repr`` of the float), so tests — and curious readers of the source — can check a picture against
the stored pattern. Intervals are always drawn (whiskers or bands) and sample sizes always written.
All text goes through ``html.escape``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # 0 = Monday, as int_touches
CHANNEL_COLOURS = {"email": "#4c78a8", "linkedin": "#f58518", "sms": "#54a24b", "voice": "#e45756", "call": "#e45756",
                   "phone": "#e45756", "mail": "#9467bd", "whatsapp": "#72b7b2"}
_FALLBACK_COLOURS = ("#b279a2", "#9d755d", "#eeca3b", "#79706e", "#ff9da6")
TAG_CLASSES = {"winning": "c-win", "effective": "c-win", "losing": "c-lose", "ineffective": "c-lose"}


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: a value with its 95% interval and the sample behind it."""

    key: str
    label: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    tag: str | None = None   # winning / losing / effective / ineffective / shipped ...: shown beside the value
    note: str = ""           # extra words after the numbers, e.g. "raw 12.1%"


@dataclass(frozen=True)
class Point:
    """One point of a curve (x is a touch number) with its interval and sample."""

    x: int
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    highlight: bool = False


@dataclass(frozen=True)
class Path:
    """One channel sequence (prefix) with its booking rate."""

    key: str
    steps: tuple[str, ...]
    rate: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    tag: str | None = None


def num(value: float | int | None) -> str:
    """A number as a data attribute: exact (repr), empty when missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: float | None, kind: str = "percent") -> str:
    """Human text for a value: percent (1 decimal), ratio (2 decimals) or number (1 decimal)."""
    if not _finite(value):
        return "–"
    if kind == "percent":
        return f"{value:.1%}"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "int":
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _interval(low, high, kind: str) -> str:
    if not (_finite(low) and _finite(high)):
        return ""
    if kind == "percent":
        return f" [{low * 100:.1f}–{high * 100:.1f}%]"
    return f" [{fmt(low, kind)}–{fmt(high, kind)}]"


def data_attrs(**values) -> str:
    """``data-foo-bar="..."`` for each keyword (underscores become dashes), values escaped."""
    parts = []
    for name, value in values.items():
        text = value if isinstance(value, str) else num(value)
        parts.append(f' data-{name.replace("_", "-")}="{escape(text, quote=True)}"')
    return "".join(parts)


def channel_colour(channel: str) -> str:
    if channel in CHANNEL_COLOURS:
        return CHANNEL_COLOURS[channel]
    return _FALLBACK_COLOURS[sum(map(ord, channel)) % len(_FALLBACK_COLOURS)]


def _svg(width: float, height: float, body: str, label: str, cls: str) -> str:
    return (f'<svg class="chart {cls}" role="img" aria-label="{escape(label, quote=True)}" '
            f'viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}" '
            f'xmlns="http://www.w3.org/2000/svg">{body}</svg>')


def _empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def _nice_max(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k at or above ``value`` (axis end)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = step * 10 ** exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10 ** (exponent + 1)


def bar_chart(
    bars: Sequence[Bar],
    *,
    kind: str = "percent",
    value_attr: str = "rate",
    scale_max: float | None = None,
    reference: float | None = None,
    reference_label: str = "baseline",
    label_width: int = 160,
    plot_width: int = 250,
    text_width: int = 240,
    row_height: int = 24,
    title: str = "bar chart",
    empty_text: str = "nothing to show",
) -> str:
    """Horizontal bars (value) with interval whiskers (ci_low–ci_high), written value, interval and n.

    Bar width = value / scale_max × plot_width; scale_max defaults to a round number above the largest
    value, interval end or reference line."""
    bars = [b for b in bars if _finite(b.value)]
    if not bars:
        return _empty(empty_text)
    top, axis = 6, 18
    if scale_max is None:
        tops = [b.value for b in bars] + [b.ci_high for b in bars if _finite(b.ci_high)]
        if _finite(reference):
            tops.append(reference)
        scale_max = _nice_max(max(tops))

    def x(value: float) -> float:
        return label_width + max(0.0, min(value, scale_max)) / scale_max * plot_width

    height = top + len(bars) * row_height + axis
    parts = []
    for i in range(5):  # grid and axis ticks
        tick = scale_max * i / 4
        gx = x(tick)
        parts.append(f'<line class="c-grid" x1="{gx:.2f}" y1="{top}" x2="{gx:.2f}" y2="{height - axis}"/>'
                     f'<text class="c-axis" x="{gx:.2f}" y="{height - 5}" text-anchor="middle">{escape(fmt(tick, kind if kind != "int" else "number"))}</text>')
    for i, bar in enumerate(bars):
        y = top + i * row_height
        mid = y + row_height / 2
        width = x(bar.value) - label_width
        tag_cls = TAG_CLASSES.get(bar.tag or "", "")
        text = fmt(bar.value, kind) + _interval(bar.ci_low, bar.ci_high, kind)
        if bar.n is not None:
            text += f"  n={bar.n:,}"
        if bar.note:
            text += f"  {bar.note}"
        label = bar.label if len(bar.label) <= 21 else bar.label[:20] + "…"
        whisker = ""
        if _finite(bar.ci_low) and _finite(bar.ci_high):
            x1, x2 = x(bar.ci_low), x(bar.ci_high)
            whisker = (f'<line class="c-whisker" x1="{x1:.2f}" y1="{mid:.2f}" x2="{x2:.2f}" y2="{mid:.2f}"/>'
                       f'<line class="c-whisker" x1="{x1:.2f}" y1="{mid - 4:.2f}" x2="{x1:.2f}" y2="{mid + 4:.2f}"/>'
                       f'<line class="c-whisker" x1="{x2:.2f}" y1="{mid - 4:.2f}" x2="{x2:.2f}" y2="{mid + 4:.2f}"/>')
        tag = f'<tspan class="{tag_cls or "c-tag"}"> {escape(bar.tag)}</tspan>' if bar.tag else ""
        parts.append(
            f'<g class="c-bar {tag_cls}"{data_attrs(key=bar.key, **{value_attr: bar.value}, ci_low=bar.ci_low, ci_high=bar.ci_high, n=bar.n, tag=bar.tag or "")}>'
            f'<title>{escape(bar.label)}: {escape(text)}</title>'
            f'<text class="c-label" x="{label_width - 8}" y="{mid + 4:.2f}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="c-rect" x="{label_width}" y="{y + 5:.2f}" width="{width:.2f}" height="{row_height - 10}"/>'
            f'{whisker}'
            f'<text class="c-value" x="{label_width + plot_width + 8}" y="{mid + 4:.2f}">{escape(text)}{tag}</text></g>'
        )
    if _finite(reference):
        rx = x(reference)
        parts.append(f'<g class="c-reference"{data_attrs(value=reference)}><line class="c-ref" x1="{rx:.2f}" y1="{top - 4}" '
                     f'x2="{rx:.2f}" y2="{height - axis}"/><title>{escape(reference_label)} {escape(fmt(reference, kind))}</title></g>')
    return _svg(label_width + plot_width + text_width, height, "".join(parts), title, "c-bars")


def forest_plot(
    bars: Sequence[Bar],
    *,
    label_width: int = 160,
    plot_width: int = 240,
    text_width: int = 280,
    row_height: int = 24,
    title: str = "lift",
    empty_text: str = "no lift to show",
) -> str:
    """Lifts (ratios) on a log axis with interval whiskers and the 1.0 reference line (no effect)."""
    bars = [b for b in bars if _finite(b.value) and b.value > 0]
    if not bars:
        return _empty(empty_text)
    lows = [b.ci_low for b in bars if _finite(b.ci_low) and b.ci_low > 0] + [b.value for b in bars]
    highs = [b.ci_high for b in bars if _finite(b.ci_high)] + [b.value for b in bars]
    low_end = min(0.5, min(lows) / 1.1)
    high_end = max(2.0, max(highs) * 1.1)
    span = math.log(high_end) - math.log(low_end)

    def x(value: float) -> float:
        value = min(max(value, low_end), high_end)
        return label_width + (math.log(value) - math.log(low_end)) / span * plot_width

    top, axis = 6, 18
    height = top + len(bars) * row_height + axis
    parts = []
    last_tick = -math.inf
    for tick in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0):
        if low_end <= tick <= high_end and (x(tick) - last_tick >= 26 or tick == 1.0):
            gx = last_tick = x(tick)
            parts.append(f'<line class="c-grid" x1="{gx:.2f}" y1="{top}" x2="{gx:.2f}" y2="{height - axis}"/>'
                         f'<text class="c-axis" x="{gx:.2f}" y="{height - 5}" text-anchor="middle">{tick:g}×</text>')
    rx = x(1.0)
    parts.append(f'<line class="c-ref c-ref-one" data-value="1.0" x1="{rx:.2f}" y1="{top - 4}" x2="{rx:.2f}" y2="{height - axis}"/>')
    for i, bar in enumerate(bars):
        y = top + i * row_height
        mid = y + row_height / 2
        tag_cls = TAG_CLASSES.get(bar.tag or "", "")
        text = f"{bar.value:.2f}×" + _interval(bar.ci_low, bar.ci_high, "ratio")
        if bar.n is not None:
            text += f"  n={bar.n:,}"
        if bar.note:
            text += f"  {bar.note}"
        whisker = ""
        if _finite(bar.ci_low) and _finite(bar.ci_high):
            x1, x2 = x(max(bar.ci_low, 1e-9)), x(bar.ci_high)
            whisker = (f'<line class="c-whisker" x1="{x1:.2f}" y1="{mid:.2f}" x2="{x2:.2f}" y2="{mid:.2f}"/>'
                       f'<line class="c-whisker" x1="{x1:.2f}" y1="{mid - 4:.2f}" x2="{x1:.2f}" y2="{mid + 4:.2f}"/>'
                       f'<line class="c-whisker" x1="{x2:.2f}" y1="{mid - 4:.2f}" x2="{x2:.2f}" y2="{mid + 4:.2f}"/>')
        px = x(bar.value)
        tag = f'<tspan class="{tag_cls or "c-tag"}"> {escape(bar.tag)}</tspan>' if bar.tag else ""
        parts.append(
            f'<g class="c-lift {tag_cls}"{data_attrs(key=bar.key, lift=bar.value, ci_low=bar.ci_low, ci_high=bar.ci_high, n=bar.n, tag=bar.tag or "")}>'
            f'<title>{escape(bar.label)}: {escape(text)}</title>'
            f'<text class="c-label" x="{label_width - 8}" y="{mid + 4:.2f}" text-anchor="end">{escape(bar.label if len(bar.label) <= 21 else bar.label[:20] + "…")}</text>'
            f'{whisker}<rect class="c-point" x="{px - 4:.2f}" y="{mid - 4:.2f}" width="8" height="8"/>'
            f'<text class="c-value" x="{label_width + plot_width + 8}" y="{mid + 4:.2f}">{escape(text)}{tag}</text></g>'
        )
    return _svg(label_width + plot_width + text_width, height, "".join(parts), title, "c-forest")


def _heat_colour(share: float) -> str:
    """White-blue sequential scale, share in [0, 1]."""
    share = min(max(share, 0.0), 1.0)
    low, high = (239, 243, 255), (8, 69, 148)
    r, g, b = (round(a + (c - a) * share) for a, c in zip(low, high))
    return f"rgb({r},{g},{b})"


def heat_map(
    cells: Mapping[tuple[int, int], tuple[int, int]],
    *,
    min_touches: int = 20,
    cell_width: int = 34,
    cell_height: int = 24,
    title: str = "day × hour",
) -> str:
    """Local day (rows, Mon..Sun) × hour (columns, 0..23): always 7 × 24 cells.

    ``cells[(day, hour)] = (touches, bookings)``; the colour is the per-touch booking rate relative to
    the highest rate among cells with at least ``min_touches`` touches. Thinner cells are drawn pale and
    hatched-looking (class ``c-thin``): their rate is noise."""
    left, top = 40, 20
    rated = [b / t for (t, b) in cells.values() if t >= min_touches]
    max_rate = max(rated) if rated and max(rated) > 0 else 1.0
    parts = []
    for hour in range(24):
        if hour % 3 == 0:
            parts.append(f'<text class="c-axis" x="{left + hour * cell_width + cell_width / 2:.1f}" y="{top - 6}" '
                         f'text-anchor="middle">{hour:02d}h</text>')
    for day in range(7):
        y = top + day * cell_height
        parts.append(f'<text class="c-label" x="{left - 6}" y="{y + cell_height / 2 + 4:.1f}" text-anchor="end">{DAY_NAMES[day]}</text>')
        for hour in range(24):
            touches, bookings = cells.get((day, hour), (0, 0))
            rate = bookings / touches if touches else None
            if not touches:
                fill, cls = "#f4f4f4", "c-cell c-none"
            elif touches < min_touches:
                fill, cls = "#e4e4e4", "c-cell c-thin"
            else:
                fill, cls = _heat_colour(rate / max_rate), "c-cell"
            tip = (f"{DAY_NAMES[day]} {hour:02d}:00 local — {bookings} booked of {touches} touches"
                   + (f" ({rate:.1%})" if rate is not None else ""))
            parts.append(
                f'<rect class="{cls}"{data_attrs(day=day, hour=hour, touches=touches, bookings=bookings, rate=rate)} '
                f'x="{left + hour * cell_width}" y="{y}" width="{cell_width - 2}" height="{cell_height - 2}" fill="{fill}">'
                f'<title>{escape(tip)}</title></rect>'
            )
    legend_y = top + 7 * cell_height + 10
    for i in range(6):
        parts.append(f'<rect x="{left + i * 30}" y="{legend_y}" width="30" height="10" fill="{_heat_colour(i / 5)}"/>')
    parts.append(f'<text class="c-axis" x="{left}" y="{legend_y + 24}">0%</text>'
                 f'<text class="c-axis" x="{left + 180}" y="{legend_y + 24}" text-anchor="end">{escape(fmt(max_rate))}</text>'
                 f'<rect x="{left + 200}" y="{legend_y}" width="14" height="10" fill="#e4e4e4"/>'
                 f'<text class="c-axis" x="{left + 218}" y="{legend_y + 9}">fewer than {min_touches} touches</text>'
                 f'<rect x="{left + 360}" y="{legend_y}" width="14" height="10" fill="#f4f4f4" stroke="#ccc"/>'
                 f'<text class="c-axis" x="{left + 378}" y="{legend_y + 9}">no touches</text>')
    return _svg(left + 24 * cell_width + 10, legend_y + 30, "".join(parts), title, "c-heat")


def hazard_curve(
    points: Sequence[Point],
    *,
    width: int = 760,
    height: int = 250,
    title: str = "booking hazard by touch",
    empty_text: str = "no hazard to show",
) -> str:
    """P(booking at touch k | reached k) as a line with its 95% interval as a band; n under each touch.

    The highlighted point (the peak converting touch) is marked and labelled."""
    points = sorted((p for p in points if _finite(p.value)), key=lambda p: p.x)
    if not points:
        return _empty(empty_text)
    left, right, top, bottom = 60, 24, 14, 46
    pad = 24  # keeps the first and last touch clear of the axis labels
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice_max(max([p.value for p in points] + [p.ci_high for p in points if _finite(p.ci_high)]))
    step = (plot_w - 2 * pad) / max(len(points) - 1, 1)

    def px(i: int) -> float:
        return left + pad + (i * step if len(points) > 1 else plot_w / 2 - pad)

    def py(value: float) -> float:
        return top + plot_h - max(0.0, min(value, y_max)) / y_max * plot_h

    parts = []
    for i in range(5):
        tick = y_max * i / 4
        parts.append(f'<line class="c-grid" x1="{left}" y1="{py(tick):.2f}" x2="{width - right}" y2="{py(tick):.2f}"/>'
                     f'<text class="c-axis" x="{left - 6}" y="{py(tick) + 4:.2f}" text-anchor="end">{escape(fmt(tick))}</text>')
    banded = [(i, p) for i, p in enumerate(points) if _finite(p.ci_low) and _finite(p.ci_high)]
    if banded:
        upper = " ".join(f"{px(i):.2f},{py(p.ci_high):.2f}" for i, p in banded)
        lower = " ".join(f"{px(i):.2f},{py(p.ci_low):.2f}" for i, p in reversed(banded))
        parts.append(f'<polygon class="c-band" points="{upper} {lower}"/>')
    parts.append('<polyline class="c-line" points="' + " ".join(f"{px(i):.2f},{py(p.value):.2f}" for i, p in enumerate(points)) + '"/>')
    for i, p in enumerate(points):
        cls = "c-dot c-peak" if p.highlight else "c-dot"
        tip = f"touch {p.x}: {fmt(p.value)}{_interval(p.ci_low, p.ci_high, 'percent')} of {p.n} leads that reached it"
        parts.append(
            f'<g class="c-hazard"{data_attrs(touch=p.x, hazard=p.value, ci_low=p.ci_low, ci_high=p.ci_high, n=p.n, peak=p.highlight)}>'
            f'<circle class="{cls}" cx="{px(i):.2f}" cy="{py(p.value):.2f}" r="{5 if p.highlight else 3.5}"><title>{escape(tip)}</title></circle>'
            f'<text class="c-axis" x="{px(i):.2f}" y="{top + plot_h + 16}" text-anchor="middle">{p.x}</text>'
            f'<text class="c-n" x="{px(i):.2f}" y="{top + plot_h + 29}" text-anchor="middle">{p.n if p.n is not None else ""}</text></g>'
        )
        if p.highlight:
            anchor = "start" if i == 0 and len(points) > 1 else "end" if i == len(points) - 1 and len(points) > 1 else "middle"
            parts.append(f'<text class="c-annot" x="{px(i):.2f}" y="{py(p.ci_high if _finite(p.ci_high) else p.value) - 6:.2f}" '
                         f'text-anchor="{anchor}">peak: touch {p.x}, {escape(fmt(p.value))}</text>')
    parts.append(f'<text class="c-axis" x="{left - 6}" y="{top + plot_h + 16}" text-anchor="end">touch</text>'
                 f'<text class="c-axis" x="{left - 6}" y="{top + plot_h + 29}" text-anchor="end">n</text>')
    return _svg(width, height, "".join(parts), title, "c-hazard-curve")


def path_bars(
    paths: Sequence[Path],
    *,
    chip_width: int = 72,
    max_steps: int = 6,
    plot_width: int = 220,
    text_width: int = 250,
    row_height: int = 26,
    title: str = "channel paths",
    empty_text: str = "no channel paths to show",
) -> str:
    """Ranked channel paths: each row is the sequence as coloured chips (→) and its booking rate bar
    with interval whisker and n — a readable stand-in for a flow diagram."""
    paths = [p for p in paths if _finite(p.rate) and p.steps]
    if not paths:
        return _empty(empty_text)
    top, axis = 6, 18
    left = max_steps * chip_width + 10
    scale_max = _nice_max(max([p.rate for p in paths] + [p.ci_high for p in paths if _finite(p.ci_high)]))

    def x(value: float) -> float:
        return left + max(0.0, min(value, scale_max)) / scale_max * plot_width

    height = top + len(paths) * row_height + axis
    parts = []
    for i in range(5):
        tick = scale_max * i / 4
        parts.append(f'<line class="c-grid" x1="{x(tick):.2f}" y1="{top}" x2="{x(tick):.2f}" y2="{height - axis}"/>'
                     f'<text class="c-axis" x="{x(tick):.2f}" y="{height - 5}" text-anchor="middle">{escape(fmt(tick))}</text>')
    for i, path in enumerate(paths):
        y = top + i * row_height
        mid = y + row_height / 2
        chips = []
        for j, step in enumerate(path.steps[:max_steps]):
            cx = j * chip_width
            chips.append(f'<rect class="c-chip" x="{cx}" y="{y + 3}" width="{chip_width - 12}" height="{row_height - 6}" rx="4" '
                         f'fill="{channel_colour(step)}"/><text class="c-chip-text" x="{cx + (chip_width - 12) / 2:.1f}" '
                         f'y="{mid + 4:.2f}" text-anchor="middle">{escape(step[:8])}</text>')
            if j < len(path.steps[:max_steps]) - 1:
                chips.append(f'<text class="c-arrow" x="{cx + chip_width - 6:.1f}" y="{mid + 4:.2f}" text-anchor="middle">›</text>')
        tag_cls = TAG_CLASSES.get(path.tag or "", "")
        text = fmt(path.rate) + _interval(path.ci_low, path.ci_high, "percent") + (f"  n={path.n:,}" if path.n is not None else "")
        whisker = ""
        if _finite(path.ci_low) and _finite(path.ci_high):
            whisker = f'<line class="c-whisker" x1="{x(path.ci_low):.2f}" y1="{mid:.2f}" x2="{x(path.ci_high):.2f}" y2="{mid:.2f}"/>'
        tag = f'<tspan class="{tag_cls or "c-tag"}"> {escape(path.tag)}</tspan>' if path.tag else ""
        parts.append(
            f'<g class="c-path {tag_cls}"{data_attrs(key=path.key, sequence=">".join(path.steps), rate=path.rate, ci_low=path.ci_low, ci_high=path.ci_high, n=path.n, tag=path.tag or "")}>'
            f'<title>{escape(" → ".join(path.steps))}: {escape(text)}</title>{"".join(chips)}'
            f'<rect class="c-rect" x="{left}" y="{y + 6:.2f}" width="{x(path.rate) - left:.2f}" height="{row_height - 12}"/>{whisker}'
            f'<text class="c-value" x="{left + plot_width + 8}" y="{mid + 4:.2f}">{escape(text)}{tag}</text></g>'
        )
    return _svg(left + plot_width + text_width, height, "".join(parts), title, "c-paths")


def attribution_bars(
    channels: Sequence[tuple[str, float | None, float | None]],
    *,
    title: str = "Markov attribution",
    empty_text: str = "no attribution to show",
) -> str:
    """Markov attribution per channel: bar = attributed conversions, text = removal effect.

    ``channels`` = ``(channel, attributed_conversions, removal_effect)``."""
    bars = [Bar(key=f"how.markov.{channel}", label=channel, value=attributed, note=f"removal effect {fmt(removal, 'ratio')}")
            for channel, attributed, removal in channels if _finite(attributed)]
    svg = bar_chart(bars, kind="number", value_attr="attributed", title=title, empty_text=empty_text)
    # The removal effect travels as its own attribute on each bar (tests and readers check both numbers).
    for channel, attributed, removal in channels:
        if _finite(attributed):
            marker = f'data-key="{escape(f"how.markov.{channel}", quote=True)}"'
            svg = svg.replace(marker, f'{marker} data-removal-effect="{num(removal)}"', 1)
    return svg

"""The report's SVG chart functions: exact positions, counts and escaping on small hand-made inputs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from convintel.report.charts import (
    Bar,
    Path,
    Point,
    _nice_max,
    attribution_bars,
    bar_chart,
    forest_plot,
    hazard_curve,
    heat_map,
    path_bars,
)


class Elements(HTMLParser):
    """Every start tag as (tag, attrs dict), in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def having(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if (tag is None or t == tag)
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def _groups(svg: str, cls: str) -> list[str]:
    return re.findall(rf'<g class="{cls}[^"]*".*?</g>', svg)


def test_nice_max_picks_a_round_axis_end() -> None:
    assert [_nice_max(v) for v in (0.351, 0.4, 0.041, 7.0, 0.0)] == [0.4, 0.4, 0.05, 8.0, 1.0]


def test_bar_widths_are_proportional_to_values_and_whiskers_sit_at_the_interval() -> None:
    bars = [Bar("k.a", "a", 0.1, 0.05, 0.2, 40), Bar("k.b", "b", 0.2, 0.1, 0.3, 80, "winning"),
            Bar("k.c", "c", 0.4, None, None, 5)]
    svg = bar_chart(bars, scale_max=0.5, label_width=100, plot_width=250)
    rects = re.findall(r'<rect class="c-rect" x="100" y="[\d.]+" width="([\d.]+)"', svg)
    assert [float(w) for w in rects] == [50.0, 100.0, 200.0]
    first = _groups(svg, "c-bar")[0]
    whisker = re.search(r'<line class="c-whisker" x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"', first)
    assert (float(whisker[1]), float(whisker[2])) == (125.0, 200.0)  # 100 + 0.05/0.5*250, 100 + 0.2/0.5*250
    assert "c-whisker" not in _groups(svg, "c-bar")[2]  # no interval, no whisker
    parsed = Elements(svg)
    [b] = parsed.having("g", data_key="k.b")
    assert (b["data-rate"], b["data-ci-low"], b["data-ci-high"], b["data-n"], b["data-tag"]) == ("0.2", "0.1", "0.3", "80", "winning")
    assert "20.0% [10.0–30.0%]  n=80" in svg and "c-win" in b["class"]


def test_bar_chart_scale_reference_line_and_empty_input() -> None:
    svg = bar_chart([Bar("k", "a", 0.1, 0.05, 0.35, 10)], reference=0.12, label_width=100, plot_width=200)
    # axis end: the interval's upper end 0.35 rounds up to 0.4; the baseline sits at 100 + 0.12/0.4*200
    assert re.search(r'<line class="c-ref" x1="160.00"', svg)
    assert bar_chart([Bar("k", "a", None)], empty_text="nothing here") == '<p class="empty">nothing here</p>'


def test_forest_plot_is_logarithmic_around_the_one_line() -> None:
    svg = forest_plot([Bar("l.one", "one", 1.0, 0.5, 2.0, 10), Bar("l.two", "two", 2.0, 1.0, 4.0, 20)],
                      label_width=100, plot_width=240)
    one_line = float(re.search(r'class="c-ref c-ref-one" data-value="1.0" x1="([\d.]+)"', svg)[1])
    points = [float(x) + 4 for x in re.findall(r'<rect class="c-point" x="([\d.]+)"', svg)]
    assert points[0] == pytest.approx(one_line, abs=0.01)
    # equal ratios are equal distances on a log axis: 0.5→1 = 1→2 = 2→4
    whiskers = [(float(a), float(b)) for a, b in re.findall(r'<line class="c-whisker" x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"', svg)[::3]]
    assert whiskers[0][1] - one_line == pytest.approx(one_line - whiskers[0][0], abs=0.02)
    assert whiskers[1][0] == pytest.approx(one_line, abs=0.01) and points[1] == pytest.approx(whiskers[0][1], abs=0.02)
    assert Elements(svg).having("g", data_key="l.two")[0]["data-lift"] == "2.0"


def test_heat_map_always_has_7_by_24_cells_with_their_counts() -> None:
    cells = {(0, 9): (40, 4), (3, 14): (25, 5), (6, 23): (3, 1)}
    svg = heat_map(cells, min_touches=20)
    parsed = Elements(svg)
    rects = [a for t, a in parsed.elements if t == "rect" and "c-cell" in a.get("class", "")]
    assert len(rects) == 168
    assert {(a["data-day"], a["data-hour"]) for a in rects} == {(str(d), str(h)) for d in range(7) for h in range(24)}
    [busy] = parsed.having("rect", data_day="3", data_hour="14")
    assert (busy["data-touches"], busy["data-bookings"], busy["data-rate"], busy["fill"]) == ("25", "5", "0.2", "rgb(8,69,148)")
    [thin] = parsed.having("rect", data_day="6", data_hour="23")
    assert thin["class"] == "c-cell c-thin"   # 3 touches: drawn pale, not coloured by its noisy rate
    assert sum(int(a["data-touches"]) for a in rects) == 68
    assert "Thu 14:00 local — 5 booked of 25 touches (20.0%)" in svg


def test_hazard_curve_marks_the_peak_and_draws_the_band() -> None:
    points = [Point(1, 0.02, 0.01, 0.03, 1000), Point(2, 0.04, 0.03, 0.05, 800, highlight=True), Point(3, 0.01, 0.0, 0.02, 500)]
    svg = hazard_curve(points)
    parsed = Elements(svg)
    [peak] = parsed.having("g", data_peak="true")
    assert (peak["data-touch"], peak["data-hazard"], peak["data-n"]) == ("2", "0.04", "800")
    assert len(parsed.having("g", data_peak="false")) == 2
    assert len(re.search(r'<polygon class="c-band" points="([^"]+)"', svg)[1].split()) == 6
    assert "peak: touch 2, 4.0%" in svg and ">800<" in svg


def test_path_bars_draw_one_chip_per_step() -> None:
    svg = path_bars([Path("p.1", ("email", "linkedin", "sms"), 0.2, 0.1, 0.3, 50, "winning"), Path("p.2", ("email",), 0.1, n=9)])
    parsed = Elements(svg)
    assert [g["data-sequence"] for g in parsed.having("g") if "data-sequence" in g] == ["email>linkedin>sms", "email"]
    assert svg.count('class="c-chip"') == 4 and svg.count('class="c-arrow"') == 2


def test_attribution_bars_carry_both_numbers() -> None:
    svg = attribution_bars([("email", 37.5, 0.875), ("sms", 2.5, 0.125), ("fax", None, None)])
    parsed = Elements(svg)
    [email] = parsed.having("g", data_key="how.markov.email")
    assert (email["data-attributed"], email["data-removal-effect"]) == ("37.5", "0.875")
    assert not parsed.having("g", data_key="how.markov.fax")


def test_hostile_text_is_escaped_everywhere() -> None:
    hostile = '<script>alert("x")</script>'
    svgs = [bar_chart([Bar(hostile, hostile, 0.1, 0.0, 0.2, 3, tag=hostile, note=hostile)]),
            forest_plot([Bar(hostile, hostile, 1.5, 1.0, 2.0, 3, tag=hostile)]),
            path_bars([Path(hostile, (hostile, "email"), 0.1)]),
            attribution_bars([(hostile, 1.0, 0.5)]),
            bar_chart([], empty_text=hostile)]
    for svg in svgs:
        assert "<script" not in svg and "&lt;script" in svg

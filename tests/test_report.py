"""The pattern report end to end: a synthetic world, one real learning run, the report of each client
read back from the database and checked against the stored patterns; the CLI; and a headless Chromium
that loads the served page, reports no console errors and saves a screenshot (.convintel/artefacts)."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from dagster import materialize
from typer.testing import CliRunner

from convintel.cli import app
from convintel.report import build_report_html
from convintel.report.charts import num
from convintel.synth import generate
from dagster_pipelines.assets.dbt import dbt_models
from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
from dagster_pipelines.health.rules import Finding
from dagster_pipelines.health.store import record_run
from dagster_pipelines.pattern_store import store_client_results
from dagster_pipelines.resources import build_resources
from detectors.result import DetectorResult
from test_report_charts import Elements

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
HOSTILE_NAME = '<script>alert("x")</script> & Sons'
PREVIOUS_WHO = {"type": "who", "title_rankings": {"by_title": [{"category": "previous_top_title", "rank": 1}]},
                "recommended_weights": {"data_quality": 0.10, "authority": 0.45, "company_fit": 0.15, "timing": 0.15,
                                        "source": "learned"}}
ARTEFACTS = Path(__file__).resolve().parents[1] / ".convintel" / "artefacts"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def world(module_db_url: str) -> dict:
    """One client with enough data (renamed to a hostile name), one too small; an earlier WHO pattern for
    drift; one learning run; one health run with a finding per client."""
    url = module_db_url
    generate(url, clients=1, leads=1500, seed=41, as_of=AS_OF)
    with psycopg.connect(url, autocommit=True) as conn:
        big = conn.execute("select id from clients").fetchone()[0]
        conn.execute("update clients set name = %s where id = %s", (HOSTILE_NAME, big))
    generate(url, clients=1, leads=30, seed=42, as_of=AS_OF)
    with psycopg.connect(url, autocommit=True) as conn:
        small = conn.execute("select id from clients where id <> %s", (big,)).fetchone()[0]
        store_client_results(conn, big, [DetectorResult(big, "who", PREVIOUS_WHO, 100, 0.6)],
                             run_id=uuid.uuid4(), computed_at=AS_OF)
    result = materialize([dbt_models, *DETECTOR_ASSETS, conversion_patterns], resources=build_resources(url, "analytics"))
    assert result.success
    with psycopg.connect(url, autocommit=True) as conn:
        record_run(conn, run_id=uuid.uuid4(), checked_at=datetime.now(timezone.utc), clients_checked=2, patterns_checked=3,
                   findings=[Finding("small_sample", "medium", "finding for the big client", big, "who"),
                             Finding("missing_type", "medium", "finding for the small client", small, "how")],
                   expectations_evaluated=0, expectations_failed=0, data_docs_path=None, dagster_run_id=None)
        conn.execute("select set_config('app.client_ids', %s, false)", (f"{big},{small}",))
        stored = {(r[0], r[1]): r[2] for r in conn.execute("select client_id, pattern_type, patterns from conversion_patterns")}
    return {"url": url, "big": big, "small": small, "stored": stored,
            "big_html": build_report_html(url, big, dbt_schema="analytics"),
            "small_html": build_report_html(url, small, dbt_schema="analytics")}


def _top(entries: list[dict]) -> dict:
    return next(e for e in entries if e.get("rank") == 1)


def _keys(parsed: Elements, prefix: str) -> list[dict[str, str]]:
    return [a for t, a in parsed.elements if a.get("data-key", "").startswith(prefix)]


def test_who_numbers_match_the_stored_pattern(world: dict) -> None:
    who = world["stored"][(world["big"], "who")]
    parsed = Elements(world["big_html"])
    top = _top(who["title_rankings"]["by_title"])
    first = _keys(parsed, "who.title.")[0]
    assert first["data-key"] == f"who.title.{top['category']}"
    assert (first["data-rate"], first["data-ci-low"], first["data-ci-high"], first["data-n"]) == (
        num(top["rate"]), num(top["ci_low"]), num(top["ci_high"]), str(top["sample"]))
    assert len(_keys(parsed, "who.industry.")) == min(12, len(who["industry_rankings"]))
    for component in ("data_quality", "authority", "company_fit", "timing"):
        [row] = parsed.having("tr", data_key=f"who.weight.{component}")
        assert row["data-weight"] == num(who["recommended_weights"][component])
    [auc] = parsed.having("dd", data_fact="who.cv_auc_learned")
    assert f"{who['weights_validation']['cv_auc_learned']:.3f}" in world["big_html"]
    assert parsed.having("table", data_source=who["recommended_weights"]["source"])
    assert auc is not None


def test_when_numbers_match_the_stored_pattern(world: dict) -> None:
    when = world["stored"][(world["big"], "when")]
    parsed = Elements(world["big_html"])
    peak = when["peak_converting_touch"]
    [point] = parsed.having("g", data_peak="true")
    assert (point["data-touch"], point["data-hazard"], point["data-n"]) == (
        str(peak["touch_number"]), num(peak["hazard"]), str(peak["leads_reached"]))
    assert len([a for t, a in parsed.elements if "data-touch" in a]) == len(when["touch_hazard"])
    cells = [a for t, a in parsed.elements if t == "rect" and "data-hour" in a]
    assert len(cells) == 168
    # the heat map's counts come from the dbt mart, the pattern's from the detector: the same touches
    assert sum(int(c["data-touches"]) for c in cells) == when["touches"]
    assert sum(int(c["data-bookings"]) for c in cells) == when["conversions"]
    day = _top(when["best_days"])
    assert _keys(parsed, "when.day.")[0]["data-lift"] == num(day["adjusted_lift"])


def test_how_numbers_match_the_stored_pattern(world: dict) -> None:
    how = world["stored"][(world["big"], "how")]
    parsed = Elements(world["big_html"])
    [best] = parsed.having("dd", data_fact="how.best_first_channel")
    first = _keys(parsed, "how.first.")[0]
    best_entry = _top(list(how["first_touch_effectiveness"].values()))
    assert first["data-key"] == f"how.first.{best_entry['channel']}" and best_entry["channel"] == how["best_first_channel"]
    assert first["data-rate"] == num(best_entry["rate"]) and first["data-n"] == str(best_entry["sample"])
    assert f'data-fact="how.best_first_channel">{how["best_first_channel"]}<' in world["big_html"] and best
    assert f'data-fact="glance.how.first">{how["best_first_channel"]} · {best_entry["rate"]:.1%} (n={best_entry["sample"]})<' in world["big_html"]
    for entry in how["booking_channel_distribution"]:
        [bar] = parsed.having("g", data_key=f"how.booking.{entry['channel']}")
        assert (bar["data-share"], bar["data-n"]) == (num(entry["share"]), str(entry["bookings"]))
    channels = how["markov_attribution"]["channels"]
    assert channels
    for channel in channels:
        [bar] = parsed.having("g", data_key=f"how.markov.{channel['channel']}")
        assert (bar["data-attributed"], bar["data-removal-effect"]) == (
            num(channel["attributed_conversions"]), num(channel["removal_effect"]))
    for bucket, entry in how["multi_channel_lift"].items():
        shown = parsed.having("g", data_key=f"how.lift.{bucket}")
        if bucket == "1_channel" or entry["lift_vs_1_channel"] is None:
            assert not shown
        else:
            assert shown[0]["data-lift"] == num(entry["lift_vs_1_channel"]) and shown[0]["data-n"] == str(entry["sample"])
    assert len(_keys(parsed, "how.path.")) == min(10, len(how["winning_sequences"]))


def test_drift_health_scope_and_escaping(world: dict) -> None:
    html, who = world["big_html"], world["stored"][(world["big"], "who")]
    parsed = Elements(html)
    [top_title] = parsed.having("li", data_item="top_title")
    assert (top_title["data-previous"], top_title["data-current"]) == (
        "previous_top_title", _top(who["title_rankings"]["by_title"])["category"])
    [authority] = parsed.having("li", data_item="weight.authority")
    assert (authority["data-previous"], authority["data-current"]) == ("0.45", num(who["recommended_weights"]["authority"]))
    moved = abs(0.45 - who["recommended_weights"]["authority"]) > 0.15
    assert ("weight authority moved 0.45" in html) == moved
    assert "finding for the big client" in html and "finding for the small client" not in html
    assert "finding for the small client" in world["small_html"] and "finding for the big client" not in world["small_html"]
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons" in html
    assert not parsed.having(data_insufficient="true")


def test_what_numbers_match_the_stored_pattern_or_its_absence_is_explained(world: dict) -> None:
    parsed = Elements(world["big_html"])
    what = world["stored"].get((world["big"], "what"))
    if what is None:  # a branch without the WHAT detector: the section says so instead of drawing nothing
        [missing] = parsed.having("div", data_missing="what")
        assert missing is not None and "No WHAT pattern for this client." in world["big_html"]
        return
    assert not parsed.having("div", data_missing="what")
    top = _top(what["pain_points"]["rankings"])
    first = _keys(parsed, "what.pain_point.")[0]
    assert first["data-key"] == f"what.pain_point.{top['category']}"
    assert (first["data-lift"], first["data-ci-low"], first["data-ci-high"], first["data-n"]) == (
        num(top["adjusted_lift"]), num(top["adjusted_lift_ci_low"]), num(top["adjusted_lift_ci_high"]), str(top["sample"]))
    for channel, entry in what["optimal_length"].items():
        if entry and entry.get("bin"):
            [chosen] = parsed.having("g", data_key=f"what.length.{channel}.{entry['bin']}")
            assert chosen["data-tag"] == "optimal"


def test_too_little_data_says_so(world: dict) -> None:
    html = world["small_html"]
    parsed = Elements(html)
    assert parsed.having("section", data_insufficient="true")
    reasons = {li["data-missing"] for li in parsed.having("li") if "data-missing" in li}
    assert reasons == {"who", "what", "when", "how"}
    assert re.search(r"<strong>WHO</strong>: not enough data: \d+ conversions \(needs 10\)", html)
    assert "<svg" not in html


def test_no_network_references(world: dict) -> None:
    for html in (world["big_html"], world["small_html"]):
        assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
        assert not re.search(r"<link\b|@import|url\(", html, re.I)


def test_cli_writes_the_report(world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", world["url"])
    monkeypatch.setenv("DBT_SCHEMA", "analytics")
    out = tmp_path / "nested" / "report.html"
    result = CliRunner().invoke(app, ["report", HOSTILE_NAME, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f'data-client-id="{world["big"]}"' in out.read_text()
    missing = CliRunner().invoke(app, ["report", "no such client", "--out", str(out)])
    assert missing.exit_code == 2 and "no client" in missing.output


# --- the page in a real browser ------------------------------------------------------------------------

def _chromium_or_skip() -> str:
    if os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.geteuid() == 0:
        pytest.fail(f"{CHROMIUM} missing although running as root: run scripts/ensure-chromium.sh (make test does)")
    pytest.skip(f"{CHROMIUM} is not installed and this is not root (cannot install it): the browser test needs chromium")


def _chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=120, check=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def served(world: dict, tmp_path_factory: pytest.TempPathFactory):
    """The reports served by a tiny local HTTP server, as the API will serve them."""
    root = tmp_path_factory.mktemp("served")
    (root / "report.html").write_text(world["big_html"], encoding="utf-8")
    (root / "small.html").write_text(world["small_html"], encoding="utf-8")
    (root / "broken.html").write_text(  # the same checks must catch a page with errors
        '<!DOCTYPE html><html><head><script>window.addEventListener("error",function(e){document.documentElement'
        '.setAttribute("data-js-errors",e.message)});</script></head><body><script>console.error("boom");'
        'missing_function();</script></body></html>', encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _js_errors(dom: str) -> str | None:
    """What the page's error sentinel wrote on <html>, if anything."""
    found = re.search(r'<html[^>]*\sdata-js-errors="([^"]*)"', dom)
    return found[1] if found else None


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_browser_loads_the_served_page_without_errors_and_saves_a_screenshot(served: str, tmp_path: Path) -> None:
    chromium = _chromium_or_skip()
    broken = _chromium(chromium, tmp_path / "p0", "--dump-dom", f"{served}/broken.html")
    assert _console_lines(broken.stderr) and _js_errors(broken.stdout)  # the checks can fail

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for page, shot in (("report.html", "report.png"), ("small.html", "report-too-little-data.png")):
        dom = _chromium(chromium, tmp_path / "p1", "--dump-dom", f"{served}/{page}")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert _console_lines(dom.stderr) == []
        assert _js_errors(dom.stdout) is None
        ready = re.search(r'<html[^>]*data-report-ready="(\d+)"', dom.stdout)
        assert ready and int(ready[1]) == dom.stdout.count('<svg class="chart')
        target = ARTEFACTS / shot
        target.unlink(missing_ok=True)
        screenshot = _chromium(chromium, tmp_path / "p2", f"--screenshot={target}", "--window-size=1366,900", f"{served}/{page}")
        assert screenshot.returncode == 0, screenshot.stderr[-2000:]
        data = target.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert int(re.search(r'data-report-ready="(\d+)"', _chromium(chromium, tmp_path / "p3", "--dump-dom", f"{served}/report.html").stdout)[1]) > 10


def test_reader_scopes_itself_and_restores_the_callers_scope(world: dict) -> None:
    with psycopg.connect(world["url"]) as conn:  # not autocommit: the caller's transaction continues after us
        conn.execute("select set_config('app.client_ids', %s, true)", (str(world["small"]),))
        html = build_report_html(conn, world["big"], dbt_schema="analytics")
        assert conn.execute("select current_setting('app.client_ids', true)").fetchone()[0] == str(world["small"])
        assert conn.execute("select count(distinct client_id) from conversion_patterns").fetchone()[0] == 0
    assert 'data-section="who"' in html and Elements(html).having("g", data_peak="true")

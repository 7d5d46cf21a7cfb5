"""The benchmark's pure parts (bench/load.py, bench/run.py): reading wrk's report, summarising a py-spy
profile, and checking the issue-11 targets from measurements — exact values on small hand-made inputs."""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ is not an installed package (it runs from the project folder, like `make bench` does).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import gap_notes, meets, parse_wrk, summarise_profile  # noqa: E402
from bench.run import targets  # noqa: E402

# A real wrk 4.1 report (minimal app, 1 s), with the two error lines wrk adds when there are errors.
WRK_REPORT = """Running 1s test @ http://127.0.0.1:18778/patterns/x
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.31ms   14.56ms  72.16ms   87.26%
    Req/Sec     4.85k     7.53k   19.22k    80.00%
  Latency Distribution
     50%  117.00us
     75%   11.17ms
     90%   28.35ms
     99%    1.02s
  4912 requests in 1.08s, 10.46MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   4532.00
Transfer/sec:      9.65MB
"""


def test_parse_wrk_reads_rate_latencies_in_ms_and_errors() -> None:
    assert parse_wrk(WRK_REPORT) == {"generator": "wrk", "requests_per_s": 4532, "p50_ms": 0.12, "p99_ms": 1020.0,
                                     "requests": 4912, "errors": 9}
    clean = "\n".join(line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line)
    assert parse_wrk(clean)["errors"] == 0


def test_meets_needs_rate_p99_and_no_errors() -> None:
    ok = {"requests_per_s": 2000, "p99_ms": 19.99, "errors": 0}
    assert meets(ok)
    assert not meets({**ok, "requests_per_s": 1999})
    assert not meets({**ok, "p99_ms": 20.0})
    assert not meets({**ok, "errors": 1})


def test_profile_buckets_by_the_deepest_frame_that_names_a_step() -> None:
    collapsed = "\n".join([
        # 6 samples waiting on PostgreSQL inside the client scope
        "run (threading.py:1);get_patterns (api/app.py:204);load_patterns (api/app.py:155);scoped (api/app.py:120);"
        "Connection.wait (psycopg/connection.py:9) 6",
        # 2 in authentication
        "run (threading.py:1);current_key (api/app.py:110);authenticate (api/keys.py:73) 2",
        # 2 in the event loop
        "Server.run (uvicorn/server.py:5);Runner.run (asyncio/runners.py:1) 2",
    ])
    summary = summarise_profile(collapsed, limit=5)
    assert summary["samples"] == 10
    assert summary["waiting_on_postgres"] == 0.6
    assert summary["buckets"] == {"client scope: role, app.client_ids, client check (transaction)": 0.6,
                                  "authentication: API-key lookup (own pool checkout + query)": 0.2,
                                  "uvicorn HTTP + event loop": 0.2}
    # thread roots are noise; the heaviest others first, ties by name
    assert summary["top"] == [{"function": "Connection.wait (psycopg/connection.py)", "share": 0.6},
                              {"function": "get_patterns (api/app.py)", "share": 0.6},
                              {"function": "load_patterns (api/app.py)", "share": 0.6},
                              {"function": "scoped (api/app.py)", "share": 0.6},
                              {"function": "Runner.run (asyncio/runners.py)", "share": 0.2}]


def test_a_write_or_log_line_inside_the_memory_path_counts_as_the_write_or_the_log() -> None:
    root = "Server.run (uvicorn/server.py:5);FastAPI.__call__ (fastapi/applications.py:1);PatternFastPath.__call__ (api/fast_path.py:30)"
    collapsed = "\n".join([
        f"{root};RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:500) 5",
        f"{root};RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:500);Logger.info (logging/__init__.py:1);"
        "copy (copy.py:3) 2",
        f"{root};PatternFastPath._answer (api/fast_path.py:44);UUID.__init__ (uuid.py:1) 2",
        "Server.run (uvicorn/server.py:5);FastAPI.__call__ (fastapi/applications.py:1) 1",
    ])
    buckets = summarise_profile(collapsed)["buckets"]
    assert buckets == {"response write: headers + body to the socket (uvicorn send)": 0.5,
                       "access log: uvicorn's line per request": 0.2,
                       "memory path: key and document from memory (api/fast_path.py)": 0.2,
                       "FastAPI/Starlette routing, dependencies, validation": 0.1}
    notes = gap_notes(buckets, minimum_share=0.15)
    assert [note.split(" (")[0] for note in notes] == ["response write: headers + body to the socket",
                                                       "access log: uvicorn's line per request",
                                                       "memory path: key and document from memory"]
    assert notes[1].startswith("access log: uvicorn's line per request (20%): ") and "--no-access-log" in notes[1]


def _size(leads: int, activities: int, largest: int, data_mib: int, learning: float, floor: float,
          naive: float | None) -> dict:
    row = {"leads": leads, "learning_seconds": learning, "learning_over_floor": round(learning / floor, 1),
           "data": {"total_activities": activities, "largest_client_activities": largest},
           "memory": {"baseline_mib": 200, "detectors_all_clients_peak_mib": 200 + data_mib,
                      "detectors_largest_client_peak_mib": 205}}
    if naive is not None:
        row["naive"] = {"finished": True, "seconds": naive}
        row["naive_over_learning"] = round(naive / learning, 1)
    else:
        row["naive"] = {"finished": False, "limit_seconds": 900.0}
    return row


def test_targets_met_missed_and_not_measured() -> None:
    results = {"sizes": [_size(10_000, 70_000, 9_000, 10, 60.0, 0.1, 400.0),
                         _size(100_000, 700_000, 12_000, 14, 300.0, 1.0, None)]}
    rows = {t.split(" ")[0] + " " + t.split(" ")[1]: (m, s) for t, m, s in targets(results)}
    floor, naive, memory = rows["learning end"], rows["learning ≥"], rows["detectors' peak"]
    assert floor == ("10,000 leads: 600.0×; 100,000 leads: 300.0× (1M leads not run here)", "not measured")
    assert naive[1] == "**met**"  # 400 / 60 = 6.7 ≥ 5 where both ran; the other did not finish
    assert "did not finish in 900 s (> 3.0× learning)" in naive[0]
    assert memory[1] == "**met**"  # data memory ×1.4 while the total grew ×10
    results["sizes"][1]["memory"]["detectors_all_clients_peak_mib"] = 200 + 60  # ×6 > half of ×10
    assert {t.split(" ")[0]: s for t, _, s in targets(results)}["detectors'"] == "**missed**"


def test_the_floor_target_is_checked_on_the_end_to_end_run_where_it_was_measured() -> None:
    million = _size(1_000_000, 7_000_000, 50_000, 30, 90.0, 10.0, None)  # stages 9× the floor
    floor_row = lambda: next(r for r in targets({"sizes": [million]}) if r[0].startswith("learning end"))  # noqa: E731
    assert floor_row()[1:] == ("1,000,000 leads: 9.0×", "**met**")
    million.update(end_to_end_seconds=120.0, end_to_end_over_floor=12.0)  # the Dagster run: 12×
    assert floor_row()[1:] == ("1,000,000 leads: 9.0× (end to end 12.0×)", "**missed**")

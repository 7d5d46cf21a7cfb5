"""API load for the benchmark (issue 11): the real Pattern API (``convintel serve``: uvicorn, one worker,
loopback) on a learned world with a tenant key, beside the minimal apps of ``bench.minimal_app`` (same
body size) on the same machine, each driven by ``wrk`` from a separate process for
``GET /patterns/{client_id}`` without and with ``If-None-Match``: requests/s, p50, p99, errors.

Without ``wrk`` (scripts/ensure-wrk.sh installs it as root) a Python load generator (threads with
keep-alive connections) stands in; its own ceiling is measured against the bare minimal app and reported
beside. When the API misses its target, py-spy samples the API worker under the same load and the
profile's heaviest functions go into the results."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from uuid import UUID

import psycopg

from convintel import settings

TARGET_RPS = 2000
TARGET_P99_MS = 20.0
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(command: list[str], port: int, probe: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """Start a server process (its own process group), wait until ``probe`` answers, yield its pid, stop it."""
    process = subprocess.Popen(command, cwd=settings.PROJECT_DIR, env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=2).read()
                break
            except Exception as exc:  # noqa: BLE001 - any failure means not up yet
                if getattr(exc, "code", None):  # an HTTP error status: the server is up
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server {command} did not start: {process.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(url: str, headers: dict[str, str], seconds: int, connections: int, threads: int) -> dict:
    """One wrk run: requests/s, p50/p99 latency (ms), requests, errors (socket errors + status ≥ 400)."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return parse_wrk(subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout)


def parse_wrk(out: str) -> dict:
    """wrk's --latency report as numbers (latencies in ms)."""
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad_status = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "generator": "wrk",
        "requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))),
        "p50_ms": round(_ms(latency["50"]), 2),
        "p99_ms": round(_ms(latency["99"]), 2),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": (sum(map(int, socket_errors.groups())) if socket_errors else 0)
        + (int(bad_status.group(1)) if bad_status else 0),
    }


def run_python_load(url: str, headers: dict[str, str], seconds: int, connections: int) -> dict:
    """The fallback generator: one thread per keep-alive connection, latencies per request."""
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = Counter()

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors["status"] += 1
            except OSError:
                errors["socket"] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=5)
                continue
            latencies[index].append((time.perf_counter() - started) * 1000)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    merged = sorted(x for per in latencies for x in per)
    pick = lambda q: merged[min(len(merged) - 1, int(q * len(merged)))] if merged else float("nan")  # noqa: E731
    return {"generator": "python", "requests_per_s": round(len(merged) / elapsed), "p50_ms": round(pick(0.5), 2),
            "p99_ms": round(pick(0.99), 2), "requests": len(merged), "errors": sum(errors.values())}


def drive(url: str, headers: dict[str, str], seconds: int, connections: int, threads: int) -> dict:
    if shutil.which("wrk"):
        return run_wrk(url, headers, seconds, connections, threads)
    return run_python_load(url, headers, seconds, connections)


def profile(pid: int, url: str, headers: dict[str, str], seconds: int, connections: int, threads: int,
            out: Path) -> dict | str:
    """py-spy samples the server under load; returns the functions with the largest inclusive share of
    samples (frames present in nearly every sample — the event loop's roots — left out)."""
    spy = BIN / "py-spy"
    if not spy.exists():
        return "py-spy not installed (make bench installs it from PyPI): no profile"
    recorder = subprocess.Popen([str(spy), "record", "-p", str(pid), "-d", str(seconds + 1), "-r", "200", "-f", "raw",
                                 "-o", str(out), "--nonblocking", "--subprocesses"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)
    drive(url, headers, seconds, connections, threads)
    _, err = recorder.communicate(timeout=60)
    if recorder.returncode or not out.exists():
        return f"py-spy failed: {err.decode()[-500:]}"
    return summarise_profile(out.read_text())


# Where a request's time goes: a sample belongs to the step of the deepest frame on its stack that names
# one (so a socket write inside the memory path counts as the write, a query inside the client scope as the
# scope). Keys are substrings of py-spy's frame names "function (file)".
PROFILE_BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("access log: uvicorn's line per request", ("logging/", "uvicorn/logging.py", "copy (copy.py)")),
    ("response write: headers + body to the socket (uvicorn send)", ("RequestResponseCycle.send",)),
    ("authentication: API-key lookup (own pool checkout + query)", ("current_key", "authenticate (api/keys.py)")),
    ("client scope: role, app.client_ids, client check (transaction)", ("scoped (api/app.py)",)),
    ("pattern version query + cached body", ("load_patterns",)),
    ("response (ETag check, Response object)", ("conditional",)),
    ("memory path: key and document from memory (api/fast_path.py)", ("api/fast_path.py",)),
    ("change listener: waiting for notifications (api/notifications.py)", ("api/notifications.py",)),
    ("FastAPI/Starlette routing, dependencies, validation", ("fastapi/", "starlette/")),
    ("threadpool hand-off (anyio worker threads)", ("anyio/",)),
    ("uvicorn HTTP + event loop", ("uvicorn/", "asyncio/", "httptools", "h11")),
)
# What would close the gap, per step of the profile (suggestions, which the benchmark does not make): the
# results list the notes of the steps that take a noticeable share of the worker's samples, largest first.
GAP_NOTES: dict[str, str] = {
    "access log: uvicorn's line per request":
        "uvicorn formats and writes one access-log line per request; `convintel serve --no-access-log` drops it "
        "where a proxy in front already logs requests",
    "response write: headers + body to the socket (uvicorn send)":
        "the body itself (~70–110 KB per client; wrk asks for it uncompressed): engines should send "
        "Accept-Encoding: gzip (a copy compressed once per document, 5.0–5.2× smaller on the demo world's "
        "~108 KB documents) and, when polling, If-None-Match (304, no body)",
    "authentication: API-key lookup (own pool checkout + query)":
        "keys are looked up in the database: CONVINTEL_API_KEY_TTL_SECONDS > 0 keeps them in the process",
    "client scope: role, app.client_ids, client check (transaction)":
        "requests take the checked path: is the process listening (migration 008 applied, "
        "CONVINTEL_API_CACHE_MAX_AGE_SECONDS > 0)? otherwise one round trip per request is the floor",
    "pattern version query + cached body":
        "requests take the checked path (see the client scope note)",
    "response (ETag check, Response object)":
        "the checked path builds a Response per request; the memory path sends the cached bytes",
    "memory path: key and document from memory (api/fast_path.py)":
        "the memory path itself: header parsing and two dictionary look-ups per request",
    "change listener: waiting for notifications (api/notifications.py)":
        "the listening thread wakes every 0.5 s to look at its stop flag; negligible unless notifications flood",
    "FastAPI/Starlette routing, dependencies, validation":
        "the framework: requests the memory path cannot answer (unknown keys, cold documents) go through FastAPI",
    "threadpool hand-off (anyio worker threads)":
        "sync endpoints run on worker threads: only the checked path uses them",
    "uvicorn HTTP + event loop":
        "the server's own HTTP parsing and event loop: the ceiling of one worker (compare the bare ASGI app); "
        "more throughput needs `convintel serve --workers N`",
}


def gap_notes(buckets: dict[str, float], minimum_share: float = 0.05) -> list[str]:
    """The notes of the profile's steps with at least ``minimum_share`` of the samples, largest first."""
    return [f"{label} ({share:.0%}): {GAP_NOTES[label]}" for label, share in
            sorted(buckets.items(), key=lambda item: -item[1]) if share >= minimum_share and label in GAP_NOTES]


_NOISE = ("threading.py", "runpy", "typer/", "click/", "<module>", "cli.py", "process ")


def summarise_profile(collapsed: str, limit: int = 12) -> dict:
    """From py-spy's collapsed stacks ("f1;f2;f3 count"): the share of samples per bucket of
    ``PROFILE_BUCKETS`` (the step of the deepest frame that names one), the share spent waiting on PostgreSQL
    (``psycopg ... wait``), and the project/library functions with the largest inclusive share."""
    inclusive: Counter = Counter()
    buckets: Counter = Counter()
    waiting = total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n, frames = int(count), [re.sub(r":\d+\)", ")", f) for f in stack.split(";")]
        total += n
        if any("psycopg" in f and "wait" in f for f in frames):
            waiting += n
        for frame in set(frames):
            inclusive[frame] += n
        label = next((label for frame in reversed(frames) for label, keys in PROFILE_BUCKETS
                      if any(k in frame for k in keys)), "other")
        buckets[label] += n
    top = [{"function": f, "share": round(k / total, 3)} for f, k in sorted(inclusive.items(), key=lambda fk: (-fk[1], fk[0]))
           if not any(x in f for x in _NOISE)][:limit]
    return {"samples": total, "waiting_on_postgres": round(waiting / total, 3) if total else None,
            "buckets": {label: round(k / total, 3) for label, k in buckets.most_common()}, "top": top}


def api_load(db_url: str, *, seconds: int = 10, connections: int = 16, threads: int = 2,
             results_dir: Path | None = None) -> dict:
    """The whole comparison on a learned database: the API and the minimal apps, with and without
    If-None-Match; a profile of the API when its target is missed."""
    from api.keys import create_key

    with psycopg.connect(db_url, autocommit=True) as conn:
        # The pattern tables' row-level security is forced: scope the session to every client first.
        conn.execute("select set_config('app.client_ids', (select string_agg(id::text, ',') from clients), false)")
        row = conn.execute("select client_id from conversion_patterns group by client_id "
                           "order by count(*) desc, client_id limit 1").fetchone()
        if row is None:
            raise RuntimeError("no stored patterns to serve: learn the world first")
        client_id: UUID = row[0]
        _, token = create_key(conn, client_ids=[client_id], name="bench load")
    auth = {"Authorization": f"Bearer {token}"}
    results: dict = {"connections": connections, "threads": threads, "seconds": seconds, "client_id": str(client_id),
                     "generator": "wrk" if shutil.which("wrk") else "python (wrk not installed)", "servers": {}}

    port = free_port()
    api_env = {"DATABASE_URL": db_url}
    api_command = [str(BIN / "convintel"), "serve", "--port", str(port), "--workers", "1"]
    path = f"/patterns/{client_id}"
    with serving(api_command, port, "/healthz", api_env) as api_pid:
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=auth)) as response:
            body, etag = response.read(), response.headers["ETag"]
        results["body_bytes"] = len(body)
        url = f"http://127.0.0.1:{port}{path}"
        drive(url, auth, 2, connections, threads)  # warm-up: pools filled, pattern cache loaded
        api = {"plain": drive(url, auth, seconds, connections, threads),
               "if_none_match": drive(url, {**auth, "If-None-Match": etag}, seconds, connections, threads)}
        results["servers"]["api"] = api
        missed = [k for k, r in api.items() if not meets(r)]
        if missed:
            (results_dir or Path("/tmp")).mkdir(parents=True, exist_ok=True)
            out = (results_dir or Path("/tmp")) / "api_profile.txt"
            results["api_profile"] = profile(api_pid, url, auth, min(seconds, 8), connections, threads, out)

    minimal_env = {"BENCH_BODY_BYTES": str(len(body))}
    for name, target in (("minimal_asgi", ["bench.minimal_app:app"]),
                         ("minimal_fastapi", ["bench.minimal_app:fastapi_app", "--factory"])):
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        with serving(command, port, path, minimal_env):
            url = f"http://127.0.0.1:{port}{path}"
            drive(url, {}, 2, connections, threads)
            results["servers"][name] = {
                "plain": drive(url, {}, seconds, connections, threads),
                "if_none_match": drive(url, {"If-None-Match": '"bench-minimal"'}, seconds, connections, threads)}
    return results


def meets(run: dict) -> bool:
    return run["requests_per_s"] >= TARGET_RPS and run["p99_ms"] < TARGET_P99_MS and run["errors"] == 0


if __name__ == "__main__":  # python -m bench.load DATABASE_URL [SECONDS] (a learned database)
    import json

    print(json.dumps(api_load(sys.argv[1], seconds=int(sys.argv[2]) if len(sys.argv) > 2 else 10), indent=2))

"""`make bench` (issue 11): for synthetic worlds of growing size, wall time and peak memory per stage of
the learning path — synth load, dbt build, each detector, the store — beside (a) the floor (one grouped
scan of ``activities`` on the same database) and (b) the naive row-by-row Python implementation
(``bench.naive``, with a time limit), as ratios; the detectors' peak memory for all clients (per process:
the step's own and, when it spreads its clients over worker processes, the largest worker's) and for the
largest client alone (one shard); the Pattern API under concurrent load beside minimal
uvicorn apps (``bench.load``, on the first size's learned world); Markov attribution over 1M journeys.
Writes ``bench/results/<UTC time>.json`` and ``bench/results/latest.md`` (targets with met / missed).

Each stage runs in its own process (``bench.stage``); its peak memory is that process's max RSS, or for
dbt the dbt process's. The machine may be shared: the results record its core count and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from convintel import settings

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMA = "analytics"
E2E_SCHEMA = "analytics_e2e"  # the end-to-end run's own dbt schema: its build is cold too
DETECTORS = ("who", "what", "when", "how")
TARGET_FLOOR_RATIO = 10.0
TARGET_NAIVE_RATIO = 5.0
TARGET_FLOOR_SIZE = 1_000_000


def _stage(stage: str, url: str, arg: str = "") -> dict:
    """Run one stage in its own process (bench.stage); its JSON line plus the process's wall time."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.stage", stage, url, SCHEMA, arg], capture_output=True,
                          text=True, cwd=settings.PROJECT_DIR)
    if done.returncode:
        raise RuntimeError(f"bench stage {stage} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    measured["seconds"] = round(measured["seconds"], 3)
    measured["process_seconds"] = round(time.perf_counter() - started, 2)
    print(f"  {stage}: {json.dumps(measured)}", flush=True)  # progress: a long run shows each stage as it ends
    return measured


def learning_seconds(stages: dict) -> float:
    """A learning run's time from its stages: the dbt build, every detector, the store."""
    return stages["dbt_build"]["seconds"] + sum(stages[f"detect:{d}"]["seconds"] for d in DETECTORS) \
        + stages["store"]["seconds"]


def weekly_rerun(url: str) -> dict:
    """The weekly learning run after the cold one: a week of new activity (bench.stage ADD_WEEK_SQL), then
    the same stages as of a week later, on the database the cold run built."""
    from bench.stage import AS_OF, WEEK

    added = _stage("add_week", url)
    stages = {"dbt_build": _stage("dbt", url, (AS_OF + WEEK).isoformat())}
    for stage in (*(f"detect:{d}" for d in DETECTORS), "store"):
        stages[stage] = _stage(stage, url)
    return {"activities_added": added["activities_added"], "stages": stages,
            "learning_seconds": round(learning_seconds(stages), 2)}


def _data_sizes(url: str) -> dict:
    """Total rows and the largest client's rows (by activities) of the synthesised world."""
    import psycopg

    with psycopg.connect(url) as conn:
        total_activities = conn.execute("select count(*) from activities").fetchone()[0]
        client_id, activities = conn.execute(
            "select client_id, count(*) from activities group by 1 order by 2 desc, 1 limit 1").fetchone()
        leads = conn.execute("select count(*) from leads where client_id = %s", (client_id,)).fetchone()[0]
    return {"total_activities": total_activities, "largest_client": str(client_id),
            "largest_client_activities": activities, "largest_client_leads": leads}


def bench_size(server_url: str, leads: int, clients: int, seed: int, *, naive_limit: float, api_seconds: int,
               rerun: bool = True, end_to_end: bool = True) -> dict:
    from convintel.db import create_database, drop_database
    from convintel.migrate import migrate

    url = create_database(server_url, f"convintel_bench_{leads}_{clients}")
    try:
        migrate(url)
        row: dict = {"leads": leads, "clients": clients, "stages": {}}
        stages = row["stages"]
        stages["synth_load"] = _stage("synth", url, f"{leads}:{clients}:{seed}")
        row["touches"] = stages["synth_load"]["touches"]
        row["data"] = _data_sizes(url)
        stages["dbt_build"] = _stage("dbt", url)
        for stage in ("floor", *(f"detect:{d}" for d in DETECTORS), "store"):
            stages[stage] = _stage(stage, url)
        learning = learning_seconds(stages)
        row["learning_seconds"] = round(learning, 2)
        if end_to_end:
            stages["learn_e2e"] = _stage("learn", url, E2E_SCHEMA)
            row["end_to_end_seconds"] = stages["learn_e2e"]["seconds"]
        row["floor_seconds"] = stages["floor"]["seconds"]
        row["learning_over_floor"] = round(learning / stages["floor"]["seconds"], 1) if stages["floor"]["seconds"] else None
        if "end_to_end_seconds" in row and stages["floor"]["seconds"]:
            row["end_to_end_over_floor"] = round(row["end_to_end_seconds"] / stages["floor"]["seconds"], 1)
        # Memory: the detectors' processes hold the imports (baseline) plus their data; one shard holding
        # only the largest client shows what a sharded run's step needs.
        baseline = _stage("baseline", url)
        shard = {d: _stage(f"detect:{d}", url, row["data"]["largest_client"]) for d in DETECTORS}
        row["memory"] = {
            "baseline_mib": baseline["peak_mib"],
            "detectors_all_clients_peak_mib": max(stages[f"detect:{d}"]["peak_mib"] for d in DETECTORS),
            # Processes a detector step used (itself and its workers) and what they held at once at most
            # (each process's peak summed: every process holds one client at a time).
            "detectors_all_clients_processes": max(stages[f"detect:{d}"].get("processes", 1) for d in DETECTORS),
            "detectors_all_clients_processes_sum_mib": max(
                stages[f"detect:{d}"].get("processes_peak_sum_mib", stages[f"detect:{d}"]["peak_mib"]) for d in DETECTORS),
            "detectors_largest_client_peak_mib": max(s["peak_mib"] for s in shard.values()),
            "largest_client_shard": shard,
            "per_detector": {d: memory_bound(baseline["peak_mib"], stages[f"detect:{d}"], shard[d]) for d in DETECTORS},
        }
        if naive_limit > 0:
            naive = _stage("naive", url, str(naive_limit))
            row["naive"] = naive
            row["naive_over_learning"] = round(naive["seconds"] / learning, 1) if naive["finished"] else None
        if rerun:
            row["rerun"] = weekly_rerun(url)
        if api_seconds > 0:
            from bench.load import api_load

            print(f"bench: API load on the {leads:,}-lead world ...", flush=True)
            row["api"] = api_load(url, seconds=api_seconds, results_dir=RESULTS)
        return row
    finally:
        drop_database(url)


# What "bounded by the largest client" allows beyond the largest client's own peak and what the detector
# still holds at its end: a loader's fetch buffer (one batch of rows per mart), a staging batch and the
# allocator's slack.
MEMORY_SLACK_MIB = 8.0


def memory_bound(baseline_mib: int, all_clients: dict, largest_client: dict) -> dict:
    """One detector's data memory (peak − imports) with all clients — the largest process of the step: its
    own, or a worker's when it spread its clients over workers; each holds one client at a time, so the
    step holds at most that many processes × the largest client — against the largest client alone plus what the all-clients process still holds at its end (``results_mib``: its summary;
    each result is staged in the database as it is computed, so nothing grows with the clients);
    ``excess_mib`` is what neither explains, and ``bounded`` says it stays within MEMORY_SLACK_MIB (the
    loaders hold one client's inputs at a time, the detector one client's result)."""
    all_data = all_clients["peak_mib"] - baseline_mib
    largest_data = largest_client["peak_mib"] - baseline_mib
    results = all_clients.get("results_mib", 0.0)
    excess = round(all_data - largest_data - results, 1)
    return {"all_clients_data_mib": all_data, "largest_client_data_mib": largest_data, "results_mib": results,
            "excess_mib": excess, "bounded": excess <= MEMORY_SLACK_MIB}


def _status(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**missed**")


def targets(results: dict) -> list[tuple[str, str, str]]:
    """(target, measured, met/missed) rows, checked from the measurements."""
    from bench.load import TARGET_P99_MS, TARGET_RPS, meets

    sizes = results["sizes"]
    rows = []
    big = [r for r in sizes if r["leads"] >= TARGET_FLOOR_SIZE]
    # Checked on the end-to-end Dagster run where it was measured, else on the sum of the stages.
    floor_ratio = lambda r: r.get("end_to_end_over_floor") or r["learning_over_floor"]  # noqa: E731
    measured = "; ".join(f"{r['leads']:,} leads: {r['learning_over_floor']}×"
                         + (f" (end to end {r['end_to_end_over_floor']}×)" if r.get("end_to_end_over_floor") else "")
                         for r in sizes)
    rows.append((f"learning end to end ≤ {TARGET_FLOOR_RATIO:g}× the grouped-scan floor at 1M leads", measured + (
        "" if big else " (1M leads not run here)"),
        _status(all(floor_ratio(r) <= TARGET_FLOOR_RATIO for r in big) if big else None)))
    naive_rows = [r for r in sizes if "naive" in r]
    if naive_rows:
        parts, ok = [], True
        for r in naive_rows:
            if r["naive"]["finished"]:
                parts.append(f"{r['leads']:,} leads: naive {r['naive']['seconds']:.0f} s = {r['naive_over_learning']}× learning")
                ok = ok and r["naive_over_learning"] >= TARGET_NAIVE_RATIO
            else:
                parts.append(f"{r['leads']:,} leads: naive did not finish in {r['naive']['limit_seconds']:.0f} s "
                             f"(> {r['naive']['limit_seconds'] / r['learning_seconds']:.1f}× learning)")
        rows.append((f"learning ≥ {TARGET_NAIVE_RATIO:g}× faster than naive row-by-row at every size where both run",
                     "; ".join(parts), _status(ok if any(r["naive"]["finished"] for r in naive_rows) else None)))
    bounds = [(r, d, b) for r in sizes for d, b in r["memory"].get("per_detector", {}).items()]
    if bounds:
        worst = {r["leads"]: max((b for rr, _, b in bounds if rr is r), key=lambda b: b["excess_mib"]) for r in sizes}
        measured = "; ".join(
            f"{leads:,} leads: all clients {b['all_clients_data_mib']} MiB over imports (largest process) = largest client alone "
            f"{b['largest_client_data_mib']} + results held {b['results_mib']} + {b['excess_mib']} (worst detector)"
            for leads, b in worst.items())
        rows.append((f"detectors' peak memory bounded by the largest client (checked per detector, size and process; a step "
                     f"spread over N processes holds at most N × that: all clients "
                     f"≤ largest client alone + the results it still holds + {MEMORY_SLACK_MIB:g} MiB)", measured,
                     _status(all(b["bounded"] for _, _, b in bounds))))
    if len(sizes) >= 2:
        first, last = sizes[0], sizes[-1]
        data = lambda r: r["memory"]["detectors_all_clients_peak_mib"] - r["memory"]["baseline_mib"]  # noqa: E731
        total_growth = last["data"]["total_activities"] / first["data"]["total_activities"]
        largest_growth = last["data"]["largest_client_activities"] / first["data"]["largest_client_activities"]
        memory_growth = max(data(last), 1) / max(data(first), 1)
        measured = (f"detectors' data memory (peak − imports) {data(first)} → {data(last)} MiB (×{memory_growth:.1f}) "
                    f"while total activities grew ×{total_growth:.1f} and the largest client's ×{largest_growth:.1f}; "
                    f"largest-client shard alone at {last['leads']:,} leads: "
                    f"{last['memory']['detectors_largest_client_peak_mib'] - last['memory']['baseline_mib']} MiB")
        rows.append(("detectors' peak memory does not grow with the total data "
                     "(checked: data memory grows < half as fast as the total)", measured,
                     _status(memory_growth < max(1.0, 0.5 * total_growth))))
    api = next((r["api"] for r in sizes if "api" in r), None)
    if api:
        for mode in ("plain", "if_none_match"):
            run = api["servers"]["api"][mode]
            rows.append((f"GET /patterns/{{client_id}} {'with If-None-Match' if mode != 'plain' else ''}: "
                         f"≥ {TARGET_RPS:,} req/s and p99 < {TARGET_P99_MS:g} ms, one worker",
                         f"{run['requests_per_s']:,} req/s, p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, "
                         f"{run['errors']} errors", _status(meets(run))))
    return rows


def rerun_lines(sizes: list[dict]) -> list[str]:
    """The weekly re-run's table: its stages beside the cold run's learning time and the floor."""
    rows = [r for r in sizes if "rerun" in r]
    if not rows:
        return []
    lines = ["", "## Weekly re-run (a week of new activity added, learned as of a week later on the database the cold "
             "run built; the targets above are checked on the cold run)", "",
             "| leads | activities added | dbt s | who s | what s | when s | how s | store s | learning s | cold learning s "
             "| re-run / cold | re-run / floor | slowest dbt nodes |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        rerun, s = row["rerun"], row["rerun"]["stages"]
        slowest = ", ".join(f"{k} {v:.0f} s" for k, v in s["dbt_build"].get("slowest_nodes", {}).items()) or "-"
        lines.append(
            f"| {row['leads']:,} | {rerun['activities_added']:,} | {s['dbt_build']['seconds']} | "
            + " | ".join(str(s[f"detect:{t}"]["seconds"]) for t in DETECTORS)
            + f" | {s['store']['seconds']} | {rerun['learning_seconds']} | {row['learning_seconds']} | "
            f"{rerun['learning_seconds'] / row['learning_seconds']:.2f} | "
            f"{rerun['learning_seconds'] / row['floor_seconds']:.1f} | {slowest} |")
    return lines


def markdown(results: dict) -> str:
    lines = [f"# Benchmark {results['started_at']} ({results['machine']})", "",
             "## Stages (seconds; each stage in its own process)", "",
             "| leads | clients | touches | synth s | dbt s | who s | what s | when s | how s | store s | learning s "
             "| end to end s | floor s | learning / floor | naive s | naive / learning | dbt peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in results["sizes"]:
        s = row["stages"]
        naive = row.get("naive")
        naive_s = "-" if not naive else (f"{naive['seconds']:.1f}" if naive["finished"]
                                         else f"did not finish in {naive['limit_seconds']:.0f}")
        lines.append(
            f"| {row['leads']:,} | {row['clients']} | {row['touches']:,} | {s['synth_load']['seconds']} | {s['dbt_build']['seconds']} | "
            + " | ".join(str(s[f"detect:{t}"]["seconds"]) for t in DETECTORS)
            + f" | {s['store']['seconds']} | {row['learning_seconds']} | {row.get('end_to_end_seconds', '-')} | "
            f"{row['floor_seconds']:.3f} | {row['learning_over_floor']} | "
            f"{naive_s} | {row.get('naive_over_learning') or '-'} | {s['dbt_build']['peak_mib']} |")
    lines += rerun_lines(results["sizes"])
    for row in results["sizes"]:
        dbt = row["stages"]["dbt_build"]
        if dbt.get("node_seconds"):
            lines += ["", f"dbt at {row['leads']:,} leads: {dbt['seconds']:.0f} s wall; node seconds (summed over dbt's "
                      "threads) " + ", ".join(f"{k} {v:.0f}" for k, v in dbt["node_seconds"].items())
                      + "; slowest: " + ", ".join(f"{k} {v:.0f} s" for k, v in dbt["slowest_nodes"].items())
                      + ". The rest of the wall time is dbt's start-up and parse."]
        if dbt.get("node_seconds") and "store" in row["stages"]:
            from bench.learning_profile import learning_profile_lines

            lines += ["", *learning_profile_lines(row, floor_ratio=TARGET_FLOOR_RATIO, naive_ratio=TARGET_NAIVE_RATIO)]
    for row in results["sizes"]:
        cpu = {t: row["stages"][f"detect:{t}"].get("cpu_seconds") for t in DETECTORS}
        if all(v is not None for v in cpu.values()):
            lines += ["", f"Detectors at {row['leads']:,} leads, CPU seconds (the step's own plus its worker processes'; "
                      "the wall seconds above include waiting for a core when the machine is shared): " + ", ".join(f"{t} {v:.2f}" for t, v in cpu.items()) + "."]
    lines += ["", "## Memory (max RSS, MiB)", "",
              "| leads | clients | activities | largest client: leads / activities | imports only | detectors, all clients: "
              "largest process | processes per step | all processes at most (sum of peaks, imports included) | detectors, largest client alone |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in results["sizes"]:
        m, d = row["memory"], row["data"]
        lines.append(f"| {row['leads']:,} | {row['clients']} | {d['total_activities']:,} | {d['largest_client_leads']:,} / "
                     f"{d['largest_client_activities']:,} | {m['baseline_mib']} | {m['detectors_all_clients_peak_mib']} | "
                     f"{m.get('detectors_all_clients_processes', 1)} | "
                     f"{m.get('detectors_all_clients_processes_sum_mib', m['detectors_all_clients_peak_mib'])} | "
                     f"{m['detectors_largest_client_peak_mib']} |")
    if any("per_detector" in row["memory"] for row in results["sizes"]):
        lines += ["", "Per detector, data memory = peak − imports (MiB): all clients (the step's largest process: its own "
                  "or, when it used worker processes, the largest worker's) against the largest "
                  "client alone plus what the process still holds at its end (results held: each result is staged in "
                  "the database as it is computed, so only a summary is held); bounded when the excess ≤ "
                  f"{MEMORY_SLACK_MIB:g}.", "",
                  "| leads | detector | all clients | largest client alone | results held | excess | bounded |",
                  "|---|---|---|---|---|---|---|"]
        for row in results["sizes"]:
            for detector, b in row["memory"].get("per_detector", {}).items():
                lines.append(f"| {row['leads']:,} | {detector} | {b['all_clients_data_mib']} | {b['largest_client_data_mib']} | "
                             f"{b['results_mib']} | {b['excess_mib']} | {'yes' if b['bounded'] else '**no**'} |")
    api = next((r["api"] for r in results["sizes"] if "api" in r), None)
    if api:
        lines += ["", f"## API load ({api['generator']}, {api['connections']} connections, {api['threads']} threads, "
                  f"{api['seconds']} s per run, body {api['body_bytes']:,} bytes, one uvicorn worker, loopback)", "",
                  "| server | request | req/s | p50 ms | p99 ms | requests | errors |", "|---|---|---|---|---|---|---|"]
        for server, runs in api["servers"].items():
            for mode, run in runs.items():
                lines.append(f"| {server} | {mode.replace('_', '-')} | {run['requests_per_s']:,} | {run['p50_ms']} | "
                             f"{run['p99_ms']} | {run['requests']:,} | {run['errors']} |")
        if api.get("api_profile"):
            lines += ["", "Where the API worker's time goes under the same load (py-spy samples of all its threads, "
                      "by step):", ""]
            profile = api["api_profile"]
            if isinstance(profile, str):
                lines.append(profile)
            else:
                lines += [f"- {share:.0%} {label}" for label, share in profile["buckets"].items()]
                lines += ["", f"Waiting on PostgreSQL (psycopg wait, any step): {profile['waiting_on_postgres']:.0%} of "
                          f"{profile['samples']:,} samples. Heaviest functions (inclusive): "
                          + ", ".join(f"`{p['function']}` {p['share']:.0%}" for p in profile["top"])]
                from bench.load import gap_notes

                lines += ["", "What would close the gap, by step of the profile above (suggestions; the benchmark "
                          "changes nothing):", ""]
                lines += [f"- {note}" for note in gap_notes(profile["buckets"])]
    markov = results.get("markov")
    if markov:
        lines += ["", f"Markov attribution over {markov['journeys']:,} journeys ({markov['distinct_paths']:,} distinct paths): "
                  f"{markov['seconds']:.2f} s."]
    lines += ["", "## Targets (issue 11)", "", "| target | measured | status |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {s} |" for t, m, s in targets(results)]
    lines += ["", "How to read it: see README, section “Reading the benchmark”."]
    return "\n".join(lines) + "\n"


def _write(results: dict, markdown_name: str) -> None:
    """bench/results/<start time>.json and the markdown table, as measured so far."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{results['started_at'].replace(':', '')}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / markdown_name).write_text(markdown(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:10,100000:100", help="leads:clients pairs, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--markov-journeys", type=int, default=1_000_000)
    parser.add_argument("--naive-limit", type=float, default=1200, help="seconds before the naive run is stopped (0: skip)")
    parser.add_argument("--naive-max-leads", type=int, default=1_000_000, help="no naive run above this many leads")
    parser.add_argument("--api-seconds", type=int, default=10, help="seconds per API load run on the first size (0: skip)")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the end-to-end Dagster learning run")
    parser.add_argument("--no-rerun", action="store_true", help="skip the weekly re-run after a week of new activity")
    parser.add_argument("--extras-max-leads", type=int, default=1_000_000,
                        help="no end-to-end run and no weekly re-run above this many leads (each costs another build)")
    parser.add_argument("--markdown", default="latest.md", help="name of the markdown table in bench/results/")
    args = parser.parse_args()
    server_url = settings.database_url()
    results: dict = {"started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "machine": f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}",
                     "sizes": []}
    for index, pair in enumerate(args.sizes.split(",")):
        leads, clients = (int(x) for x in pair.split(":"))
        print(f"bench: {leads:,} leads over {clients} clients ...", flush=True)
        extras = leads <= args.extras_max_leads
        results["sizes"].append(bench_size(
            server_url, leads, clients, args.seed,
            naive_limit=args.naive_limit if leads <= args.naive_max_leads else 0,
            api_seconds=args.api_seconds if index == 0 else 0, rerun=extras and not args.no_rerun,
            end_to_end=extras and not args.no_end_to_end))
        print(json.dumps({k: v for k, v in results["sizes"][-1].items() if k != "api"}), flush=True)
        _write(results, args.markdown)  # each size as it ends: a long run stopped later keeps what it measured
    if args.markov_journeys:
        from detectors.markov import time_markov_attribution

        results["markov"] = time_markov_attribution(args.markov_journeys)
    results["machine"] += f", at end {os.getloadavg()[0]:.1f}"
    _write(results, args.markdown)
    print(markdown(results))


if __name__ == "__main__":
    main()

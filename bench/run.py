"""`make bench` (issue 11): for synthetic worlds of growing size, wall time and peak memory per stage of
the learning path — synth load, dbt build, each detector, the store — beside the floor (one grouped scan
of ``activities`` on the same database), as ratios; plus Markov attribution over 1M journeys. Writes
``bench/results/<UTC time>.json`` and ``bench/results/latest.md``.

Each stage runs in its own process (``bench.stage``); its peak memory is that process's max RSS, or for
dbt the dbt process's. Not yet measured here (issue 11 is open): the naive row-by-row
implementation, the API under concurrent load.
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
AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


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
    return measured


def bench_size(server_url: str, leads: int, clients: int, seed: int) -> dict:
    from convintel.db import create_database, drop_database
    from convintel.migrate import migrate

    url = create_database(server_url, f"convintel_bench_{leads}")
    try:
        migrate(url)
        row: dict = {"leads": leads, "clients": clients, "stages": {}}
        row["stages"]["synth_load"] = _stage("synth", url, f"{leads}:{clients}:{seed}")
        row["touches"] = row["stages"]["synth_load"]["touches"]
        row["stages"]["dbt_build"] = _stage("dbt", url)
        for stage in ("floor", "detect:who", "detect:what", "detect:when", "detect:how", "store"):
            row["stages"][stage] = _stage(stage, url)
        stages = row["stages"]
        learning = stages["dbt_build"]["seconds"] + sum(stages[s]["seconds"] for s in stages if s.startswith("detect:")) \
            + stages["store"]["seconds"]
        row["learning_seconds"] = round(learning, 2)
        row["floor_seconds"] = stages["floor"]["seconds"]
        row["learning_over_floor"] = round(learning / stages["floor"]["seconds"], 1) if stages["floor"]["seconds"] else None
        return row
    finally:
        drop_database(url)


def markdown(results: dict) -> str:
    lines = [f"# Benchmark {results['started_at']} ({results['machine']})", "",
             "| leads | clients | touches | synth s | dbt s | who s | what s | when s | how s | store s | learning s "
             "| floor s | learning / floor | dbt peak MiB | detectors peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in results["sizes"]:
        s = row["stages"]
        detectors_peak = max(s[k]["peak_mib"] for k in s if k.startswith("detect:"))
        lines.append(
            f"| {row['leads']:,} | {row['clients']} | {row['touches']:,} | {s['synth_load']['seconds']} | {s['dbt_build']['seconds']} | "
            + " | ".join(str(s[f"detect:{t}"]["seconds"]) for t in ("who", "what", "when", "how"))
            + f" | {s['store']['seconds']} | {row['learning_seconds']} | {row['floor_seconds']:.3f} | {row['learning_over_floor']} | "
            f"{s['dbt_build']['peak_mib']} | {detectors_peak} |")
    markov = results.get("markov")
    if markov:
        lines += ["", f"Markov attribution over {markov['journeys']:,} journeys ({markov['distinct_paths']:,} distinct paths): "
                  f"{markov['seconds']:.2f} s."]
    lines += ["", "How to read it: *learning s* is dbt build + the four detectors + the store, each timed inside its own "
              "process (imports excluded); *floor s* is one grouped scan of `activities` on the same database; the "
              "issue-11 target is learning / floor ≤ 10 at 1M leads. Peak memory is each stage process's max RSS. "
              "Not measured yet: the naive row-by-row implementation and the API under load (issue 11 open)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:10,100000:100", help="leads:clients pairs, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--markov-journeys", type=int, default=1_000_000)
    args = parser.parse_args()
    server_url = settings.database_url()
    results: dict = {"started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "machine": f"{os.cpu_count()} cores", "sizes": []}
    for pair in args.sizes.split(","):
        leads, clients = (int(x) for x in pair.split(":"))
        print(f"bench: {leads:,} leads over {clients} clients ...", flush=True)
        results["sizes"].append(bench_size(server_url, leads, clients, args.seed))
        print(json.dumps(results["sizes"][-1]["stages"]), flush=True)
    if args.markov_journeys:
        from detectors.markov import time_markov_attribution

        markov = time_markov_attribution(args.markov_journeys)
        results["markov"] = markov
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{results['started_at'].replace(':', '')}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()

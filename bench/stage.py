"""One benchmark stage in its own process, so that its peak memory is its own: ``python -m bench.stage
STAGE URL SCHEMA [ARG]``. Prints one JSON line: the stage's wall time measured inside the process (imports
excluded), what it processed, and ``peak_mib`` — the max RSS of this process or of the child it ran
(dbt), whichever is larger."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone
from uuid import UUID

# The synthetic worlds' "now": the cold build learns as of it; the weekly re-run a week later.
AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
WEEK = timedelta(days=7)

# A week of new activity for the re-run: the last week's activities of the leads still in play (status
# class 'open' in the lead_statuses seed), repeated a week later under new ids. Bookings are left out:
# the insert trigger would move booking times of leads that are not converted. Parameters: add_week_params.
ADD_WEEK_SQL = """
insert into activities (id, client_id, campaign_id, lead_id, channel, action, sequence_step, subject,
                        content_preview, metadata, created_at, content_snapshot)
select gen_random_uuid(), a.client_id, a.campaign_id, a.lead_id, a.channel, a.action, a.sequence_step, a.subject,
       a.content_preview, a.metadata, a.created_at + %(week)s, a.content_snapshot
from activities as a
inner join leads as l
    on l.id = a.lead_id
where a.created_at >= %(as_of)s - %(week)s
  and a.created_at < %(as_of)s
  and l.status <> all(%(closed_statuses)s)
  and a.action is distinct from %(booking_action)s
"""


# The run id under which the detect stages (all clients) stage their results for the store stage: one per
# database, so a detect stage run again overwrites its rows, as a retried step does.
BENCH_RUN_ID = UUID("00000000-0000-4000-8000-0000be9c4000")


def add_week_params() -> dict:
    """ADD_WEEK_SQL's parameters: the world's as_of, the week, and the seeds' closed statuses and booking action."""
    from convintel.importer.vocab import BOOKING_ACTION, STATUS_CLASS

    return {"as_of": AS_OF, "week": WEEK, "booking_action": BOOKING_ACTION,
            "closed_statuses": sorted(s for s, status_class in STATUS_CLASS.items() if status_class != "open")}


def main(stage: str, url: str, schema: str, arg: str = "") -> dict:
    import psycopg

    if stage == "synth":
        from convintel.synth import generate

        leads, clients, seed = (int(x) for x in arg.split(":"))
        started = time.perf_counter()
        summary = generate(url, clients=clients, leads=leads, seed=seed, as_of=AS_OF)
        return {"seconds": time.perf_counter() - started, "touches": summary.outbound_touches}
    if stage == "dbt":
        # The learning run's build (its test selection) in its own target folder, after an untimed `dbt parse`
        # with the same settings: a deployment's learning runs start from the parse state `convintel manifest`
        # and the previous runs left (convintel.dbt), so the timed build parses only what changed.
        import tempfile
        from pathlib import Path

        from convintel.dbt import DBT_PROJECT_DIR, LEARNING_BUILD_EXCLUDES, run_dbt

        # ARG: the build's as_of (ISO); default the world's.
        variables = ["--vars", json.dumps({"as_of": arg or AS_OF.isoformat()})]
        with tempfile.TemporaryDirectory(prefix="bench-dbt-", dir=DBT_PROJECT_DIR / "target") as folder:
            started = time.perf_counter()
            _prepare_parse_state(url, schema, variables, Path(folder) / "parse")
            prepared = time.perf_counter()
            run_dbt(["build", "--exclude", *LEARNING_BUILD_EXCLUDES, *variables, "--quiet"], url, schema=schema,
                    capture=True, target_path=Path(folder) / "build")
            return {"seconds": time.perf_counter() - prepared, "parse_prepared_seconds": round(prepared - started, 2),
                    **_dbt_breakdown(Path(folder) / "build")}
    if stage == "learn":
        # The learning run end to end as `convintel learn` runs it — a Dagster run in process: manifest,
        # dbt build, agency patterns, detectors, store, client KPIs — into a dbt schema of its own (ARG), so
        # its build is cold. First, untimed, a parse with the run's settings: a deployment's runs start
        # from the parse state its previous runs left (convintel.dbt).
        import tempfile
        from pathlib import Path

        from convintel.dbt import DBT_PROJECT_DIR
        from convintel.learn import run_learning

        with tempfile.TemporaryDirectory(prefix="bench-dbt-", dir=DBT_PROJECT_DIR / "target") as folder:
            _prepare_parse_state(url, arg, ["--vars", json.dumps({"as_of": AS_OF.isoformat()})], Path(folder))
            started = time.perf_counter()
            result = run_learning(url, dbt_schema=arg, as_of=AS_OF, log_path=Path(folder) / "learning.log")
            seconds = time.perf_counter() - started
            if not result.success:
                raise SystemExit(f"the learning run failed:\n{(Path(folder) / 'learning.log').read_text()[-4000:]}")
        return {"seconds": seconds, "peak_mib": _peak_mib()}
    if stage == "add_week":
        # A week of new activity after the world's as_of (ADD_WEEK_SQL), for the weekly re-run.
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            added = conn.execute(ADD_WEEK_SQL, add_week_params()).rowcount
            conn.execute("analyze activities")
            return {"seconds": time.perf_counter() - started, "activities_added": added}
    if stage == "floor":
        # The floor: one grouped scan of activities — what any learning run must at least read.
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            groups = conn.execute(
                "select count(*) from (select client_id, channel, action, count(*) from activities group by 1, 2, 3) g"
            ).fetchone()[0]
            return {"seconds": time.perf_counter() - started, "groups": groups}
    if stage == "baseline":
        # What every detector process holds before it reads data: the interpreter and the imports.
        from dagster_pipelines.assets.patterns import DETECTORS  # noqa: F401

        return {"seconds": 0.0}
    if stage.startswith("detect:"):
        # As a learning run's detector step: compute every client's result and stage it in the database as it
        # is computed (dagster_pipelines.result_staging), keeping only a small summary. ARG empty: every client
        # (the whole run as one shard), staged under BENCH_RUN_ID for the store stage; else only these
        # comma-separated client ids (one shard: what a sharded run's step holds), staged under a run of its
        # own that is deleted afterwards, untimed. The step spreads its clients over worker processes when it
        # pays (dagster_pipelines.detector_workers; CONVINTEL_DETECTOR_WORKERS): the CPU seconds then add the
        # workers' and the memory is reported per process.
        import resource
        import uuid

        from dagster_pipelines import detector_workers
        from dagster_pipelines.assets.detector_factory import detect_and_stage
        from dagster_pipelines.assets.patterns import detector_spec
        from dagster_pipelines.result_staging import delete_staged

        spec = detector_spec(stage.split(":", 1)[1])
        client_ids = [UUID(c) for c in arg.split(",") if c]
        run_id = uuid.uuid4() if client_ids else BENCH_RUN_ID
        with psycopg.connect(url) as conn, psycopg.connect(url, autocommit=True) as staging:
            started, cpu_started = time.perf_counter(), time.process_time()
            summary = detect_and_stage(spec, conn, staging, schema, client_ids, run_id=run_id,
                                       computed_at=datetime.now(timezone.utc).replace(microsecond=0))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            # Memory before sizing what is held (that walk allocates too): this process's peak and, when
            # workers ran, the largest worker's (each holds one client at a time; they run side by side).
            parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            run = detector_workers.last_run()  # this stage runs one step: a run is this step's
            worker_chunks = run.chunks - run.parent_chunks if run else 0
            worker_peak = run.worker_peak_mib if run and worker_chunks else None
            processes = run.workers if run and worker_chunks else 1
            # CPU seconds beside the wall time: on a shared machine the wall time includes waiting for a core.
            measured = {"seconds": seconds, "cpu_seconds": round(cpu + (run.worker_cpu_seconds if run else 0.0), 3),
                        "clients": summary.clients, "gate_passed": summary.gate_passed, "processes": processes,
                        "parent_peak_mib": parent_peak, "worker_peak_mib": worker_peak,
                        # The largest process, and what all of them can hold at once at most.
                        "peak_mib": max(parent_peak, worker_peak or 0),
                        "processes_peak_sum_mib": round(parent_peak + (processes - 1) * (worker_peak or 0), 1)}
            if run:
                measured["workers"] = {"chunks": run.chunks, "parent_chunks": run.parent_chunks,
                                       "worker_cpu_seconds": run.worker_cpu_seconds,
                                       "first_worker_ready_seconds": run.ready_seconds}
            if client_ids:
                delete_staged(staging, [(run_id, spec.pattern_type)])
            # What the detector still holds when it is done: its summary (the results are in the database).
            return {**measured, "results_mib": round(_deep_bytes(summary) / 2**20, 1)}
    if stage == "store":
        # As the learning run's store: read the results the detect stages staged, one client at a time, store
        # each client's in one transaction, then delete the staged rows.
        import uuid

        from dagster_pipelines.assets.patterns import DETECTORS
        from dagster_pipelines.pattern_store import store_client_results
        from dagster_pipelines.result_staging import delete_staged, staged_client_results, staged_keys

        types = [spec.pattern_type for spec in DETECTORS]
        computed_at = datetime.now(timezone.utc).replace(microsecond=0)
        with psycopg.connect(url) as reader, psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            # What the run's detector steps report (their keys); a client's results in the detectors' order.
            keys = sorted(staged_keys(reader, BENCH_RUN_ID), key=lambda key: types.index(key[2]))
            run_id, clients = uuid.uuid4(), 0
            for client_id, client_results in staged_client_results(reader, keys):
                store_client_results(conn, client_id, client_results, run_id=run_id, computed_at=computed_at)
                clients += 1
            deleted = delete_staged(conn, [(BENCH_RUN_ID, pattern_type) for pattern_type in types])
            seconds = time.perf_counter() - started
        if not clients:
            raise SystemExit("nothing staged: run the detect:* stages (all clients) first")
        return {"seconds": seconds, "clients": clients, "staged_rows_deleted": deleted}
    if stage == "naive":
        # The naive row-by-row implementation (bench/naive.py), stopped after ARG seconds.
        from bench.naive import NaiveTimeout, run_naive

        limit = float(arg)
        started = time.perf_counter()
        try:
            naive = run_naive(url, AS_OF, time_limit=limit)
        except NaiveTimeout:
            return {"seconds": time.perf_counter() - started, "finished": False, "limit_seconds": limit}
        return {"seconds": naive.seconds, "finished": True, "clients": naive.clients, "leads_read": naive.leads_read,
                "activities_read": naive.activities_read, "gate_passed": naive.gate_passed}
    raise SystemExit(f"unknown stage {stage!r}")


def _dbt_breakdown(target) -> dict:
    """Where dbt's time went, from its run_results.json in ``target``: node seconds per resource type (summed
    over dbt's threads) and the slowest nodes. Best effort: a missing or unreadable file gives nothing."""
    from collections import Counter

    try:
        results = json.loads((target / "run_results.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    by_type: Counter = Counter()
    for node in results:
        by_type[node["unique_id"].split(".")[0]] += node.get("execution_time") or 0.0
    slowest = sorted(results, key=lambda n: -(n.get("execution_time") or 0.0))[:5]
    return {"node_seconds": {k: round(v, 1) for k, v in by_type.most_common()},
            "slowest_nodes": {n["unique_id"].split(".")[-1]: round(n.get("execution_time") or 0.0, 1) for n in slowest}}


def _prepare_parse_state(url: str, schema: str, variables: list[str], target) -> None:
    """An untimed `dbt parse` with a build's settings: it leaves the parse state (convintel.dbt keeps it)
    that a deployment's next build with those settings starts from, as its previous runs would have."""
    from convintel.dbt import run_dbt

    run_dbt(["parse", "--quiet", *variables], url, schema=schema, capture=True, target_path=target)


def _deep_bytes(value: object, seen: set[int] | None = None) -> int:
    """Bytes of Python objects a value holds (dicts, lists, tuples, dataclasses; each object once): what
    a detector still holds when it is done (its summary) beside the inputs."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep_bytes(k, seen) + _deep_bytes(v, seen) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        size += sum(_deep_bytes(v, seen) for v in value)
    elif hasattr(value, "__dataclass_fields__"):
        size += sum(_deep_bytes(getattr(value, name), seen) for name in value.__dataclass_fields__)
    return size


def _peak_mib() -> int:
    import resource

    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) // 1024


if __name__ == "__main__":
    measured = main(*sys.argv[1:5])
    print(json.dumps({**measured, "peak_mib": measured.get("peak_mib", _peak_mib())}))

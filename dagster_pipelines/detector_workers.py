"""A detector step's clients spread over worker processes, so one learning run's detectors use every core
(issue 11: the four detector steps run one after another in Dagster's in-process executor; each step's
work is per client and independent).

``detect_and_stage`` (assets/detector_factory.py) calls ``detect_in_workers`` when ``use_workers`` says
the step is large enough to pay for it. The step's clients are cut into chunks (``plan_chunks``: largest
clients first, small ones grouped, two chunks per process) that the step's own process and its workers
take from one queue as they get free (the step's process starts at once; a worker once it has started);
each runs the same in-process ``detect_and_stage`` over its chunk on its own connections, staging each
result as it is computed, and hands back the chunk's ``StagedResults``; the step combines them with
``combine_staged`` (which sorts), so the staged rows and the summary are the ones the in-process path
gives.

Processes: workers are forked from a ``forkserver`` that has imported the detectors once
(``WORKER_MODULES``), not from the Dagster process itself (forking a process with threads is unsafe) and
not spawned (each would import everything again). The forkserver starts on first use and serves every
later step of the process. A worker looks its detector up by pattern type in ``DETECTORS`` (no callables
are pickled). A step's pool lives as long as the step: on any error or interrupt its workers are killed
before the error goes on, and a worker whose parent dies exits (``_exit_with_parent``), so no worker
outlives its step.

Memory: each process holds one client's inputs and result at a time, so a step holds at most
``workers`` (processes) × the largest client, plus each process's imports; ``last_run`` reports the
workers' peak. Workers re-import the parent's main script as multiprocessing's spawn and forkserver do
(``if __name__ == "__main__"`` guards it: the ``convintel``, ``pytest`` and ``python -m`` entry points
have it)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dagster_pipelines.marts import mart

# What the forkserver imports once, so a forked worker starts with the detectors loaded.
WORKER_MODULES = ("dagster_pipelines.assets.patterns",)
# Chunks per process: enough that one late or large chunk does not leave the others idle at the end, few
# enough that each chunk's mart queries stay a small share: every chunk scans each mart again (no index by
# client), which for the per-touch fct_when_touches costs ~0.1 s at 100k leads and ~10x at 1M (measured).
CHUNKS_PER_WORKER = 2
# The smallest step worth workers (see use_workers): outbound touches in the step's clients, and clients.
MIN_WORKER_TOUCHES = 100_000
MIN_WORKER_CLIENTS = 4


class DetectorWorkerError(RuntimeError):
    """A detector failed in a worker process; the message carries the worker's traceback."""


@dataclass(frozen=True)
class WorkerRun:
    """How the last ``detect_in_workers`` call of this process went (for the bench and the step's log):
    processes computing (this one and the workers), chunks (and how many this process took), wall seconds
    until the first worker was ready (None: none was before the chunks ran out), the CPU seconds the
    workers' chunks took (summed), and the largest worker's peak RSS."""

    pattern_type: str
    workers: int
    chunks: int
    parent_chunks: int
    clients: int
    ready_seconds: float | None
    worker_cpu_seconds: float
    worker_peak_mib: float


_last_run: WorkerRun | None = None
_context_lock = threading.Lock()
_context: multiprocessing.context.ForkServerContext | None = None


def last_run() -> WorkerRun | None:
    """The ``WorkerRun`` of this process's last detector step that used workers (None: none did)."""
    return _last_run


def worker_context() -> multiprocessing.context.ForkServerContext:
    """The forkserver context whose server preloads ``WORKER_MODULES`` (the server itself starts on the
    first worker and serves the process from then on)."""
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(WORKER_MODULES))
            _context = context
        return _context


def client_sizes(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID]) -> dict[UUID, int]:
    """Outbound touches per client (``fct_when_client_summary``, one row per client: a cheap measure of each
    detector's work), for ``client_ids`` or, when empty, for every client of ``clients`` (a superset of the
    clients the marts hold). A client the summary lacks counts 0, and all do when the summary is not
    built (a run that builds only some detectors' marts): too small for workers."""
    if client_ids:
        ids = list(client_ids)
    else:
        ids = [row[0] for row in conn.execute("select id from clients order by id")]
    summary = mart(schema, "fct_when_client_summary")
    rows = []
    if conn.execute("select to_regclass(%s)", (summary.as_string(conn),)).fetchone()[0] is not None:
        rows = conn.execute(sql.SQL("select client_id, touches from {} where client_id = any(%s)").format(summary),
                            (ids,)).fetchall()
    conn.rollback()  # end the read's transaction: the detector reads in transactions of its own
    touches = {client_id: int(count) for client_id, count in rows}
    return {client_id: touches.get(client_id, 0) for client_id in ids}


def use_workers(sizes: Mapping[UUID, int], workers: int) -> bool:
    """Whether a step over clients of these sizes pays for ``workers`` processes: more than one worker, at
    least ``MIN_WORKER_CLIENTS`` clients and ``MIN_WORKER_TOUCHES`` touches. Below that the workers cost
    more than a second core saves: on the 10k-lead world (10 clients, 56k touches) the four detectors took
    3.5–4.2 s in one process against 6.9–7.6 s with workers forced (the forkserver's first start, ~2.7
    CPU-s of imports, competes with the step; shared 2-core machine, load 1.5–2.5)."""
    return workers > 1 and len(sizes) >= MIN_WORKER_CLIENTS and sum(sizes.values()) >= MIN_WORKER_TOUCHES


def plan_chunks(sizes: Mapping[UUID, int], workers: int, chunks_per_worker: int = CHUNKS_PER_WORKER) -> list[list[UUID]]:
    """The clients in chunks for the workers' queue, largest first: clients by size (descending, ties by
    id) are grouped until a chunk reaches 1 / (workers × chunks_per_worker) of the total, so a large
    client is a chunk of its own and small ones travel together. Every client is in exactly one chunk."""
    order = sorted(sizes, key=lambda client_id: (-sizes[client_id], str(client_id)))
    target = sum(sizes.values()) / max(1, workers * chunks_per_worker)
    chunks: list[list[UUID]] = []
    chunk: list[UUID] = []
    weight = 0
    for client_id in order:
        chunk.append(client_id)
        weight += sizes[client_id]
        if weight >= target:
            chunks.append(chunk)
            chunk, weight = [], 0
    if chunk:
        chunks.append(chunk)
    return chunks


def detect_in_workers(spec, conn: psycopg.Connection, staging: psycopg.Connection, schema: str,
                      chunks: Sequence[Sequence[UUID]], *, workers: int, run_id: UUID, computed_at: datetime,
                      parent_takes_chunks: bool = True):
    """Run ``spec`` over ``chunks`` with ``workers`` processes computing: this one (on ``conn`` and
    ``staging``) and ``workers`` − 1 workers (on connections of their own to the same database), all taking
    chunks from one queue in order, each staging its results as it computes them; return the combined
    ``StagedResults``. This process starts on the first chunk at once, so the workers' start (the
    forkserver's imports, the first time) costs no wall time; a worker gets chunks once it is ready.

    A worker's exception fails the call with a ``DetectorWorkerError`` carrying its traceback; on any
    error or interrupt every worker is killed before it goes on. ``parent_takes_chunks=False`` leaves
    every chunk to the workers (the tests' way to run the workers' path whatever the timing)."""
    from dagster_pipelines.assets.detector_factory import combine_staged, detect_and_stage

    global _last_run
    conninfo = make_conninfo(conn.info.dsn, password=conn.info.password or None)
    queue = _ChunkQueue(chunks)
    started = time.perf_counter()
    pool = ProcessPoolExecutor(max_workers=max(1, workers - 1), mp_context=worker_context(),
                               initializer=_start_worker, initargs=(conninfo,))
    feeder = _Feeder(pool, queue, workers - 1, spec.pattern_type, schema, run_id, computed_at)
    results = []
    parent_chunks = 0
    try:
        feeder.start()
        while parent_takes_chunks and (chunk := queue.take()) is not None:
            results.append(detect_and_stage(spec, conn, staging, schema, chunk, run_id=run_id,
                                            computed_at=computed_at, workers=1))
            parent_chunks += 1
        queue.wait_for_workers()  # every chunk a worker took is done, or one failed
        if feeder.error is not None:
            chunk, error = feeder.error
            remote = getattr(error.__cause__, "tb", "") if error.__cause__ is not None else ""
            where = f"on clients {', '.join(map(str, chunk))}" if chunk else "while starting"
            raise DetectorWorkerError(f"the {spec.pattern_type} detector failed in a worker process {where}: "
                                      f"{error!r}\n{remote}".rstrip()) from error
    except BaseException:
        queue.close()
        _kill(pool)
        raise
    # The feeder shuts the pool down once every chunk is done. Waited for unless it is still starting a
    # worker (the forkserver's first start: its imports), which is no reason to hold the step; the
    # workers then exit when that start returns.
    if not feeder.starting:
        feeder.join()
    _last_run = WorkerRun(spec.pattern_type, workers, len(chunks), parent_chunks, sum(len(c) for c in chunks),
                          None if feeder.ready_at is None else round(feeder.ready_at - started, 3),
                          round(feeder.cpu_seconds, 3), round(max(feeder.peaks_kib, default=0) / 1024, 1))
    return combine_staged(results + feeder.results)


class _ChunkQueue:
    """The step's chunks, largest first, taken by this process and by the feeder for the workers
    (thread-safe), with a count of the workers' chunks not yet done; closed, it hands out nothing more."""

    def __init__(self, chunks: Sequence[Sequence[UUID]]) -> None:
        self._chunks = deque(list(chunk) for chunk in chunks)
        self._changed = threading.Condition()
        self._with_workers = 0
        self._failed = False

    def take(self, for_worker: bool = False) -> list[UUID] | None:
        with self._changed:
            if not self._chunks:
                return None
            self._with_workers += for_worker
            return self._chunks.popleft()

    def done_by_worker(self, failed: bool = False) -> None:
        with self._changed:
            self._with_workers -= 1
            if failed:
                self._failed = True
                self._chunks.clear()
            self._changed.notify_all()

    def close(self, failed: bool = False) -> None:
        with self._changed:
            self._chunks.clear()
            self._failed = self._failed or failed
            self._changed.notify_all()

    def drained(self) -> bool:
        """Nothing left to hand out and no worker's chunk running."""
        with self._changed:
            return self._is_drained()

    def wait_for_workers(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._is_drained() or self._failed)

    def _is_drained(self) -> bool:  # holding the lock
        return not self._chunks and self._with_workers == 0


class _Feeder(threading.Thread):
    """Keeps each ready worker busy with one chunk at a time from the queue (a thread of the step's
    process that only waits): a worker announces itself with ``_worker_ready``, and each finished task
    (ready or chunk) brings it the next chunk. Collects the chunks' results, CPU seconds and the workers'
    peaks; the first failure is kept in ``error`` (chunk, exception) and stops the handing out. Once the
    queue is drained it shuts the pool down (after a failure the step kills it)."""

    def __init__(self, pool: ProcessPoolExecutor, queue: _ChunkQueue, workers: int, pattern_type: str,
                 schema: str, run_id: UUID, computed_at: datetime) -> None:
        super().__init__(name=f"{pattern_type}-detector-feeder", daemon=True)
        self._pool, self._queue, self._workers = pool, queue, workers
        self._task = (pattern_type, schema, run_id, computed_at)
        self.results: list = []
        self.peaks_kib: list[int] = []
        self.cpu_seconds = 0.0
        self.ready_at: float | None = None
        self.starting = True  # submitting the workers' ready tasks: each starts a process
        self.error: tuple[list[UUID], BaseException] | None = None

    def run(self) -> None:
        try:
            self._feed()
        except BaseException as error:  # never leave the step waiting for chunks nobody hands out
            self.error = self.error or ([], error)
            self._queue.close(failed=True)

    def _feed(self) -> None:
        pattern_type, schema, run_id, computed_at = self._task
        chunk_of: dict[Future, list[UUID]] = {}
        waiting: set[Future] = set()
        try:
            for _ in range(self._workers):
                waiting.add(self._pool.submit(_worker_ready))
        except BaseException as error:  # the pool was killed meanwhile: the step is failing already
            self.error = self.error or ([], error)
            self._queue.close(failed=True)
            return
        finally:
            self.starting = False
        while waiting and not self._queue.drained():
            done, waiting = wait(waiting, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = chunk_of.pop(future, None)
                try:
                    value = future.result()
                except BaseException as error:
                    self.error = self.error or (chunk or [], error)
                    if chunk is not None:
                        self._queue.done_by_worker(failed=True)
                    else:
                        self._queue.close(failed=True)
                    return
                if chunk is None:
                    self.peaks_kib.append(value)
                    self.ready_at = self.ready_at or time.perf_counter()
                else:
                    staged, cpu, peak = value
                    self.results.append(staged)
                    self.cpu_seconds += cpu
                    self.peaks_kib.append(peak)
                if (next_chunk := self._queue.take(for_worker=True)) is not None:
                    try:
                        submitted = self._pool.submit(_detect_chunk, pattern_type, schema, next_chunk, run_id, computed_at)
                    except BaseException as error:
                        self.error = self.error or (next_chunk, error)
                        self._queue.done_by_worker(failed=True)
                        return
                    chunk_of[submitted] = next_chunk
                    waiting.add(submitted)
                if chunk is not None:  # after handing out the next one: the queue never looks drained between
                    self._queue.done_by_worker()
        # Drained: no chunk is running in a worker; the workers left idle (or still starting) exit.
        self._pool.shutdown(wait=True, cancel_futures=True)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: kill its workers (a running chunk included), then let the executor wind down.
    (``_processes`` is the executor's own map of its workers; Python 3.14 has ``kill_workers`` for this.)"""
    processes = list((pool._processes or {}).values())
    for process in processes:
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


# --- in the worker processes ---

_worker_conninfo: str | None = None
_worker_connections: tuple[psycopg.Connection, psycopg.Connection] | None = None


def _start_worker(conninfo: str) -> None:
    """A worker's start: exit with the parent; connect on the first chunk (a worker that starts after the
    step ran out of chunks never connects)."""
    global _worker_conninfo
    _exit_with_parent()
    _worker_conninfo = conninfo


def _connections() -> tuple[psycopg.Connection, psycopg.Connection]:
    """This worker's connections (reading; staging, autocommit), opened once."""
    global _worker_connections
    if _worker_connections is None:
        assert _worker_conninfo is not None, "worker started without its database"
        _worker_connections = (psycopg.connect(_worker_conninfo), psycopg.connect(_worker_conninfo, autocommit=True))
        # Closed on the worker's normal exit (multiprocessing runs its finalizers, not atexit).
        multiprocessing.util.Finalize(None, _close_connections, exitpriority=10)
    return _worker_connections


def _close_connections() -> None:
    for connection in _worker_connections or ():
        connection.close()


def _exit_with_parent() -> None:
    """A daemon thread that ends this worker as soon as its parent process is gone (killed included):
    the parent keeps a pipe end open for its child's lifetime, which reads as ready once it dies."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _peak_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _worker_ready() -> int:
    return _peak_kib()


def _detect_chunk(pattern_type: str, schema: str, client_ids: list[UUID], run_id: UUID, computed_at: datetime):
    """One chunk in a worker: the in-process path over its clients; (its StagedResults, the CPU seconds
    it took, the worker's peak RSS in KiB so far)."""
    from dagster_pipelines.assets.detector_factory import detect_and_stage
    from dagster_pipelines.assets.patterns import detector_spec

    spec = detector_spec(pattern_type)
    conn, staging = _connections()
    started = time.process_time()
    try:
        staged = detect_and_stage(spec, conn, staging, schema, client_ids, run_id=run_id, computed_at=computed_at,
                                  workers=1)
    finally:
        conn.rollback()  # no transaction left open between chunks
    return staged, time.process_time() - started, _peak_kib()

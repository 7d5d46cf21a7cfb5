"""The local Dagster instance's storage: Dagster's SQLite storage (same files, same layout under
DAGSTER_HOME), with an event log that keeps its SQLite connections open between events.

Dagster's ``SqliteEventLogStorage`` creates a SQLAlchemy engine, opens the database file and initialises
the dialect for every read and every write: about 4,000 times in one learning run of ~860 events (an event
writes to its run's file, asset and check events to the index file too, and the run reads back). That
cost 2.9 ms of CPU and 15 ms of wall time per write on this project's machine (2 cores, load 4–5); a
profile of a small learning run put ~38% of its time outside dbt and the detectors in the event log. Keeping one open connection per database file — the storage's own lock
already serialises every use of them — costs 0.5 ms CPU and 4 ms wall per write there (the commit's fsync).
Nothing else changes: one transaction per event as before, the same files, so an existing local instance
keeps its history.

**No fsync per event.** Dagster creates every event log file in WAL mode, and SQLite's default
``synchronous=FULL`` then syncs the log on every commit: one fsync per event, ~860 per learning run, each
waiting for the disk that PostgreSQL and dbt keep busy meanwhile. The connections here use
``synchronous=NORMAL`` (WAL only): commits are appended without a sync, and the log is synced when SQLite
checkpoints it into the database file (every ~1,000 pages). That is as durable as before against a crash of
any process, the run's own included: what was committed is in the file the OS holds. An OS crash or power
loss may lose the events committed since the last checkpoint — the tail of a run's log, never a corrupt
file. For the local instance (run logs and asset events of the learning runs; the patterns themselves are in
PostgreSQL) that is accepted. Readers in other processes (webserver, API) see every committed event as before.
Measured on 10k learning runs alternating with the previous code (2 shared cores, load 4–6): the 355 events
a run logs at its start (planned materialisations and checks, one commit each) took 3.7–8.2 s with an fsync
each, 1.4–2.0 s without (6 runs each).

``settings.ensure_dagster_home`` configures the instance with it (``storage: custom:`` in dagster.yaml).
It overrides ``_connect``, a private member of Dagster's SQLite event log;
tests/test_instance_storage.py fails if an upgrade of Dagster stops routing connections through it.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# Open database files kept per process: the index file and the few runs being written at a time. A
# long-lived process (code server, API worker) runs many runs; the least recently used file is closed.
MAX_OPEN_SHARDS = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` keeping one open connection per database file (shard)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # one use at a time, as in Dagster's own _connect: one connection per file suffices
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        if self._engines_pid != os.getpid():  # a forked child opens its own connections
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,  # the one connection, reused; the lock above keeps its uses apart
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _without_fsync_per_commit)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with engine.connect() as conn:  # a new file is in WAL mode only after _initdb, i.e. after "connect"
            _without_fsync_per_commit(conn.connection.dbapi_connection, None)
        self._engines[shard] = engine
        while len(self._engines) > MAX_OPEN_SHARDS:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()


def _without_fsync_per_commit(dbapi_connection, _record) -> None:
    """``synchronous=NORMAL`` on a connection to a WAL file (Dagster creates every event log file in WAL mode):
    a commit is appended to the write-ahead log without an fsync; the log is synced when SQLite checkpoints it
    into the database file. Durable against a crash of any process; an OS crash or power loss may lose the
    events committed since the last checkpoint (see the module docstring). Set per connection (not stored in
    the file), so it applies to this process's writes only."""
    cursor = dbapi_connection.cursor()
    try:
        if cursor.execute("pragma journal_mode").fetchone()[0].lower() == "wal":
            cursor.execute("pragma synchronous=NORMAL")
    finally:
        cursor.close()


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (``storage: sqlite:``) with ``PooledSqliteEventLogStorage`` as its event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        """How another process (a launched run) rebuilds this event log: the same class and folder."""
        import yaml

        return ConfigurableClassData(PooledSqliteEventLogStorage.__module__, PooledSqliteEventLogStorage.__name__,
                                     yaml.dump({"base_dir": _event_logs_directory(self.base_dir)}, default_flow_style=False))

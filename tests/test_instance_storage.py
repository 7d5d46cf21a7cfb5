"""The local instance's storage (dagster_pipelines/instance_storage.py): Dagster's SQLite storage whose event
log keeps one open connection per database file. It overrides a private member of Dagster's event log
(``_connect``); these tests fail if an upgrade stops routing the event log's connections through it, and check
that runs, events and asset materialisations are stored and read back as with Dagster's own storage."""

import inspect
import os
import subprocess
import sys

import pytest
from dagster import DagsterEventType, DagsterInstance, asset, materialize
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from convintel import settings
from dagster_pipelines import instance_storage
from dagster_pipelines.instance_storage import PooledSqliteEventLogStorage


def test_dagster_routes_the_event_logs_connections_through_connect():
    assert "self._connect(" in inspect.getsource(SqliteEventLogStorage.run_connection)
    assert "self._connect(" in inspect.getsource(SqliteEventLogStorage.index_connection)
    assert "self.run_connection(" in inspect.getsource(SqliteEventLogStorage.store_event)


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text(settings.dagster_yaml(tmp_path))
    return tmp_path


@asset
def numbers() -> list[int]:
    return [1, 2, 3]


def test_runs_events_and_materialisations_are_stored_and_read_back(dagster_home, monkeypatch):
    monkeypatch.setattr(instance_storage, "MAX_OPEN_SHARDS", 2)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        run_ids = [materialize([numbers], instance=instance).run_id for _ in range(4)]
        # the index file and at most MAX_OPEN_SHARDS files open, however many runs were written
        assert len(instance.event_log_storage._engines) <= 2
    # Read as the webserver or another process does, even one whose DAGSTER_HOME points elsewhere.
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home / "elsewhere"))
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as reader:
        assert [run.run_id for run in reader.get_runs()] == run_ids[::-1]
        for run_id in run_ids:
            events = reader.all_logs(run_id)
            assert [e.dagster_event.event_type for e in events if e.is_dagster_event][-1] == DagsterEventType.RUN_SUCCESS
        materialization = reader.get_latest_materialization_event(numbers.key)
        assert materialization is not None and materialization.run_id == run_ids[-1]


READ_IN_ANOTHER_PROCESS = """
import sys
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
with DagsterInstance.from_ref(InstanceRef.from_dir(sys.argv[1])) as reader:
    print(len(reader.all_logs(sys.argv[2])), reader.get_run_by_id(sys.argv[2]).status.value)
"""


@pytest.mark.slow
def test_events_are_committed_without_an_fsync_each_and_read_by_another_process(dagster_home):
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        result = materialize([numbers], instance=instance)
        storage = instance.event_log_storage
        assert set(storage._engines) == {"index", result.run_id}
        for engine in storage._engines.values():  # the run's file was created by this connection's first use
            with engine.connect() as conn:
                assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL (FULL is 2)
        # While the writer still holds its connections (the events are in the WAL, not yet checkpointed):
        # another process reads every event and the run's outcome.
        written = len(instance.all_logs(result.run_id))
        reader = subprocess.run([sys.executable, "-c", READ_IN_ANOTHER_PROCESS, str(dagster_home), result.run_id],
                                capture_output=True, text=True, check=True, env={**os.environ, "DAGSTER_HOME": str(dagster_home)})
        assert reader.stdout.split() == [str(written), "SUCCESS"] and written > 10


def test_the_instance_file_is_rewritten_while_ours_and_left_alone_once_edited(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "DAGSTER_HOME", tmp_path)
    config = tmp_path / "dagster.yaml"
    config.write_text(settings._DAGSTER_YAML_MARKER + "\ntelemetry:\n  enabled: false\n")  # an older checkout's
    settings.ensure_dagster_home()
    assert config.read_text() == settings.dagster_yaml(tmp_path)
    config.write_text("telemetry:\n  enabled: true\n")  # someone's own
    settings.ensure_dagster_home()
    assert config.read_text() == "telemetry:\n  enabled: true\n"

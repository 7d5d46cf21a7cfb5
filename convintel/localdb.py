"""The embedded PostgreSQL cluster: a throwaway server in a git-ignored folder (SPEC §3.1).

It uses the machine's PostgreSQL server binaries (Debian's ``postgresql`` package). ``initdb`` and
``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` OS user, and when that user
cannot reach the project folder (a clone below a private directory) the data directory moves to a
folder it owns under /var/tmp; the record in ``<state>/cluster.json`` says where it is.

The port is free-by-probe on 127.0.0.1 and retried on a bind race; no fixed port is ever assumed.
The server runs with ``fsync=off``: it is a development and test database, not a durable one.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DATABASE_NAME = "convintel"
SUPERUSER = "postgres"
# The project connects as an ordinary role that owns its database, as it would in production, so
# forced row-level security applies to it too (a superuser would bypass every policy).
APP_OWNER = "convintel"
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c shared_buffers=256MB -c work_mem=64MB "
    "-c maintenance_work_mem=256MB -c max_connections=200"
)


class LocalDatabaseError(RuntimeError):
    """The local cluster could not be created, started or stopped; the message says why."""


def find_server_binaries() -> Path:
    """Directory holding initdb/pg_ctl: $PG_BIN, then PATH, then the newest Debian install."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(p) for p in debian)
    for directory in candidates:
        if (directory / "pg_ctl").exists() and (directory / "initdb").exists():
            return directory
    raise LocalDatabaseError(
        "No PostgreSQL server binaries (initdb, pg_ctl) found. Install them "
        "(`apt-get install postgresql`, which `make` does for you as root), set PG_BIN, "
        "or point DATABASE_URL at an existing server."
    )


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class LocalCluster:
    """A cluster recorded in ``state_dir/cluster.json``."""

    state_dir: Path

    @property
    def record_path(self) -> Path:
        return self.state_dir / "cluster.json"

    # -- record -----------------------------------------------------------------------------------
    def _read_record(self) -> dict | None:
        try:
            return json.loads(self.record_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _write_record(self, record: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(self.record_path)

    def recorded_url(self) -> str | None:
        """The URL of the cluster if it is running, else None."""
        record = self._read_record()
        if record and self._is_running(record):
            return record["url"]
        return None

    # -- running as the right OS user -------------------------------------------------------------
    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        if self._as_root():
            try:
                pwd.getpwnam(SUPERUSER)
            except KeyError as exc:
                raise LocalDatabaseError(
                    "Running as root needs the 'postgres' OS user (created by Debian's postgresql "
                    "package) to run the server."
                ) from exc
            args = ["runuser", "-u", SUPERUSER, "--", *args]
        proc = subprocess.run(args, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise LocalDatabaseError(
                f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def _postgres_can_use(self, directory: Path) -> bool:
        if not self._as_root():
            return True
        return self._run(["test", "-w", str(directory), "-a", "-x", str(directory)], check=False).returncode == 0

    def _choose_data_root(self) -> Path:
        """Where data, socket and log go: inside the state folder when the server's user can
        reach it, else a folder of its own under /var/tmp keyed by this state folder's path."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        root = self.state_dir / "cluster"
        if not self._as_root():
            return root
        root.mkdir(exist_ok=True)
        pg = pwd.getpwnam(SUPERUSER)
        os.chown(root, pg.pw_uid, pg.pw_gid)
        if self._postgres_can_use(root):
            return root
        root.rmdir()
        key = hashlib.sha1(str(self.state_dir.resolve()).encode()).hexdigest()[:16]
        fallback = Path("/var/tmp") / f"convintel-{key}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        os.chown(fallback, pg.pw_uid, pg.pw_gid)
        return fallback

    # -- lifecycle --------------------------------------------------------------------------------
    def _is_running(self, record: dict) -> bool:
        pg_ctl = str(Path(record["bin_dir"]) / "pg_ctl")
        if not Path(pg_ctl).exists() or not Path(record["data_dir"]).exists():
            return False
        return self._run([pg_ctl, "-D", record["data_dir"], "status"], check=False).returncode == 0

    def up(self, wait_seconds: int = 60) -> str:
        """Start (creating on first use) and return the URL. Safe to call when already running."""
        record = self._read_record()
        if record and self._is_running(record):
            return record["url"]
        bin_dir = find_server_binaries()
        if record and Path(record["data_dir"], "PG_VERSION").exists():
            data_root = Path(record["data_root"])
        else:
            data_root = self._choose_data_root()
        data_dir, socket_dir, log_file = data_root / "data", data_root / "run", data_root / "server.log"
        if not (data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir, data_root, data_dir)
        if self._as_root():
            self._run(["mkdir", "-p", str(socket_dir)])
        else:
            socket_dir.mkdir(parents=True, exist_ok=True)

        preferred = record.get("port") if record else None
        last_error: LocalDatabaseError | None = None
        for attempt in range(6):
            port = preferred if attempt == 0 and preferred and _port_is_free(preferred) else free_loopback_port()
            proc = self._run(
                [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_file), "-w",
                 "-t", str(wait_seconds), "-o", f"-p {port} -k {socket_dir} {SERVER_OPTIONS}", "start"],
                check=False,
            )
            if proc.returncode == 0:
                break
            last_error = LocalDatabaseError(
                f"PostgreSQL did not start on port {port}:\n{proc.stdout}{proc.stderr}\n"
                f"{self._log_tail(log_file)}"
            )
            time.sleep(0.2)
        else:
            raise last_error or LocalDatabaseError("PostgreSQL did not start")

        url = f"postgresql://{APP_OWNER}@127.0.0.1:{port}/{DATABASE_NAME}"
        self._write_record({
            "url": url, "port": port, "bin_dir": str(bin_dir), "data_root": str(data_root),
            "data_dir": str(data_dir), "socket_dir": str(socket_dir), "log_file": str(log_file),
        })
        self._create_database(port)
        return url

    def _initdb(self, bin_dir: Path, data_root: Path, data_dir: Path) -> None:
        if self._as_root():
            self._run(["mkdir", "-p", str(data_root)])
        else:
            data_root.mkdir(parents=True, exist_ok=True)
        self._run([
            str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "-N",
        ])

    def _create_database(self, port: int) -> None:
        import psycopg

        admin_url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if not conn.execute("select 1 from pg_roles where rolname = %s", (APP_OWNER,)).fetchone():
                conn.execute(f'create role "{APP_OWNER}" login createdb createrole nosuperuser nobypassrls')
            # `drop database ... with (force)` of throwaway databases must be able to end the other
            # sessions on them (e.g. a pool's idle connections) without superuser rights.
            conn.execute(f'grant pg_signal_backend to "{APP_OWNER}"')
            if not conn.execute("select 1 from pg_database where datname = %s", (DATABASE_NAME,)).fetchone():
                conn.execute(f'create database "{DATABASE_NAME}" owner "{APP_OWNER}"')

    @staticmethod
    def _log_tail(log_file: Path, lines: int = 20) -> str:
        try:
            return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def down(self) -> bool:
        """Stop the cluster; True if it was running. Data stays for the next ``up``."""
        record = self._read_record()
        if not record or not self._is_running(record):
            return False
        self._run([str(Path(record["bin_dir"]) / "pg_ctl"), "-D", record["data_dir"], "-m", "fast", "-w", "stop"])
        return True

    def destroy(self) -> None:
        """Stop and delete the cluster's data (used for throwaway test clusters)."""
        record = self._read_record()
        self.down()
        if record:
            shutil.rmtree(record["data_root"], ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def status(self) -> dict:
        record = self._read_record()
        if not record:
            return {"running": False, "created": False}
        return {"running": self._is_running(record), "created": True, **record}

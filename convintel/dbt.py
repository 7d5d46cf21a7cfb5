"""Running dbt against a database URL: one place that turns DATABASE_URL into dbt's settings.

**Parse states.** A dbt invocation re-parses the whole project (8–10 s idle) unless its target folder holds a
``partial_parse.msgpack`` that dbt accepts: same dbt version, ``--vars``, project files' checksums (changed
files are re-parsed, so edits are always picked up) and the same *profile hash*, which covers the connection
settings, database name included. Each invocation gets its own target folder (concurrent builds must not
share one), so the state is kept between invocations here: ``seed_parse_state`` copies the latest state of
the same settings into a fresh target folder, ``keep_parse_state`` stores the state an invocation left,
atomically. The key leaves out the database name: a state parsed against another database of the same
server, schema and vars is *retargeted* — its ``database``/``relation_name`` fields and profile hash are
rewritten — because this project's parse does not depend on the database name (no ``target.database`` in
it; relations are rendered from those fields). Retargeting is refused, and dbt then parses fully as before,
unless the profile hash recomputed for the state's own database equals the one stored (so the
recomputation is exactly dbt's) and no other field mentions the old database name.

**The manifest Dagster reads** (target/manifest.json, ``prepare_manifest``) is parsed again only when an input
of the parse changed: ``manifest_key`` extends ``parse_state_key`` with the database name, the content of every
file of the project and the env_var()s it reads; the key and the manifest's own digest are kept beside it in
target/manifest.key. Unchanged inputs cost a hash of the project's ~100 files instead of a dbt start-up.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convintel.settings import DBT_PROJECT_DIR, libpq_env

PARSE_STATE_FILE = "partial_parse.msgpack"
# Latest parse state per key (see module docstring); git-ignored with the rest of target/.
PARSE_STATE_DIR = DBT_PROJECT_DIR / "target" / "parse_states"
# The connection settings dbt's profile hash covers, besides the database name (profiles.yml reads them).
_PROFILE_SETTINGS = ("PGHOST", "PGPORT", "PGUSER", "DBT_SCHEMA", "PGSSLMODE")


# The tag of a uniqueness test whose model declares a unique index on the same column: the index creation
# fails on a duplicate, so the model, and with it the build, fails before the test could run; the test can
# never fail on a table that was built. tests/test_dbt_unique_index_tests.py reads the manifest and fails
# when a tagged test has no such index, or an untagged uniqueness test has one.
UNIQUE_INDEX_TAG = "enforced_by_unique_index"

# The dbt tests a learning build (the `dbt_models` asset) leaves out. It keeps only the uniqueness tests (`unique`,
# `unique_combination_of_columns`) that no unique index enforces: a duplicate key in a model the marts group or
# join on would make the detectors count leads or touches twice and store wrong patterns, and the enforced
# contracts do not catch it (they declare not-null only). A failing uniqueness test (or unique index) stops the
# build before the detectors, as before.
# The rest are data-quality checks whose failure does not make a stored pattern wrong by itself (null
# checks — the detector marts' contracts refuse nulls anyway —, accepted values and ranges, relationships,
# the singular invariants between marts): they run in the daily health job (dagster_pipelines/health/dbt_tests.py),
# which reports failures as findings. Unit tests check SQL logic on fixed inputs: the test suite runs them.
# A generic test of another name would run in the learning build (the list excludes, it does not select).
LEARNING_BUILD_EXCLUDES = (
    "test_type:unit", "test_type:singular", "test_name:not_null", "test_name:accepted_values",
    "test_name:accepted_range", "test_name:relationships", "test_name:expression_is_true", f"tag:{UNIQUE_INDEX_TAG}",
)

# What a learning build writes besides the database: nothing. Its target folder is removed once its parse state
# is kept (discard_run_target), and nothing reads its artifacts before that: Dagster streams dbt's structured
# stdout and reads the manifest of `convintel manifest`. Writing manifest.json (twice), graph.gpickle,
# semantic_manifest.json, run_results.json and the debug log (every SQL statement) cost ~1.2 s of dbt's CPU per
# build at 10k leads (9.5/9.2/7.8 s -> 7.9/7.5/7.4 s measured under load 6-7; docs/dbt_runs.md). dbt still
# writes partial_parse.msgpack (not a "json" artifact) and the compiled SQL under run/; a failed build's
# folder keeps those, its error is in Dagster's compute log.
LEARNING_BUILD_OUTPUT_FLAGS = ("--no-write-json", "--log-level-file", "none")


def _excluded(kind: str) -> set[str]:
    return {selector.removeprefix(f"{kind}:") for selector in LEARNING_BUILD_EXCLUDES if selector.startswith(f"{kind}:")}


def runs_in_learning_build(test_node: Mapping[str, Any]) -> bool:
    """Whether a dbt test node (manifest.json) is among the tests a learning build runs: a generic test
    whose name and tags ``LEARNING_BUILD_EXCLUDES`` do not exclude (singular and unit tests never are)."""
    name = (test_node.get("test_metadata") or {}).get("name")
    return (name is not None and name not in _excluded("test_name")
            and not _excluded("tag") & set(test_node.get("tags") or ()))


UNIQUENESS_TESTS = ("unique", "unique_combination_of_columns")


def enforced_by_unique_index(test_node: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
    """Whether a uniqueness test can only pass on a built table: its model is built as a table (or
    incremental) with a unique index on exactly the test's columns, so a duplicate fails the index and the
    build. ``unique`` ignores NULLs like the index; ``unique_combination_of_columns`` groups NULLs together
    where the index lets them repeat, so there every column must also be NOT NULL (an enforced contract's
    not_null constraint)."""
    metadata = test_node.get("test_metadata") or {}
    arguments = metadata.get("kwargs") or {}
    if metadata.get("name") == "unique":
        columns = [arguments.get("column_name")]
    elif metadata.get("name") == "unique_combination_of_columns":
        columns = list(arguments.get("combination_of_columns") or [])
    else:
        return False
    model = manifest["nodes"].get(test_node.get("attached_node") or "", {})
    config = model.get("config") or {}
    if model.get("resource_type") != "model" or config.get("materialized") not in ("table", "incremental"):
        return False
    wanted = {str(column).strip('"').lower() for column in columns if column}
    if not wanted or not any(index.get("unique") and {c.strip('"').lower() for c in index.get("columns", [])} == wanted
                             for index in config.get("indexes") or []):
        return False
    if metadata["name"] == "unique":
        return True
    declared = {name.lower(): column for name, column in (model.get("columns") or {}).items()}
    return bool((config.get("contract") or {}).get("enforced")) and all(
        any(constraint.get("type") == "not_null" for constraint in (declared.get(name) or {}).get("constraints") or [])
        for name in wanted)


def dbt_executable() -> str:
    """The dbt of this environment (the venv's), whether or not its bin/ is on PATH."""
    beside = Path(sys.prefix) / "bin" / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_env(url: str, schema: str | None = None) -> dict[str, str]:
    """Environment for a dbt process: the caller's, plus the PG* settings profiles.yml reads."""
    env = dict(os.environ)
    env.update(libpq_env(url, schema))
    env.setdefault("DBT_PROFILES_DIR", str(DBT_PROJECT_DIR))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def run_dbt(
    args: list[str],
    url: str,
    schema: str | None = None,
    capture: bool = False,
    target_path: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``dbt ARGS`` in the project folder against ``url``; raises CalledProcessError on failure.

    ``target_path`` keeps concurrent builds (tests, several databases) from sharing dbt's target/; it is
    seeded with the latest parse state of the same settings and its state is kept afterwards.
    """
    env = dbt_env(url, schema)
    target = target_path if target_path is not None else DBT_PROJECT_DIR / "target"
    if target_path is not None:
        env["DBT_TARGET_PATH"] = str(target_path)
        env["DBT_LOG_PATH"] = str(target_path / "logs")
    key = parse_state_key(env, args)
    seed_parse_state(target, key, env)
    try:
        return subprocess.run(
            [dbt_executable(), *args],
            cwd=DBT_PROJECT_DIR,
            env=env,
            check=True,
            text=True,
            capture_output=capture,
        )
    finally:
        keep_parse_state(target, key)  # a failing test leaves a valid state too; dbt checks it on every use


def prepare_manifest(url: str | None = None) -> Path:
    """`dbt parse`, so @dbt_assets can read target/manifest.json at import time (STACK.md) — unless the
    manifest there was parsed from exactly the inputs this parse would read (``manifest_key``).

    Parsing does not connect; without a URL the profile gets placeholder settings. With the deployment's
    URL (`convintel manifest`), the parse state it leaves is the one every learning run starts from.
    """
    url = url or "postgresql://convintel@127.0.0.1:5432/convintel"
    target = DBT_PROJECT_DIR / "target"
    args = ["parse", "--quiet"]
    key = manifest_key(dbt_env(url), args)
    if manifest_is_current(target, key):
        return target / "manifest.json"  # a `dbt parse` is a whole dbt start-up (~3-4 s); this check ~10 ms
    target.mkdir(parents=True, exist_ok=True)
    # The key goes first (a parse that fails half way must not leave an old key beside a new manifest) and
    # comes back last, naming the digest of the manifest it describes: a manifest written by anything else
    # (`convintel dbt` writes into target/ itself) does not match it.
    (target / MANIFEST_KEY_FILE).unlink(missing_ok=True)
    # Parsed in a folder of its own (seeded from the kept states), then moved into target/ file by file:
    # a process loading the manifest meanwhile reads the old one or the new one, never half of one.
    with tempfile.TemporaryDirectory(prefix="parse-", dir=target) as folder:
        run_dbt(args, url, target_path=Path(folder))
        digest = _file_digest(Path(folder) / "manifest.json")
        for name in ("manifest.json", PARSE_STATE_FILE):
            os.replace(Path(folder) / name, target / name)
    _write_atomically(target / MANIFEST_KEY_FILE, f"{key} {digest}\n".encode())
    return target / "manifest.json"


# Beside target/manifest.json: the key of the inputs it was parsed from and the sha256 of the manifest itself.
MANIFEST_KEY_FILE = "manifest.key"
# What dbt never reads under the project folder: its outputs, and its per-user file.
_NOT_PROJECT_INPUTS = {"target", "logs", ".user.yml"}
# env_var() calls in the project's files: the variables a parse can depend on besides the profile's settings.
_ENV_VAR_CALL = re.compile(rb"""env_var\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")
# Read by profiles.yml but never part of a manifest (not in dbt's profile hash either); not written to disk.
_SECRET_SETTINGS = {"PGPASSWORD"}


def manifest_key(env: Mapping[str, str], args: Sequence[str] = ()) -> str:
    """Which inputs a `dbt parse` reads: ``parse_state_key`` (dbt-core and adapter versions, the profile's
    connection settings, ``--vars``) plus the database name, the content of every file under the dbt project
    (models, macros, tests, seeds, YAML, dbt_project.yml, profiles.yml, packages; not target/ or logs/) and the
    value of every variable those files read with env_var(). Equal keys: the parse would write the same manifest."""
    files = hashlib.sha256()
    variables = set(_PROFILE_SETTINGS) | {"PGDATABASE", "DBT_PROFILES_DIR"}
    for path in _project_inputs(DBT_PROJECT_DIR):
        content = path.read_bytes()
        files.update(path.relative_to(DBT_PROJECT_DIR).as_posix().encode() + b"\x00")
        files.update(hashlib.sha256(content).digest())
        variables |= {name.decode() for name in _ENV_VAR_CALL.findall(content)}
    profiles = Path(env.get("DBT_PROFILES_DIR") or DBT_PROJECT_DIR) / "profiles.yml"  # elsewhere if so configured
    if profiles.exists() and profiles.parent.resolve() != DBT_PROJECT_DIR.resolve():
        files.update(b"profiles\x00" + hashlib.sha256(profiles.read_bytes()).digest())
    parts = [parse_state_key(env, args), files.hexdigest(),
             *(f"{name}={env.get(name, '')}" for name in sorted(variables - _SECRET_SETTINGS))]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def manifest_is_current(target: Path, key: str) -> bool:
    """Whether ``target``'s manifest.json was written by ``prepare_manifest`` from inputs of ``key``, and not
    changed since."""
    try:
        stored_key, digest = (target / MANIFEST_KEY_FILE).read_text().split()
        return stored_key == key and _file_digest(target / "manifest.json") == digest
    except (OSError, ValueError):
        return False


def _project_inputs(root: Path) -> list[Path]:
    """Every file under the dbt project folder that dbt may read, in a stable order."""
    found = []
    for folder, directories, files in os.walk(root):
        if Path(folder) == root:
            directories[:] = [d for d in directories if d not in _NOT_PROJECT_INPUTS]
        directories.sort()
        found.extend(Path(folder) / name for name in sorted(files)
                     if not (Path(folder) == root and name in _NOT_PROJECT_INPUTS))
    return found


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- per-invocation target folders -----------------------------------------------------------------------

# The folders of dbt invocations under dbt_project/target/ that nothing reads once the invocation is over:
# a learning build's (`dbt_models` asset: <op>-<run id prefix>-<random>, ~5 MB each: manifest, parse state,
# compiled SQL, logs) and the temporary folders of `convintel manifest`, the bench and the health job that a
# killed process left behind. Kept: parse_states/ (the parse-state reuse), the top-level manifest.json and
# partial_parse.msgpack (@dbt_assets and `convintel manifest`), and anything else (`convintel dbt` writes
# into target/ itself).
_RUN_TARGET_NAME = re.compile(r"^(?:[a-z_]+-[0-9a-f]{8}-[0-9a-f]{7}|(?:parse|bench-dbt|health-dbt-test)-[a-z0-9_]{8})$")
# An invocation's folder is left alone until this long after its last write: a build still running, or the
# logs of a failed one for whoever looks into it.
RUN_TARGET_MAX_AGE_SECONDS = 24 * 3600


def discard_run_target(target: Path) -> None:
    """Remove the folder of a finished dbt invocation (after ``keep_parse_state`` kept its parse state)."""
    shutil.rmtree(target, ignore_errors=True)


def prune_run_targets(root: Path | None = None, max_age_seconds: float = RUN_TARGET_MAX_AGE_SECONDS,
                      now: float | None = None) -> list[Path]:
    """Remove the per-invocation folders under ``root`` (dbt_project/target) last written more than
    ``max_age_seconds`` ago; the removed folders. Folders of other names are never touched."""
    root = root if root is not None else DBT_PROJECT_DIR / "target"
    now = time.time() if now is None else now
    removed = []
    try:
        candidates = [entry for entry in root.iterdir() if entry.is_dir() and _RUN_TARGET_NAME.match(entry.name)]
    except FileNotFoundError:
        return removed
    for folder in candidates:
        if now - _last_written(folder) > max_age_seconds:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _last_written(folder: Path) -> float:
    """The latest modification time of the folder, its direct entries and its log folder's entries (dbt
    appends to logs/dbt.log while it runs)."""
    times = []
    for directory in (folder, folder / "logs"):
        try:
            times.append(directory.stat().st_mtime)
            times.extend(entry.stat().st_mtime for entry in directory.iterdir())
        except OSError:
            continue
    return max(times, default=0.0)


# -- parse states ------------------------------------------------------------------------------------

def _vars_argument(args: Sequence[str]) -> str:
    """The ``--vars`` value of a dbt command line ('' without one): part of dbt's state check."""
    for position, arg in enumerate(args):
        if arg == "--vars" and position + 1 < len(args):
            return args[position + 1]
        if arg.startswith("--vars="):
            return arg.partition("=")[2]
    return ""


def parse_state_key(env: Mapping[str, str], args: Sequence[str] = ()) -> str:
    """Which parse states are interchangeable (up to the database name): dbt's version, the connection
    settings of the profile hash without the database, the ``--vars`` of the command line."""
    from importlib.metadata import version

    parts = [version("dbt-core"), version("dbt-postgres"), *(env.get(name, "") for name in _PROFILE_SETTINGS),
             _vars_argument(args)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:20]


def seed_parse_state(target: Path, key: str, env: Mapping[str, str]) -> bool:
    """Put the latest parse state of ``key`` into ``target`` (retargeted to ``env``'s database when it
    was parsed against another one) unless ``target`` has one already. True when a state was placed."""
    destination = target / PARSE_STATE_FILE
    source = PARSE_STATE_DIR / f"{key}.msgpack"
    if destination.exists() or not source.exists():
        return False
    try:
        data = _retargeted(source.read_bytes(), env.get("PGDATABASE", ""), env)
    except Exception:  # noqa: BLE001 — an optimisation only: whatever goes wrong, dbt parses fully as before
        return False
    target.mkdir(parents=True, exist_ok=True)
    _write_atomically(destination, data)
    return True


def keep_parse_state(target: Path, key: str) -> None:
    """Store the parse state an invocation left in ``target`` as the latest of ``key`` (atomic: a
    concurrent reader sees the previous state or this one, never a mix)."""
    state = target / PARSE_STATE_FILE
    if state.exists():
        PARSE_STATE_DIR.mkdir(parents=True, exist_ok=True)
        _write_atomically(PARSE_STATE_DIR / f"{key}.msgpack", state.read_bytes())


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class _NotRetargetable(Exception):
    """The state cannot be proven equivalent for the new database: let dbt parse."""


def _retargeted(data: bytes, database: str, env: Mapping[str, str]) -> bytes:
    """The parse state ``data`` for ``database`` (``data`` itself when it was parsed against it)."""
    import msgpack

    state = msgpack.unpackb(data, raw=False, strict_map_key=False)
    sections = ("nodes", "sources")
    old = {node.get("database") for section in sections for node in state.get(section, {}).values()} - {None}
    if len(old) != 1:
        raise _NotRetargetable
    [old_database] = old
    if old_database == database:
        return data
    profile_hash = state.get("state_check", {}).get("profile_hash", {})
    if not old_database or not database or profile_hash.get("checksum") != _profile_hash(env, old_database):
        raise _NotRetargetable
    old_prefix, new_prefix = f'"{old_database}".', f'"{database}".'
    for section in sections:
        for node in state[section].values():
            if node.get("database") == old_database:
                node["database"] = database
            relation = node.get("relation_name")
            if isinstance(relation, str) and relation.startswith(old_prefix):
                node["relation_name"] = new_prefix + relation[len(old_prefix):]
    profile_hash["checksum"] = _profile_hash(env, database)
    if _mentions(state, old_database):
        raise _NotRetargetable
    return msgpack.packb(state)


def _mentions(value: Any, text: str) -> bool:
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(_mentions(k, text) or _mentions(v, text) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_mentions(v, text) for v in value)
    return False


def _profile_hash(env: Mapping[str, str], database: str) -> str:
    """dbt's profile hash (``ManifestLoader.build_manifest_state_check``) of profiles.yml's output rendered
    with ``env`` and ``database``: sha256 of the sorted connection info, pformat-ted."""
    import pprint

    import jinja2.nativetypes
    import yaml
    from dbt.adapters.postgres.connections import PostgresCredentials

    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    [profile] = profiles.values()
    output = dict(profile["outputs"][profile["target"]])
    values = {**env, "PGDATABASE": database}
    jinja = jinja2.nativetypes.NativeEnvironment()
    jinja.filters["as_number"] = lambda value: int(value)
    context = {"env_var": lambda name, default=None: values.get(name, default)}
    rendered = {key: jinja.from_string(value).render(context) if isinstance(value, str) else value
                for key, value in output.items() if key not in ("type", "threads")}
    credentials = PostgresCredentials.from_dict(PostgresCredentials.translate_aliases(rendered))
    return hashlib.sha256(pprint.pformat(sorted(credentials.connection_info())).encode()).hexdigest()

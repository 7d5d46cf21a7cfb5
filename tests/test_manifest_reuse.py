"""`prepare_manifest` parses only when an input of the parse changed (convintel.dbt.manifest_key).

A stale manifest would silently give Dagster a wrong asset graph, so: every kind of input a parse reads
changes the key (files of every kind, the database, the schema, an env_var() the project reads, dbt's
version), and against a copy of the dbt project the real `dbt parse` runs again after an edit, a change
of database, or a manifest written by something else — and not at all when nothing changed.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import pytest

import convintel.dbt as dbt
from convintel.settings import DBT_PROJECT_DIR

URL = "postgresql://convintel@127.0.0.1:5432/manifest_test"


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the dbt project (without target/ and logs/) that convintel.dbt works on."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=lambda folder, names: [
        n for n in names if Path(folder) == DBT_PROJECT_DIR and n in ("target", "logs", ".user.yml")])
    states = copy / "target" / "parse_states"
    states.mkdir(parents=True)
    if dbt.PARSE_STATE_DIR.exists():  # the checkout's kept states: the copy's parses are partial, as a checkout's are
        for state in dbt.PARSE_STATE_DIR.glob("*.msgpack"):
            shutil.copy(state, states)
    monkeypatch.setattr(dbt, "DBT_PROJECT_DIR", copy)
    monkeypatch.setattr(dbt, "PARSE_STATE_DIR", states)
    monkeypatch.delenv("DBT_SCHEMA", raising=False)
    return copy


def key(url: str = URL) -> str:
    return dbt.manifest_key(dbt.dbt_env(url), ["parse", "--quiet"])


def edit(path: Path, text: str = "\n-- edited\n") -> None:
    path.write_text(path.read_text() + text)


def test_every_input_of_the_parse_changes_the_key(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = key()
    assert key() == before
    # Outputs and dbt's per-user file are no inputs.
    (project / "target" / "run.sql").write_text("select 1")
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("log")
    (project / ".user.yml").write_text("id: someone")
    assert key() == before
    seen = {before}
    for changed in ("models/intermediate/int_touches.sql", "models/intermediate/_intermediate.yml",
                    "macros/parallel.sql", "seeds/cta_phrases.csv", "dbt_project.yml", "profiles.yml",
                    "tests/who/assert_new_rule.sql", "packages.yml"):
        path = project / changed
        if path.exists():
            edit(path, "\n# edited\n" if path.suffix in (".yml", ".csv") else "\n-- edited\n")
        else:  # a new file (a singular test, packages)
            path.write_text("select 1 where false" if path.suffix == ".sql" else "packages: []\n")
        assert key() not in seen, changed
        seen.add(key())
    assert key("postgresql://convintel@127.0.0.1:5432/other") not in seen  # the database
    assert key("postgresql://convintel@127.0.0.1:5433/manifest_test") not in seen  # the profile's settings
    monkeypatch.setenv("DBT_SCHEMA", "elsewhere")
    assert key() not in seen  # the schema
    monkeypatch.delenv("DBT_SCHEMA")
    # A profiles.yml outside the project (DBT_PROFILES_DIR): its folder and its content.
    elsewhere = project.parent / "profiles_elsewhere"
    elsewhere.mkdir()
    shutil.copy(project / "profiles.yml", elsewhere)
    monkeypatch.setenv("DBT_PROFILES_DIR", str(elsewhere))
    assert key() not in seen
    seen.add(key())
    edit(elsewhere / "profiles.yml", "\n# edited\n")
    assert key() not in seen
    monkeypatch.delenv("DBT_PROFILES_DIR")
    current = key()
    # A variable the project reads with env_var() counts, one it does not read does not.
    monkeypatch.setenv("CONVINTEL_MANIFEST_TEST_VAR", "a")
    assert key() == current
    model = project / "models" / "intermediate" / "int_touches.sql"
    edit(model, "\n-- {{ env_var('CONVINTEL_MANIFEST_TEST_VAR', '') }}\n")
    with_variable = key()
    monkeypatch.setenv("CONVINTEL_MANIFEST_TEST_VAR", "b")
    assert key() != with_variable
    # dbt's version (dbt-core or the adapter).
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "9.9.9" if name == "dbt-core" else real_version(name))
    assert key() not in (with_variable, current)


@pytest.mark.slow
def test_the_manifest_is_parsed_again_exactly_when_an_input_changed(project: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    parses = []  # each `dbt parse` started, with whether a key file was on disk at that moment
    real_run_dbt = dbt.run_dbt
    key_file = project / "target" / dbt.MANIFEST_KEY_FILE

    def counting_run_dbt(args, url, *rest, **options):
        parses.append(key_file.exists())
        return real_run_dbt(args, url, *rest, **options)

    monkeypatch.setattr(dbt, "run_dbt", counting_run_dbt)
    manifest = dbt.prepare_manifest(URL)
    assert len(parses) == 1 and manifest == project / "target" / "manifest.json"
    assert dbt.prepare_manifest(URL) == manifest and len(parses) == 1  # nothing changed: no dbt process

    # An edited model: parsed again, and the manifest has the edit.
    edit(project / "models" / "intermediate" / "int_touches.sql", "\n-- manifest reuse test edit\n")
    dbt.prepare_manifest(URL)
    assert len(parses) == 2
    touches = json.loads(manifest.read_text())["nodes"]["model.conversion_intelligence.int_touches"]
    assert "manifest reuse test edit" in touches["raw_code"]
    dbt.prepare_manifest(URL)
    assert len(parses) == 2

    # Another database: parsed again (the relations name it).
    other = URL.replace("manifest_test", "manifest_other")
    dbt.prepare_manifest(other)
    assert len(parses) == 3
    assert json.loads(manifest.read_text())["nodes"]["model.conversion_intelligence.int_touches"]["database"] == "manifest_other"
    # While dbt parsed, no key was on disk: a parse that fails half way leaves no old key beside a new manifest.
    assert parses == [False, False, False]
    assert dbt.manifest_is_current(project / "target", key(other))

    # A manifest written by something else (`convintel dbt` writes into target/ itself) is not current.
    manifest.write_text(manifest.read_text().replace("manifest_other", "manifest_third"))
    assert not dbt.manifest_is_current(project / "target", key(other))

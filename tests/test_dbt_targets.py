"""Per-invocation dbt target folders are removed once nothing reads them; everything else in target/ stays."""

from __future__ import annotations

import os
from pathlib import Path

from convintel.dbt import discard_run_target, prune_run_targets

NOW = 1_800_000_000.0
DAY = 24 * 3600


def _folder(root: Path, name: str, age_seconds: float, log_age_seconds: float | None = None) -> Path:
    folder = root / name
    (folder / "logs").mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    log = folder / "logs" / "dbt.log"
    log.write_text("")
    for path in (folder / "manifest.json", folder / "logs", folder):
        os.utime(path, (NOW - age_seconds, NOW - age_seconds))
    stamp = NOW - (age_seconds if log_age_seconds is None else log_age_seconds)
    os.utime(log, (stamp, stamp))
    return folder


def test_prune_removes_only_old_invocation_folders(tmp_path: Path) -> None:
    old_build = _folder(tmp_path, "dbt_models-0a1b2c3d-4e5f6a7", 2 * DAY)
    running_build = _folder(tmp_path, "dbt_models-11112222-3333444", 2 * DAY, log_age_seconds=60)
    recent_build = _folder(tmp_path, "dbt_models-aaaabbbb-ccccddd", 3600)
    killed_parse = _folder(tmp_path, "parse-k3_x9q0z", 2 * DAY)
    killed_bench = _folder(tmp_path, "bench-dbt-abcd1234", 2 * DAY)
    killed_health = _folder(tmp_path, "health-dbt-test-zz_09aqw", 2 * DAY)
    kept = [_folder(tmp_path, name, 30 * DAY) for name in
            ("parse_states", "compiled", "run", "dbt_models", "dbt_models-0a1b2c3d", "my-notes-0a1b2c3d-4e5f6a7x")]
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "partial_parse.msgpack").write_bytes(b"")

    removed = prune_run_targets(tmp_path, now=NOW)

    assert sorted(removed) == sorted([old_build, killed_parse, killed_bench, killed_health])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running_build.name, recent_build.name, *(k.name for k in kept), "manifest.json", "partial_parse.msgpack"])


def test_prune_of_a_missing_folder_removes_nothing(tmp_path: Path) -> None:
    assert prune_run_targets(tmp_path / "absent", now=NOW) == []


def test_discard_run_target(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "dbt_models-0a1b2c3d-4e5f6a7", 0)
    discard_run_target(folder)
    discard_run_target(folder)  # already gone: no error
    assert not folder.exists()

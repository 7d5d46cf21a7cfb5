"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from convintel.dbt import run_dbt


def dbt_or_fail(args: list[str], url: str, target: Path, schema: str = "analytics") -> subprocess.CompletedProcess:
    """Run dbt against ``url`` with its own target folder; on failure, fail the test with dbt's report."""
    try:
        return run_dbt(args, url, schema=schema, capture=True, target_path=target)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"dbt {' '.join(args)} failed:\n{exc.stdout}\n{exc.stderr}")

"""Learned lead-score weights against planted truth in a synthetic world built to reward them.

In the default ("correlated") synthetic world the four ALS components share a latent lead quality, so
learned weights barely beat the defaults (tests/test_who_recovery.py: none ship). With
``generate(..., als_signal="independent")`` each component has its own latent quality, the true weights
sit far from the defaults (at least two components ≥ 0.15 away) and the scale is strong
(docs/synthetic_world.md). There the WHO detector's learned weights must ship for every client, beat
the defaults out of sample and land closer (L1) to the planted weights than the defaults are.

One database for the module, one world (seed 515, 2 clients), one ``dbt build`` at a fixed ``as_of``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from convintel.synth import SynthError, generate
from dagster_pipelines.marts.who import load_who_inputs
from detectors.who import detect_who
from detectors.who_weights import COMPONENTS, DEFAULT_WEIGHTS
from support import dbt_or_fail

pytestmark = pytest.mark.slow

SCHEMA = "dbt_who_weights_world_test"
AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)
DBT_VARS = json.dumps({"as_of": AS_OF.isoformat(), "stale_after_days": 30})
SEED, CLIENTS, LEADS = 515, 2, 16_000


def l1(weights: dict[str, float], truth: dict[str, float]) -> float:
    return sum(abs(weights[c] - truth[c]) for c in COMPONENTS)


def test_unknown_als_signal_is_refused() -> None:
    with pytest.raises(SynthError, match="als_signal"):   # refused before any connection is made
        generate("postgresql://unused.invalid/none", clients=1, leads=10, seed=1, as_of=AS_OF, als_signal="shared")


def test_learned_weights_ship_and_recover_the_planted_weights_in_an_independent_world(
        module_db_url: str, tmp_path: Path) -> None:
    url = module_db_url
    truth_path = tmp_path / "truth.json"
    generate(url, clients=CLIENTS, leads=LEADS, seed=SEED, truth_path=truth_path, as_of=AS_OF,
             als_signal="independent")
    truth = json.loads(truth_path.read_text())
    assert truth["parameters"]["als_signal"] == "independent"
    planted = {c["client_id"]: c["planted"]["log_odds"]["als"]["true_weights"] for c in truth["clients"]}
    dbt_or_fail(["build", "--select", "+path:models/marts/who", "--indirect-selection", "cautious", "--vars", DBT_VARS], url, tmp_path / "target", schema=SCHEMA)
    with psycopg.connect(url) as conn:
        inputs = list(load_who_inputs(conn, SCHEMA))
    assert {str(i.client_id) for i in inputs} == set(planted)
    report = []
    for item in inputs:
        true_weights = planted[str(item.client_id)]
        assert item.leads_with_outcome >= 3_000, item.leads_with_outcome
        result = detect_who(item, computed_at=AS_OF)
        assert result.patterns is not None
        validation = result.patterns["weights_validation"]
        learned = result.learned_weights
        report.append((item.leads_with_outcome, validation, learned, true_weights))
        assert validation["shipped"] is True, validation
        assert validation["cv_auc_learned"] > validation["cv_auc_default"], validation
        assert learned is not None
        assert {c: result.patterns["recommended_weights"][c] for c in COMPONENTS} == learned
        assert l1(learned, true_weights) < l1(DEFAULT_WEIGHTS, true_weights), (learned, true_weights)
    print(report)

"""Learned lead-score weights against planted truth in a synthetic world built to reward them.

In the default ("correlated") synthetic world the four ALS components share a latent lead quality, so
learned weights barely beat the defaults (tests/test_who_recovery.py: none ship). With
``generate(..., als_signal="independent")`` each component has its own latent quality, the true weights
sit far from the defaults (at least two components ≥ 0.15 away) and the scale is strong
(docs/synthetic_world.md). There the WHO detector's learned weights must ship for every client, beat
the defaults out of sample and land closer (L1) to the planted weights than the defaults are.

That world (seed 515, 2 clients, 16,000 leads) lives in tests/test_who_recovery.py's database and is
built by its one ``dbt build``, so the test of this claim is there:
``test_learned_weights_ship_and_recover_the_planted_weights_in_an_independent_world``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from convintel.synth import SynthError, generate

AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)


def test_unknown_als_signal_is_refused() -> None:
    with pytest.raises(SynthError, match="als_signal"):   # refused before any connection is made
        generate("postgresql://unused.invalid/none", clients=1, leads=10, seed=1, as_of=AS_OF, als_signal="shared")

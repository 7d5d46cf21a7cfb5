"""Synthetic platform history with planted truth (SPEC §10; docs/synthetic_world.md)."""

from convintel.synth.generator import SynthError, SynthSummary, generate

__all__ = ["SynthError", "SynthSummary", "generate"]

"""The detectors' complete output on a built database, as canonical JSON: the check that a change to the
loaders or the detectors (e.g. for speed or memory) leaves every result exactly as it was.

    python -m bench.detector_outputs URL OUT.json [SCHEMA]   # every detector, every client, in one process
    python -m bench.detector_outputs --compare A.json B.json # exit 1 and name the first differences

Run it once with the old code (e.g. ``PYTHONPATH=<checkout of the old commit>``) and once with the new one
on the same database, then compare. ``computed_at`` is fixed so the files are byte-comparable; each
result's fields (patterns, sample size, confidence, conversions, gate reason, learned weights) are kept,
floats in their shortest round-trip form (``repr``), so equal files mean bit-identical numbers.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone

FIXED_COMPUTED_AT = datetime(2026, 6, 1, tzinfo=timezone.utc)


def detector_outputs(url: str, schema: str = "analytics") -> dict[str, dict[str, dict]]:
    """{pattern type: {client id: result as a dict}} for every registered detector."""
    import psycopg

    from dagster_pipelines.assets.patterns import DETECTORS

    outputs: dict[str, dict[str, dict]] = {}
    with psycopg.connect(url) as conn:
        for spec in DETECTORS:
            results = spec.run(conn, schema, [], FIXED_COMPUTED_AT)
            outputs[spec.pattern_type] = {str(r.client_id): asdict(r) for r in results}
    return outputs


def _differences(a: object, b: object, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{path}/{k}: only in {'first' if k in a else 'second'}" for k in sorted(set(a) ^ set(b), key=str)]
        for key in sorted(set(a) & set(b), key=str):
            found += _differences(a[key], b[key], f"{path}/{key}")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    same_nan = isinstance(a, float) and isinstance(b, float) and a != a and b != b
    return [] if same_nan or (a == b and type(a) is type(b)) else [f"{path}: {a!r} != {b!r}"]


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        texts = [open(p).read() for p in sys.argv[2:4]]
        first, second = (json.loads(text) for text in texts)
        found = [] if texts[0] == texts[1] else _differences(first, second) or ["same values, different text"]
        print("\n".join(found[:40]) or f"identical: {sum(len(v) for v in first.values())} results")
        raise SystemExit(1 if found else 0)
    text = json.dumps(detector_outputs(sys.argv[1], *(sys.argv[3:4])), sort_keys=True, default=str)
    open(sys.argv[2], "w").write(text)
    print(f"wrote {len(text):,} characters to {sys.argv[2]}")

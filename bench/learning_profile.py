"""Where a learning run's time goes, from the benchmark's own measurements (issue 11: a missed target is
reported with a profile and what would close the gap). Pure functions over one size's results row.

dbt runs its nodes on ``DBT_THREADS`` threads, so node seconds are divided by the threads to estimate
their share of dbt's wall time; what is left of the wall time is dbt's start-up, parse, bookkeeping
between nodes — and a thread left idle while a long model runs alone on the critical path (at 100k
leads the WHAT content matching, int_what_content, runs ~30 s with little beside it; PostgreSQL's
parallel workers, not dbt's second thread, are what can use the other core then — not measured), so
this part is an upper bound on the fixed cost.
"""

from __future__ import annotations

DBT_THREADS = 2   # dbt_project/profiles.yml

OUTSIDE_NODES = "dbt outside its nodes (start-up, parse, bookkeeping, an idle thread)"

# What would shrink each part (suggestions; the benchmark changes nothing).
LEARNING_NOTES: dict[str, str] = {
    OUTSIDE_NODES: "the Python start-up of dbt, the parse (partial when the parse state is kept) and dbt's "
                   "per-node metadata queries — fixed per run, it dominates small worlds and is why a small run "
                   "cannot be 5× faster than a small naive one — plus dbt's second thread idle while the slowest "
                   "model runs alone (int_what_content: its parallel workers can use the other core meanwhile; "
                   "how much is not measured)",
    "dbt models": "SQL time: the slowest models are listed beside the table; fewer passes over touch-level "
                  "tables (one wide touch model feeding every mart); the WHAT text caches are incremental (the "
                  "weekly re-run matches only new touches), the other touch-level models are rebuilt every run",
    "dbt data tests": "the uniqueness tests of the marts (the intermediate models' are enforced by unique "
                      "indexes and left out); the health job runs the data-quality tests",
    "dbt unit tests": "unit tests check SQL logic on fixed inputs: the test suite's job, not a learning run's",
    "dbt seeds": "seed loading: unchanged seeds need not be reloaded",
    "detectors": "Python inference per client (rankings on numpy columns already): per-client overhead "
                 "(WHO's weight fitting, ~40% of WHO) times the number of clients, and staging each result; "
                 "the four detectors run one after another, each step on both cores only when it has >= 4 clients "
                 "and >= 100,000 touches (its chunks of clients rescan the marts, which have no index by client)",
    "store": "one transaction per client with the history rows, reading the client's staged results",
}


def learning_parts(row: dict) -> dict[str, float]:
    """Seconds per part of one size's learning run (largest first): dbt split by node type, detectors, store."""
    stages = row["stages"]
    dbt = stages["dbt_build"]
    nodes = {kind: seconds / DBT_THREADS for kind, seconds in (dbt.get("node_seconds") or {}).items()}
    parts = {f"dbt {kind.replace('_', ' ')}s" if kind != "test" else "dbt data tests": seconds
             for kind, seconds in nodes.items() if seconds > 0}
    parts[OUTSIDE_NODES] = max(0.0, dbt["seconds"] - sum(nodes.values()))
    parts["detectors"] = sum(stage["seconds"] for name, stage in stages.items() if name.startswith("detect:"))
    parts["store"] = stages["store"]["seconds"]
    return dict(sorted(((k, round(v, 2)) for k, v in parts.items()), key=lambda item: -item[1]))


def learning_profile_lines(row: dict, *, floor_ratio: float, naive_ratio: float) -> list[str]:
    """Markdown lines: the parts of the learning time at this size, the time each target would allow,
    and the notes of the parts that take at least a tenth of the run."""
    parts = learning_parts(row)
    total = sum(parts.values()) or 1.0
    allowed = [f"≤ {floor_ratio:g}× the floor: {row['floor_seconds'] * floor_ratio:.1f} s"]
    naive = row.get("naive") or {}
    if naive.get("finished"):
        allowed.append(f"≥ {naive_ratio:g}× faster than naive: {naive['seconds'] / naive_ratio:.1f} s")
    lines = [f"Learning at {row['leads']:,} leads: {row['learning_seconds']:.1f} s — "
             + ", ".join(f"{name} {seconds:.1f} s ({seconds / total:.0%})" for name, seconds in parts.items())
             + ". The targets would allow " + "; ".join(allowed) + "."]
    lines += [f"- {name}: {LEARNING_NOTES[name]}" for name, seconds in parts.items()
              if seconds / total >= 0.1 and name in LEARNING_NOTES]
    return lines

"""Pattern health (SPEC §8): is what the learning job stored fit to be used?

* ``rules`` — the SPEC §8 rules as pure functions over stored patterns and their history (severities
  and the reasons for them in its docstring);
* ``expectations`` — the Great Expectations 1.x suites on ``conversion_patterns`` and
  ``conversion_pattern_history`` (ephemeral context, PostgreSQL data source, data docs);
* ``store`` — reading the store under forced row-level security, recording ``pattern_health_runs`` /
  ``pattern_health_findings`` (migration 003);
* ``alerts`` — high-severity findings to the log and to ``CONVINTEL_ALERT_WEBHOOK_URL``;
* ``dbt_tests`` — the dbt data tests the learning build leaves out, failures as findings;
* ``report`` — one health run end to end (``run_health``), used by the ``pattern_health`` asset.
"""

from convintel import settings

DEFAULT_DOCS_DIR = settings.STATE_DIR / "gx_docs"

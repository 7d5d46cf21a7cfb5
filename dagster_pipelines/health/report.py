"""One health run end to end: read the store, apply the rules, run the GX suites, record, alert."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID

import psycopg

from dagster_pipelines.health import store
from dagster_pipelines.health.alerts import AlertOutcome, send_alerts
from dagster_pipelines.health.dbt_tests import DbtTestsOutcome, run_dbt_tests
from dagster_pipelines.health.expectations import ExpectationsOutcome, run_expectations
from dagster_pipelines.health.rules import SEVERITIES, Finding, check_validity, evaluate_rules
from dagster_pipelines.markdown import markdown_header, markdown_row

_SEVERITY_ORDER = {severity: position for position, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class HealthReport:
    run_id: UUID
    checked_at: datetime
    findings: list[Finding]
    clients_checked: int
    patterns_checked: int
    expectations: ExpectationsOutcome
    alert: AlertOutcome | None = None
    dbt_tests: DbtTestsOutcome | None = None

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(f.severity for f in self.findings)
        return {severity: counted.get(severity, 0) for severity in SEVERITIES}

    def by_severity(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]


def evaluate(conn: psycopg.Connection, dbt_schema: str, now: datetime) -> tuple[list[Finding], int, int]:
    """Rule findings over the whole store, client batch by client batch, and the agency-wide patterns'
    validity: (findings, clients, client patterns)."""
    findings: list[Finding] = []
    clients = patterns = 0
    if not store.conversions_available(conn, dbt_schema):
        findings.append(Finding(
            "conversions_unavailable", "low",
            f"dbt mart {dbt_schema}.{store.CONVERSIONS_MART} not found: the missing-type rule was skipped "
            "(run the learning job first)",
            details={"schema": dbt_schema},
        ))
    for batch in store.read_batches(conn, dbt_schema):
        clients += len(batch.client_ids)
        patterns += len(batch.stored)
        findings += evaluate_rules(batch.stored, batch.history, batch.conversions, now)
    for agency in store.read_agency(conn):  # served to clients without their own pattern: stale the same way
        findings += check_validity(agency, now)
    return findings, clients, patterns


def run_health(
    url: str,
    *,
    dbt_schema: str,
    docs_dir: Path | None,
    now: datetime | None = None,
    dagster_run_id: str | None = None,
    webhook_url: str | None = None,
    log: logging.Logger | None = None,
) -> HealthReport:
    """Evaluate the rules, the GX suites and the dbt data tests; record the run and its findings; alert on high severity."""
    now = now or datetime.now(timezone.utc)
    run_id = uuid.uuid4()
    # The dbt data tests the learning build leaves out (convintel.dbt.LEARNING_BUILD_EXCLUDES):
    # a dbt process of their own, running while this one applies the rules and the GX suites.
    with ThreadPoolExecutor(max_workers=1) as background:
        dbt_run = background.submit(run_dbt_tests, url, dbt_schema)
        with psycopg.connect(url, autocommit=True) as conn:
            findings, clients, patterns = evaluate(conn, dbt_schema, now)
        expectations = run_expectations(url, docs_dir)
        findings += [failure.as_finding() for failure in expectations.failures]
        dbt_tests = dbt_run.result()
    findings += dbt_tests.findings
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], str(f.client_id or ""), f.pattern_type or "", f.rule))
    with psycopg.connect(url, autocommit=True) as conn:
        store.record_run(
            conn, run_id=run_id, checked_at=now, findings=findings, clients_checked=clients,
            patterns_checked=patterns, expectations_evaluated=expectations.evaluated,
            expectations_failed=expectations.failed,
            data_docs_path=str(expectations.data_docs_index) if expectations.data_docs_index else None,
            dagster_run_id=dagster_run_id,
        )
    alert = send_alerts(run_id, now, findings, webhook_url=webhook_url, log=log)
    return HealthReport(run_id, now, findings, clients, patterns, expectations, alert, dbt_tests)


def findings_markdown(findings: list[Finding], limit: int = 50) -> str:
    """The findings as a markdown table (most severe first), for Dagster metadata."""
    if not findings:
        return "no findings"
    lines = markdown_header(["severity", "client", "type", "rule", "message"])
    lines += [markdown_row([f.severity, f.client_id or "(store)", f.pattern_type or "-", f.rule, f.message])
              for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(markdown_row(["…", f"{len(findings) - limit} more in pattern_health_findings", "", "", ""]))
    return "\n".join(lines)

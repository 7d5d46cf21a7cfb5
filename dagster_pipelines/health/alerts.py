"""The alert hook for high-severity findings: always logged; POSTed as JSON to
``CONVINTEL_ALERT_WEBHOOK_URL`` when it is set. A failing webhook is logged, never raised: an
unreachable chat server must not fail the health job (its findings are stored either way)."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID

from dagster_pipelines.health.rules import Finding

WEBHOOK_ENV = "CONVINTEL_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 5.0
MAX_FINDINGS_PER_ALERT = 100  # a payload stays small; the health table holds all of them

logger = logging.getLogger("convintel.health.alerts")


@dataclass(frozen=True)
class AlertOutcome:
    alerted: int            # high-severity findings alerted on
    webhook: str            # "not_configured" | "no_findings" | "sent" | "failed: <why>"


def alert_payload(health_run_id: UUID, checked_at: datetime, findings: Sequence[Finding]) -> dict:
    """The webhook's JSON body: the high-severity findings of one health run."""
    high = [f for f in findings if f.severity == "high"]
    return {
        "source": "convintel.pattern_health",
        "health_run_id": str(health_run_id),
        "checked_at": checked_at.isoformat(),
        "high_severity_count": len(high),
        "text": f"pattern health: {len(high)} high-severity finding(s)",
        "findings": [
            {"client_id": str(f.client_id) if f.client_id else None, "pattern_type": f.pattern_type,
             "rule": f.rule, "severity": f.severity, "message": f.message}
            for f in high[:MAX_FINDINGS_PER_ALERT]
        ],
    }


def send_alerts(
    health_run_id: UUID,
    checked_at: datetime,
    findings: Sequence[Finding],
    *,
    webhook_url: str | None = None,
    timeout: float = WEBHOOK_TIMEOUT_SECONDS,
    log: logging.Logger | None = None,
) -> AlertOutcome:
    """Log every high-severity finding; POST them to the webhook (argument, else the environment)."""
    log = log or logger
    high = [f for f in findings if f.severity == "high"]
    for finding in high:
        log.error("pattern health HIGH %s client=%s type=%s: %s", finding.rule, finding.client_id,
                  finding.pattern_type, finding.message)
    url = webhook_url if webhook_url is not None else os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        return AlertOutcome(len(high), "not_configured")
    if not high:
        return AlertOutcome(0, "no_findings")
    if urlsplit(url).scheme not in ("http", "https"):
        log.warning("pattern health webhook not called: %s is not an http(s) URL", WEBHOOK_ENV)
        return AlertOutcome(len(high), "failed: not an http(s) URL")
    body = json.dumps(alert_payload(health_run_id, checked_at, findings)).encode()
    try:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "convintel-health"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:  # HTTPError is a URLError; malformed URL: ValueError
        log.warning("pattern health webhook failed (%s): %s", _redacted(url), exc)
        return AlertOutcome(len(high), f"failed: {exc}")
    return AlertOutcome(len(high), "sent")


def _redacted(url: str) -> str:
    """Webhook URLs often carry a secret token in the path: log the host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"

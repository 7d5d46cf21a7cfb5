"""The alert hook: high-severity findings are logged and POSTed to a real local HTTP server; a failing or
unreachable webhook is logged and never raised."""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dagster_pipelines.health.alerts import WEBHOOK_ENV, alert_payload, send_alerts
from dagster_pipelines.health.rules import Finding

RUN_ID = uuid.UUID("00000000-0000-0000-0000-000000000042")
CLIENT = uuid.UUID("00000000-0000-0000-0000-00000000000a")
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=timezone.utc)
FINDINGS = [
    Finding("expired", "high", "expired 2.0 days ago", CLIENT, "who"),
    Finding("small_sample", "medium", "sample size 12 < 30", CLIENT, "what"),
    Finding("expectation_failed", "high", "conversion_patterns: valid_until is after computed_at failed"),
]


class WebhookServer:
    """A real HTTP server on a free local port recording what is POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict] = []
        self.headers: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                outer.headers.append(dict(self.headers))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


def test_high_findings_are_posted_as_json_and_logged(webhook: WebhookServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="convintel.health.alerts"):
        outcome = send_alerts(RUN_ID, NOW, FINDINGS, webhook_url=webhook.url)
    assert (outcome.alerted, outcome.webhook) == (2, "sent")
    assert webhook.received == [alert_payload(RUN_ID, NOW, FINDINGS)]
    body = webhook.received[0]
    assert body["health_run_id"] == str(RUN_ID) and body["high_severity_count"] == 2
    assert [(f["client_id"], f["rule"]) for f in body["findings"]] == [(str(CLIENT), "expired"), (None, "expectation_failed")]
    assert webhook.headers[0]["Content-Type"] == "application/json"
    assert [r.message for r in caplog.records] == [
        f"pattern health HIGH expired client={CLIENT} type=who: expired 2.0 days ago",
        "pattern health HIGH expectation_failed client=None type=None: "
        "conversion_patterns: valid_until is after computed_at failed",
    ]


def test_webhook_url_from_the_environment(webhook: WebhookServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEBHOOK_ENV, webhook.url)
    assert send_alerts(RUN_ID, NOW, FINDINGS).webhook == "sent"
    assert len(webhook.received) == 1
    monkeypatch.delenv(WEBHOOK_ENV)
    assert send_alerts(RUN_ID, NOW, FINDINGS).webhook == "not_configured"
    assert len(webhook.received) == 1


def test_nothing_posted_without_high_findings(webhook: WebhookServer) -> None:
    outcome = send_alerts(RUN_ID, NOW, FINDINGS[1:2], webhook_url=webhook.url)
    assert (outcome.alerted, outcome.webhook) == (0, "no_findings")
    assert webhook.received == []


def test_failing_webhook_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    with WebhookServer(status=500) as server:
        outcome = send_alerts(RUN_ID, NOW, FINDINGS, webhook_url=server.url)
    assert outcome.webhook.startswith("failed: HTTP Error 500") and len(server.received) == 1
    # The token in the URL's path is not logged.
    assert "secret-token" not in caplog.text and "webhook failed (http://127.0.0.1/…)" in caplog.text

    with socket.socket() as probe:       # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert send_alerts(RUN_ID, NOW, FINDINGS, webhook_url=f"http://127.0.0.1:{closed_port}/x", timeout=2).webhook.startswith("failed:")
    assert send_alerts(RUN_ID, NOW, FINDINGS, webhook_url="not a url").webhook.startswith("failed:")

"""Per-client pattern report: one self-contained HTML file (inline CSS and SVG, no network).

``build_report_html(conn_or_url, client_id)`` is the entry point for the CLI (``convintel report``) and
the API (``GET /clients/{client_id}/report``); ``data`` reads, ``charts`` draws, ``render`` lays out.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import psycopg

from convintel.report.data import ClientNotFound, ClientReport, load_client_report
from convintel.report.render import render_report

__all__ = ["ClientNotFound", "ClientReport", "build_report_html", "load_client_report", "render_report"]


def build_report_html(conn_or_url: psycopg.Connection | str, client: UUID | str, *, dbt_schema: str | None = None,
                      now: datetime | None = None, app_role: bool = False) -> str:
    """The report page of one client (id or exact name); raises ``ClientNotFound``. ``app_role=True``
    when the connection is the API's row-level-secured session (see ``load_client_report``)."""
    if isinstance(conn_or_url, str):
        with psycopg.connect(conn_or_url) as conn:
            return render_report(load_client_report(conn, client, dbt_schema=dbt_schema, now=now, app_role=app_role))
    return render_report(load_client_report(conn_or_url, client, dbt_schema=dbt_schema, now=now, app_role=app_role))

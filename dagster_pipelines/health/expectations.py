"""Great Expectations 1.x table expectations on ``conversion_patterns`` and ``conversion_pattern_history``.

An ephemeral context (no project folder) with a PostgreSQL data source; one suite per table, one
checkpoint that validates both and writes the data docs into ``docs_dir`` (git-ignored,
``.convintel/gx_docs`` by default). Runs take well under a second; importing GX takes seconds, so it
is imported inside ``run_expectations`` only.

Row-level security: both tables have FORCED row-level security scoped by ``app.client_ids``. Every
connection GX opens is made by ``_scoped_connection``, which scopes the session to every client on the
server side (``string_agg`` over ``clients``) — no client list in the connection string, whose startup
packet is limited to 10 kB (≈ 270 ids). Without it the expectations would see zero rows and pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from detectors.result import PATTERN_TYPES
from dagster_pipelines.health.rules import Finding
from dagster_pipelines.health.store import SCOPE_SESSION_TO_ALL_CLIENTS

PATTERN_TABLE = "conversion_patterns"
HISTORY_TABLE = "conversion_pattern_history"
DOCS_SITE = "pattern_health"
_PARTIAL_LIMIT = 10


@dataclass(frozen=True)
class ExpectationFailure:
    suite: str
    expectation: str
    kwargs: dict[str, Any]
    unexpected_count: int | None
    partial_unexpected: list[Any]
    observed_value: Any = None
    description: str | None = None

    def as_finding(self) -> Finding:
        """A failed table expectation means the store itself is inconsistent: always high severity."""
        target = self.description or " ".join(
            [self.expectation, str(self.kwargs.get("column") or self.kwargs.get("column_list") or self.kwargs.get("column_A") or "")])
        count = f"{self.unexpected_count} unexpected rows" if self.unexpected_count else f"observed {self.observed_value}"
        return Finding(
            "expectation_failed", "high", f"{self.suite}: {target.strip()} failed ({count})",
            details={"suite": self.suite, "expectation": self.expectation, "kwargs": self.kwargs,
                     "unexpected_count": self.unexpected_count, "partial_unexpected": self.partial_unexpected,
                     "observed_value": self.observed_value},
        )


@dataclass(frozen=True)
class ExpectationsOutcome:
    success: bool
    evaluated: int
    successful: int
    per_suite: dict[str, dict[str, Any]]
    failures: list[ExpectationFailure] = field(default_factory=list)
    data_docs_index: Path | None = None

    @property
    def failed(self) -> int:
        return self.evaluated - self.successful


def suites() -> dict[str, tuple[str, list[Any]]]:
    """suite name → (table, expectations). Types, ranges, the allowed pattern types, keys, dates."""
    import great_expectations.expectations as gxe

    def common() -> list[Any]:
        return [
            gxe.ExpectColumnValuesToBeOfType(column="client_id", type_="UUID"),
            gxe.ExpectColumnValuesToBeOfType(column="pattern_type", type_="TEXT"),
            gxe.ExpectColumnValuesToBeOfType(column="patterns", type_="JSONB"),
            gxe.ExpectColumnValuesToBeOfType(column="sample_size", type_="INTEGER"),
            gxe.ExpectColumnValuesToBeOfType(column="confidence", type_="DOUBLE PRECISION"),
            gxe.ExpectColumnValuesToBeOfType(column="computed_at", type_="TIMESTAMP WITH TIME ZONE"),
            *(gxe.ExpectColumnValuesToNotBeNull(column=column)
              for column in ("client_id", "pattern_type", "patterns", "sample_size", "confidence", "computed_at")),
            gxe.ExpectColumnValuesToBeInSet(column="pattern_type", value_set=list(PATTERN_TYPES)),
            gxe.ExpectColumnValuesToBeBetween(column="confidence", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="sample_size", min_value=0),
            # The JSON says what it is: its "type" key equals the row's pattern_type.
            gxe.UnexpectedRowsExpectation(
                unexpected_rows_query="select client_id, pattern_type, patterns->>'type' as json_type from {batch} "
                                      "where patterns->>'type' is distinct from pattern_type",
                description="the pattern JSON's type equals the row's pattern_type",
            ),
        ]

    return {
        "conversion_patterns": (PATTERN_TABLE, [
            *common(),
            gxe.ExpectColumnValuesToBeOfType(column="valid_until", type_="TIMESTAMP WITH TIME ZONE"),
            gxe.ExpectColumnValuesToNotBeNull(column="valid_until"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["client_id", "pattern_type"]),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="valid_until", column_B="computed_at", or_equal=False,
                                                       description="valid_until is after computed_at"),
        ]),
        "conversion_pattern_history": (HISTORY_TABLE, [
            *common(),
            gxe.ExpectColumnValuesToNotBeNull(column="run_id"),
            # One history row per client, type and learning run.
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["client_id", "pattern_type", "run_id"]),
        ]),
    }


def run_expectations(url: str, docs_dir: Path | None = None) -> ExpectationsOutcome:
    """Validate both tables; when ``docs_dir`` is given, (re)build the data docs there."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    sites = {}
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    ))
    source = context.data_sources.add_postgres(
        "convintel", connection_string=_sqlalchemy_url(url), kwargs={"creator": _scoped_connection(url)},
    )
    definitions = []
    for suite_name, (table, expectations) in suites().items():
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        for expectation in expectations:
            suite.add_expectation(expectation)
        batch = source.add_table_asset(table, table_name=table).add_batch_definition_whole_table("whole_table")
        definitions.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)))
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])] if docs_dir else []
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name="pattern_health", validation_definitions=definitions, actions=actions,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": _PARTIAL_LIMIT},
    ))
    try:
        result = checkpoint.run()
    finally:
        source.get_execution_engine().engine.dispose()
    return _outcome(result, docs_dir)


def _outcome(result: Any, docs_dir: Path | None) -> ExpectationsOutcome:
    evaluated = successful = 0
    per_suite: dict[str, dict[str, Any]] = {}
    failures: list[ExpectationFailure] = []
    for validation in result.run_results.values():
        suite = validation.suite_name
        stats = validation.statistics
        evaluated += int(stats["evaluated_expectations"])
        successful += int(stats["successful_expectations"])
        per_suite[suite] = {"success": bool(validation.success), "evaluated": int(stats["evaluated_expectations"]),
                            "successful": int(stats["successful_expectations"])}
        for item in validation.results:
            if item.success:
                continue
            config = item.expectation_config
            detail = item.result or {}
            exception = (item.exception_info or {}).get("exception_message") if isinstance(item.exception_info, dict) else None
            failures.append(ExpectationFailure(
                suite=suite, expectation=config.type,
                kwargs={k: _plain(v) for k, v in config.kwargs.items() if k not in ("batch_id", "result_format")},
                unexpected_count=detail.get("unexpected_count"),
                partial_unexpected=[_plain(v) for v in (detail.get("partial_unexpected_list") or [])[:_PARTIAL_LIMIT]],
                observed_value=_plain(detail.get("observed_value", exception)),
                description=getattr(config, "description", None),
            ))
    index = docs_dir / "index.html" if docs_dir is not None and (docs_dir / "index.html").exists() else None
    return ExpectationsOutcome(bool(result.success), evaluated, successful, per_suite, failures, index)


def _scoped_connection(url: str) -> Callable[[], psycopg.Connection]:
    """A DBAPI connection factory for SQLAlchemy: each new connection is scoped to every client."""

    def connect() -> psycopg.Connection:
        conn = psycopg.connect(url)
        conn.execute(SCOPE_SESSION_TO_ALL_CLIENTS)
        conn.commit()
        return conn

    return connect


def _sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy URL with the psycopg 3 driver (the one the project uses)."""
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else url


def _plain(value: Any) -> Any:
    """JSON-friendly: containers kept, everything else that is not a JSON scalar as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return str(value)


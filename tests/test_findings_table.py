"""The detectors' ``top_findings`` table (asset metadata): one header from the spec's finding columns, one row
per passed result computed from its pattern, cells that cannot break the table; the same rows whether a
step renders a result on its own or the run renders the kept rows of all steps."""

import uuid

import pytest

from dagster_pipelines.assets.detector_factory import (DetectorSpec, StagedResults, finding_row, findings_header,
                                                       findings_markdown, findings_table)
from dagster_pipelines.health.report import findings_markdown as health_findings_markdown
from dagster_pipelines.health.rules import Finding
from dagster_pipelines.markdown import markdown_cell, markdown_row
from detectors.result import DetectorResult

SPEC = DetectorSpec(
    pattern_type="who", marts=(), description="a test spec", run=lambda *_: iter(()),
    finding_columns=(("top title", lambda p: p["title"]), ("n", lambda p: p["n"])),
    summary_lines=lambda p: [],
)


def _result(client: int, patterns: dict | None) -> DetectorResult:
    return DetectorResult(client_id=uuid.UUID(int=client), pattern_type="who", patterns=patterns, sample_size=10,
                          confidence=0.5, conversions=1, gate_reason=None if patterns else "too few leads")


def test_cells_escape_the_separator_and_line_breaks() -> None:
    assert markdown_cell("VP | Sales\nEMEA") == "VP \\| Sales EMEA"
    assert markdown_cell(None) == "None"
    assert markdown_row(["a", 1, 0.5]) == "| a | 1 | 0.5 |"


def test_header_and_rows_come_from_the_finding_columns() -> None:
    assert findings_header(SPEC) == ["| client | top title | n |", "|---|---|---|"]
    row = finding_row(SPEC, _result(1, {"title": "Head | of Growth", "n": 42}))
    assert row == f"| {uuid.UUID(int=1)} | Head \\| of Growth | 42 |"


def test_a_result_that_failed_its_gate_has_no_row() -> None:
    with pytest.raises(ValueError, match="did not pass the who gate"):
        finding_row(SPEC, _result(2, None))


def test_the_table_lists_the_first_passed_results_up_to_the_limit() -> None:
    results = [_result(i, {"title": f"t{i}", "n": i} if i % 2 else None) for i in range(1, 8)]
    lines = findings_table(SPEC, results, limit=2).splitlines()
    assert lines[2:] == [f"| {uuid.UUID(int=1)} | t1 | 1 |", f"| {uuid.UUID(int=3)} | t3 | 3 |"]


def test_a_summary_renders_the_rows_a_table_of_the_same_results_renders() -> None:
    results = [_result(i, {"title": f"t{i}", "n": i}) for i in (3, 1)]
    staged = StagedResults("who", findings=tuple(sorted((str(r.client_id), finding_row(SPEC, r)) for r in results)))
    ordered = sorted(results, key=lambda r: str(r.client_id))
    assert findings_markdown(SPEC, staged) == findings_table(SPEC, ordered)


def test_the_health_findings_use_the_same_rows() -> None:
    finding = Finding("r", "low", "a | b\nc", uuid.UUID(int=5), "who")
    assert health_findings_markdown([finding]).splitlines()[2] == f"| low | {uuid.UUID(int=5)} | who | r | a \\| b c |"


def test_every_detector_declares_a_header_of_its_columns() -> None:
    from dagster_pipelines.assets.patterns import DETECTORS

    for spec in DETECTORS:
        assert findings_header(spec)[1] == "|" + "---|" * (1 + len(spec.finding_columns))

"""The detectors' ``top_findings`` table (asset metadata): one header from the spec's finding columns, one row
per passed result computed from its pattern, cells that cannot break the table."""

import uuid

import pytest

from dagster_pipelines.assets.detector_factory import (DetectorSpec, StagedResults, finding_row, findings_header,
                                                       findings_markdown)
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


def test_a_summary_renders_the_header_over_its_kept_rows() -> None:
    results = [_result(i, {"title": f"t{i}", "n": i}) for i in (3, 1)]
    staged = StagedResults("who", findings=tuple(sorted((str(r.client_id), finding_row(SPEC, r)) for r in results)))
    assert findings_markdown(SPEC, staged).splitlines() == [
        "| client | top title | n |", "|---|---|---|", f"| {uuid.UUID(int=1)} | t1 | 1 |", f"| {uuid.UUID(int=3)} | t3 | 3 |"]


def test_the_health_findings_use_the_same_rows() -> None:
    finding = Finding("r", "low", "a | b\nc", uuid.UUID(int=5), "who")
    assert health_findings_markdown([finding]).splitlines()[2] == f"| low | {uuid.UUID(int=5)} | who | r | a \\| b c |"


def test_a_detector_is_found_by_its_pattern_type() -> None:
    from dagster_pipelines.assets.how import HOW
    from dagster_pipelines.assets.patterns import detector_spec

    assert detector_spec("how") is HOW
    with pytest.raises(ValueError, match="no detector of pattern type 'why'"):
        detector_spec("why")

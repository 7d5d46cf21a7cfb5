"""The agency-wide patterns of a learning run (issue 10 part 3): every live client's mart counts loaded
with the detectors' own loaders, summed (``detectors.agency``), and run through the same detectors.
Plain psycopg + pandas (no Dagster import): the asset, the command line and the tests share it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from dagster_pipelines.marts.how import HOW_MARTS, load_how_inputs
from dagster_pipelines.marts.what import WHAT_MARTS, load_what_inputs
from dagster_pipelines.marts.when import WHEN_MARTS, load_when_inputs
from dagster_pipelines.marts.who import WHO_MARTS, load_who_inputs
from detectors.agency import (WHEN_APPROXIMATED, AgencyPattern, as_agency_pattern, pool_how_inputs, pool_what_inputs,
                              pool_when_inputs, pool_who_inputs)
from detectors.how import detect_how
from detectors.result import DetectorResult, PatternType
from detectors.what import detect_what
from detectors.when import detect_when
from detectors.who import detect_who

AGENCY_MARTS: tuple[str, ...] = (*WHO_MARTS, *WHAT_MARTS, *WHEN_MARTS, *HOW_MARTS)


@dataclass(frozen=True)
class AgencyPath:
    """How one type's agency pattern is made: load the clients' inputs, sum them, detect."""

    load: Callable[[psycopg.Connection, str, Sequence[UUID]], Iterable[Any]]
    pool: Callable[[Sequence[Any]], Any]
    detect: Callable[..., DetectorResult]
    has_data: Callable[[Any], bool]
    approximated: tuple[str, ...] = ()


AGENCY_PATHS: dict[PatternType, AgencyPath] = {
    "who": AgencyPath(load_who_inputs, pool_who_inputs, detect_who, lambda i: i.leads_with_outcome > 0),
    "what": AgencyPath(load_what_inputs, pool_what_inputs, detect_what, lambda i: i.analysed_touches > 0),
    "when": AgencyPath(load_when_inputs, pool_when_inputs, detect_when, lambda i: i.touched_leads > 0,
                       tuple(WHEN_APPROXIMATED)),
    "how": AgencyPath(load_how_inputs, pool_how_inputs, detect_how, lambda i: i.leads_with_outcome > 0),
}


def compute_agency_patterns(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID],
                            computed_at: datetime) -> list[AgencyPattern]:
    """One agency pattern (or the reason there is none) per type, pooled over ``client_ids``."""
    patterns = []
    for pattern_type, path in AGENCY_PATHS.items():
        inputs = [i for i in path.load(conn, schema, list(client_ids)) if path.has_data(i)] if client_ids else []
        result = path.detect(path.pool(inputs), computed_at=computed_at)
        patterns.append(as_agency_pattern(result, len(inputs), path.approximated))
    return patterns

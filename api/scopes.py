"""Which scope serves a client's pattern of each type (issue 10 part 3): the client's own pattern when
one is stored — even one kept behind a failed gate (SPEC §6: never replace a good pattern) — else the
agency-wide pattern of that type (migration 006), else none. Every read below runs inside the client-
scoped transaction; agency rows belong to no client and are readable by every tenant."""

from __future__ import annotations

from typing import Literal

Scope = Literal["client", "agency"]

# Per type the row that serves it: the client's, or the agency's where the client has none.
# Columns: scope, pattern_type, id, xmin, computed_at, is_valid (the cache version), then the payload.
SERVED_PATTERNS_SQL = """
select 'client' as scope, pattern_type, id::text, xmin::text, computed_at, valid_until > now(),
       {payload_client}
from conversion_patterns where client_id = %(client_id)s
union all
select 'agency', a.pattern_type, a.id::text, a.xmin::text, a.computed_at, a.valid_until > now(),
       {payload_agency}
from agency_patterns as a
where not exists (select 1 from conversion_patterns as p
                  where p.client_id = %(client_id)s and p.pattern_type = a.pattern_type)
"""

VERSION_SQL = SERVED_PATTERNS_SQL.format(payload_client="null::int", payload_agency="null::int")
ROWS_SQL = SERVED_PATTERNS_SQL.format(
    payload_client="patterns::text, sample_size, confidence, valid_until, null::int",
    payload_agency="a.patterns::text, a.sample_size, a.confidence, a.valid_until, a.clients_pooled",
)

# One pattern type's selected keys, client first: (scope, confidence, clients_pooled, payload jsonb).
SERVED_KEYS_SQL = """
select 'client', confidence, null::int, {payload} from conversion_patterns
where client_id = %(client_id)s and pattern_type = %(pattern_type)s
union all
select 'agency', confidence, clients_pooled, {payload} from agency_patterns
where pattern_type = %(pattern_type)s
order by 1 desc
"""


def scope_reason(scope: Scope | None, clients_pooled: int | None, reason: str) -> str:
    """A consumer's reason, prefixed with where the pattern came from when it is the agency's."""
    if scope == "agency":
        return (f"no own pattern for this client: agency-wide pattern ({clients_pooled} clients pooled); "
                + reason)
    return reason

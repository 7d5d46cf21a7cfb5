"""A documented corpus of bad source rows (SPEC §11), for tests and demos of the data-quality rules.

``insert_bad_rows(url)`` adds one new client ("Bad input corpus ...") with a campaign, a few leads and
activities, each bad row carrying exactly one defect, to a migrated database (empty or already
populated; nothing existing is touched). It returns how many rows each rule of the dbt project must
count for that client: the keys are the ``reason`` values of ``fct_data_quality_exclusions`` (and of
seed ``dbt_project/seeds/data_quality_reasons.csv``).

The corpus (reason -> rows):

=========================== ====== ======================================================================
reason                      rows   what is inserted
=========================== ====== ======================================================================
null_lead_id                2      activities with lead_id NULL (one of them also without created_at:
                                   the first rule in precedence order wins)
lead_excluded               1      an activity of a soft-deleted lead
null_created_at             1      an email_sent with created_at NULL
unknown_channel             3      channel 'fax', NULL, and '  Carrier Pigeon '
unknown_action              2      action 'email_teleported', and NULL
channel_action_mismatch     1      email_sent on channel sms
future_activity             1      an email_sent ten years after ``base_time``
duplicate_activity          3      two exact copies of an email_sent, and one copy spelled ' EMAIL ' /
                                   'Email_Sent ' (normalised, it is the same row); the original is kept,
                                   a copy with a different subject is not a duplicate
touch_at_or_after_booking   2      outbound touches of a converted lead at and after its meeting_booked
snapshot_not_object         4      valid touches whose content_snapshot is a JSON array, string, number
                                   and JSON null (kept; content from subject/content_preview)
lead_deleted                1      a soft-deleted lead (deleted_at set)
invalid_lead_timezone       2      leads with timezone 'Mars/Olympus_Mons' and 'GMT+99' (a blank timezone
                                   and 'europe/london' in lower case are fine and not counted)
unknown_lead_status         1      a lead with status 'Zombie'
invalid_als_components      1      a lead whose als_components is a JSON array
=========================== ====== ======================================================================

All timestamps are placed in the 60 days before ``base_time`` (default: now minus one day), except the
future activity, so the counts hold for any analysis instant ``as_of`` between ``base_time`` and ten
years later (dbt's default ``as_of`` is the start of the run).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.types.json import Jsonb

CLIENT_NAME_PREFIX = "Bad input corpus"


@dataclass(frozen=True)
class BadRowsCorpus:
    """What one call inserted: the corpus client and the expected count per reason."""

    client_id: str
    counts: dict[str, int]
    lead_ids: dict[str, str] = field(default_factory=dict)


def insert_bad_rows(url: str, *, base_time: datetime | None = None) -> dict[str, int]:
    """Insert the bad-row corpus into the database at ``url``; return the expected count per reason."""
    return insert_bad_rows_corpus(url, base_time=base_time).counts


def insert_bad_rows_corpus(url: str, *, base_time: datetime | None = None) -> BadRowsCorpus:
    """Insert the bad-row corpus; return its client id, lead ids and expected counts per reason."""
    if base_time is None:
        base_time = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    elif base_time.tzinfo is None:
        raise ValueError("base_time must be timezone-aware")

    def days_before(days: float) -> datetime:
        return base_time - timedelta(days=days)

    client_id = str(uuid.uuid4())
    campaign_id = str(uuid.uuid4())
    lead = {name: str(uuid.uuid4()) for name in (
        "ok", "converted", "deleted", "bad_tz_1", "bad_tz_2", "blank_tz", "lowercase_tz",
        "unknown_status", "bad_als",
    )}
    good_als = Jsonb({"data_quality": 15, "authority": 20, "company_fit": 18, "timing": 9, "risk": 2})
    created = days_before(60)

    # (key, timezone, status, als_components, converted_at, deleted_at)
    leads = [
        ("ok", "America/New_York", "in_sequence", good_als, None, None),
        ("converted", "Europe/Paris", "converted", good_als, days_before(10), None),
        ("deleted", None, "in_sequence", good_als, None, days_before(5)),
        ("bad_tz_1", "Mars/Olympus_Mons", "in_sequence", good_als, None, None),
        ("bad_tz_2", "GMT+99", "nurturing", good_als, None, None),
        ("blank_tz", "   ", "in_sequence", good_als, None, None),
        ("lowercase_tz", "europe/london", "in_sequence", good_als, None, None),
        ("unknown_status", "Europe/Berlin", "Zombie", good_als, None, None),
        ("bad_als", "Europe/Berlin", "scored", Jsonb([1, 2, 3]), None, None),
    ]

    ok, conv, deleted = lead["ok"], lead["converted"], lead["deleted"]
    booked = days_before(10)
    # (lead_id, channel, action, created_at, subject, content_preview, content_snapshot)
    activities: list[tuple] = [
        # A clean baseline for the ok lead (not counted).
        (ok, "email", "email_sent", days_before(30), "Quick question", "Hi there", Jsonb({"subject": "Quick question", "body": "Hi there"})),
        (ok, "email", "email_opened", days_before(29.9), None, None, None),
        # null_lead_id x2 (the second also lacks created_at: the first rule wins)
        (None, "email", "email_sent", days_before(28), "orphan", None, None),
        (None, "email", "email_sent", None, "orphan, undated", None, None),
        # lead_excluded x1 (the lead is soft-deleted; the lead itself counts as lead_deleted)
        (deleted, "email", "email_sent", days_before(27), "to a deleted lead", None, None),
        # null_created_at x1
        (ok, "email", "email_sent", None, "undated", None, None),
        # unknown_channel x3
        (ok, "fax", "fax_sent", days_before(26), None, None, None),
        (ok, None, "email_sent", days_before(25.5), None, None, None),
        (ok, "  Carrier Pigeon ", "email_sent", days_before(25), None, None, None),
        # unknown_action x2
        (ok, "email", "email_teleported", days_before(24.5), None, None, None),
        (ok, "sms", None, days_before(24), None, None, None),
        # channel_action_mismatch x1
        (ok, "sms", "email_sent", days_before(23.5), "wrong channel", None, None),
        # future_activity x1
        (ok, "email", "email_sent", base_time + timedelta(days=3650), "from the future", None, None),
        # duplicate_activity x3: the original, two exact copies, one copy spelled differently, and a
        # near-copy with another subject (not a duplicate)
        (ok, "email", "email_sent", days_before(20), "Idea for you", "Body", Jsonb({"subject": "Idea for you"})),
        (ok, "email", "email_sent", days_before(20), "Idea for you", "Body", Jsonb({"subject": "Idea for you"})),
        (ok, "email", "email_sent", days_before(20), "Idea for you", "Body", Jsonb({"subject": "Idea for you"})),
        (ok, " EMAIL ", "Email_Sent ", days_before(20), "Idea for you", "Body", Jsonb({"subject": "Idea for you"})),
        (ok, "email", "email_sent", days_before(20), "Another idea for you", "Body", Jsonb({"subject": "Idea for you"})),
        # snapshot_not_object x4 (kept rows)
        (ok, "linkedin", "linkedin_sent", days_before(18), "s1", "array snapshot", Jsonb([1, 2])),
        (ok, "email", "email_sent", days_before(17), "s2", "string snapshot", Jsonb("just a string")),
        (ok, "sms", "sms_sent", days_before(16), None, "number snapshot", Jsonb(42)),
        (ok, "voice", "voice_completed", days_before(15), None, "json null snapshot", Jsonb(None)),
        # converted lead: one touch before the booking, the booking, two touches at/after it
        (conv, "email", "email_sent", days_before(13), "Thought about this", "Before booking", None),
        (conv, "email", "meeting_booked", booked, None, None, None),
        (conv, "email", "email_sent", booked, "At booking", None, None),
        (conv, "sms", "sms_sent", days_before(9), None, "After booking", None),
        (conv, "email", "email_opened", days_before(8.5), None, None, None),  # an event: not counted
    ]

    counts = {
        "null_lead_id": 2,
        "lead_excluded": 1,
        "null_created_at": 1,
        "unknown_channel": 3,
        "unknown_action": 2,
        "channel_action_mismatch": 1,
        "future_activity": 1,
        "duplicate_activity": 3,
        "touch_at_or_after_booking": 2,
        "snapshot_not_object": 4,
        "lead_deleted": 1,
        "invalid_lead_timezone": 2,
        "unknown_lead_status": 1,
        "invalid_als_components": 1,
    }

    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(
            "insert into clients (id, name, timezone, created_at) values (%s, %s, %s, %s)",
            (client_id, f"{CLIENT_NAME_PREFIX} {client_id[:8]}", "Europe/Berlin", created),
        )
        conn.execute(
            "insert into campaigns (id, client_id, name, created_at) values (%s, %s, %s, %s)",
            (campaign_id, client_id, "Bad input campaign", created),
        )
        with conn.cursor() as cur:
            cur.executemany(
                """
                insert into leads (id, client_id, campaign_id, email, first_name, company, title,
                                   timezone, status, als_components, converted_at, deleted_at,
                                   created_at, updated_at)
                values (%s, %s, %s, %s, 'Pat', 'Corpus Ltd', 'Head of Sales',
                        %s, %s, %s, %s, %s, %s, %s)
                """,
                [
                    (lead[key], client_id, campaign_id, f"{key}.{client_id[:8]}@corpus.invalid",
                     tz, status, als, converted_at, deleted_at, created, created)
                    for key, tz, status, als, converted_at, deleted_at in leads
                ],
            )
            cur.executemany(
                """
                insert into activities (client_id, campaign_id, lead_id, channel, action, subject,
                                        content_preview, content_snapshot, created_at)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                [
                    (client_id, campaign_id, lead_id, channel, action, subject, preview, snapshot, at)
                    for lead_id, channel, action, at, subject, preview, snapshot in activities
                ],
            )
    return BadRowsCorpus(client_id=client_id, counts=counts, lead_ids=lead)

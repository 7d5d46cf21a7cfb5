{{
    config(
        unlogged=true,
        indexes=[
            {'columns': ['activity_id'], 'unique': True},
        ],
        pre_hook=["set local work_mem = '256MB'", "{{ parallel_query() }}"],
    )
}}

{#- Every source activity, once, with the row-level exclusion rules applied (SPEC §11).
    exclusion_reason is the first matching rule in this order (seed data_quality_reasons.precedence):
      null_lead_id, lead_not_found, lead_excluded, lead_client_mismatch, null_created_at,
      unknown_channel, unknown_action, channel_action_mismatch, future_activity, duplicate_activity.
    duplicate_activity: same lead, client, channel, action, created_at, subject, content_preview and
    raw content_snapshot as another row (after normalisation of channel/action); the smallest
    activity_id is kept. Copies of a row that fails an earlier rule carry that rule's reason.
    The table is UNLOGGED (rebuilt by every run, read only by the next models: no WAL for 5M rows).
    lead_excluded also covers the activities of a lead whose status says converted but whose booking
    cannot be placed in time (no converted_at, no meeting_booked passing the rules): int_lead_outcomes
    drops that lead (converted_without_booking_time), and its activities leave with it, counted.
    Downstream models use `where not is_excluded`. The booking cut (touch_at_or_after_booking) is
    applied in int_touches, because the booking time is known only after this model. -#}

with

-- Read twice (rules, duplicate search): not materialised, so each use streams the source.
activities as not materialized (
    select * from {{ ref('stg_activities') }}
),

-- Read twice (rules, leads without a booking time): not materialised, so each use keeps its plan.
leads as not materialized (
    select lead_id, client_id, is_excluded, status_class, converted_at from {{ ref('int_leads_cleaned') }}
),

-- The leads int_lead_outcomes drops: status converted, no converted_at, and no booking event that
-- passes the activity rules below (a duplicate booking always has a kept original). Usually none.
-- materialized: computed once, before the join below (inlined, the planner probed it once per activity).
leads_without_booking_time as materialized (
    select leads.lead_id
    from leads
    where leads.status_class = 'converted'
      and leads.converted_at is null
      and not leads.is_excluded
      -- "no such booking", as a per-lead subquery rather than NOT EXISTS: the planner turns NOT EXISTS
      -- into an anti join, whose parallel form scans every activity even when no lead qualifies; this
      -- looks up each qualifying lead's activities through the source's (lead_id, created_at) index.
      and (
          select true
          from activities as bookings
          where bookings.lead_id = leads.lead_id
            and bookings.client_id = leads.client_id
            and bookings.is_booking
            and bookings.created_at is not null
            and bookings.is_known_channel
            and bookings.is_channel_consistent
            and bookings.created_at <= {{ as_of_timestamp() }}
          limit 1
      ) is null
),

checked as (
    select
        activities.*,
        case
            when activities.lead_id is null then 'null_lead_id'
            when leads.lead_id is null then 'lead_not_found'
            when leads.is_excluded then 'lead_excluded'
            when activities.client_id is distinct from leads.client_id then 'lead_client_mismatch'
            when activities.created_at is null then 'null_created_at'
            when not activities.is_known_channel then 'unknown_channel'
            when not activities.is_known_action then 'unknown_action'
            when not activities.is_channel_consistent then 'channel_action_mismatch'
            when activities.created_at > {{ as_of_timestamp() }} then 'future_activity'
        end as rule_exclusion_reason
    from activities
    left join leads
        on leads.lead_id = activities.lead_id
),

-- The duplicate search reads narrow rows straight from the source (no lead join): every rule above
-- depends only on columns in the partition (lead, client, time, channel, action), so all copies of a
-- row share the same rule outcome, and a rule reason takes precedence over duplicate_activity.
-- Content is compared through 64-bit hashes of subject, content_preview and the raw
-- content_snapshot (NULL stays NULL, so NULL and '' differ), which keeps the sort small.
duplicate_candidates as (
    select
        activity_id,
        row_number() over (
            partition by
                lead_id,
                client_id,
                created_at,
                channel,
                action,
                hashtextextended(subject, 0),
                hashtextextended(content_preview, 0),
                jsonb_hash_extended(content_snapshot_raw, 0)
            order by activity_id
        ) as duplicate_rank
    from activities
),

duplicates as (
    select activity_id
    from duplicate_candidates
    where duplicate_rank > 1
),

final as (
    select
        checked.activity_id,
        checked.client_id,
        checked.campaign_id,
        checked.lead_id,
        checked.channel,
        checked.action,
        checked.event_type,
        checked.is_outbound,
        checked.is_booking,
        checked.is_failure_event,
        checked.sequence_step,
        checked.created_at,
        -- Message content of outbound touches only (events carry none): the snapshot's subject/body
        -- when the snapshot is a JSON object holding them, else the subject/content_preview columns.
        case when checked.is_outbound then
            coalesce(snapshot.snapshot_subject, snapshot.column_subject)
        end as message_subject,
        case when checked.is_outbound then
            coalesce(snapshot.snapshot_body, snapshot.column_body)
        end as message_body,
        case
            when not checked.is_outbound then null
            when snapshot.snapshot_subject is not null or snapshot.snapshot_body is not null then 'snapshot'
            when snapshot.column_subject is not null or snapshot.column_body is not null then 'columns'
            else 'none'
        end as content_source,
        checked.is_snapshot_object,
        checked.has_content_snapshot and not checked.is_snapshot_object as is_snapshot_ignored,
        checked.is_platform_converting_touch,
        -- Such a lead's rows pass rules 1-3 (known, analysed lead), so lead_excluded keeps its precedence.
        case
            when leads_without_booking_time.lead_id is not null then 'lead_excluded'
            else coalesce(
                checked.rule_exclusion_reason,
                case when duplicates.activity_id is not null then 'duplicate_activity' end
            )
        end as exclusion_reason
    from checked
    -- The snapshot's subject and body are JSON lookups in stg_activities (a view), the columns' trimmed
    -- texts are read twice above: each is computed once per row here (offset 0 keeps the planner from
    -- copying the expressions into each use above).
    cross join lateral (
        select
            checked.snapshot_subject,
            checked.snapshot_body,
            nullif({{ trim_spaces('checked.subject') }}, '') as column_subject,
            nullif({{ trim_spaces('checked.content_preview') }}, '') as column_body
        offset 0
    ) as snapshot
    left join duplicates
        on duplicates.activity_id = checked.activity_id
    left join leads_without_booking_time
        on leads_without_booking_time.lead_id = checked.lead_id
)

select
    final.*,
    final.exclusion_reason is not null as is_excluded
from final

{{
    config(
        indexes=[
            {'columns': ['lead_id'], 'unique': True},
            {'columns': ['client_id', 'outcome']},
        ],
        pre_hook="{{ parallel_query() }}",
    )
}}

{#- One row per analysed lead with its outcome (SPEC §4), as of the analysis instant as_of:
      converted  booked on or before as_of: booked_at = the earliest meeting_booked activity, else
                 converted_at for status converted (a booking after as_of does not count yet);
                 a booking wins over a failure status
      failed     status unsubscribed, bounced, not_interested or dead
      stale      neither, and no outbound touch (or, never touched, no creation) in the last
                 stale_after_days days: last_touch_at <= as_of - stale_after_days
      in_flight  everything else: censored
    Touch statistics count outbound touches strictly before booked_at (touches at or after it are
    cut). Leads with status converted but no booking time at all are dropped here and counted as
    converted_without_booking_time. -#}

with

leads as (
    select * from {{ ref('int_leads_cleaned') }}
    where not is_excluded
),

-- Import CTEs read more than once are not materialised: the planner then sees the tables'
-- statistics (a materialised CTE has none, which at millions of rows picks nested loops).
activities as not materialized (
    select * from {{ ref('int_activities_cleaned') }}
    where not is_excluded
),

activity_events as (
    select
        lead_id,
        min(created_at) filter (where is_booking) as first_meeting_booked_at,
        coalesce(bool_or(is_failure_event), false) as has_failure_event
    from activities
    where is_booking or is_failure_event
    group by lead_id
),

bookings as (
    select
        leads.*,
        activity_events.first_meeting_booked_at,
        coalesce(activity_events.has_failure_event, false) as has_failure_event,
        coalesce(
            activity_events.first_meeting_booked_at,
            case when leads.status_class = 'converted' then leads.converted_at end
        ) as booking_time_raw,
        case
            when activity_events.first_meeting_booked_at is not null then 'meeting_booked'
            when leads.status_class = 'converted' and leads.converted_at is not null then 'converted_at'
        end as booking_source_raw
    from leads
    left join activity_events
        on activity_events.lead_id = leads.lead_id
),

booked as (
    select
        bookings.*,
        case when bookings.booking_time_raw <= {{ as_of_timestamp() }} then bookings.booking_time_raw end as booked_at,
        case when bookings.booking_time_raw <= {{ as_of_timestamp() }} then bookings.booking_source_raw end as booking_source
    from bookings
    -- Status converted with no booking time at all: cannot be placed in time (counted, not analysed).
    where not (bookings.status_class = 'converted' and bookings.booking_time_raw is null)
),

touch_stats as (
    select
        activities.lead_id,
        min(activities.created_at) filter (where booked.booked_at is null or activities.created_at < booked.booked_at) as first_touch_at,
        max(activities.created_at) filter (where booked.booked_at is null or activities.created_at < booked.booked_at) as last_touch_at,
        count(*) filter (where booked.booked_at is null or activities.created_at < booked.booked_at) as touches_before_booking,
        count(*) filter (where activities.created_at >= booked.booked_at) as touches_at_or_after_booking
    from activities
    inner join booked
        on booked.lead_id = activities.lead_id
    where activities.is_outbound
    group by activities.lead_id
),

classified as (
    select
        booked.*,
        touch_stats.first_touch_at,
        touch_stats.last_touch_at,
        coalesce(touch_stats.touches_before_booking, 0) as touches_before_booking,
        coalesce(touch_stats.touches_at_or_after_booking, 0) as touches_at_or_after_booking,
        case
            when booked.booked_at is not null then 'converted'
            when booked.status_class = 'failed' then 'failed'
            when coalesce(touch_stats.last_touch_at, booked.created_at)
                 <= {{ as_of_timestamp() }} - interval '{{ stale_after_days() }} days' then 'stale'
            else 'in_flight'
        end as outcome
    from booked
    left join touch_stats
        on touch_stats.lead_id = booked.lead_id
),

final as (
    select
        cast(lead_id as uuid) as lead_id,
        cast(client_id as uuid) as client_id,
        cast(campaign_id as uuid) as campaign_id,
        cast(status as text) as status,
        cast(status_class as text) as status_class,
        cast(outcome as text) as outcome,
        outcome = 'converted' as is_converted,
        outcome = 'failed' as is_failed,
        outcome = 'stale' as is_stale,
        outcome = 'in_flight' as is_in_flight,
        outcome in ('converted', 'failed') as is_terminal,
        outcome <> 'in_flight' as has_final_outcome,
        outcome = 'in_flight' as is_censored,
        cast(booked_at as timestamp with time zone) as booked_at,
        cast(booking_source as text) as booking_source,
        cast(first_touch_at as timestamp with time zone) as first_touch_at,
        cast(last_touch_at as timestamp with time zone) as last_touch_at,
        cast(touches_before_booking as integer) as touches_before_booking,
        cast(touches_at_or_after_booking as integer) as touches_at_or_after_booking,
        cast(extract(epoch from (booked_at - first_touch_at)) / 86400.0 as double precision) as days_to_convert,
        has_failure_event,
        cast(effective_timezone as text) as effective_timezone,
        cast(timezone_source as text) as timezone_source,
        cast(als_score_at_first_touch as integer) as als_score_at_first_touch,
        cast(als_tier_at_first_touch as text) as als_tier_at_first_touch,
        cast(created_at as timestamp with time zone) as lead_created_at,
        {{ as_of_timestamp() }} as as_of
    from classified
)

select * from final

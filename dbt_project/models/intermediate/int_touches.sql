{#- work_mem: each process's share of the sort by lead (~190k rows of ~800 bytes at 100k leads) spilled to
    disk at the default 64MB; in memory the model costs ~1.5 CPU-s less (docs/dbt_runs.md). -#}
{{
    config(
        indexes=[
            {'columns': ['touch_id'], 'unique': True},
            {'columns': ['client_id']},
        ],
        pre_hook=["set local work_mem = '256MB'", "{{ parallel_query() }}"],
    )
}}

{#- One row per outbound touch that counts (SPEC §4): valid outbound activities of analysed leads,
    strictly before the booking time (touches at or after booked_at are cut and counted as
    touch_at_or_after_booking), numbered per lead by (created_at, activity_id). Local day and hour are
    computed in the lead's effective timezone with AT TIME ZONE (DST-correct); day 0 = Monday.
    The converting touch is the last touch of a converted lead. Content: the snapshot's subject/body
    when the snapshot is a JSON object holding them, else the subject/content_preview columns. -#}

with

activities as (
    select * from {{ ref('int_activities_cleaned') }}
    where not is_excluded
      and is_outbound
),

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
),

cut_at_booking as (
    select
        activities.*,
        outcomes.outcome as lead_outcome,
        outcomes.is_converted as is_lead_converted,
        outcomes.booked_at,
        outcomes.effective_timezone,
        outcomes.timezone_source,
        outcomes.als_score_at_first_touch,
        outcomes.als_tier_at_first_touch,
        activities.created_at at time zone outcomes.effective_timezone as local_touched_at
    from activities
    inner join outcomes
        on outcomes.lead_id = activities.lead_id
    where outcomes.booked_at is null
       or activities.created_at < outcomes.booked_at
),

numbered as (
    select
        cut_at_booking.*,
        row_number() over lead_order as touch_number,
        count(*) over (partition by lead_id) as lead_touch_count,
        lag(created_at) over lead_order as previous_touch_at,
        lag(channel) over lead_order as previous_channel
    from cut_at_booking
    window lead_order as (partition by lead_id order by created_at, activity_id)
),

final as (
    select
        cast(activity_id as uuid) as touch_id,
        cast(lead_id as uuid) as lead_id,
        cast(client_id as uuid) as client_id,
        cast(campaign_id as uuid) as campaign_id,
        cast(touch_number as integer) as touch_number,
        cast(lead_touch_count as integer) as lead_touch_count,
        touch_number = 1 as is_first_touch,
        touch_number = lead_touch_count as is_last_touch,
        coalesce(is_lead_converted and touch_number = lead_touch_count, false) as is_converting_touch,
        cast(channel as text) as channel,
        cast(action as text) as action,
        cast(sequence_step as integer) as sequence_step,
        cast(created_at as timestamp with time zone) as touched_at,
        cast(previous_touch_at as timestamp with time zone) as previous_touch_at,
        cast(previous_channel as text) as previous_channel,
        cast(extract(epoch from (created_at - previous_touch_at)) / 3600.0 as double precision) as hours_since_previous_touch,
        cast(extract(epoch from (created_at - previous_touch_at)) / 86400.0 as double precision) as days_since_previous_touch,
        cast(effective_timezone as text) as effective_timezone,
        cast(timezone_source as text) as timezone_source,
        cast(local_touched_at as timestamp without time zone) as local_touched_at,
        cast(local_touched_at as date) as local_date,
        cast(extract(isodow from local_touched_at) - 1 as integer) as local_day_of_week,
        cast(extract(hour from local_touched_at) as integer) as local_hour,
        cast(lead_outcome as text) as lead_outcome,
        coalesce(is_lead_converted, false) as is_lead_converted,
        cast(booked_at as timestamp with time zone) as booked_at,
        cast(extract(epoch from (booked_at - created_at)) / 3600.0 as double precision) as hours_to_booking,
        cast(als_score_at_first_touch as integer) as als_score_at_first_touch,
        cast(als_tier_at_first_touch as text) as als_tier_at_first_touch,
        cast(message_subject as text) as subject,
        cast(message_body as text) as body,
        cast(content_source as text) as content_source
    from numbered
)

select * from final

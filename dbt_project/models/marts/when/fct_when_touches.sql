{{ config(pre_hook="{{ parallel_query() }}") }}

{#- One row per outbound touch that counts (SPEC §4: cut at booking), in the lead's local time
    (SPEC §4: lead timezone -> client timezone -> UTC, DST-correct via AT TIME ZONE in int_touches).
    The unit of the WHEN hazards: a touch "books" when it is the converting touch. touch_stratum caps
    touch_number at 10 (the last stratum is 10+), the position strata the day/hour effects are
    adjusted over. In-flight leads' touches are here (they enter the hazards of the touches they had). -#}

with

touches as (
    select * from {{ ref('int_touches') }}
),

final as (
    select
        client_id,
        lead_id,
        touch_id,
        touch_number,
        cast(least(touch_number, 10) as integer) as touch_stratum,
        lead_touch_count,
        is_last_touch,
        is_converting_touch,
        channel,
        touched_at,
        local_touched_at,
        local_day_of_week,
        local_hour,
        effective_timezone,
        timezone_source,
        days_since_previous_touch,
        lead_outcome,
        booked_at
    from touches
)

select * from final

{#- One row per analysed lead with at least one touch that counts (SPEC §4, §7 when): its outcome,
    how many touches it had (touch_count; for a converted lead the converting touch's number), and
    for converted leads the time from the FIRST touch to the booking (days_to_convert). In-flight
    leads are here with is_censored: they count in the hazards of the touches they had, never in a
    final rate. Leads without a touch before their booking (or never touched) are counted in
    fct_when_client_summary, not here. -#}

with

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
),

final as (
    select
        client_id,
        lead_id,
        outcome,
        is_converted,
        is_censored,
        touches_before_booking as touch_count,
        case when is_converted then touches_before_booking end as converting_touch_number,
        first_touch_at,
        last_touch_at,
        booked_at,
        case when is_converted then days_to_convert end as days_to_convert,
        effective_timezone,
        timezone_source
    from outcomes
    where touches_before_booking > 0
)

select * from final

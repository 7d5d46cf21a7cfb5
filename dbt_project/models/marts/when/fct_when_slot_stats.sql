{#- Sufficient statistics for the best local day and hour (SPEC §6, §7 when): per client, dimension
    (day: 0 = Monday .. 6 = Sunday; hour: 0..23, both in the lead's local time), slot and touch
    stratum (touch_number, 10 = 10+), the touches sent and how many of them were converting touches.
    The detector ranks slots by the position-adjusted (Mantel–Haenszel over touch_stratum) per-touch
    booking rate. Each dimension partitions the client's touches (singular test). -#}

with

touches as (
    select * from {{ ref('fct_when_touches') }}
),

by_day as (
    select
        client_id,
        'day' as dimension,
        local_day_of_week as slot,
        touch_stratum,
        count(*) as touches,
        sum(case when is_converting_touch then 1 else 0 end) as bookings
    from touches
    group by client_id, local_day_of_week, touch_stratum
),

by_hour as (
    select
        client_id,
        'hour' as dimension,
        local_hour as slot,
        touch_stratum,
        count(*) as touches,
        sum(case when is_converting_touch then 1 else 0 end) as bookings
    from touches
    group by client_id, local_hour, touch_stratum
),

unioned as (
    select * from by_day
    union all
    select * from by_hour
),

final as (
    select
        client_id,
        cast(dimension as text) as dimension,
        cast(slot as integer) as slot,
        cast(touch_stratum as integer) as touch_stratum,
        cast(touches as bigint) as touches,
        cast(bookings as bigint) as bookings
    from unioned
)

select * from final

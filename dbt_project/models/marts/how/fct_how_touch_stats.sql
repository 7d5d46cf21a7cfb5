{#- Per-touch sufficient statistics for equal-exposure comparisons (SPEC §6, §7 how): per client,
    touch_number, channel of the touch, channels_so_far (distinct channels among touches 1..k of the
    lead), the lead's first channel and ALS tier at first touch, the touches reached (sample) and the bookings that followed them
    (converting touches). Every lead contributes the touches it reached and nothing after its outcome:
    a booked lead stops at its converting touch, a failed one at its last touch, a stale one after all
    its touches. The LAST touch of an in-flight lead is left out: it may still lead to a booking, so
    its outcome is unknown (its earlier touches are known not to have booked: a booking ends the
    sequence). -#}

with

touches as (
    select * from {{ ref('int_touches') }}
),

first_use as (
    select
        touches.*,
        row_number() over (partition by lead_id, channel order by touch_number) = 1 as is_new_channel,
        first_value(channel) over (partition by lead_id order by touch_number) as first_channel
    from touches
),

with_channel_count as (
    select
        first_use.*,
        sum(case when is_new_channel then 1 else 0 end) over (
            partition by lead_id order by touch_number rows between unbounded preceding and current row
        ) as channels_so_far
    from first_use
),

known_outcome as (
    select * from with_channel_count
    where not (lead_outcome = 'in_flight' and is_last_touch)
),

final as (
    select
        client_id,
        cast(touch_number as {{ dbt.type_int() }}) as touch_number,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(channels_so_far as {{ dbt.type_int() }}) as channels_so_far,
        cast(first_channel as {{ dbt.type_string() }}) as first_channel,
        cast(coalesce(als_tier_at_first_touch, 'unknown') as {{ dbt.type_string() }}) as als_tier,
        cast(count(*) as {{ dbt.type_bigint() }}) as touches,
        cast(sum(case when is_converting_touch then 1 else 0 end) as {{ dbt.type_bigint() }}) as bookings
    from known_outcome
    group by client_id, touch_number, channel, channels_so_far, first_channel, coalesce(als_tier_at_first_touch, 'unknown')
)

select * from final

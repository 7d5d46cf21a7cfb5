{#- Per-touch sufficient statistics for equal-exposure comparisons (SPEC §6, §7 how): per client,
    touch_number, channel of the touch, channels_so_far (distinct channels among touches 1..k of the
    lead), the lead's first channel and ALS tier at first touch, the touches reached (sample) and the bookings that followed them
    (converting touches). Every lead contributes the touches it reached and nothing after its outcome:
    a booked lead stops at its converting touch, a failed one at its last touch, a stale one after all
    its touches. The LAST touch of an in-flight lead is left out: it may still lead to a booking, so
    its outcome is unknown (its earlier touches are known not to have booked: a booking ends the
    sequence). -#}

with

exposure as (
    select * from {{ ref('int_touch_channel_exposure') }}
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
    from exposure
    group by client_id, touch_number, channel, channels_so_far, first_channel, coalesce(als_tier_at_first_touch, 'unknown')
)

select * from final

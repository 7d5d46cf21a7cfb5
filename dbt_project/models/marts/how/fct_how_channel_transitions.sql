{#- Channel transitions (SPEC §7 how): per client, each observed change from the channel of touch k
    to the channel of touch k + 1 (same channel included), how often it happened, and how many of the
    touches it led to were followed by a booking. Like fct_how_touch_stats, the last touch of an
    in-flight lead (outcome unknown) is left out, so transitions / bookings is a per-touch rate. -#}

with

touches as (
    select * from {{ ref('int_touches') }}
    where previous_channel is not null
      and not (lead_outcome = 'in_flight' and is_last_touch)
),

final as (
    select
        client_id,
        cast(previous_channel as {{ dbt.type_string() }}) as from_channel,
        cast(channel as {{ dbt.type_string() }}) as to_channel,
        cast(count(*) as {{ dbt.type_bigint() }}) as transitions,
        cast(sum(case when is_converting_touch then 1 else 0 end) as {{ dbt.type_bigint() }}) as bookings
    from touches
    group by client_id, previous_channel, channel
)

select * from final

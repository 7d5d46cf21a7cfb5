{{ config(pre_hook="{{ parallel_query() }}") }}

{#- The equal-exposure view of a touch (SPEC §6, §7 how), one formula for the HOW marts and the KPI marts:
    per outbound touch whose outcome is known, the lead's first channel, channels_so_far (distinct
    channels among touches 1..k of the lead) and the time of the lead's first touch. Every lead
    contributes the touches it reached and nothing after its outcome: a booked lead stops at its
    converting touch, a failed one at its last touch, a stale one after all its touches. The LAST touch
    of an in-flight lead is left out: it may still lead to a booking, so its outcome is unknown (its
    earlier touches are known not to have booked: a booking ends the sequence). -#}

with

-- Only the columns used: the window functions below sort these rows, and int_touches carries the
-- message text.
touches as (
    select
        touch_id,
        lead_id,
        client_id,
        touch_number,
        channel,
        touched_at,
        is_converting_touch,
        is_last_touch,
        lead_outcome,
        als_tier_at_first_touch
    from {{ ref('int_touches') }}
),

first_use as (
    select
        touches.*,
        row_number() over (partition by lead_id, channel order by touch_number) = 1 as is_new_channel,
        first_value(channel) over (partition by lead_id order by touch_number) as first_channel,
        min(touched_at) over (partition by lead_id) as lead_first_touch_at
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

final as (
    select
        touch_id,
        lead_id,
        client_id,
        touch_number,
        channel,
        first_channel,
        cast(channels_so_far as {{ dbt.type_int() }}) as channels_so_far,
        is_converting_touch,
        als_tier_at_first_touch,
        lead_first_touch_at
    from with_channel_count
    where not (lead_outcome = 'in_flight' and is_last_touch)
)

select * from final

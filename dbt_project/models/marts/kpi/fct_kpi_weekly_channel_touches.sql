{{ config(pre_hook="{{ parallel_query() }}") }}

{#- Business KPIs, multi-channel part (docs/kpis.md): the per-touch sufficient statistics of
    fct_how_touch_stats (same units, same exposure rule), split by the lead's COHORT WEEK (ISO week,
    UTC, of its first touch): per client, cohort week, touch_number, channel of the touch, the lead's
    first channel and channels_so_far (distinct channels among touches 1..k), the touches reached and
    the bookings right after them. The last touch of an in-flight lead is left out (its outcome is
    unknown). detectors.kpi compares >= 2 channels with 1 channel inside the strata (touch_number,
    channel, first_channel) by Mantel-Haenszel, as the HOW detector does. -#}

with

exposure as (
    select * from {{ ref('int_touch_channel_exposure') }}
),

weekly as (
    select
        exposure.*,
        cast(date_trunc('week', lead_first_touch_at at time zone 'UTC') as date) as cohort_week
    from exposure
),

final as (
    select
        client_id,
        cohort_week,
        cast(touch_number as integer) as touch_number,
        cast(channel as text) as channel,
        cast(first_channel as text) as first_channel,
        cast(channels_so_far as integer) as channels_so_far,
        cast(count(*) as bigint) as touches,
        cast(sum(case when is_converting_touch then 1 else 0 end) as bigint) as bookings
    from weekly
    group by client_id, cohort_week, touch_number, channel, first_channel, channels_so_far
)

select * from final

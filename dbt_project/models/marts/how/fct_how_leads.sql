{{ config(pre_hook="{{ parallel_query() }}") }}

{#- HOW per-lead fact (SPEC §7 how): one row per analysed lead with at least one touch that counts.
    channel_path = the lead's channels in touch order joined by '>' (cut at the booking, SPEC §4);
    first_channel, booking_channel (the converting touch's channel, converted leads only),
    distinct_channels, touches reached, ALS tier at first touch ('unknown' without a snapshot) and the
    outcome. In-flight leads are kept and flagged (has_final_outcome = false): they enter the per-touch
    statistics, never the final rates. Leads without any touch have no path and are counted in
    fct_how_client_summary.leads_without_touches. -#}

with

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
),

touches as (
    select * from {{ ref('int_touches') }}
),

paths as (
    select
        lead_id,
        {{ dbt.listagg('channel', "'>'", 'order by touch_number') }} as channel_path,
        count(*) as touches,
        count(distinct channel) as distinct_channels,
        max(case when touch_number = 1 then channel end) as first_channel,
        max(case when is_converting_touch then channel end) as booking_channel
    from touches
    group by lead_id
),

final as (
    select
        outcomes.client_id,
        outcomes.lead_id,
        cast(outcomes.outcome as {{ dbt.type_string() }}) as outcome,
        outcomes.is_converted,
        outcomes.has_final_outcome,
        cast(paths.channel_path as {{ dbt.type_string() }}) as channel_path,
        cast(paths.first_channel as {{ dbt.type_string() }}) as first_channel,
        cast(paths.booking_channel as {{ dbt.type_string() }}) as booking_channel,
        cast(paths.distinct_channels as {{ dbt.type_int() }}) as distinct_channels,
        cast(paths.touches as {{ dbt.type_int() }}) as touches,
        cast(coalesce(outcomes.als_tier_at_first_touch, 'unknown') as {{ dbt.type_string() }}) as als_tier_at_first_touch,
        outcomes.first_touch_at,
        outcomes.booked_at,
        outcomes.as_of
    from outcomes
    inner join paths
        on paths.lead_id = outcomes.lead_id
)

select * from final

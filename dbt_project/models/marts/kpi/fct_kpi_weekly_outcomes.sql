{#- Business KPIs, outcome part (docs/kpis.md): per client and COHORT WEEK — the ISO week (Monday
    00:00 UTC) of the lead's first touch that counts — the leads of the cohort by outcome (SPEC §4),
    the median days from first touch to booking and the touches it took, over the cohort's converted
    leads. In-flight leads are counted (in_flight) but are censored: they enter no rate (the booking
    rate is conversions / leads_with_outcome, stale counting as not converted). Leads never touched
    have no cohort week and are not in this mart (they never entered outreach). -#}

with

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
    where first_touch_at is not null
),

cohorts as (
    select
        outcomes.*,
        cast(date_trunc('week', first_touch_at at time zone 'UTC') as date) as cohort_week
    from outcomes
),

final as (
    select
        client_id,
        cohort_week,
        cast(to_char(cohort_week, 'IYYY-"W"IW') as text) as iso_week,
        cast(count(*) as bigint) as leads,
        cast(count(*) filter (where has_final_outcome) as bigint) as leads_with_outcome,
        cast(count(*) filter (where is_converted) as bigint) as conversions,
        cast(count(*) filter (where is_failed) as bigint) as failed,
        cast(count(*) filter (where is_stale) as bigint) as stale,
        cast(count(*) filter (where is_in_flight) as bigint) as in_flight,
        cast(percentile_cont(0.5) within group (order by days_to_convert)
             filter (where is_converted) as double precision) as median_days_to_convert,
        cast(coalesce(sum(touches_before_booking) filter (where is_converted), 0) as bigint) as touches_to_convert,
        max(as_of) as as_of
    from cohorts
    group by client_id, cohort_week
)

select * from final

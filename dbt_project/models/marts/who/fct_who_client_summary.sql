{#- Per client: the outcome counts the WHO detector's gate and baselines need (SPEC §6, §7 who).
    Counted from int_lead_outcomes (not from fct_who_leads), so the singular tests comparing the WHO
    aggregates with it catch a lead lost on the way. baseline_rate = conversions / leads_with_outcome
    (NULL without any). first_touch_min/max span the leads with an outcome. One row per client with
    an analysed lead. Portable SQL. -#}

with

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
),

who_leads as (
    select * from {{ ref('fct_who_leads') }}
),

outcome_counts as (
    select
        client_id,
        count(*) as analysed_leads,
        sum(case when has_final_outcome then 1 else 0 end) as leads_with_outcome,
        sum(case when outcome = 'converted' then 1 else 0 end) as conversions,
        sum(case when outcome = 'failed' then 1 else 0 end) as failed,
        sum(case when outcome = 'stale' then 1 else 0 end) as stale,
        sum(case when outcome = 'in_flight' then 1 else 0 end) as in_flight,
        min(case when has_final_outcome then first_touch_at end) as first_touch_min,
        max(case when has_final_outcome then first_touch_at end) as first_touch_max,
        max(as_of) as as_of
    from outcomes
    group by client_id
),

component_counts as (
    select
        client_id,
        sum(case when has_all_als_components then 0 else 1 end) as leads_without_components
    from who_leads
    group by client_id
),

final as (
    select
        outcome_counts.client_id,
        cast(outcome_counts.analysed_leads as {{ dbt.type_bigint() }}) as analysed_leads,
        cast(outcome_counts.leads_with_outcome as {{ dbt.type_bigint() }}) as leads_with_outcome,
        cast(outcome_counts.conversions as {{ dbt.type_bigint() }}) as conversions,
        cast(outcome_counts.failed as {{ dbt.type_bigint() }}) as failed,
        cast(outcome_counts.stale as {{ dbt.type_bigint() }}) as stale,
        cast(outcome_counts.in_flight as {{ dbt.type_bigint() }}) as in_flight,
        cast(
            case
                when outcome_counts.leads_with_outcome > 0
                    then cast(outcome_counts.conversions as {{ dbt.type_float() }}) / outcome_counts.leads_with_outcome
            end as {{ dbt.type_float() }}
        ) as baseline_rate,
        cast(coalesce(component_counts.leads_without_components, 0) as {{ dbt.type_bigint() }})
            as leads_without_components,
        outcome_counts.first_touch_min,
        outcome_counts.first_touch_max,
        outcome_counts.as_of
    from outcome_counts
    left join component_counts
        on component_counts.client_id = outcome_counts.client_id
)

select * from final

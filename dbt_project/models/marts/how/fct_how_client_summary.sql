{#- Per client: the counts the HOW detector's gate and baselines need (SPEC §7 how). Counted from
    int_lead_outcomes and int_touches (not from the HOW marts), so the singular tests comparing the
    HOW aggregates with it catch a lead lost on the way. leads_with_outcome / conversions count leads
    with at least one touch (a path); the leads without any touch are counted apart. -#}

with

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
),

touched as (
    select lead_id, count(*) as touches
    from {{ ref('int_touches') }}
    group by lead_id
),

counts as (
    select
        outcomes.client_id,
        sum(case when touched.lead_id is not null then 1 else 0 end) as touched_leads,
        sum(case when touched.lead_id is not null and outcomes.has_final_outcome then 1 else 0 end) as leads_with_outcome,
        sum(case when touched.lead_id is not null and outcomes.outcome = 'converted' then 1 else 0 end) as conversions,
        sum(case when touched.lead_id is not null and outcomes.outcome = 'failed' then 1 else 0 end) as failed,
        sum(case when touched.lead_id is not null and outcomes.outcome = 'stale' then 1 else 0 end) as stale,
        sum(case when touched.lead_id is not null and outcomes.outcome = 'in_flight' then 1 else 0 end) as in_flight,
        sum(case when touched.lead_id is null then 1 else 0 end) as leads_without_touches,
        sum(case when touched.lead_id is null and outcomes.outcome = 'converted' then 1 else 0 end)
            as conversions_without_touches,
        sum(coalesce(touched.touches, 0)) as touches,
        max(outcomes.as_of) as as_of
    from outcomes
    left join touched
        on touched.lead_id = outcomes.lead_id
    group by outcomes.client_id
),

final as (
    select
        client_id,
        cast(touched_leads as {{ dbt.type_bigint() }}) as touched_leads,
        cast(leads_with_outcome as {{ dbt.type_bigint() }}) as leads_with_outcome,
        cast(conversions as {{ dbt.type_bigint() }}) as conversions,
        cast(failed as {{ dbt.type_bigint() }}) as failed,
        cast(stale as {{ dbt.type_bigint() }}) as stale,
        cast(in_flight as {{ dbt.type_bigint() }}) as in_flight,
        cast(leads_without_touches as {{ dbt.type_bigint() }}) as leads_without_touches,
        cast(conversions_without_touches as {{ dbt.type_bigint() }}) as conversions_without_touches,
        cast(touches as {{ dbt.type_bigint() }}) as touches,
        as_of
    from counts
)

select * from final

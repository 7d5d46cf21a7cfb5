{#- Business KPIs, lead-score part (docs/kpis.md): fct_who_component_combinations split by COHORT WEEK
    (ISO week, UTC, of the lead's first touch): per client and week, each distinct combination of the
    ALS components at first touch of the leads with a final outcome, clipped as the ALS score clips
    them, with its leads and conversions. detectors.kpi scores the combinations with the weights in
    force that week (detectors.who_weights, one formula) for the top-quintile booking rate. Leads
    missing a component are kept in one row per client and week (has_all_components = false);
    never-touched leads have no cohort week and are not here. -#}

{%- set limits = als_component_limits() %}

with

leads as (
    select * from {{ ref('fct_who_leads') }}
    where first_touch_at is not null
),

keyed as (
    select
        client_id,
        cast(date_trunc('week', first_touch_at at time zone 'UTC') as date) as cohort_week,
        is_converted,
        has_all_als_components as has_all_components,
        {{ als_clipped_components('has_all_als_components') }}
    from leads
),

final as (
    select
        client_id,
        cohort_week,
        has_all_components,
        {%- for name in limits %}
        {{ name }},
        {%- endfor %}
        cast(count(*) as bigint) as leads,
        cast(sum(case when is_converted then 1 else 0 end) as bigint) as conversions
    from keyed
    group by client_id, cohort_week, has_all_components, {{ limits.keys() | join(', ') }}
)

select * from final

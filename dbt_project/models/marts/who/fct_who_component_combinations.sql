{#- Sufficient statistics for fitting ALS weights (SPEC §7 who, recommended_weights): per client, each
    distinct combination of the five ALS components at first touch with its leads and conversions.
    Components are clipped to [0, max_points] (risk to [0, risk_max_points]) of var('als'), exactly as
    the ALS score treats them, so the detector always sees values in range; the raw snapshot values
    are in fct_who_leads. Leads with any component missing are not dropped: they are counted in one
    row per client with has_all_components = false and all components NULL, so the leads of a client
    always sum to fct_who_client_summary.leads_with_outcome (singular test). Portable SQL. -#}

{%- set limits = als_component_limits() %}

with

leads as (
    select * from {{ ref('fct_who_leads') }}
),

keyed as (
    select
        client_id,
        is_converted,
        has_all_als_components as has_all_components,
        {{ als_clipped_components('has_all_als_components') }}
    from leads
),

final as (
    select
        client_id,
        has_all_components,
        {%- for name in limits %}
        {{ name }},
        {%- endfor %}
        cast(count(*) as {{ dbt.type_bigint() }}) as leads,
        cast(sum(case when is_converted then 1 else 0 end) as {{ dbt.type_bigint() }}) as conversions
    from keyed
    group by client_id, has_all_components, {{ limits.keys() | join(', ') }}
)

select * from final

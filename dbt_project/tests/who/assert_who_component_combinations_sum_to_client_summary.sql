-- No lead vanishes from the ALS component combinations: per client, the leads of the complete
-- combinations plus the leads missing a component equal fct_who_client_summary.leads_with_outcome
-- (conversions likewise), and the incomplete row holds exactly leads_without_components.
{{ config(meta={'dagster': {'ref': {'name': 'fct_who_component_combinations'}}}) }}
with

summary as (
    select * from {{ ref('fct_who_client_summary') }}
),

actual as (
    select
        client_id,
        sum(leads) as leads,
        sum(conversions) as conversions,
        sum(case when has_all_components then 0 else leads end) as leads_without_components
    from {{ ref('fct_who_component_combinations') }}
    group by client_id
)

select
    summary.client_id,
    summary.leads_with_outcome,
    actual.leads,
    summary.conversions as expected_conversions,
    actual.conversions,
    summary.leads_without_components as expected_without_components,
    actual.leads_without_components
from summary
left join actual
    on actual.client_id = summary.client_id
where coalesce(actual.leads, 0) <> summary.leads_with_outcome
   or coalesce(actual.conversions, 0) <> summary.conversions
   or coalesce(actual.leads_without_components, 0) <> summary.leads_without_components

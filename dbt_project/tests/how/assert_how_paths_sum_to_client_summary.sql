-- No lead vanishes from the distinct paths: per client, the leads of fct_how_paths equal
-- fct_how_client_summary.leads_with_outcome and their conversions its conversions.
{{ config(meta={'dagster': {'ref': {'name': 'fct_how_paths'}}}) }}
with

summary as (
    select * from {{ ref('fct_how_client_summary') }}
),

actual as (
    select client_id, sum(leads) as leads, sum(conversions) as conversions
    from {{ ref('fct_how_paths') }}
    group by client_id
)

select summary.client_id, summary.leads_with_outcome, actual.leads, summary.conversions, actual.conversions
from summary
left join actual
    on actual.client_id = summary.client_id
where coalesce(actual.leads, 0) <> summary.leads_with_outcome
   or coalesce(actual.conversions, 0) <> summary.conversions

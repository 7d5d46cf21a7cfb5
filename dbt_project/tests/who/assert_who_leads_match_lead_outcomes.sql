-- fct_who_leads holds exactly the leads with a final outcome: per client, its converted, failed and
-- stale counts equal those of int_lead_outcomes (through fct_who_client_summary, which counts them
-- there), so no lead is lost joining the profiles.
{{ config(meta={'dagster': {'ref': {'name': 'fct_who_leads'}}}) }}
with

summary as (
    select * from {{ ref('fct_who_client_summary') }}
),

actual as (
    select
        client_id,
        count(*) as leads,
        sum(case when outcome = 'converted' then 1 else 0 end) as conversions,
        sum(case when outcome = 'failed' then 1 else 0 end) as failed,
        sum(case when outcome = 'stale' then 1 else 0 end) as stale
    from {{ ref('fct_who_leads') }}
    group by client_id
)

select summary.client_id, summary.leads_with_outcome, actual.leads
from summary
left join actual
    on actual.client_id = summary.client_id
where coalesce(actual.leads, 0) <> summary.leads_with_outcome
   or coalesce(actual.conversions, 0) <> summary.conversions
   or coalesce(actual.failed, 0) <> summary.failed
   or coalesce(actual.stale, 0) <> summary.stale

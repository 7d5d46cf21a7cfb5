-- Every lead with a final outcome of a cohort week is in that week's ALS combinations: per client and
-- week, leads and conversions equal fct_kpi_weekly_outcomes.leads_with_outcome and conversions.
{{ config(meta={'dagster': {'ref': {'name': 'fct_kpi_weekly_als_combinations'}}}) }}
with

outcomes as (
    select * from {{ ref('fct_kpi_weekly_outcomes') }}
    where leads_with_outcome > 0
),

combinations as (
    select client_id, cohort_week, sum(leads) as leads, sum(conversions) as conversions
    from {{ ref('fct_kpi_weekly_als_combinations') }}
    group by client_id, cohort_week
)

select outcomes.client_id, outcomes.cohort_week, outcomes.leads_with_outcome, combinations.leads,
       outcomes.conversions, combinations.conversions as combination_conversions
from outcomes
full outer join combinations
    on combinations.client_id = outcomes.client_id
   and combinations.cohort_week = outcomes.cohort_week
where coalesce(outcomes.leads_with_outcome, -1) <> coalesce(combinations.leads, -1)
   or coalesce(outcomes.conversions, -1) <> coalesce(combinations.conversions, -1)

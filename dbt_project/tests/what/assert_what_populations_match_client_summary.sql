-- Every WHAT population is counted from the analysed touches: per client, the personalization
-- population (every analysed touch) equals fct_what_client_summary.analysed_touches and its
-- conversions equal conversions, and no field's population exceeds it.
{{ config(meta={'dagster': {'ref': {'name': 'fct_what_population_stats'}}}) }}
with

summary as (
    select * from {{ ref('fct_what_client_summary') }}
    where analysed_touches > 0
),

populations as (
    select client_id, field, sum(touches) as touches, sum(conversions) as conversions
    from {{ ref('fct_what_population_stats') }}
    group by client_id, field
)

select summary.client_id, populations.field, summary.analysed_touches, populations.touches
from summary
left join populations
    on populations.client_id = summary.client_id
where populations.client_id is null
   or (populations.field = 'personalization'
       and (populations.touches <> summary.analysed_touches or populations.conversions <> summary.conversions))
   or populations.touches > summary.analysed_touches

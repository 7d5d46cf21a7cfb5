-- Every WHO dimension partitions a client's leads with an outcome: per client and dimension, the
-- leads sum to fct_who_client_summary.leads_with_outcome and the conversions to its conversions, and
-- every dimension is present for every client with a lead with an outcome.
{{ config(meta={'dagster': {'ref': {'name': 'fct_who_dimension_stats'}}}) }}
with

summary as (
    select * from {{ ref('fct_who_client_summary') }}
    where leads_with_outcome > 0
),

dimensions as (
    select 'normalized_title' as dimension
    union all select 'seniority'
    union all select 'industry'
    union all select 'size_bucket'
    union all select 'is_new_role'
    union all select 'is_hiring'
    union all select 'is_recently_funded'
    union all select 'als_tier'
),

expected as (
    select summary.client_id, dimensions.dimension, summary.leads_with_outcome, summary.conversions
    from summary
    cross join dimensions
),

actual as (
    select client_id, dimension, sum(leads) as leads, sum(conversions) as conversions
    from {{ ref('fct_who_dimension_stats') }}
    group by client_id, dimension
)

select
    coalesce(expected.client_id, actual.client_id) as client_id,
    coalesce(expected.dimension, actual.dimension) as dimension,
    expected.leads_with_outcome,
    actual.leads,
    expected.conversions as expected_conversions,
    actual.conversions
from expected
full outer join actual
    on actual.client_id = expected.client_id
   and actual.dimension = expected.dimension
where expected.client_id is null
   or actual.client_id is null
   or actual.leads <> expected.leads_with_outcome
   or actual.conversions <> expected.conversions

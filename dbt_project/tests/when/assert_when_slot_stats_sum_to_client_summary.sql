-- Local day and local hour each partition a client's touches: per client and dimension the touches
-- sum to fct_when_client_summary.touches and the bookings to its conversions.
{{ config(meta={'dagster': {'ref': {'name': 'fct_when_slot_stats'}}}) }}
with

summary as (
    select * from {{ ref('fct_when_client_summary') }}
    where touches > 0
),

dimensions as (
    select 'day' as dimension
    union all select 'hour'
),

expected as (
    select summary.client_id, dimensions.dimension, summary.touches, summary.conversions
    from summary
    cross join dimensions
),

actual as (
    select client_id, dimension, sum(touches) as touches, sum(bookings) as bookings
    from {{ ref('fct_when_slot_stats') }}
    group by client_id, dimension
)

select
    coalesce(expected.client_id, actual.client_id) as client_id,
    coalesce(expected.dimension, actual.dimension) as dimension,
    expected.touches as expected_touches,
    actual.touches,
    expected.conversions,
    actual.bookings
from expected
full outer join actual
    on actual.client_id = expected.client_id
   and actual.dimension = expected.dimension
where expected.client_id is null
   or actual.client_id is null
   or actual.touches <> expected.touches
   or actual.bookings <> expected.conversions

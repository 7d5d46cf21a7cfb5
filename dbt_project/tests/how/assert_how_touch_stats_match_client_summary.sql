-- Every booking with a touch is in the per-touch statistics exactly once (a converting touch is never
-- the left-out last touch of an in-flight lead), and the touches there are the client's touches minus
-- one per in-flight lead.
{{ config(meta={'dagster': {'ref': {'name': 'fct_how_touch_stats'}}}) }}
with

summary as (
    select * from {{ ref('fct_how_client_summary') }}
),

actual as (
    select client_id, sum(touches) as touches, sum(bookings) as bookings
    from {{ ref('fct_how_touch_stats') }}
    group by client_id
)

select summary.client_id, summary.touches, summary.in_flight, actual.touches, summary.conversions, actual.bookings
from summary
left join actual
    on actual.client_id = summary.client_id
where coalesce(actual.bookings, 0) <> summary.conversions
   or coalesce(actual.touches, 0) <> summary.touches - summary.in_flight

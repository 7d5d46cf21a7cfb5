-- The hazard table accounts for every touched lead: per client, leads reaching touch 1 = touched
-- leads, bookings sum to conversions, and each lead leaves the risk set exactly once
-- (leads_reached(k) - leads_reached(k+1) = bookings + failed_after + stale_after + censored_after).
{{ config(meta={'dagster': {'ref': {'name': 'fct_when_touch_hazard'}}}) }}
with

summary as (
    select * from {{ ref('fct_when_client_summary') }}
    where touched_leads > 0
),

hazard as (
    select
        fct_when_touch_hazard.*,
        coalesce(lead(leads_reached) over (partition by client_id order by touch_number), 0) as leads_reached_next,
        lag(touch_number) over (partition by client_id order by touch_number) as previous_touch_number
    from {{ ref('fct_when_touch_hazard') }}
),

totals as (
    select
        client_id,
        sum(case when touch_number = 1 then leads_reached else 0 end) as reached_first,
        sum(bookings) as bookings,
        sum(bookings + failed_after + stale_after + censored_after) as exits
    from hazard
    group by client_id
),

broken_steps as (
    select client_id, touch_number
    from hazard
    where leads_reached - leads_reached_next <> bookings + failed_after + stale_after + censored_after
       or (previous_touch_number is null and touch_number <> 1)
       or previous_touch_number <> touch_number - 1
)

select summary.client_id, 'totals' as problem
from summary
full outer join totals
    on totals.client_id = summary.client_id
where summary.client_id is null
   or totals.client_id is null
   or totals.reached_first <> summary.touched_leads
   or totals.bookings <> summary.conversions
   or totals.exits <> summary.touched_leads
union all
select client_id, 'step ' || cast(touch_number as text) from broken_steps

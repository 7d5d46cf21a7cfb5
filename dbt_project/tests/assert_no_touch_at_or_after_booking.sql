-- SPEC §4: touches at or after the booking time are cut from every analysis.
{{ config(meta={'dagster': {'ref': {'name': 'int_touches'}}}) }}
select touches.touch_id, touches.touched_at, outcomes.booked_at
from {{ ref('int_touches') }} as touches
inner join {{ ref('int_lead_outcomes') }} as outcomes
    on outcomes.lead_id = touches.lead_id
where outcomes.booked_at is not null
  and touches.touched_at >= outcomes.booked_at

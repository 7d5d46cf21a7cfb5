-- SPEC §4: exactly one converting touch per converted lead that has a touch before its booking,
-- and none for any other lead.
{{ config(meta={'dagster': {'ref': {'name': 'int_touches'}}}) }}
with

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
),

touches as (
    select * from {{ ref('int_touches') }}
),

marks as (
    select lead_id, count(*) filter (where is_converting_touch) as converting_touches
    from touches
    group by lead_id
)

select outcomes.lead_id, outcomes.outcome, coalesce(marks.converting_touches, 0) as converting_touches
from outcomes
left join marks
    on marks.lead_id = outcomes.lead_id
where coalesce(marks.converting_touches, 0)
      <> case when outcomes.is_converted and outcomes.touches_before_booking > 0 then 1 else 0 end

-- touch_number runs 1..n per lead without gaps or repeats, in (touched_at, touch_id) order, and n
-- equals the lead's touches_before_booking in int_lead_outcomes.
{{ config(meta={'dagster': {'ref': {'name': 'int_touches'}}}) }}
with

touches as (
    select
        lead_id,
        touch_number,
        row_number() over (partition by lead_id order by touched_at, touch_id) as expected_number
    from {{ ref('int_touches') }}
),

per_lead as (
    select
        lead_id,
        count(*) as n_touches,
        count(distinct touch_number) as n_numbers,
        min(touch_number) as first_number,
        max(touch_number) as last_number,
        count(*) filter (where touch_number <> expected_number) as out_of_order
    from touches
    group by lead_id
)

select per_lead.*, outcomes.touches_before_booking
from per_lead
full outer join {{ ref('int_lead_outcomes') }} as outcomes
    on outcomes.lead_id = per_lead.lead_id
where (per_lead.lead_id is null and outcomes.touches_before_booking > 0)
   or (per_lead.lead_id is not null and (
        per_lead.first_number <> 1
        or per_lead.last_number <> per_lead.n_touches
        or per_lead.n_numbers <> per_lead.n_touches
        or per_lead.out_of_order > 0
        or outcomes.touches_before_booking is distinct from per_lead.n_touches
   ))

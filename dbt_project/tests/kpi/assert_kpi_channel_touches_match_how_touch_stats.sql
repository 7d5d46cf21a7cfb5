-- The weekly split loses no touch: per client, the touches and bookings of fct_kpi_weekly_channel_touches
-- summed over the cohort weeks equal those of fct_how_touch_stats.
{{ config(meta={'dagster': {'ref': {'name': 'fct_kpi_weekly_channel_touches'}}}) }}
with

how as (
    select client_id, sum(touches) as touches, sum(bookings) as bookings
    from {{ ref('fct_how_touch_stats') }}
    group by client_id
),

kpi as (
    select client_id, sum(touches) as touches, sum(bookings) as bookings
    from {{ ref('fct_kpi_weekly_channel_touches') }}
    group by client_id
)

select how.client_id, how.touches, kpi.touches as kpi_touches, how.bookings, kpi.bookings as kpi_bookings
from how
full outer join kpi
    on kpi.client_id = how.client_id
where coalesce(how.touches, -1) <> coalesce(kpi.touches, -1)
   or coalesce(how.bookings, -1) <> coalesce(kpi.bookings, -1)

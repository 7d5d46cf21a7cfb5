-- A converted lead has a gap k (touch k -> k+1) exactly when it booked at a touch after k: per client,
-- sequences at gap k = bookings at touch numbers > k in fct_when_touch_hazard.
{{ config(meta={'dagster': {'ref': {'name': 'fct_when_sequence_gaps'}}}) }}
with

hazard as (
    select * from {{ ref('fct_when_touch_hazard') }}
),

expected as (
    select
        gaps.client_id,
        gaps.touch_number as gap_number,
        sum(later.bookings) as sequences
    from hazard as gaps
    inner join hazard as later
        on later.client_id = gaps.client_id
       and later.touch_number > gaps.touch_number
    group by gaps.client_id, gaps.touch_number
    having sum(later.bookings) > 0
),

actual as (
    select client_id, gap_number, sequences from {{ ref('fct_when_sequence_gaps') }}
)

select
    coalesce(expected.client_id, actual.client_id) as client_id,
    coalesce(expected.gap_number, actual.gap_number) as gap_number,
    expected.sequences as expected_sequences,
    actual.sequences
from expected
full outer join actual
    on actual.client_id = expected.client_id
   and actual.gap_number = expected.gap_number
where expected.client_id is null
   or actual.client_id is null
   or actual.sequences <> expected.sequences

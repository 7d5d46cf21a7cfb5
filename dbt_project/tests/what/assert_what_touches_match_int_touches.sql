-- fct_what_touches holds every touch of int_touches once (no touch lost to the feature joins).
{{ config(meta={'dagster': {'ref': {'name': 'fct_what_touches'}}}) }}
with

expected as (
    select client_id, count(*) as touches from {{ ref('int_touches') }} group by client_id
),

actual as (
    select client_id, count(*) as touches from {{ ref('fct_what_touches') }} group by client_id
)

select coalesce(expected.client_id, actual.client_id) as client_id, expected.touches, actual.touches as what_touches
from expected
full outer join actual
    on actual.client_id = expected.client_id
where expected.touches is distinct from actual.touches

-- Every source activity is either analysed (kept) or counted under exactly one excluded reason, and
-- the report's activity counts add up to the cleaned model's.
{{ config(meta={'dagster': {'ref': {'name': 'fct_data_quality_exclusions'}}}) }}
with

cleaned as (
    select client_id, count(*) filter (where is_excluded) as excluded_rows
    from {{ ref('int_activities_cleaned') }}
    group by client_id
),

reported as (
    select client_id, sum(row_count) as excluded_rows
    from {{ ref('fct_data_quality_exclusions') }}
    where source_table = 'activities'
      and disposition = 'excluded'
      and reason <> 'touch_at_or_after_booking'
    group by client_id
),

source_rows as (
    select count(*) as n from {{ ref('stg_activities') }}
),

cleaned_rows as (
    select count(*) as n from {{ ref('int_activities_cleaned') }}
)

select cleaned.client_id, cleaned.excluded_rows, reported.excluded_rows as reported_rows
from cleaned
left join reported
    on reported.client_id = cleaned.client_id
where cleaned.excluded_rows <> coalesce(reported.excluded_rows, 0)
union all
select null, source_rows.n, cleaned_rows.n
from source_rows
cross join cleaned_rows
where source_rows.n <> cleaned_rows.n

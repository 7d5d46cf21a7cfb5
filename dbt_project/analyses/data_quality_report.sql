-- The run's data-quality report across all clients: rows per rule, with the share of the source table
-- they represent. `dbt compile --select data_quality_report` prints the SQL to run.
with

exclusions as (
    select * from {{ ref('fct_data_quality_exclusions') }}
),

totals as (
    select 'activities' as source_table, count(*) as source_rows from {{ ref('stg_activities') }}
    union all
    select 'leads', count(*) from {{ ref('stg_leads') }}
    union all
    select 'clients', count(*) from {{ ref('stg_clients') }}
)

select
    exclusions.source_table,
    exclusions.disposition,
    exclusions.reason,
    count(distinct exclusions.client_id) as clients,
    sum(exclusions.row_count) as row_count,
    round(100.0 * sum(exclusions.row_count) / nullif(max(totals.source_rows), 0), 3) as pct_of_source_rows,
    max(exclusions.description) as description
from exclusions
inner join totals
    on totals.source_table = exclusions.source_table
group by exclusions.source_table, exclusions.disposition, exclusions.reason
order by exclusions.source_table, exclusions.disposition desc, min(exclusions.precedence)

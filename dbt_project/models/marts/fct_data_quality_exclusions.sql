{#- The run's data-quality report (SPEC §11): one row per (client, source table, reason) with the
    number of source rows excluded from analysis or corrected, and the documented rule. Portable SQL. -#}

with

counts as (
    select * from {{ ref('int_data_quality_exclusions') }}
),

reasons as (
    select * from {{ ref('data_quality_reasons') }}
),

final as (
    select
        counts.client_id,
        cast(counts.source_table as {{ dbt.type_string() }}) as source_table,
        cast(counts.reason as {{ dbt.type_string() }}) as reason,
        cast(reasons.disposition as {{ dbt.type_string() }}) as disposition,
        cast(counts.row_count as {{ dbt.type_bigint() }}) as row_count,
        cast(reasons.precedence as {{ dbt.type_int() }}) as precedence,
        cast(reasons.description as {{ dbt.type_string() }}) as description,
        {{ as_of_timestamp() }} as as_of
    from counts
    left join reasons
        on reasons.source_table = counts.source_table
       and reasons.reason = counts.reason
)

select * from final

{#- Distinct channel paths with counts (SPEC §7 how): per client and distinct channel_path of the
    leads with a final outcome (converted, failed, stale), how many leads followed it and how many of
    them booked. The detector derives sequence prefixes, naive channel-count rates and the Markov
    chain from these rows, never from one row per lead. In-flight leads are censored and absent. -#}

with

leads as (
    select * from {{ ref('fct_how_leads') }}
    where has_final_outcome
),

final as (
    select
        client_id,
        channel_path,
        cast(min(touches) as {{ dbt.type_int() }}) as touches,
        cast(min(distinct_channels) as {{ dbt.type_int() }}) as distinct_channels,
        cast(min(first_channel) as {{ dbt.type_string() }}) as first_channel,
        cast(count(*) as {{ dbt.type_bigint() }}) as leads,
        cast(sum(case when is_converted then 1 else 0 end) as {{ dbt.type_bigint() }}) as conversions
    from leads
    group by client_id, channel_path
)

select * from final

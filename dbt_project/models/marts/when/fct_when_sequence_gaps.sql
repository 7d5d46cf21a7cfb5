{#- Gaps between consecutive touches of converted sequences (SPEC §7 when optimal_sequence_gaps): per
    client and gap_number k (from touch k to touch k+1), the converted leads that had both touches
    before booking, and the mean, median (percentile_cont, linear interpolation) and quartiles of the
    gap in days. PostgreSQL (ordered-set aggregates). -#}

with

touches as (
    select * from {{ ref('fct_when_touches') }}
    where lead_outcome = 'converted'
      and touch_number > 1
),

final as (
    select
        client_id,
        cast(touch_number - 1 as integer) as gap_number,
        cast(count(*) as bigint) as sequences,
        cast(avg(days_since_previous_touch) as double precision) as mean_days,
        cast(percentile_cont(0.5) within group (order by days_since_previous_touch) as double precision) as median_days,
        cast(percentile_cont(0.25) within group (order by days_since_previous_touch) as double precision) as p25_days,
        cast(percentile_cont(0.75) within group (order by days_since_previous_touch) as double precision) as p75_days
    from touches
    group by client_id, touch_number
)

select * from final

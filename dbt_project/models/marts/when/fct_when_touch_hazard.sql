{#- Per client and touch number k: the leads that reached touch k (had a k-th touch that counts),
    how many booked at it (k was their converting touch), and what happened to the others whose last
    touch was k (failed, stale, still in flight = censored after k). The booking hazard
    P(book at k | reached k) = bookings / leads_reached is the detector's (SPEC §7 when, with its
    interval). Censoring: an in-flight lead is in leads_reached for every touch it had. -#}

with

touches as (
    select * from {{ ref('fct_when_touches') }}
),

final as (
    select
        client_id,
        touch_number,
        cast(count(*) as bigint) as leads_reached,
        cast(sum(case when is_converting_touch then 1 else 0 end) as bigint) as bookings,
        cast(sum(case when is_last_touch and lead_outcome = 'in_flight' then 1 else 0 end) as bigint) as censored_after,
        cast(sum(case when is_last_touch and lead_outcome = 'failed' then 1 else 0 end) as bigint) as failed_after,
        cast(sum(case when is_last_touch and lead_outcome = 'stale' then 1 else 0 end) as bigint) as stale_after
    from touches
    group by client_id, touch_number
)

select * from final

{#- Per client: what the WHEN detector's gate, time basis and conversion timing need (SPEC §4, §7 when).
    Counted from int_lead_outcomes (not from fct_when_leads) so the singular tests comparing the WHEN
    aggregates with it catch a lead lost on the way.
      touched_leads            analysed leads with at least one touch that counts (in fct_when_leads)
      conversions              converted touched leads (each has exactly one converting touch)
      converted_without_touch  converted leads whose booking came before any touch: not in WHEN
      leads_timezone_*         touched leads by the source of their local time (lead / client / UTC)
      leads_missing_timezone   touched leads without a timezone of their own (fell back)
      leads_invalid_timezone   touched leads whose timezone is not a PostgreSQL zone name (fell back;
                               also in fct_data_quality_exclusions as invalid_lead_timezone)
      *_days_to_convert        first touch -> booking, converted touched leads; percentiles are
                               percentile_cont (linear interpolation). PostgreSQL.
    time_basis: 'lead_local' = day and hour in the lead's timezone, else the client's, else UTC. -#}

with

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
),

leads as (
    select lead_id, timezone_raw, has_invalid_timezone from {{ ref('int_leads_cleaned') }}
),

clients as (
    select client_id, timezone, has_valid_timezone from {{ ref('stg_clients') }}
),

touches as (
    select client_id, count(*) as touches from {{ ref('fct_when_touches') }} group by client_id
),

lead_facts as (
    select
        outcomes.*,
        outcomes.touches_before_booking > 0 as is_touched,
        nullif(btrim(leads.timezone_raw), '') is null as is_missing_timezone,
        coalesce(leads.has_invalid_timezone, false) as is_invalid_timezone
    from outcomes
    left join leads
        on leads.lead_id = outcomes.lead_id
),

lead_counts as (
    select
        client_id,
        count(*) as analysed_leads,
        sum(case when is_touched then 1 else 0 end) as touched_leads,
        sum(case when is_touched and is_converted then 1 else 0 end) as conversions,
        sum(case when not is_touched and is_converted then 1 else 0 end) as converted_without_touch,
        sum(case when is_touched and outcome = 'failed' then 1 else 0 end) as failed,
        sum(case when is_touched and outcome = 'stale' then 1 else 0 end) as stale,
        sum(case when is_touched and outcome = 'in_flight' then 1 else 0 end) as in_flight,
        sum(case when is_touched and timezone_source = 'lead' then 1 else 0 end) as leads_timezone_lead,
        sum(case when is_touched and timezone_source = 'client' then 1 else 0 end) as leads_timezone_client,
        sum(case when is_touched and timezone_source = 'default' then 1 else 0 end) as leads_timezone_default,
        sum(case when is_touched and is_missing_timezone then 1 else 0 end) as leads_missing_timezone,
        sum(case when is_touched and is_invalid_timezone then 1 else 0 end) as leads_invalid_timezone,
        avg(case when is_touched and is_converted then days_to_convert end) as avg_days_to_convert,
        percentile_cont(0.5) within group (order by case when is_touched and is_converted then days_to_convert end)
            as median_days_to_convert,
        percentile_cont(0.8) within group (order by case when is_touched and is_converted then days_to_convert end)
            as p80_days_to_convert,
        percentile_cont(0.95) within group (order by case when is_touched and is_converted then days_to_convert end)
            as p95_days_to_convert,
        max(as_of) as as_of
    from lead_facts
    group by client_id
),

final as (
    select
        lead_counts.client_id,
        cast('lead_local' as text) as time_basis,
        cast(clients.timezone as text) as client_timezone,
        coalesce(clients.has_valid_timezone, false) as has_valid_client_timezone,
        cast(lead_counts.analysed_leads as bigint) as analysed_leads,
        cast(lead_counts.touched_leads as bigint) as touched_leads,
        cast(coalesce(touches.touches, 0) as bigint) as touches,
        cast(lead_counts.conversions as bigint) as conversions,
        cast(lead_counts.converted_without_touch as bigint) as converted_without_touch,
        cast(lead_counts.failed as bigint) as failed,
        cast(lead_counts.stale as bigint) as stale,
        cast(lead_counts.in_flight as bigint) as in_flight,
        cast(lead_counts.leads_timezone_lead as bigint) as leads_timezone_lead,
        cast(lead_counts.leads_timezone_client as bigint) as leads_timezone_client,
        cast(lead_counts.leads_timezone_default as bigint) as leads_timezone_default,
        cast(lead_counts.leads_missing_timezone as bigint) as leads_missing_timezone,
        cast(lead_counts.leads_invalid_timezone as bigint) as leads_invalid_timezone,
        cast(lead_counts.avg_days_to_convert as double precision) as avg_days_to_convert,
        cast(lead_counts.median_days_to_convert as double precision) as median_days_to_convert,
        cast(lead_counts.p80_days_to_convert as double precision) as p80_days_to_convert,
        cast(lead_counts.p95_days_to_convert as double precision) as p95_days_to_convert,
        lead_counts.as_of
    from lead_counts
    left join clients
        on clients.client_id = lead_counts.client_id
    left join touches
        on touches.client_id = lead_counts.client_id
)

select * from final

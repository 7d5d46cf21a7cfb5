{#- Counts per (client, source table, reason) of every data-quality rule that fired (SPEC §11),
    excluded and corrected alike; the documented list is seed data_quality_reasons. Read it through
    fct_data_quality_exclusions. -#}

with

-- Read several times: not materialised, so each use scans the table with its statistics.
activities as not materialized (
    select * from {{ ref('int_activities_cleaned') }}
),

leads as not materialized (
    select * from {{ ref('int_leads_cleaned') }}
),

outcomes as not materialized (
    select lead_id, booked_at from {{ ref('int_lead_outcomes') }}
),

clients as (
    select * from {{ ref('stg_clients') }}
),

activity_exclusions as (
    select client_id, 'activities' as source_table, exclusion_reason as reason, count(*) as row_count
    from activities
    where is_excluded
    group by client_id, exclusion_reason
),

touches_after_booking as (
    select activities.client_id, 'activities' as source_table, 'touch_at_or_after_booking' as reason, count(*) as row_count
    from activities
    inner join outcomes
        on outcomes.lead_id = activities.lead_id
    where not activities.is_excluded
      and activities.is_outbound
      and activities.created_at >= outcomes.booked_at
    group by activities.client_id
),

ignored_snapshots as (
    select client_id, 'activities' as source_table, 'snapshot_not_object' as reason, count(*) as row_count
    from activities
    where not is_excluded
      and is_snapshot_ignored
    group by client_id
),

lead_exclusions as (
    select client_id, 'leads' as source_table, exclusion_reason as reason, count(*) as row_count
    from leads
    where is_excluded
    group by client_id, exclusion_reason
),

-- int_lead_outcomes drops exactly the analysed leads whose booking cannot be placed in time.
leads_without_booking_time as (
    select leads.client_id, 'leads' as source_table, 'converted_without_booking_time' as reason, count(*) as row_count
    from leads
    left join outcomes
        on outcomes.lead_id = leads.lead_id
    where not leads.is_excluded
      and outcomes.lead_id is null
    group by leads.client_id
),

lead_correction_counts as (
    select
        client_id,
        count(*) filter (where has_invalid_timezone) as invalid_lead_timezone,
        count(*) filter (where not is_known_status) as unknown_lead_status,
        count(*) filter (where has_invalid_als_components) as invalid_als_components
    from leads
    where not is_excluded
    group by client_id
),

lead_corrections as (
    select lead_correction_counts.client_id, 'leads' as source_table, counts.reason, counts.row_count
    from lead_correction_counts
    cross join lateral (
        values
            ('invalid_lead_timezone', lead_correction_counts.invalid_lead_timezone),
            ('unknown_lead_status', lead_correction_counts.unknown_lead_status),
            ('invalid_als_components', lead_correction_counts.invalid_als_components)
    ) as counts (reason, row_count)
),

client_corrections as (
    select client_id, 'clients' as source_table, 'invalid_client_timezone' as reason, count(*) as row_count
    from clients
    where not has_valid_timezone
    group by client_id
),

unioned as (
    select * from activity_exclusions
    union all select * from touches_after_booking
    union all select * from ignored_snapshots
    union all select * from lead_exclusions
    union all select * from leads_without_booking_time
    union all select * from lead_corrections
    union all select * from client_corrections
),

final as (
    select
        client_id,
        source_table,
        reason,
        cast(row_count as bigint) as row_count
    from unioned
    where row_count > 0
)

select * from final

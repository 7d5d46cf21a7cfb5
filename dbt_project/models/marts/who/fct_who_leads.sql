{#- WHO detector input (SPEC §7 who): one row per analysed lead with a final outcome — converted,
    failed or stale (stale counts as not converted, SPEC §4); in-flight leads are censored and left
    out (counted in fct_who_client_summary.in_flight). Profile columns from int_lead_profiles, as they
    stood at the first touch. Portable SQL. -#}

with

outcomes as (
    select * from {{ ref('int_lead_outcomes') }}
    where has_final_outcome
),

profiles as (
    select * from {{ ref('int_lead_profiles') }}
),

final as (
    select
        outcomes.client_id,
        outcomes.lead_id,
        cast(outcomes.outcome as {{ dbt.type_string() }}) as outcome,
        outcomes.is_converted,
        cast(profiles.normalized_title as {{ dbt.type_string() }}) as normalized_title,
        cast(profiles.seniority as {{ dbt.type_string() }}) as seniority,
        cast(profiles.seniority_source as {{ dbt.type_string() }}) as seniority_source,
        cast(profiles.industry as {{ dbt.type_string() }}) as industry,
        cast(profiles.employee_count as {{ dbt.type_int() }}) as employee_count,
        cast(profiles.size_bucket as {{ dbt.type_string() }}) as size_bucket,
        profiles.is_new_role,
        profiles.has_role_data,
        profiles.is_hiring,
        profiles.has_hiring_data,
        profiles.is_recently_funded,
        profiles.data_quality,
        profiles.authority,
        profiles.company_fit,
        profiles.timing,
        profiles.risk,
        profiles.has_all_als_components,
        cast(profiles.als_score_at_first_touch as {{ dbt.type_int() }}) as als_score_at_first_touch,
        cast(profiles.als_tier as {{ dbt.type_string() }}) as als_tier,
        outcomes.first_touch_at,
        outcomes.booked_at,
        cast(outcomes.touches_before_booking as {{ dbt.type_int() }}) as touches,
        outcomes.as_of
    from outcomes
    inner join profiles
        on profiles.lead_id = outcomes.lead_id
)

select * from final

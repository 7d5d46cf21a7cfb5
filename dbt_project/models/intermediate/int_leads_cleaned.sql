{{
    config(
        indexes=[
            {'columns': ['lead_id'], 'unique': True},
            {'columns': ['client_id']},
        ]
    )
}}

{#- One row per lead with the lead-level rules applied (SPEC §4, §11):
    effective timezone (lead -> client -> UTC, valid names only), status class, the ALS score and tier
    from the component snapshot, and the lead's exclusion reason (NULL when the lead is analysed). -#}

with

leads as (
    select * from {{ ref('stg_leads') }}
),

clients as (
    select * from {{ ref('stg_clients') }}
),

joined as (
    select
        leads.*,
        clients.timezone as client_timezone
    from leads
    left join clients
        on clients.client_id = leads.client_id
),

scored as (
    select
        joined.*,
        {{ als_score('joined.is_als_components_object', 'joined') }} as als_score_at_first_touch
    from joined
),

final as (
    select
        lead_id,
        client_id,
        campaign_id,
        first_name,
        company,
        title,
        seniority_level,
        organization_industry,
        organization_employee_count,
        organization_country,
        organization_is_hiring,
        organization_latest_funding_date,
        employment_start_date,
        status,
        status_class,
        is_known_status,
        converted_at,
        coalesce(timezone, client_timezone, 'UTC') as effective_timezone,
        case
            when timezone is not null then 'lead'
            when client_timezone is not null then 'client'
            else 'default'
        end as timezone_source,
        timezone_raw,
        has_timezone and not has_valid_timezone as has_invalid_timezone,
        has_als_components,
        has_als_components and not is_als_components_object as has_invalid_als_components,
        als_data_quality,
        als_authority,
        als_company_fit,
        als_timing,
        als_risk,
        als_score_at_first_touch,
        {{ als_tier('als_score_at_first_touch') }} as als_tier_at_first_touch,
        platform_als_score,
        platform_als_tier,
        created_at,
        deleted_at,
        case
            when is_deleted then 'lead_deleted'
            when created_at > {{ as_of_timestamp() }} then 'future_lead'
        end as exclusion_reason
    from scored
)

select
    final.*,
    final.exclusion_reason is not null as is_excluded
from final

with

source as (
    select * from {{ source('platform', 'leads') }}
),

lead_statuses as (
    select * from {{ ref('lead_statuses') }}
),

timezone_names as (
    select name as timezone_name, lower(name) as timezone_key
    from {{ source('pg_catalog', 'pg_timezone_names') }}
),

renamed as (
    select
        id as lead_id,
        client_id,
        campaign_id,
        email,
        phone,
        first_name,
        last_name,
        title,
        company,
        linkedin_url,
        domain,
        timezone as timezone_raw,
        nullif(btrim(timezone), '') as timezone_trimmed,
        organization_industry,
        organization_employee_count,
        organization_country,
        organization_is_hiring,
        organization_latest_funding_date,
        employment_start_date,
        seniority_level,
        als_score as platform_als_score,
        als_tier as platform_als_tier,
        als_components,
        als_weights_used,
        scored_at,
        status as status_raw,
        lower(btrim(status)) as status,
        converted_at,
        created_at,
        updated_at,
        deleted_at
    from source
),

unpacked as (
    select
        renamed.*,
        renamed.als_components is not null as has_als_components,
        coalesce(jsonb_typeof(renamed.als_components) = 'object', false) as is_als_components_object,
        {{ json_number('renamed.als_components', 'data_quality') }} as als_data_quality,
        {{ json_number('renamed.als_components', 'authority') }} as als_authority,
        {{ json_number('renamed.als_components', 'company_fit') }} as als_company_fit,
        {{ json_number('renamed.als_components', 'timing') }} as als_timing,
        {{ json_number('renamed.als_components', 'risk') }} as als_risk
    from renamed
),

final as (
    select
        unpacked.lead_id,
        unpacked.client_id,
        unpacked.campaign_id,
        unpacked.email,
        unpacked.phone,
        unpacked.first_name,
        unpacked.last_name,
        unpacked.title,
        unpacked.company,
        unpacked.linkedin_url,
        unpacked.domain,
        unpacked.timezone_raw,
        -- Canonical spelling of a valid name (names are case-insensitive in PostgreSQL); NULL if invalid.
        timezone_names.timezone_name as timezone,
        unpacked.timezone_trimmed is not null as has_timezone,
        timezone_names.timezone_name is not null as has_valid_timezone,
        unpacked.organization_industry,
        unpacked.organization_employee_count,
        unpacked.organization_country,
        unpacked.organization_is_hiring,
        unpacked.organization_latest_funding_date,
        unpacked.employment_start_date,
        unpacked.seniority_level,
        unpacked.platform_als_score,
        unpacked.platform_als_tier,
        unpacked.als_components,
        unpacked.has_als_components,
        unpacked.is_als_components_object,
        unpacked.als_data_quality,
        unpacked.als_authority,
        unpacked.als_company_fit,
        unpacked.als_timing,
        unpacked.als_risk,
        unpacked.als_weights_used,
        unpacked.scored_at,
        unpacked.status_raw,
        unpacked.status,
        lead_statuses.status is not null as is_known_status,
        -- Unknown statuses are treated as open (not terminal); counted as unknown_lead_status.
        coalesce(lead_statuses.status_class, 'open') as status_class,
        unpacked.converted_at,
        unpacked.deleted_at is not null as is_deleted,
        unpacked.created_at,
        unpacked.updated_at,
        unpacked.deleted_at
    from unpacked
    left join lead_statuses
        on lead_statuses.status = unpacked.status
    left join timezone_names
        on timezone_names.timezone_key = lower(unpacked.timezone_trimmed)
)

select * from final

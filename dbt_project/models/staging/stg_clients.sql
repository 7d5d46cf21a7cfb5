with

source as (
    select * from {{ source('platform', 'clients') }}
),

timezone_names as (
    select name as timezone_name, lower(name) as timezone_key
    from {{ source('pg_catalog', 'pg_timezone_names') }}
),

renamed as (
    select
        id as client_id,
        name as client_name,
        timezone as timezone_raw,
        nullif(btrim(timezone), '') as timezone_trimmed,
        subscription_status,
        coalesce(is_paused, false) as is_paused,
        als_learned_weights,
        als_weights_updated_at,
        coalesce(conversion_sample_count, 0) as conversion_sample_count,
        deleted_at,
        created_at,
        updated_at
    from source
),

final as (
    select
        renamed.client_id,
        renamed.client_name,
        renamed.timezone_raw,
        -- Canonical spelling of a valid name (names are case-insensitive in PostgreSQL); NULL if invalid.
        timezone_names.timezone_name as timezone,
        renamed.timezone_trimmed is not null as has_timezone,
        timezone_names.timezone_name is not null as has_valid_timezone,
        renamed.subscription_status,
        renamed.is_paused,
        renamed.deleted_at is not null as is_deleted,
        renamed.als_learned_weights,
        jsonb_typeof(renamed.als_learned_weights) = 'object' as has_learned_weights,
        renamed.als_weights_updated_at,
        renamed.conversion_sample_count,
        renamed.deleted_at,
        renamed.created_at,
        renamed.updated_at
    from renamed
    left join timezone_names
        on timezone_names.timezone_key = lower(renamed.timezone_trimmed)
)

select * from final

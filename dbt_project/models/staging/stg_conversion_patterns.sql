with

source as (
    select * from {{ source('platform', 'conversion_patterns') }}
),

final as (
    select
        id as conversion_pattern_id,
        client_id,
        pattern_type,
        patterns,
        sample_size,
        confidence,
        computed_at,
        valid_until,
        created_at
    from source
)

select * from final

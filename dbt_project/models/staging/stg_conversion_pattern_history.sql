with

source as (
    select * from {{ source('platform', 'conversion_pattern_history') }}
),

final as (
    select
        id as conversion_pattern_history_id,
        client_id,
        pattern_type,
        patterns,
        sample_size,
        confidence,
        computed_at,
        run_id,
        created_at
    from source
)

select * from final

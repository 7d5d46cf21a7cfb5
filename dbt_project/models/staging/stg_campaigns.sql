with

source as (
    select * from {{ source('platform', 'campaigns') }}
),

final as (
    select
        id as campaign_id,
        client_id,
        name as campaign_name,
        created_at
    from source
)

select * from final

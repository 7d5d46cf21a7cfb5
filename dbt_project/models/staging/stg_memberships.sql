with

source as (
    select * from {{ source('platform', 'memberships') }}
),

final as (
    select
        user_id,
        client_id,
        lower(btrim(role)) as role,
        accepted_at,
        accepted_at is not null as is_accepted
    from source
)

select * from final

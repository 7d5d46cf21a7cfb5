{#- The population of each WHAT field per client and touch-position stratum: analysed touches on which
    the field is observable (subject fields: touches with a subject; length_<channel>: that channel's
    touches with a body; personalization: touches with a subject or body; the others: touches with a
    body) and their converting touches. The rest of a category is its population minus the category,
    which is what multi-label fields need (SPEC §6). Portable SQL. -#}

with

touches as (
    select * from {{ ref('fct_what_touches') }}
    where what_status = 'analysed'
),

memberships as (
    select client_id, touch_number_stratum, is_converting_touch, fields.field
    from touches
    cross join lateral (
        select 'subject_template' as field where has_subject
        union all select 'subject_length' where has_subject
        union all select 'pain_point' where has_body
        union all select 'cta' where has_body
        union all select 'cta_type' where has_body
        union all select 'angle' where has_body
        union all select 'length_' || length_field where length_field is not null
        union all select 'personalization'
    ) as fields
),

final as (
    select
        client_id,
        cast(field as text) as field,
        touch_number_stratum,
        cast(count(*) as bigint) as touches,
        cast(sum(case when is_converting_touch then 1 else 0 end) as bigint) as conversions
    from memberships
    group by client_id, field, touch_number_stratum
)

select * from final

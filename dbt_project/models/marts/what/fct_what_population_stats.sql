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

-- Touches counted per combination of the columns that decide the fields (a few rows per client and
-- stratum), so the fields are expanded on counts rather than on every touch.
touch_groups as (
    select
        client_id,
        touch_number_stratum,
        has_subject,
        has_body,
        length_field,
        count(*) as touches,
        sum(case when is_converting_touch then 1 else 0 end) as conversions
    from touches
    group by client_id, touch_number_stratum, has_subject, has_body, length_field
),

memberships as (
    select client_id, touch_number_stratum, touches, conversions, fields.field
    from touch_groups
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
        cast(sum(touches) as bigint) as touches,
        cast(sum(conversions) as bigint) as conversions
    from memberships
    group by client_id, field, touch_number_stratum
)

select * from final

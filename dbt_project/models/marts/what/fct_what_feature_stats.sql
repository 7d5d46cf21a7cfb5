{#- Sufficient statistics of the WHAT detector (SPEC §6, §7 what): per client, content field, category
    and touch-position stratum, the analysed touches carrying the category and how many of them were
    converting touches. Fields and their categories:
      subject_template (multi-label), subject_length, pain_point (multi-label), cta (first CTA phrase),
      cta_type, angle (multi-label), length_email / length_linkedin / length_sms (length bins),
      personalization (multi-label: the flags present).
    Single-label fields and multi-label fields without a match use the category 'none', so every
    touch of a field's population (fct_what_population_stats) has at least one row. length_total sums
    the length (words, or chars for SMS) of length fields and is NULL for the others. Portable SQL
    apart from unnest (PostgreSQL arrays). -#}

with

touches as (
    select * from {{ ref('fct_what_touches') }}
    where what_status = 'analysed'
),

-- Each field's touches are first counted per (client, stratum, converting, value), so the multi-label
-- arrays are unnested and the fields stacked on counts rather than on every touch.
labels as (
    select client_id, touch_number_stratum, is_converting_touch, 'subject_template' as field,
           unnest(case when cardinality(subject_templates) > 0 then subject_templates else array['none'] end) as category,
           touches, cast(null as bigint) as length_total
    from (
        select client_id, touch_number_stratum, is_converting_touch, subject_templates, count(*) as touches
        from touches where has_subject
        group by client_id, touch_number_stratum, is_converting_touch, subject_templates
    ) as subject_template_groups
    union all
    select client_id, touch_number_stratum, is_converting_touch, 'subject_length', subject_length, count(*), sum(subject_words)
    from touches where has_subject
    group by client_id, touch_number_stratum, is_converting_touch, subject_length
    union all
    select client_id, touch_number_stratum, is_converting_touch, 'pain_point',
           unnest(case when cardinality(pain_points) > 0 then pain_points else array['none'] end), touches, null
    from (
        select client_id, touch_number_stratum, is_converting_touch, pain_points, count(*) as touches
        from touches where has_body
        group by client_id, touch_number_stratum, is_converting_touch, pain_points
    ) as pain_point_groups
    union all
    select client_id, touch_number_stratum, is_converting_touch, 'cta', coalesce(cta_phrase, 'none'), count(*), null
    from touches where has_body
    group by client_id, touch_number_stratum, is_converting_touch, coalesce(cta_phrase, 'none')
    union all
    select client_id, touch_number_stratum, is_converting_touch, 'cta_type', coalesce(cta_type, 'none'), count(*), null
    from touches where has_body
    group by client_id, touch_number_stratum, is_converting_touch, coalesce(cta_type, 'none')
    union all
    select client_id, touch_number_stratum, is_converting_touch, 'angle',
           unnest(case when cardinality(angles) > 0 then angles else array['none'] end), touches, null
    from (
        select client_id, touch_number_stratum, is_converting_touch, angles, count(*) as touches
        from touches where has_body
        group by client_id, touch_number_stratum, is_converting_touch, angles
    ) as angle_groups
    union all
    select client_id, touch_number_stratum, is_converting_touch, 'length_' || length_field, length_bin, count(*), sum(length_value)
    from touches where length_field is not null
    group by client_id, touch_number_stratum, is_converting_touch, length_field, length_bin
    union all
    -- the flags present as an array (one unnest, not a per-touch subquery of six branches), else 'none'
    select client_id, touch_number_stratum, is_converting_touch, 'personalization',
           unnest(case when has_company_mention or has_first_name or has_recent_news or has_mutual_connection
                            or has_industry_specific
                       then array_remove(array[
                           case when has_company_mention then 'company_mention' end,
                           case when has_first_name then 'first_name' end,
                           case when has_recent_news then 'recent_news' end,
                           case when has_mutual_connection then 'mutual_connection' end,
                           case when has_industry_specific then 'industry_specific' end], null)
                       else array['none'] end), touches, null
    from (
        select client_id, touch_number_stratum, is_converting_touch, has_company_mention, has_first_name,
               has_recent_news, has_mutual_connection, has_industry_specific, count(*) as touches
        from touches
        group by client_id, touch_number_stratum, is_converting_touch, has_company_mention, has_first_name,
                 has_recent_news, has_mutual_connection, has_industry_specific
    ) as personalization_groups
),

final as (
    select
        client_id,
        cast(field as text) as field,
        cast(category as text) as category,
        touch_number_stratum,
        cast(sum(touches) as bigint) as touches,
        cast(sum(case when is_converting_touch then touches else 0 end) as bigint) as conversions,
        cast(sum(length_total) as bigint) as length_total
    from labels
    group by client_id, field, category, touch_number_stratum
)

select * from final

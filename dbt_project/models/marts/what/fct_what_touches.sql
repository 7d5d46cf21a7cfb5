{{ config(pre_hook="{{ parallel_query() }}") }}

{#- One row per touch (int_touches) with its content features and the WHAT analysis status
    (int_what_touch_features): what_status 'analysed' rows are the unit of the WHAT detector (touches with
    content whose outcome is known), label = is_converting_touch. touch_number_stratum caps the position
    at 10 ("10 or later") for the position-adjusted statistics. Portable SQL. -#}

with

features as (
    select * from {{ ref('int_what_touch_features') }}
),

final as (
    select
        touch_id,
        client_id,
        lead_id,
        touch_number,
        cast(case when touch_number > 10 then 10 else touch_number end as integer) as touch_number_stratum,
        channel,
        lead_outcome,
        is_converting_touch,
        what_status,
        content_source,
        is_snapshot_ignored,
        has_subject,
        has_body,
        subject_words,
        subject_length,
        subject_templates,
        pain_points,
        angles,
        cta_phrase,
        cta_type,
        body_words,
        body_chars,
        length_field,
        length_value,
        length_bin,
        has_company_mention,
        has_first_name,
        has_recent_news,
        has_mutual_connection,
        has_industry_specific
    from features
)

select * from final

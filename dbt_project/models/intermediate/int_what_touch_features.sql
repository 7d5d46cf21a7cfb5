{{
    config(
        indexes=[
            {'columns': ['touch_id'], 'unique': True},
        ],
        pre_hook="set local work_mem = '256MB'",
    )
}}

{#- Content features of every touch (SPEC §5, §7 what): the text-derived features cached per touch by
    int_what_content (its header holds the matching rules, incremental by fingerprint) and the subject
    templates of int_what_subject_templates, joined to the CURRENT touches of int_touches: everything not
    derived from the text (touch number, outcome, converting and last touch, censoring) and the length bins
    (seed content_length_bins) are computed here on every run.
      * length: email and LinkedIn bodies in words, SMS in chars, binned by seed content_length_bins;
        the subject's length tag in words.
    what_status: 'censored' for the last touch of an in-flight lead (its outcome is not known yet:
    SPEC §4 lets censored leads into per-touch hazards only for the touches they have had, resolved by
    a later touch), else 'no_content' when neither subject nor body has a word, else 'analysed'. -#}

with

touches as (
    select * from {{ ref('int_touches') }}
),

activities as (
    select activity_id, is_snapshot_ignored from {{ ref('int_activities_cleaned') }}
),

content as (
    select * from {{ ref('int_what_content') }}
),

subject_templates as (
    select * from {{ ref('int_what_subject_templates') }}
),

length_bins as (
    select * from {{ ref('content_length_bins') }}
),

features as (
    select
        touches.touch_id, touches.client_id, touches.lead_id, touches.touch_number, touches.is_last_touch,
        touches.is_converting_touch, touches.channel, touches.lead_outcome, touches.content_source,
        coalesce(activities.is_snapshot_ignored, false) as is_snapshot_ignored,
        content.subject, content.body_chars, content.subject_words, content.body_words,
        content.has_subject, content.has_body,
        template_matches.subject_templates,
        content.pain_points,
        content.angles,
        content.cta_phrase,
        content.cta_type,
        content.has_company_mention,
        content.has_first_name,
        content.has_recent_news,
        content.has_mutual_connection,
        content.has_industry_specific,
        case when touches.channel in ('email', 'linkedin', 'sms') and content.has_body then touches.channel end as length_field
    from touches
    -- left join: a touch the cache lacks would show as has_subject null (tested not_null), not vanish
    left join content
        on content.touch_id = touches.touch_id
    left join activities
        on activities.activity_id = touches.touch_id
    left join subject_templates as template_matches
        on template_matches.subject = content.subject
),

binned as (
    select
        features.*,
        case features.length_field when 'sms' then features.body_chars else features.body_words end as length_value
    from features
),

final as (
    select
        binned.touch_id,
        binned.client_id,
        binned.lead_id,
        binned.touch_number,
        binned.channel,
        binned.lead_outcome,
        binned.is_converting_touch,
        binned.content_source,
        binned.is_snapshot_ignored,
        case
            when binned.lead_outcome = 'in_flight' and binned.is_last_touch then 'censored'
            when not (binned.has_subject or binned.has_body) then 'no_content'
            else 'analysed'
        end as what_status,
        binned.has_subject,
        binned.has_body,
        binned.subject,
        cast(binned.subject_words as integer) as subject_words,
        subject_bins.length_bin as subject_length,
        coalesce(binned.subject_templates, cast(array[] as text[])) as subject_templates,
        coalesce(binned.pain_points, cast(array[] as text[])) as pain_points,
        coalesce(binned.angles, cast(array[] as text[])) as angles,
        binned.cta_phrase,
        binned.cta_type,
        cast(binned.body_words as integer) as body_words,
        cast(binned.body_chars as integer) as body_chars,
        binned.length_field,
        cast(case when binned.length_field is not null then binned.length_value end as integer) as length_value,
        body_bins.length_bin,
        binned.has_company_mention,
        binned.has_first_name,
        binned.has_recent_news,
        binned.has_mutual_connection,
        binned.has_industry_specific
    from binned
    left join length_bins as body_bins
        on body_bins.length_field = binned.length_field
       and binned.length_value >= body_bins.min_length
       and (body_bins.max_length is null or binned.length_value <= body_bins.max_length)
    left join length_bins as subject_bins
        on subject_bins.length_field = 'subject'
       and binned.has_subject
       and binned.subject_words >= subject_bins.min_length
       and (subject_bins.max_length is null or binned.subject_words <= subject_bins.max_length)
)

select * from final

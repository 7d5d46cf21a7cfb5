{#- The WHAT content vocabularies (seeds pain_point_keywords, cta_phrases, angle_cues,
    personalization_cues) as one table of phrases with their compiled match pattern, so every model
    (and the Python snapshot builder, detectors/snapshot.py) matches them the same way:
      * the phrase is trimmed and lowercased, its inner whitespace collapsed to one space;
      * phrase_pattern = '\m' || phrase with regex metacharacters escaped || '\M', matched against the
        text lowercased with its whitespace runs collapsed to one space (int_what_touch_features), so
        "sometimes" never matches "time", "feel free" never matches "free", and "Worth a\nshort
        conversation?" matches "worth a short conversation".
    -#}

with

pain_points as (
    select 'pain_point' as field, pain_point as category, keyword as phrase, cast(null as text) as cta_type
    from {{ ref('pain_point_keywords') }}
),

ctas as (
    select 'cta' as field, cta_phrase as category, cta_phrase as phrase, cta_type
    from {{ ref('cta_phrases') }}
),

angles as (
    select 'angle' as field, angle as category, cue as phrase, cast(null as text) as cta_type
    from {{ ref('angle_cues') }}
),

personalization as (
    select 'personalization' as field, personalization_flag as category, cue as phrase, cast(null as text) as cta_type
    from {{ ref('personalization_cues') }}
),

unioned as (
    select * from pain_points
    union all select * from ctas
    union all select * from angles
    union all select * from personalization
),

normalised as (
    select
        field,
        lower(btrim(category)) as category,
        lower(btrim(regexp_replace(phrase, '[ \t\n\r\f\v\u00a0]{2,}|[\t\n\r\f\v\u00a0]', ' ', 'g'))) as phrase,
        lower(btrim(cta_type)) as cta_type
    from unioned
    where nullif(btrim(phrase), '') is not null
),

final as (
    select
        cast(field as text) as field,
        cast(category as text) as category,
        cast(phrase as text) as phrase,
        cast(cta_type as text) as cta_type,
        cast('\m' || regexp_replace(phrase, '([.^$*+?()[\]{}|\\])', '\\\1', 'g') || '\M' as text) as phrase_pattern
    from normalised
)

select * from final

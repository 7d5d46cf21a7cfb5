{{
    config(
        indexes=[
            {'columns': ['touch_id'], 'unique': True},
        ],
        pre_hook="set local work_mem = '256MB'",
    )
}}

{#- Content features of every touch (SPEC §5, §7 what), extracted in SQL from the touch's subject and
    body (int_touches: the content_snapshot's subject/body when the snapshot is a JSON object holding
    them, else the subject/content_preview columns). detectors/snapshot.py implements the same rules
    in Python for the engines; tests/test_what_pipeline.py checks both on the same tricky texts.

    Whitespace (WS) = space, tab, newline, CR, form feed, vertical tab, no-break space.
      * subject: WS runs collapsed to one space, trimmed; has_subject = at least one word.
      * words = maximal runs of non-WS characters; chars = char_length(body).
      * phrases (int_what_vocabulary) match the text lowercased with whitespace runs collapsed to one
        space (search_body; search_full = subject and body), on word boundaries; every phrase is
        matched on its own (overlapping phrases all count). pain_points / angles: every category with
        a match (sorted); cta: the phrase whose first whole-word occurrence comes FIRST in the body
        (text order; at one position the longer phrase), with its type.
      * subject_templates: every seed pattern the normalised subject matches (~*), sorted.
      * length: email and LinkedIn bodies in words, SMS in chars, binned by seed content_length_bins;
        the subject's length tag in words.
      * personalization: company_mention / first_name / industry_specific when the lead's company,
        first name or organization_industry (trimmed of non-word characters at either end, 2+
        characters, matched like a phrase) appears in the subject or body; recent_news /
        mutual_connection from seed personalization_cues.
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

-- Lead fields as phrases (macro lead_phrase), used when 2+ characters long. Once per lead, not per touch
-- (materialized: inlined, the regexes would run once per touch).
leads as materialized (
    select
        lead_id,
        {{ lead_phrase('first_name') }} as first_name_value,
        {{ lead_phrase('company') }} as company_value,
        {{ lead_phrase('organization_industry') }} as industry_value
    from {{ ref('int_leads_cleaned') }}
),

vocabulary as (
    select * from {{ ref('int_what_vocabulary') }}
),

subject_templates as (
    select subject_template, pattern from {{ ref('subject_templates') }}
),

length_bins as (
    select * from {{ ref('content_length_bins') }}
),

-- One row per touch with its normalised subject and body. materialized: read by several CTEs below
-- (inlined, PostgreSQL would run each regex up to five times per touch); the regexes run once per touch
-- in the lateral (offset 0 keeps it from being inlined into every expression that uses it).
texts as materialized (
    select
        touches.touch_id,
        touches.client_id,
        touches.lead_id,
        touches.touch_number,
        touches.is_last_touch,
        touches.is_converting_touch,
        touches.channel,
        touches.lead_outcome,
        touches.content_source,
        coalesce(activities.is_snapshot_ignored, false) as is_snapshot_ignored,
        normalised.subject,
        coalesce(char_length(touches.body), 0) as body_chars,
        leads.first_name_value,
        leads.company_value,
        leads.industry_value,
        -- words = spaces + 1; a space is one byte, so bytes count the spaces without walking the characters
        coalesce(octet_length(normalised.subject) - octet_length(replace(normalised.subject, ' ', '')) + 1, 0) as subject_words,
        coalesce(octet_length(normalised.search_body) - octet_length(replace(normalised.search_body, ' ', '')) + 1, 0) as body_words,
        normalised.subject is not null as has_subject,
        normalised.search_body is not null as has_body,
        coalesce(normalised.search_body, '') as search_body,
        -- What phrases are matched against: lowercased, whitespace runs collapsed to one space; search_full =
        -- subject and body. The body is lowercased already; lowering it again (lower of the joined text)
        -- cost a second pass over it.
        concat_ws(' ', lower(normalised.subject), normalised.search_body) as search_full
    from touches
    left join activities
        on activities.activity_id = touches.touch_id
    left join leads
        on leads.lead_id = touches.lead_id
    cross join lateral (
        -- WS runs collapsed to one space and trimmed: words are then the spaces + 1. (Runs of two or
        -- more, or a single non-space WS character: the same result, several times faster.)
        select
            nullif(btrim(regexp_replace(touches.subject, '[ \t\n\r\f\v\u00a0]{2,}|[\t\n\r\f\v\u00a0]', ' ', 'g')), '') as subject,
            nullif(btrim(lower(regexp_replace(touches.body, '[ \t\n\r\f\v\u00a0]{2,}|[\t\n\r\f\v\u00a0]', ' ', 'g'))), '') as search_body
        offset 0
    ) as normalised
),

-- strpos finds the candidates cheaply; when the first occurrence sits on word boundaries (the seeds'
-- phrases start and end with a word character, so that is what \m...\M means) it is the match,
-- otherwise the word-boundary pattern decides (a later whole-word occurrence after "time" inside
-- "sometimes"). The regex runs for few pairs, and CASE fixes that order for the planner.
candidates as (
    select
        texts.touch_id,
        phrases.field,
        phrases.category,
        phrases.phrase,
        phrases.cta_type,
        phrases.phrase_pattern,
        phrases.search_text,
        phrases.first_position
    from texts
    -- lateral: each text is read once and the few phrases looped over (as the inner side of a plain
    -- cross join the texts were re-read from the CTE store once per phrase, most of the model's time).
    cross join lateral (
        select
            vocabulary.*,
            case when vocabulary.field = 'personalization' then texts.search_full else texts.search_body end as search_text,
            strpos(case when vocabulary.field = 'personalization' then texts.search_full else texts.search_body end,
                   vocabulary.phrase) as first_position
        from vocabulary
        offset 0
    ) as phrases
),

labelled_matches as materialized (
    select
        touch_id,
        field,
        category,
        phrase,
        cta_type,
        -- the first whole-word occurrence (characters, 1-based)
        case
            when (first_position = 1 or substr(search_text, first_position - 1, 1) !~ '[[:alnum:]_]')
                 and substr(search_text, first_position + char_length(phrase), 1) !~ '[[:alnum:]_]'
                then first_position
            else regexp_instr(search_text, phrase_pattern)
        end as match_position
    from candidates
    where first_position > 0
),

categories as (
    select
        touch_id,
        array_agg(distinct category order by category) filter (where field = 'pain_point') as pain_points,
        array_agg(distinct category order by category) filter (where field = 'angle') as angles,
        array_agg(distinct category order by category) filter (where field = 'personalization') as cue_flags
    from labelled_matches
    where field <> 'cta'
      and match_position > 0
    group by touch_id
),

-- The first CTA in text order: the earliest whole-word occurrence; at one position the longer phrase.
first_ctas as (
    select distinct on (touch_id)
        touch_id,
        phrase as cta_phrase,
        cta_type
    from labelled_matches
    where field = 'cta'
      and match_position > 0
    order by touch_id, match_position, char_length(phrase) desc, phrase
),

-- Each distinct subject is matched once (sequences reuse their subjects).
subject_template_matches as (
    select
        subjects.subject,
        array_agg(subject_templates.subject_template order by subject_templates.subject_template) as subject_templates
    from (select distinct subject from texts where has_subject) as subjects
    inner join subject_templates
        on subjects.subject ~* subject_templates.pattern
    group by subjects.subject
),

-- Same rule as the phrases: the first occurrence on word boundaries, else the word-boundary regex.
-- Each value's first position is found once (lateral), not once per use.
lead_flags as (
    select
        texts.touch_id,
        coalesce(case
            when char_length(texts.first_name_value) < 2 or positions.first_name_position = 0 then false
            when (positions.first_name_position = 1
                  or substr(texts.search_full, positions.first_name_position - 1, 1) !~ '[[:alnum:]_]')
                 and substr(texts.search_full, positions.first_name_position + char_length(texts.first_name_value), 1) !~ '[[:alnum:]_]' then true
            else texts.search_full ~ ('\m' || regexp_replace(texts.first_name_value, '([.^$*+?()[\]{}|\\])', '\\\1', 'g') || '\M')
        end, false) as has_first_name,
        coalesce(case
            when char_length(texts.company_value) < 2 or positions.company_position = 0 then false
            when (positions.company_position = 1
                  or substr(texts.search_full, positions.company_position - 1, 1) !~ '[[:alnum:]_]')
                 and substr(texts.search_full, positions.company_position + char_length(texts.company_value), 1) !~ '[[:alnum:]_]' then true
            else texts.search_full ~ ('\m' || regexp_replace(texts.company_value, '([.^$*+?()[\]{}|\\])', '\\\1', 'g') || '\M')
        end, false) as has_company_mention,
        coalesce(case
            when char_length(texts.industry_value) < 2 or positions.industry_position = 0 then false
            when (positions.industry_position = 1
                  or substr(texts.search_full, positions.industry_position - 1, 1) !~ '[[:alnum:]_]')
                 and substr(texts.search_full, positions.industry_position + char_length(texts.industry_value), 1) !~ '[[:alnum:]_]' then true
            else texts.search_full ~ ('\m' || regexp_replace(texts.industry_value, '([.^$*+?()[\]{}|\\])', '\\\1', 'g') || '\M')
        end, false) as has_industry_specific
    from texts
    cross join lateral (
        select
            strpos(texts.search_full, texts.first_name_value) as first_name_position,
            strpos(texts.search_full, texts.company_value) as company_position,
            strpos(texts.search_full, texts.industry_value) as industry_position
        offset 0
    ) as positions
    where texts.has_subject or texts.has_body
),

features as (
    select
        texts.touch_id, texts.client_id, texts.lead_id, texts.touch_number, texts.is_last_touch,
        texts.is_converting_touch, texts.channel, texts.lead_outcome, texts.content_source,
        texts.is_snapshot_ignored, texts.subject, texts.body_chars, texts.subject_words, texts.body_words,
        texts.has_subject, texts.has_body,
        template_matches.subject_templates,
        categories.pain_points,
        categories.angles,
        first_ctas.cta_phrase,
        first_ctas.cta_type,
        coalesce(lead_flags.has_company_mention, false) as has_company_mention,
        coalesce(lead_flags.has_first_name, false) as has_first_name,
        coalesce('recent_news' = any(categories.cue_flags), false) as has_recent_news,
        coalesce('mutual_connection' = any(categories.cue_flags), false) as has_mutual_connection,
        coalesce(lead_flags.has_industry_specific, false) as has_industry_specific,
        case when texts.channel in ('email', 'linkedin', 'sms') and texts.has_body then texts.channel end as length_field
    from texts
    left join subject_template_matches as template_matches
        on template_matches.subject = texts.subject
    left join categories
        on categories.touch_id = texts.touch_id
    left join first_ctas
        on first_ctas.touch_id = texts.touch_id
    left join lead_flags
        on lead_flags.touch_id = texts.touch_id
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

{{
    config(
        materialized='incremental',
        unique_key='touch_id',
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        indexes=[
            {'columns': ['touch_id'], 'unique': True},
        ],
        pre_hook=[
            "set local work_mem = '256MB'",
            "set local parallel_setup_cost = 100",
            "set local parallel_tuple_cost = 0.001",
        ],
        post_hook=[
            "delete from {{ this }} as cached where not exists (select from {{ ref('int_what_texts') }} as texts where texts.touch_id = cached.touch_id)",
        ],
    )
}}

{#- The text-derived content features of every touch (SPEC §5, §7 what), matched in SQL on the normalised
    texts of int_what_texts; detectors/snapshot.py implements the same rules in Python for the engines
    (tests/test_what_pipeline.py checks both on the same tricky texts).
      * has_subject / has_body = at least one word; words = maximal runs of non-whitespace characters
        (the texts have whitespace runs collapsed to one space); chars = char_length(body).
      * phrases (int_what_vocabulary) match search_body (search_full = subject and body, both lowercased)
        on word boundaries; every phrase is matched on its own (overlapping phrases all count).
        pain_points / angles: every category with a match (sorted); cta: the phrase whose first
        whole-word occurrence comes FIRST in the body (text order; at one position the longer phrase),
        with its type.
      * personalization: company_mention / first_name / industry_specific when the lead's company, first
        name or organization_industry phrase (2+ characters) appears in the subject or body like a
        phrase; recent_news / mutual_connection from seed personalization_cues.

    Incremental: a touch's features depend only on its texts (int_what_texts.input_fingerprint), the
    vocabulary and these rules. vocabulary_fingerprint covers every phrase row of int_what_vocabulary and
    this model's code with the macros it expands, so a run matches only touches that are new or whose fingerprints changed, and a
    vocabulary change re-labels all history (SPEC §5). Rows of touches no longer in int_what_texts are
    deleted (post-hook); `--full-refresh` rebuilds from scratch. (The rows a run matched are the rows its
    transaction wrote: xmin; no invocation column, so two builds of the same data stay identical.)

    Parallel: no CTE is materialised (a CTE scan keeps the whole plan in one process): the touches to
    match are read from the int_what_texts table by each use, so PostgreSQL can split them over parallel
    workers. The planner costs the per-pair strpos far too cheaply, hence the pre-hook's parallel costs. -#}

{%- set vocabulary_fingerprint -%}
    (select md5(string_agg(cast(vocabulary as text), ',' order by cast(vocabulary as text)) || '{{ local_md5(model.raw_code ~ what_whole_word_at('t', 'p', 'w') ~ what_lead_value_mentioned('t', 'v', 'p')) }}')
     from {{ ref('int_what_vocabulary') }} as vocabulary)
{%- endset %}

with

all_texts as not materialized (
    select * from {{ ref('int_what_texts') }}
),

vocabulary as not materialized (
    select * from {{ ref('int_what_vocabulary') }}
),

-- The touches to match: all of them on a first build; on a re-run those not cached with the same
-- fingerprints. Not materialised: each use below re-reads the table (in parallel) instead of a CTE store.
texts as not materialized (
    select
        all_texts.touch_id,
        all_texts.input_fingerprint,
        all_texts.subject,
        all_texts.body_chars,
        all_texts.first_name_value,
        all_texts.company_value,
        all_texts.industry_value,
        all_texts.subject is not null as has_subject,
        all_texts.search_body is not null as has_body,
        -- words = spaces + 1; a space is one byte, so bytes count the spaces without walking the characters
        coalesce(octet_length(all_texts.subject) - octet_length(replace(all_texts.subject, ' ', '')) + 1, 0) as subject_words,
        coalesce(octet_length(all_texts.search_body) - octet_length(replace(all_texts.search_body, ' ', '')) + 1, 0) as body_words,
        coalesce(all_texts.search_body, '') as search_body,
        -- the body is lowercased already (lowering the joined text again cost a second pass over it)
        concat_ws(' ', lower(all_texts.subject), all_texts.search_body) as search_full
    from all_texts
    {%- if is_incremental() %}
    where not exists (
        select
        from {{ this }} as cached
        where cached.touch_id = all_texts.touch_id
          and cached.input_fingerprint = all_texts.input_fingerprint
          and cached.vocabulary_fingerprint = {{ vocabulary_fingerprint }}
    )
    {%- endif %}
),

-- strpos finds the candidates cheaply; when the first occurrence sits on word boundaries (the seeds'
-- phrases start and end with a word character, so that is what \m...\M means) it is the match,
-- otherwise the word-boundary pattern decides (a later whole-word occurrence after "time" inside
-- "sometimes"). The regex runs for few pairs, and CASE fixes that order for the planner. Not
-- materialised: categories and first_ctas read disjoint fields of it, so nothing is matched twice.
candidates as not materialized (
    select
        texts.touch_id,
        vocabulary.field,
        vocabulary.category,
        vocabulary.phrase,
        vocabulary.cta_type,
        vocabulary.phrase_pattern,
        case when vocabulary.field = 'personalization' then texts.search_full else texts.search_body end as search_text
    from texts
    cross join vocabulary
),

labelled_matches as not materialized (
    select
        touch_id,
        field,
        category,
        phrase,
        cta_type,
        -- the first whole-word occurrence (characters, 1-based)
        case
            when {{ what_whole_word_at('search_text', 'positions.first_position', 'phrase') }} then positions.first_position
            else regexp_instr(search_text, phrase_pattern)
        end as match_position
    from candidates
    cross join lateral (select strpos(candidates.search_text, candidates.phrase) as first_position) as positions
    where positions.first_position > 0
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

-- Same rule as the phrases: the first occurrence on word boundaries, else the word-boundary regex.
lead_flags as (
    select
        texts.touch_id,
        {{ what_lead_value_mentioned('texts.search_full', 'texts.first_name_value', 'positions.first_name_position') }} as has_first_name,
        {{ what_lead_value_mentioned('texts.search_full', 'texts.company_value', 'positions.company_position') }} as has_company_mention,
        {{ what_lead_value_mentioned('texts.search_full', 'texts.industry_value', 'positions.industry_position') }} as has_industry_specific
    from texts
    cross join lateral (
        select
            strpos(texts.search_full, texts.first_name_value) as first_name_position,
            strpos(texts.search_full, texts.company_value) as company_position,
            strpos(texts.search_full, texts.industry_value) as industry_position
    ) as positions
    where texts.has_subject or texts.has_body
),

final as (
    select
        texts.touch_id,
        texts.input_fingerprint,
        {{ vocabulary_fingerprint }} as vocabulary_fingerprint,
        texts.subject,
        texts.has_subject,
        texts.has_body,
        cast(texts.subject_words as integer) as subject_words,
        cast(texts.body_words as integer) as body_words,
        cast(coalesce(texts.body_chars, 0) as integer) as body_chars,
        categories.pain_points,
        categories.angles,
        first_ctas.cta_phrase,
        first_ctas.cta_type,
        coalesce(lead_flags.has_company_mention, false) as has_company_mention,
        coalesce(lead_flags.has_first_name, false) as has_first_name,
        coalesce('recent_news' = any(categories.cue_flags), false) as has_recent_news,
        coalesce('mutual_connection' = any(categories.cue_flags), false) as has_mutual_connection,
        coalesce(lead_flags.has_industry_specific, false) as has_industry_specific
    from texts
    left join categories
        on categories.touch_id = texts.touch_id
    left join first_ctas
        on first_ctas.touch_id = texts.touch_id
    left join lead_flags
        on lead_flags.touch_id = texts.touch_id
)

select * from final

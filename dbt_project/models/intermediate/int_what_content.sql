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
            "set local jit = off",
            "{{ parallel_query() }}",
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

    Parallel, one pass: every feature is a per-row expression over the touch's texts (the vocabulary is
    read when the model is compiled and each phrase becomes a literal: macros/what_phrases.sql), so the
    SELECT is one parallel scan of int_what_texts, with no rows per (touch, phrase) match to sort,
    aggregate and join back (at 1M touches those cost more than the matching). Not a lateral subquery
    per touch: PostgreSQL 15 runs correlated subqueries in the leader only. No CTE is materialised (a
    CTE scan keeps the plan in one process). The planner costs strpos far too cheaply, hence the
    pre-hook's parallel costs. jit is off: compiling the wide expressions in every process costs more
    than it saves (the SELECT at 100k leads: 38.1 s with jit, 28.2 s without; load 6).
    Code changes change vocabulary_fingerprint: after an upgrade to this code (one-pass expressions), an
    existing deployment re-matches its cached touches once. -#}

{%- set vocabulary_fingerprint -%}
    (select md5(string_agg(cast(vocabulary as text), ',' order by cast(vocabulary as text)) || '{{ local_md5(model.raw_code ~ what_whole_word_at('t', 'p', 'w') ~ what_lead_value_mentioned('t', 'v', 'p') ~ what_phrase_rules_sample()) }}')
     from {{ ref('int_what_vocabulary') }} as vocabulary)
{%- endset %}

with

all_texts as not materialized (
    select * from {{ ref('int_what_texts') }}
),

-- The touches to match: all of them on a first build; on a re-run those not cached with the same
-- fingerprints. Not materialised: a CTE scan would keep the plan in one process. The vocabulary
-- fingerprint is compared through `|| ''` on purpose: the planner then cannot tell from the column's
-- statistics (one value) that nearly every touch is cached, estimates many touches to match, and keeps
-- the per-touch matching in the parallel workers; with the exact estimate (1 row) it gathered the rows
-- first and matched in the leader alone — all of them after a vocabulary or rule change.
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
          and cached.vocabulary_fingerprint || '' = {{ vocabulary_fingerprint }}
    )
    {%- endif %}
),

-- Every touch's content features as per-row expressions over its texts (the rules: macros/what_phrases.sql).
{%- set vocabulary_rows = what_vocabulary_rows(ref('int_what_vocabulary')) %}
matched as (
    select
        texts.touch_id,
        texts.input_fingerprint,
        texts.subject,
        texts.body_chars,
        texts.first_name_value,
        texts.company_value,
        texts.industry_value,
        texts.has_subject,
        texts.has_body,
        texts.subject_words,
        texts.body_words,
        per_touch.search_full,
        {{ what_matched_categories(vocabulary_rows, 'pain_point', 'texts.search_body') }} as pain_points,
        {{ what_matched_categories(vocabulary_rows, 'angle', 'texts.search_body') }} as angles,
        {{ what_category_matched(vocabulary_rows, 'personalization', 'recent_news', 'per_touch.search_full') }} as has_recent_news,
        {{ what_category_matched(vocabulary_rows, 'personalization', 'mutual_connection', 'per_touch.search_full') }} as has_mutual_connection,
        per_touch.cta_key
    from texts
    -- Values used more than once, computed once per touch: a lateral function scan is a plan node of its
    -- own (a lateral SELECT or VALUES would be flattened, and its expressions copied into every use).
    cross join lateral rows from (
        unnest(array[texts.search_full]),
        unnest(array[{{ what_first_cta_key(vocabulary_rows, 'texts.search_body') }}])
    ) as per_touch (search_full, cta_key)
),

final as (
    select
        matched.touch_id,
        matched.input_fingerprint,
        {{ vocabulary_fingerprint }} as vocabulary_fingerprint,
        matched.subject,
        matched.has_subject,
        matched.has_body,
        cast(matched.subject_words as integer) as subject_words,
        cast(matched.body_words as integer) as body_words,
        cast(coalesce(matched.body_chars, 0) as integer) as body_chars,
        matched.pain_points,
        matched.angles,
        {{ what_first_cta(vocabulary_rows, 'matched.cta_key', 'phrase') }} as cta_phrase,
        {{ what_first_cta(vocabulary_rows, 'matched.cta_key', 'cta_type') }} as cta_type,
        -- the lead's values: same rule as the phrases (the first occurrence on word boundaries, else the
        -- word-boundary regex); a touch without subject and body mentions nothing
        (matched.has_subject or matched.has_body)
            and {{ what_lead_value_mentioned('matched.search_full', 'matched.company_value', 'positions.company_position') }} as has_company_mention,
        (matched.has_subject or matched.has_body)
            and {{ what_lead_value_mentioned('matched.search_full', 'matched.first_name_value', 'positions.first_name_position') }} as has_first_name,
        matched.has_recent_news,
        matched.has_mutual_connection,
        (matched.has_subject or matched.has_body)
            and {{ what_lead_value_mentioned('matched.search_full', 'matched.industry_value', 'positions.industry_position') }} as has_industry_specific
    from matched
    cross join lateral (
        select
            strpos(matched.search_full, matched.first_name_value) as first_name_position,
            strpos(matched.search_full, matched.company_value) as company_position,
            strpos(matched.search_full, matched.industry_value) as industry_position
    ) as positions
)

select * from final

{#- The WHAT phrase matching of int_what_content as per-row SQL expressions: the vocabulary
    (int_what_vocabulary) is read when the model is compiled, just before it runs, and every phrase
    becomes a literal in an expression over the touch's text. Per touch that is the same work as joining
    the touch to every phrase, but without the join's rows: no sort, aggregation or join back per touch,
    and the whole model is one parallel scan.
    Rules (the model's header; detectors/snapshot.py is the Python twin):
      * a phrase matches where its first occurrence (strpos) sits on word boundaries, or else where the
        word-boundary pattern (phrase_pattern, \m...\M) finds a later one;
      * categories: every category (sorted as `order by category` sorts them) with a matching phrase,
        NULL when none;
      * first CTA: the phrase whose first whole-word occurrence comes first; at one position the longer
        phrase, then the phrase in sort order. -#}


{#- The vocabulary rows in the order the expressions need (categories as `order by category` sorts them
    in the database; cta_rank = the CTA tie order: longer phrase first, then the phrase). Empty while dbt
    only parses the project, and when the vocabulary is not built yet (`dbt compile` / `docs generate` on
    a fresh database): no model runs then. -#}
{% macro what_vocabulary_rows(vocabulary_relation) -%}
    {%- if not execute or load_relation(vocabulary_relation) is none -%}
        {%- do return([]) -%}
    {%- endif -%}
    {%- set query -%}
        select
            field,
            category,
            phrase,
            cta_type,
            phrase_pattern,
            cast(case when field = 'cta'
                then row_number() over (partition by field order by char_length(phrase) desc, phrase) - 1
            end as integer) as cta_rank
        from {{ vocabulary_relation }}
        order by field, category, phrase
    {%- endset -%}
    {%- set rows = [] -%}
    {%- for row in run_query(query).rows -%}
        {%- do rows.append({'field': row[0], 'category': row[1], 'phrase': row[2], 'cta_type': row[3],
                            'phrase_pattern': row[4], 'cta_rank': row[5]}) -%}
    {%- endfor -%}
    {%- do return(rows) -%}
{%- endmacro %}


{#- A text value as an SQL string literal (NULL for None). -#}
{% macro what_literal(value) -%}
    {%- if value is none -%}cast(null as text){%- else -%}'{{ value | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}


{#- The character position (1-based) of the first whole-word occurrence of `phrase` in `text`, NULL
    when there is none. strpos first: most pairs stop there; the regex runs only when the first
    occurrence is not on word boundaries. -#}
{% macro what_phrase_position(text, phrase) -%}
    {%- set literal = what_literal(phrase['phrase']) -%}
    case
        when strpos({{ text }}, {{ literal }}) = 0 then null
        when {{ what_whole_word_at(text, 'strpos(' ~ text ~ ', ' ~ literal ~ ')', literal) }} then strpos({{ text }}, {{ literal }})
        else nullif(regexp_instr({{ text }}, {{ what_literal(phrase['phrase_pattern']) }}), 0)
    end
{%- endmacro %}


{#- Whether `phrase` (a row of what_vocabulary_rows) matches `text` on word boundaries: it has a first
    whole-word occurrence (what_phrase_position). -#}
{% macro what_phrase_matched(text, phrase) -%}
    ({{ what_phrase_position(text, phrase) }} is not null)
{%- endmacro %}


{#- The sorted array of the `field` categories with a phrase matching `text`; NULL when none matches. -#}
{% macro what_matched_categories(vocabulary, field, text) -%}
    {%- set categories = [] -%}
    {%- for row in vocabulary if row['field'] == field and row['category'] not in categories -%}
        {%- do categories.append(row['category']) -%}
    {%- endfor -%}
    {%- if categories -%}
    nullif(array_remove(array[
        {%- for category in categories %}
        case when {{ what_category_matched(vocabulary, field, category, text) }} then {{ what_literal(category) }} end{{ ',' if not loop.last }}
        {%- endfor %}
    ], null), cast('{}' as text[]))
    {%- else -%}
    cast(null as text[])
    {%- endif -%}
{%- endmacro %}


{#- Whether a phrase of category `category` of `field` matches `text`. -#}
{% macro what_category_matched(vocabulary, field, category, text) -%}
    ({% for row in vocabulary if row['field'] == field and row['category'] == category -%}
        {{ ' or ' if not loop.first }}{{ what_phrase_matched(text, row) }}
    {%- else -%}
        false
    {%- endfor %})
{%- endmacro %}


{#- The CTA phrases by cta_rank. -#}
{% macro what_ctas(vocabulary) -%}
    {%- set ctas = [] -%}
    {%- for row in vocabulary | selectattr('field', 'equalto', 'cta') | sort(attribute='cta_rank') -%}
        {%- do ctas.append(row) -%}
    {%- endfor -%}
    {%- do return(ctas) -%}
{%- endmacro %}


{#- The first CTA in `text` as one number: its position × the number of CTAs + its cta_rank, so the
    smallest key is the earliest occurrence and, at one position, the CTA first in tie order. NULL when
    no CTA matches (least() skips NULLs). -#}
{% macro what_first_cta_key(vocabulary, text) -%}
    {%- set ctas = what_ctas(vocabulary) -%}
    {%- if ctas -%}
    least(
        {%- for row in ctas %}
        cast({{ what_phrase_position(text, row) }} as bigint) * {{ ctas | length }} + {{ row['cta_rank'] }}{{ ',' if not loop.last }}
        {%- endfor %}
    )
    {%- else -%}
    cast(null as bigint)
    {%- endif -%}
{%- endmacro %}


{#- The `column` (phrase or cta_type) of the CTA a what_first_cta_key `key` names; NULL for a NULL key. -#}
{% macro what_first_cta(vocabulary, key, column) -%}
    {%- set ctas = what_ctas(vocabulary) -%}
    {%- if ctas -%}
    (array[{% for row in ctas %}{{ what_literal(row[column]) }}{{ ', ' if not loop.last }}{% endfor %}])[{{ key }} % {{ ctas | length }} + 1]
    {%- else -%}
    cast(null as text)
    {%- endif -%}
{%- endmacro %}


{#- Every expression macro above expanded on a fixed one-phrase-per-field vocabulary: the text that
    int_what_content's vocabulary_fingerprint hashes, so a change to these rules re-matches all history. -#}
{% macro what_phrase_rules_sample() -%}
    {%- set sample = [] -%}
    {%- for field in ['angle', 'cta', 'pain_point', 'personalization'] -%}
        {%- do sample.append({'field': field, 'category': 'c', 'phrase': 'p', 'cta_type': 'y',
                              'phrase_pattern': 'r', 'cta_rank': 0 if field == 'cta' else none}) -%}
    {%- endfor -%}
    {{ what_matched_categories(sample, 'pain_point', 't') }} {{ what_category_matched(sample, 'personalization', 'c', 't') }}
    {{ what_first_cta_key(sample, 't') }} {{ what_first_cta(sample, 'k', 'phrase') }} {{ what_first_cta(sample, 'k', 'cta_type') }}
{%- endmacro %}

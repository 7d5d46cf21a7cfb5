{#- A lead field as a phrase to look for in message text (int_what_touch_features): lowercased, runs of
    whitespace (space, tab, newline, CR, form feed, vertical tab, no-break space) collapsed to one space,
    non-word characters trimmed at either end ("Acme, Inc." -> "acme, inc"); NULL when nothing is left.
    detectors/snapshot.py applies the same rule for the engines. -#}
{% macro lead_phrase(column) -%}
    nullif(regexp_replace(lower(regexp_replace({{ column }}, '[ \t\n\r\f\v\u00a0]{2,}|[\t\n\r\f\v\u00a0]', ' ', 'g')),
                          '^[^[:alnum:]_]+|[^[:alnum:]_]+$', '', 'g'), '')
{%- endmacro %}

{#- TRUE when a one-character text (or '' past either end) is not a word character, i.e. not
    [[:alnum:]_] as the regex word boundaries \m \M define it. The frequent neighbours of a word (end of
    text, space and common ASCII punctuation) are decided by comparison; the regex, which costs
    microseconds per call, only runs for the rest. -#}
{% macro is_non_word_character(character) -%}
    ({{ character }} in ('', ' ', ',', '.', '?', '!', ':', ';', '-', '(', ')', '"', '''') or {{ character }} !~ '[[:alnum:]_]')
{%- endmacro %}

{#- A lead field as a phrase to look for in message text (int_what_touch_features): lowercased, runs of
    whitespace (space, tab, newline, CR, form feed, vertical tab, no-break space) collapsed to one space,
    non-word characters trimmed at either end ("Acme, Inc." -> "acme, inc"); NULL when nothing is left.
    detectors/snapshot.py applies the same rule for the engines. -#}
{% macro lead_phrase(column) -%}
    nullif(regexp_replace(lower(regexp_replace({{ column }}, '[ \t\n\r\f\v\u00a0]{2,}|[\t\n\r\f\v\u00a0]', ' ', 'g')),
                          '^[^[:alnum:]_]+|[^[:alnum:]_]+$', '', 'g'), '')
{%- endmacro %}

{#- A lead field as a phrase to look for in message text (int_what_texts): lowercased, runs of
    whitespace (space, tab, newline, CR, form feed, vertical tab, no-break space) collapsed to one space,
    non-word characters trimmed at either end ("Acme, Inc." -> "acme, inc"); NULL when nothing is left.
    detectors/snapshot.py applies the same rule for the engines. -#}
{% macro lead_phrase(column) -%}
    nullif(regexp_replace(lower(regexp_replace({{ column }}, '[ \t\n\r\f\v\u00a0]{2,}|[\t\n\r\f\v\u00a0]', ' ', 'g')),
                          '^[^[:alnum:]_]+|[^[:alnum:]_]+$', '', 'g'), '')
{%- endmacro %}

{#- trim_spaces: the text without leading and trailing spaces; what btrim(text) returns, byte for byte.
    btrim on a multibyte (UTF-8) database walks every character of the string to find the ends (~10 µs
    per 600-character body: 5 s a run over the 800k activities of 100k leads); trimming the UTF-8
    bytes finds them from the ends. Exact: the space byte 0x20 never occurs inside a multibyte
    UTF-8 character, and text converts to UTF-8 and back unchanged (the project's databases are
    UTF-8, where both conversions only validate). NULL stays NULL. -#}
{% macro trim_spaces(expr) -%}
    convert_from(btrim(convert_to({{ expr }}, 'UTF8'), '\x20'::bytea), 'UTF8')
{%- endmacro %}

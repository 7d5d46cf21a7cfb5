{#- PostgreSQL JSON helpers, for staging models only (marts stay portable).
    json_number: the value at `key` of a jsonb object as numeric, when it is a JSON number or a
    numeric string; NULL otherwise (missing key, text, array, object, or `expr` not an object). -#}
{% macro json_number(expr, key) -%}
    case
        when jsonb_typeof({{ expr }} -> '{{ key }}') = 'number' then ({{ expr }} ->> '{{ key }}')::numeric
        when jsonb_typeof({{ expr }} -> '{{ key }}') = 'string'
             and ({{ expr }} ->> '{{ key }}') ~ '^\s*[-+]?[0-9]+(\.[0-9]+)?\s*$'
            then trim({{ expr }} ->> '{{ key }}')::numeric
    end
{%- endmacro %}

{#- json_text: the trimmed, non-blank text at the first of `keys` present in a jsonb object (a
    string's value; a number or nested value as its JSON text); NULL otherwise. One lookup per key:
    this runs on millions of activities. -#}
{% macro json_text(expr, keys) -%}
    {%- if keys is string %}{% set keys = [keys] %}{% endif -%}
    coalesce(
    {%- for key in keys %}
        nullif({{ trim_spaces(expr ~ " ->> '" ~ key ~ "'") }}, ''){{ ',' if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}

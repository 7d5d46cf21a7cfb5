{#- Whitespace runs collapsed to one space, the WHAT models' one text normalisation (int_what_content,
    int_what_subject_templates; detectors/snapshot.py applies the same rule). WS = space, tab, newline,
    CR, form feed, vertical tab, no-break space. Runs of two or more, or a single non-space WS
    character: the same result as every WS run, several times faster. -#}
{% macro what_collapse_whitespace(expression) -%}
    regexp_replace({{ expression }}, '[ \t\n\r\f\v\u00a0]{2,}|[\t\n\r\f\v\u00a0]', ' ', 'g')
{%- endmacro %}

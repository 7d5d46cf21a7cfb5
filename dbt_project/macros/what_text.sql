{#- Whitespace runs collapsed to one space, the WHAT models' one text normalisation (int_what_content,
    int_what_subject_templates; detectors/snapshot.py applies the same rule). WS = space, tab, newline,
    CR, form feed, vertical tab, no-break space. Runs of two or more, or a single non-space WS
    character: the same result as every WS run, several times faster. -#}
{% macro what_collapse_whitespace(expression) -%}
    regexp_replace({{ expression }}, '[ \t\n\r\f\v\u00a0]{2,}|[\t\n\r\f\v\u00a0]', ' ', 'g')
{%- endmacro %}


{#- Whether the occurrence of `word` at character `position` (1-based, > 0) of `text` sits on word
    boundaries: no word character right before or right after it. The seeds' phrases and the lead
    values start and end with a word character, so this is what \m...\M means for them. -#}
{% macro what_whole_word_at(text, position, word) -%}
    (({{ position }} = 1 or substr({{ text }}, {{ position }} - 1, 1) !~ '[[:alnum:]_]')
     and substr({{ text }}, {{ position }} + char_length({{ word }}), 1) !~ '[[:alnum:]_]')
{%- endmacro %}


{#- Whether a lead value (lead_phrase: 2+ characters) occurs in `text` as a whole word; `position` is
    strpos(text, value). The first occurrence decides when it is on word boundaries, otherwise the
    word-boundary regex looks for a later one ("sam" inside "sample", then " sam "). -#}
{% macro what_lead_value_mentioned(text, value, position) -%}
    coalesce(case
        when char_length({{ value }}) < 2 or {{ position }} = 0 then false
        when {{ what_whole_word_at(text, position, value) }} then true
        else {{ text }} ~ ('\m' || regexp_replace({{ value }}, '([.^$*+?()[\]{}|\\])', '\\\1', 'g') || '\M')
    end, false)
{%- endmacro %}

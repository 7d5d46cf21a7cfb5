{#- The analysis instant as a timestamptz SQL expression.
    var('as_of') null/empty: the start of this dbt invocation (run_started_at, UTC), so every model
    of one run sees the same instant. Otherwise the var is parsed by PostgreSQL as a timestamptz
    (e.g. '2024-06-30T00:00:00+00:00'); a value without an offset is read as UTC. -#}
{% macro as_of_timestamp() -%}
    {%- set value = var('as_of', none) -%}
    {%- if value is none or (value | string | trim) in ('', 'null', 'None', 'none') -%}
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as timestamp with time zone)
    {%- else -%}
        {%- set text = value | string | trim -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9:.]+)?( ?(Z|UTC|[+-][0-9:]+))?$', text) -%}
            {{ exceptions.raise_compiler_error("var as_of must be an ISO timestamp, got: " ~ text) }}
        {%- endif -%}
        {%- if modules.re.search('(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?)$', text) -%}
            cast('{{ text }}' as timestamp with time zone)
        {%- else -%}
            cast('{{ text }}+00' as timestamp with time zone)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- stale_after_days as a validated integer literal. -#}
{% macro stale_after_days() -%}
    {%- set days = var('stale_after_days', 30) | int -%}
    {%- if days < 1 -%}
        {{ exceptions.raise_compiler_error("var stale_after_days must be a positive integer") }}
    {%- endif -%}
    {{ days }}
{%- endmacro %}

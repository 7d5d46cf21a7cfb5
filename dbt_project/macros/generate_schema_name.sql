{#- Every model, seed and test lands in exactly the target schema (DBT_SCHEMA): a custom +schema
    config is ignored on purpose, so concurrent builds (tests, several databases) stay in their own
    schema and nothing is written to `<schema>_<custom>` siblings. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ target.schema | trim }}
{%- endmacro %}

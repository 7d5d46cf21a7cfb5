{#- Pre-hook of the models whose CREATE TABLE AS should run on both cores: lowers, for the model's own
    transaction only (set_config(..., true) = SET LOCAL), the planner's price of a parallel plan. With
    the defaults (parallel_setup_cost 1000, parallel_tuple_cost 0.1) PostgreSQL plans these row-per-
    activity/touch models serially or gathers only a small part of them, though they return every row
    they read: passing a row from a worker to the leader costs far less than 0.1 of a row's processing
    here (measured: docs/dbt_runs.md). One statement, one place for the numbers. -#}
{% macro parallel_query() -%}
    select set_config('parallel_setup_cost', '100', true), set_config('parallel_tuple_cost', '0.001', true)
{%- endmacro %}

{#- ALS scoring from the component snapshot (SPEC §4, §9). Settings: var('als') in dbt_project.yml.
    score = sum over components of (clip(component, 0, max) / max * weight * 100) - clip(risk, 0, risk_max),
    clipped to 0..100 and rounded to an integer. NULL when the lead has no component snapshot.
    `relation_alias`: the alias whose als_<component> columns hold the components (NULL = 0). -#}
{% macro als_score(has_components_expr, relation_alias=none, weights=none) -%}
    {%- set cfg = var('als') -%}
    {%- set prefix = (relation_alias ~ '.') if relation_alias else '' -%}
    case when {{ has_components_expr }} then
        round(greatest(0, least(100,
        {%- for name, spec in cfg['components'].items() %}
            {%- set weight = (weights[name] if weights and name in weights else spec['default_weight']) %}
            {{ '+ ' if not loop.first }}least(greatest(coalesce({{ prefix }}als_{{ name }}, 0), 0), {{ spec['max_points'] }})::numeric
                / {{ spec['max_points'] }} * {{ weight }} * 100
        {%- endfor %}
            - least(greatest(coalesce({{ prefix }}als_risk, 0), 0), {{ cfg['risk_max_points'] }})::numeric
        )))::integer
    end
{%- endmacro %}

{#- Tier of an integer ALS score: the first tier (in var('als').tiers order) whose min_score it reaches. -#}
{% macro als_tier(score_expr) -%}
    {%- set tiers = var('als')['tiers'] -%}
    case
    {%- for t in tiers %}
        when {{ score_expr }} >= {{ t['min_score'] }} then '{{ t['tier'] }}'
    {%- endfor %}
    end
{%- endmacro %}

{#- The tier names, in order, for accepted_values tests. -#}
{% macro als_tier_names() -%}
    {%- set names = [] -%}
    {%- for t in var('als')['tiers'] -%}{%- do names.append(t['tier']) -%}{%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{#- Each ALS component (and risk) → its max points, from var('als'): the columns the weight fit reads. -#}
{% macro als_component_limits() -%}
    {%- set als = var('als') -%}
    {%- set limits = {} -%}
    {%- for name, spec in als['components'].items() -%}
        {%- do limits.update({name: spec['max_points']}) -%}
    {%- endfor -%}
    {%- do limits.update({'risk': als['risk_max_points']}) -%}
    {{ return(limits) }}
{%- endmacro %}

{#- The components clipped to [0, max] exactly as als_score clips them, one column each (NULL for a lead
    missing any component, `has_all_expr` false): the keys of the weight-fit combinations. -#}
{% macro als_clipped_components(has_all_expr) -%}
    {%- for name, max_points in als_component_limits().items() %}
        case
            when not {{ has_all_expr }} then null
            when {{ name }} < 0 then 0
            when {{ name }} > {{ max_points }} then {{ max_points }}
            else {{ name }}
        end as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

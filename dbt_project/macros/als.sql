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

{#- Sufficient statistics for the WHO rankings (SPEC §6, §7 who): per client, dimension and category
    the number of leads with a final outcome and how many of them converted. Every dimension
    partitions the client's leads, so each dimension's leads sum to
    fct_who_client_summary.leads_with_outcome (singular test). Booleans are the categories 'true' and
    'false'. Portable SQL. -#}

{%- set dimensions = [
    ('normalized_title', 'normalized_title'),
    ('seniority', 'seniority'),
    ('industry', 'industry'),
    ('size_bucket', 'size_bucket'),
    ('is_new_role', "case when is_new_role then 'true' else 'false' end"),
    ('is_hiring', "case when is_hiring then 'true' else 'false' end"),
    ('is_recently_funded', "case when is_recently_funded then 'true' else 'false' end"),
    ('als_tier', 'als_tier'),
] %}

with

{% for name, expr in dimensions %}
{{ name }}_stats as (
    select
        client_id,
        cast('{{ name }}' as {{ dbt.type_string() }}) as dimension,
        cast({{ expr }} as {{ dbt.type_string() }}) as category,
        count(*) as leads,
        sum(case when is_converted then 1 else 0 end) as conversions
    from {{ ref('fct_who_leads') }}
    group by client_id, {{ expr }}
),
{% endfor %}

unioned as (
{%- for name, expr in dimensions %}
    select * from {{ name }}_stats
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
),

final as (
    select
        client_id,
        dimension,
        category,
        cast(leads as {{ dbt.type_bigint() }}) as leads,
        cast(conversions as {{ dbt.type_bigint() }}) as conversions
    from unioned
)

select * from final

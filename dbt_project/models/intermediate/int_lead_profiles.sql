{{
    config(
        indexes=[
            {'columns': ['lead_id'], 'unique': True},
            {'columns': ['client_id']},
        ]
    )
}}

{#- One row per analysed lead (not excluded) with the WHO profile (SPEC §7 who), as it stood at the
    lead's first touch:
      normalized_title  first matching pattern of seed title_normalization (smallest priority) on the
                        cleaned title (trimmed, lowercased, whitespace collapsed); no match: other
      seniority         the lead's own seniority_level when it is a known level (after lowercasing and
                        '-'/' ' -> '_', synonyms owner -> founder, c_level/cxo/executive -> c_suite,
                        vice_president -> vp, intern/junior -> entry), else the title's, else unknown
      industry          lowercased, trimmed, whitespace collapsed; NULL/blank -> unknown
      size_bucket       1-5, 6-15, 16-30, 31-50, 51-100, 101-500, 500+ (501 and more); NULL or < 1 -> unknown
      timing signals    at the reference date = UTC date of the first touch (never touched: of the
                        lead's creation). SPEC §7: new role = started < 6 months before: start date after
                        (reference - 6 calendar months) and not after the reference (exactly 6 months:
                        not new); recently funded = within 12 months: latest funding on or after
                        (reference - 12 calendar months) and not after the reference (exactly 12 months:
                        funded). Dates after the reference do not count (later knowledge would leak).
                        is_hiring = organization_is_hiring, NULL -> false (has_hiring_data says which)
      ALS               the component snapshot (raw numbers; NULL when missing) and the score/tier
                        computed from it (int_leads_cleaned; NULL tier -> unknown)
    Regex and date arithmetic are PostgreSQL; the marts above this are portable. -#}

with

-- Read four times: not materialised, so the planner sees the table's statistics.
leads as not materialized (
    select * from {{ ref('int_leads_cleaned') }}
    where not is_excluded
),

outcomes as (
    select lead_id, first_touch_at
    from {{ ref('int_lead_outcomes') }}
),

title_rules as (
    select pattern, normalized_title, seniority, priority
    from {{ ref('title_normalization') }}
),

-- The levels a lead's own seniority_level may take: those the title mapping knows.
seniority_levels as (
    select distinct seniority
    from title_rules
),

-- Raw values repeat a lot: clean and match each distinct value once, then join back on it
-- (per-row regex over millions of leads would dominate the model).
distinct_titles as (
    select
        title,
        nullif(lower(btrim(regexp_replace(title, '\s+', ' ', 'g'))), '') as title_key
    from (select distinct title from leads where title is not null) as titles
),

title_lookup as (
    select distinct on (distinct_titles.title)
        distinct_titles.title,
        title_rules.normalized_title,
        title_rules.seniority as title_seniority,
        title_rules.priority as title_rule_priority
    from distinct_titles
    inner join title_rules
        on distinct_titles.title_key ~* title_rules.pattern
    order by distinct_titles.title, title_rules.priority
),

seniority_keys as (
    select
        seniority_level,
        nullif(regexp_replace(lower(btrim(seniority_level)), '[\s-]+', '_', 'g'), '') as seniority_key
    from (select distinct seniority_level from leads where seniority_level is not null) as levels
),

seniority_lookup as (
    select
        seniority_keys.seniority_level,
        seniority_levels.seniority
    from seniority_keys
    inner join seniority_levels
        on seniority_levels.seniority = case seniority_keys.seniority_key
            when 'owner' then 'founder'
            when 'c_level' then 'c_suite'
            when 'cxo' then 'c_suite'
            when 'executive' then 'c_suite'
            when 'vice_president' then 'vp'
            when 'intern' then 'entry'
            when 'junior' then 'entry'
            else seniority_keys.seniority_key
        end
),

industry_lookup as (
    select
        organization_industry,
        nullif(regexp_replace(lower(btrim(organization_industry)), '\s+', ' ', 'g'), '') as industry_key
    from (select distinct organization_industry from leads where organization_industry is not null) as industries
),

profiled as (
    select
        leads.*,
        outcomes.first_touch_at,
        title_lookup.normalized_title,
        title_lookup.title_seniority,
        title_lookup.title_rule_priority,
        seniority_lookup.seniority as lead_seniority,
        industry_lookup.industry_key,
        cast(coalesce(outcomes.first_touch_at, leads.created_at) at time zone 'UTC' as date) as signals_reference_date
    from leads
    left join outcomes
        on outcomes.lead_id = leads.lead_id
    left join title_lookup
        on title_lookup.title = leads.title
    left join seniority_lookup
        on seniority_lookup.seniority_level = leads.seniority_level
    left join industry_lookup
        on industry_lookup.organization_industry = leads.organization_industry
),

final as (
    select
        cast(profiled.lead_id as uuid) as lead_id,
        cast(profiled.client_id as uuid) as client_id,
        cast(profiled.title as text) as title,
        cast(coalesce(profiled.normalized_title, 'other') as text) as normalized_title,
        cast(profiled.title_rule_priority as integer) as title_rule_priority,
        cast(coalesce(profiled.lead_seniority, profiled.title_seniority, 'unknown') as text) as seniority,
        cast(
            case
                when profiled.lead_seniority is not null then 'lead'
                when profiled.title_seniority is not null then 'title'
                else 'none'
            end as text
        ) as seniority_source,
        cast(coalesce(profiled.industry_key, 'unknown') as text) as industry,
        cast(profiled.organization_employee_count as integer) as employee_count,
        cast(
            case
                when profiled.organization_employee_count is null or profiled.organization_employee_count < 1 then 'unknown'
                when profiled.organization_employee_count <= 5 then '1-5'
                when profiled.organization_employee_count <= 15 then '6-15'
                when profiled.organization_employee_count <= 30 then '16-30'
                when profiled.organization_employee_count <= 50 then '31-50'
                when profiled.organization_employee_count <= 100 then '51-100'
                when profiled.organization_employee_count <= 500 then '101-500'
                else '500+'
            end as text
        ) as size_bucket,
        cast(profiled.first_touch_at as timestamp with time zone) as first_touch_at,
        cast(case when profiled.first_touch_at is not null then 'first_touch' else 'lead_created' end as text)
            as signals_reference,
        profiled.signals_reference_date,
        profiled.employment_start_date,
        profiled.employment_start_date is not null as has_role_data,
        cast(profiled.signals_reference_date - profiled.employment_start_date as integer) as days_in_role_at_first_touch,
        coalesce(
            profiled.employment_start_date <= profiled.signals_reference_date
            and profiled.employment_start_date > cast(profiled.signals_reference_date - interval '6 months' as date),
            false
        ) as is_new_role,
        coalesce(profiled.organization_is_hiring, false) as is_hiring,
        profiled.organization_is_hiring is not null as has_hiring_data,
        profiled.organization_latest_funding_date as latest_funding_date,
        cast(profiled.signals_reference_date - profiled.organization_latest_funding_date as integer)
            as days_since_funding_at_first_touch,
        coalesce(
            profiled.organization_latest_funding_date <= profiled.signals_reference_date
            and profiled.organization_latest_funding_date
                >= cast(profiled.signals_reference_date - interval '12 months' as date),
            false
        ) as is_recently_funded,
        cast(profiled.als_data_quality as numeric) as data_quality,
        cast(profiled.als_authority as numeric) as authority,
        cast(profiled.als_company_fit as numeric) as company_fit,
        cast(profiled.als_timing as numeric) as timing,
        cast(profiled.als_risk as numeric) as risk,
        (
            profiled.als_data_quality is not null
            and profiled.als_authority is not null
            and profiled.als_company_fit is not null
            and profiled.als_timing is not null
            and profiled.als_risk is not null
        ) as has_all_als_components,
        cast(profiled.als_score_at_first_touch as integer) as als_score_at_first_touch,
        cast(coalesce(profiled.als_tier_at_first_touch, 'unknown') as text) as als_tier
    from profiled
)

select * from final

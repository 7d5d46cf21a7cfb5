{{
    config(
        materialized='incremental',
        unique_key='touch_id',
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        indexes=[
            {'columns': ['touch_id'], 'unique': True},
        ],
        pre_hook=[
            "set local parallel_setup_cost = 100",
            "set local parallel_tuple_cost = 0.001",
        ],
        post_hook=[
            "delete from {{ this }} as cached where not exists (select from {{ ref('int_touches') }} as touches where touches.touch_id = cached.touch_id)",
        ],
    )
}}

{#- Every touch's texts as the WHAT matching reads them (int_what_content), normalised once and cached:
      * subject: whitespace runs collapsed to one space (macro what_collapse_whitespace), trimmed, NULL
        without a word; search_body: the body the same way and lowercased (phrases match lowercased text);
      * the lead's first name, company and organization_industry as phrases (macro lead_phrase).
    A table (not a CTE of the matching model): PostgreSQL can then scan it with parallel workers.
    Incremental: input_fingerprint hashes exactly the inputs (raw subject, body and the three lead values;
    and the rules: this model's code and its macros),
    so a run normalises only touches that are new or whose inputs changed; rows of touches no longer in
    int_touches are deleted (post-hook); `--full-refresh` rebuilds from scratch. -#}

{#- The normalisation rules: this model's code and the macros it expands. -#}
{%- set rules_fingerprint = local_md5(model.raw_code ~ what_collapse_whitespace('x') ~ lead_phrase('x')) %}

with

touches as (
    select touch_id, lead_id, subject, body from {{ ref('int_touches') }}
),

leads as (
    select lead_id, first_name, company, organization_industry from {{ ref('int_leads_cleaned') }}
),

inputs as (
    select
        touches.touch_id,
        touches.subject,
        touches.body,
        leads.first_name,
        leads.company,
        leads.organization_industry,
        -- 64-bit hash of the inputs and of the rules (a rule change renormalises everything); only ever
        -- compared with the same touch's previous hash
        hashtextextended(cast(row(touches.subject, touches.body, leads.first_name, leads.company,
                                  leads.organization_industry, '{{ rules_fingerprint }}') as text), 0) as input_fingerprint
    from touches
    left join leads
        on leads.lead_id = touches.lead_id
),

-- all touches on a first build; on a re-run those not cached with the same fingerprint
pending as (
    select inputs.*
    from inputs
    {%- if is_incremental() %}
    where not exists (
        select
        from {{ this }} as cached
        where cached.touch_id = inputs.touch_id
          and cached.input_fingerprint = inputs.input_fingerprint
    )
    {%- endif %}
),

final as (
    select
        touch_id,
        input_fingerprint,
        nullif(btrim({{ what_collapse_whitespace('subject') }}), '') as subject,
        nullif(btrim(lower({{ what_collapse_whitespace('body') }})), '') as search_body,
        char_length(body) as body_chars,
        {{ lead_phrase('first_name') }} as first_name_value,
        {{ lead_phrase('company') }} as company_value,
        {{ lead_phrase('organization_industry') }} as industry_value
    from pending
)

select * from final

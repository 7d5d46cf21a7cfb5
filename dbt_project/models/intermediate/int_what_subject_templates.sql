{{
    config(
        indexes=[
            {'columns': ['subject'], 'unique': True},
        ],
    )
}}

{#- The seed subject_templates each distinct normalised subject matches (~*, sorted): one row per
    subject with at least one match. Per distinct subject (sequences reuse their subjects), and its own
    model so that dbt builds it on its second thread while int_what_content matches the bodies. -#}

with

touches as (
    select subject from {{ ref('int_touches') }}
),

subject_templates as (
    select subject_template, pattern from {{ ref('subject_templates') }}
),

subjects as (
    select distinct nullif(btrim({{ what_collapse_whitespace('touches.subject') }}), '') as subject
    from touches
),

final as (
    select
        subjects.subject,
        array_agg(subject_templates.subject_template order by subject_templates.subject_template) as subject_templates
    from subjects
    inner join subject_templates
        on subjects.subject ~* subject_templates.pattern
    group by subjects.subject
)

select * from final

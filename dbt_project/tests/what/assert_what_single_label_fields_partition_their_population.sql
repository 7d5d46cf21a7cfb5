-- Single-label fields (subject_length, cta, cta_type, length bins) partition their population in
-- every stratum; multi-label fields cover it (at least as many rows as touches).
{{ config(meta={'dagster': {'ref': {'name': 'fct_what_feature_stats'}}}) }}
with

features as (
    select client_id, field, touch_number_stratum, sum(touches) as touches, sum(conversions) as conversions
    from {{ ref('fct_what_feature_stats') }}
    group by client_id, field, touch_number_stratum
),

populations as (
    select * from {{ ref('fct_what_population_stats') }}
)

select populations.client_id, populations.field, populations.touch_number_stratum,
       populations.touches, features.touches as feature_touches
from populations
full outer join features
    on features.client_id = populations.client_id
   and features.field = populations.field
   and features.touch_number_stratum = populations.touch_number_stratum
where features.client_id is null
   or populations.client_id is null
   or (populations.field in ('subject_length', 'cta', 'cta_type', 'length_email', 'length_linkedin', 'length_sms')
       and (features.touches <> populations.touches or features.conversions <> populations.conversions))
   or features.touches < populations.touches

-- The outbound actions of seed activity_actions are exactly the database's
-- convintel_outbound_actions() (migration 002), which the converting-touch trigger uses.
{{ config(meta={'dagster': {'ref': {'name': 'activity_actions'}}}) }}
with

seeded as (
    select action from {{ ref('activity_actions') }} where is_outbound
),

database_list as (
    select unnest({{ var('source_schema', 'public') }}.convintel_outbound_actions()) as action
)

select coalesce(seeded.action, database_list.action) as action,
       seeded.action is not null as in_seed,
       database_list.action is not null as in_database
from seeded
full outer join database_list
    on database_list.action = seeded.action
where seeded.action is null or database_list.action is null

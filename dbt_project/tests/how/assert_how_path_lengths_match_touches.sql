-- A path has one channel per touch: the number of '>' separators is touches - 1, and the first
-- channel opens the path.
{{ config(meta={'dagster': {'ref': {'name': 'fct_how_leads'}}}) }}
select lead_id, channel_path, touches, first_channel
from {{ ref('fct_how_leads') }}
where {{ dbt.length('channel_path') }} - {{ dbt.length(dbt.replace('channel_path', "'>'", "''")) }} <> touches - 1
   or {{ dbt.position("'>'", "channel_path || '>'") }} - 1 <> {{ dbt.length('first_channel') }}

with

source as (
    select * from {{ source('platform', 'activities') }}
),

-- Not materialised: the seed is read twice, and inlined PostgreSQL can drop the lookup join (unique
-- index on action) from queries that need none of its columns.
activity_actions as not materialized (
    select * from {{ ref('activity_actions') }}
),

known_channels as (
    select distinct channel
    from activity_actions
    where channel is not null
),

renamed as (
    select
        id as activity_id,
        client_id,
        campaign_id,
        lead_id,
        channel as channel_raw,
        nullif(lower(btrim(channel)), '') as channel,
        action as action_raw,
        nullif(lower(btrim(action)), '') as action,
        sequence_step,
        subject,
        content_preview,
        metadata,
        content_snapshot as content_snapshot_raw,
        coalesce(led_to_booking, false) as is_platform_converting_touch,
        created_at
    from source
),

unpacked as (
    select
        renamed.*,
        renamed.content_snapshot_raw is not null as has_content_snapshot,
        coalesce(jsonb_typeof(renamed.content_snapshot_raw) = 'object', false) as is_snapshot_object
    from renamed
),

final as (
    select
        unpacked.activity_id,
        unpacked.client_id,
        unpacked.campaign_id,
        unpacked.lead_id,
        unpacked.channel_raw,
        unpacked.channel,
        unpacked.action_raw,
        unpacked.action,
        known_channels.channel is not null as is_known_channel,
        activity_actions.action is not null as is_known_action,
        -- The channel the action belongs to (NULL: any channel, or unknown action).
        activity_actions.channel as action_channel,
        coalesce(
            activity_actions.channel is null or activity_actions.channel = unpacked.channel, true
        ) as is_channel_consistent,
        activity_actions.event_type,
        coalesce(activity_actions.is_outbound, false) as is_outbound,
        coalesce(activity_actions.is_booking, false) as is_booking,
        coalesce(activity_actions.is_failure_event, false) as is_failure_event,
        unpacked.sequence_step,
        unpacked.subject,
        unpacked.content_preview,
        unpacked.metadata,
        unpacked.content_snapshot_raw,
        unpacked.has_content_snapshot,
        unpacked.is_snapshot_object,
        -- The snapshot only when it is a JSON object; arrays, strings, numbers and JSON null are ignored.
        case when unpacked.is_snapshot_object then unpacked.content_snapshot_raw end as content_snapshot,
        case when unpacked.is_snapshot_object
            then {{ json_text('unpacked.content_snapshot_raw', ['subject']) }}
        end as snapshot_subject,
        case when unpacked.is_snapshot_object
            then {{ json_text('unpacked.content_snapshot_raw', ['body', 'content']) }}
        end as snapshot_body,
        unpacked.is_platform_converting_touch,
        unpacked.created_at
    from unpacked
    left join known_channels
        on known_channels.channel = unpacked.channel
    left join activity_actions
        on activity_actions.action = unpacked.action
)

select * from final

{#- One row per client with a touch: how many touches the WHAT detector analyses and why the others are
    left out (SPEC §11: counted, never silently lost). touches = analysed_touches + censored_touches +
    touches_without_content. conversions = converting touches among the analysed ones (the gate:
    >= 5 converting touches and >= 20 analysed touches with content). snapshot_ignored_touches: touches
    whose content_snapshot was not a JSON object (their content came from subject/content_preview);
    content_from_snapshot / content_from_columns: where the analysed touches' content came from. -#}

with

touches as (
    select * from {{ ref('fct_what_touches') }}
),

final as (
    select
        client_id,
        cast(count(*) as bigint) as touches,
        cast(sum(case when what_status = 'analysed' then 1 else 0 end) as bigint) as analysed_touches,
        cast(sum(case when what_status = 'analysed' and is_converting_touch then 1 else 0 end) as bigint) as conversions,
        cast(sum(case when what_status = 'censored' then 1 else 0 end) as bigint) as censored_touches,
        cast(sum(case when what_status = 'no_content' then 1 else 0 end) as bigint) as touches_without_content,
        cast(sum(case when is_snapshot_ignored then 1 else 0 end) as bigint) as snapshot_ignored_touches,
        cast(sum(case when what_status = 'analysed' and content_source = 'snapshot' then 1 else 0 end) as bigint)
            as content_from_snapshot,
        cast(sum(case when what_status = 'analysed' and content_source = 'columns' then 1 else 0 end) as bigint)
            as content_from_columns,
        cast(
            case
                when sum(case when what_status = 'analysed' then 1 else 0 end) > 0
                    then cast(sum(case when what_status = 'analysed' and is_converting_touch then 1 else 0 end) as double precision)
                         / sum(case when what_status = 'analysed' then 1 else 0 end)
            end as double precision
        ) as baseline_rate
    from touches
    group by client_id
)

select * from final

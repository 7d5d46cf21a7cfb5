-- Detector results staged per client during a learning run (issue 11, "Memory at 1,000 clients"): each
-- detector step writes every client's result here as soon as it is computed and keeps none in memory;
-- the store step reads them back one client at a time, stores them in conversion_patterns, then deletes
-- the run's rows. So a run's memory is bounded by its largest client, not by all clients' results.
-- One row per (run, pattern type, client): a retried step overwrites its rows (upsert), never duplicates.
-- Rows of a run that failed before its store stay until pruned (STAGED_RETENTION in dagster_pipelines/result_staging.py). Idempotent.

create table if not exists detector_results_staging (
    run_id          uuid not null,
    -- The key's order serves the store's read (one run, ordered by client) and the delete by run.
    client_id       uuid not null references clients (id) on delete cascade,
    pattern_type    text not null check (pattern_type in ('who', 'what', 'when', 'how')),
    -- The serialised DetectorResult: patterns null when the minimum-data gate failed (gate_reason says why).
    -- json, not jsonb: json keeps the text as written, so every float reads back bit for bit (jsonb turns
    -- 1.7976931348623157e+308 into an integer of other value) and nothing is parsed twice; the store
    -- writes the jsonb.
    patterns        json,
    sample_size     integer not null check (sample_size >= 0),
    confidence      double precision not null check (confidence >= 0 and confidence <= 1),
    conversions     integer not null default 0,
    gate_reason     text,
    learned_weights json,
    computed_at     timestamptz not null,
    staged_at       timestamptz not null default now(),
    constraint detector_results_staging_pkey primary key (run_id, client_id, pattern_type),
    constraint detector_results_staging_says_why check (patterns is not null or gate_reason is not null)
);

-- Pruning the rows failed runs left behind.
create index if not exists detector_results_staging_staged_at_idx on detector_results_staging (staged_at);

-- Tenant isolation as on the pattern tables: a session sees and writes only the clients it is scoped to.
alter table detector_results_staging enable row level security;
alter table detector_results_staging force row level security;

drop policy if exists tenant_isolation on detector_results_staging;
create policy tenant_isolation on detector_results_staging
    using (client_id = any (convintel_scoped_client_ids()))
    with check (client_id = any (convintel_scoped_client_ids()));

grant select on detector_results_staging to convintel_app;

-- Pattern API (SPEC §9): API keys, the runs the API started, and client-scoped views for the engines.
-- Idempotent: every statement can run again on a database that already has it.

-- 1. API keys -----------------------------------------------------------------------------------
-- Only the SHA-256 of a key is stored (the key itself is a high-entropy random token shown once).
-- A tenant key is scoped to its clients; an admin key may read any client and trigger runs.
-- The API authenticates as the connecting (owner) user before it switches to convintel_app, so the
-- application role gets no access to this table.
create table if not exists api_keys (
    id           uuid primary key default gen_random_uuid(),
    name         text not null default '',
    token_prefix text not null,
    token_sha256 text not null check (token_sha256 ~ '^[0-9a-f]{64}$'),
    is_admin     boolean not null default false,
    client_ids   uuid[] not null default '{}',
    created_at   timestamptz not null default now(),
    revoked_at   timestamptz,
    constraint api_keys_token_sha256_key unique (token_sha256),
    constraint api_keys_scope_check check (is_admin or cardinality(client_ids) > 0)
);

-- 2. Runs started through the API ---------------------------------------------------------------
-- The id is also the Dagster run id. The worker process that executes the run records its progress
-- here, so the status endpoint answers with one query (no Dagster import on the request path).
create table if not exists api_runs (
    run_id       uuid primary key,
    job_name     text not null,
    kind         text not null check (kind in ('learn', 'backfill')),
    client_ids   uuid[] not null default '{}',
    requested_by uuid references api_keys (id) on delete set null,
    status       text not null default 'queued'
                 check (status in ('queued', 'running', 'success', 'failure', 'canceled')),
    error        text,
    worker_pid   integer,
    requested_at timestamptz not null default now(),
    started_at   timestamptz,
    finished_at  timestamptz
);

create index if not exists api_runs_requested_at_idx on api_runs (requested_at desc);

-- 3. Client-scoped views for the engine endpoints ------------------------------------------------
-- The engines need a client's timezone and learned weights and a lead's timezone. The views filter
-- by the session's scope themselves (security barrier), so convintel_app reading through them sees
-- only the clients of the key, whatever the query asks for.
create or replace view convintel_api_clients with (security_barrier = true) as
select c.id, c.name, c.timezone, c.als_learned_weights, c.als_weights_updated_at
from clients as c
where c.id = any (convintel_scoped_client_ids())
  and c.deleted_at is null;

create or replace view convintel_api_leads with (security_barrier = true) as
select l.id, l.client_id, l.timezone
from leads as l
where l.client_id = any (convintel_scoped_client_ids())
  and l.deleted_at is null;

grant select on convintel_api_clients, convintel_api_leads to convintel_app;

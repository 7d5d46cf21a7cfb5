-- Pattern health (SPEC §8): one row per health run, one row per finding.
-- Idempotent: every statement can run again on a database that already has it.

-- 1. Health runs: what was checked and how it went (no client data, so no row-level security) ----------
create table if not exists pattern_health_runs (
    id                     uuid primary key,
    checked_at             timestamptz not null,
    dagster_run_id         text,
    clients_checked        integer not null default 0 check (clients_checked >= 0),
    patterns_checked       integer not null default 0 check (patterns_checked >= 0),
    high_count             integer not null default 0 check (high_count >= 0),
    medium_count           integer not null default 0 check (medium_count >= 0),
    low_count              integer not null default 0 check (low_count >= 0),
    expectations_evaluated integer not null default 0 check (expectations_evaluated >= 0),
    expectations_failed    integer not null default 0 check (expectations_failed >= 0),
    data_docs_path         text,
    created_at             timestamptz not null default now()
);

create index if not exists pattern_health_runs_checked_at_idx on pattern_health_runs (checked_at desc);

-- 2. Findings: client_id / pattern_type are null for findings about the whole store -------------------
create table if not exists pattern_health_findings (
    id           bigint generated always as identity primary key,
    run_id       uuid not null references pattern_health_runs (id) on delete cascade,
    checked_at   timestamptz not null,
    client_id    uuid references clients (id) on delete cascade,
    pattern_type text check (pattern_type in ('who', 'what', 'when', 'how')),
    rule         text not null,
    severity     text not null check (severity in ('high', 'medium', 'low')),
    message      text not null,
    details      jsonb not null default '{}'::jsonb,
    created_at   timestamptz not null default now()
);

create index if not exists pattern_health_findings_run_idx on pattern_health_findings (run_id, severity);
create index if not exists pattern_health_findings_client_idx on pattern_health_findings (client_id, checked_at desc);

-- 3. Tenant isolation ---------------------------------------------------------------------------------
-- A client's findings are visible to sessions scoped to that client (as the pattern tables). Findings
-- about the whole store (client_id null) may quote any client's rows, so only a session scoped to
-- every client (the health job, an operator) sees or writes them.
create or replace function convintel_scope_covers_all_clients() returns boolean
language sql stable parallel safe as $$
    select not exists (select 1 from clients where id <> all (convintel_scoped_client_ids()))
$$;

alter table pattern_health_findings enable row level security;
alter table pattern_health_findings force row level security;

drop policy if exists tenant_isolation on pattern_health_findings;
create policy tenant_isolation on pattern_health_findings
    using (client_id = any (convintel_scoped_client_ids())
           or (client_id is null and convintel_scope_covers_all_clients()))
    with check (client_id = any (convintel_scoped_client_ids())
                or (client_id is null and convintel_scope_covers_all_clients()));

grant select on pattern_health_runs, pattern_health_findings to convintel_app;
grant execute on function convintel_scope_covers_all_clients() to convintel_app;

-- Business KPIs and learning health per client (issue 10 part 2, docs/kpis.md): one document per client,
-- recomputed by every learning run from the dbt KPI marts and conversion_pattern_history. The dbt marts
-- are rebuilt (dropped and created) on every run and carry no row-level security, so the API's
-- convintel_app cannot be given them; it reads this table instead, under the same forced tenant
-- isolation as the pattern tables. Idempotent.

create table if not exists client_kpis (
    client_id   uuid primary key references clients (id) on delete cascade,
    kpis        jsonb not null check (jsonb_typeof(kpis) = 'object'),
    computed_at timestamptz not null,
    as_of       timestamptz,
    run_id      uuid,
    updated_at  timestamptz not null default now()
);

alter table client_kpis enable row level security;
alter table client_kpis force row level security;

drop policy if exists tenant_isolation on client_kpis;
create policy tenant_isolation on client_kpis
    using (client_id = any (convintel_scoped_client_ids()))
    with check (client_id = any (convintel_scoped_client_ids()));

grant select on client_kpis to convintel_app;

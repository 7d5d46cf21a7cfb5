-- Baseline source schema: the platform's own tables, as the platform names them (SPEC §3.2).
-- Against the real platform database these already exist; every statement is idempotent so the
-- runner can be pointed there safely.

create table if not exists clients (
    id                  uuid primary key default gen_random_uuid(),
    name                text not null,
    timezone            text not null default 'UTC',
    subscription_status text,
    is_paused           boolean not null default false,
    deleted_at          timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);

create table if not exists campaigns (
    id         uuid primary key default gen_random_uuid(),
    client_id  uuid not null references clients (id) on delete cascade,
    name       text not null,
    created_at timestamptz not null default now()
);

create table if not exists leads (
    id                               uuid primary key default gen_random_uuid(),
    client_id                        uuid not null references clients (id) on delete cascade,
    campaign_id                      uuid references campaigns (id) on delete set null,
    email                            text,
    phone                            text,
    first_name                       text,
    last_name                        text,
    title                            text,
    company                          text,
    linkedin_url                     text,
    domain                           text,
    timezone                         text,
    organization_industry            text,
    organization_employee_count      integer,
    organization_country             text,
    organization_is_hiring           boolean,
    organization_latest_funding_date date,
    employment_start_date            date,
    seniority_level                  text,
    als_score                        integer,
    als_tier                         text,
    status                           text not null default 'new',
    created_at                       timestamptz not null default now(),
    updated_at                       timestamptz not null default now(),
    deleted_at                       timestamptz,
    constraint leads_client_email_key unique (client_id, email)
);

-- No CHECK on channel/action: the platform writes what it writes, and bad rows must reach the
-- pipeline to be counted and excluded there (SPEC §11), not rejected at insert.
create table if not exists activities (
    id              uuid primary key default gen_random_uuid(),
    client_id       uuid not null references clients (id) on delete cascade,
    campaign_id     uuid references campaigns (id) on delete set null,
    lead_id         uuid references leads (id) on delete cascade,
    channel         text,
    action          text,
    sequence_step   integer,
    subject         text,
    content_preview text,
    metadata        jsonb,
    created_at      timestamptz
);

create table if not exists memberships (
    user_id     uuid not null,
    client_id   uuid not null references clients (id) on delete cascade,
    role        text not null default 'member',
    accepted_at timestamptz,
    primary key (user_id, client_id)
);

create index if not exists campaigns_client_idx on campaigns (client_id);
create index if not exists leads_client_status_idx on leads (client_id, status);
create index if not exists activities_lead_created_idx on activities (lead_id, created_at, id);
create index if not exists activities_client_created_idx on activities (client_id, created_at);

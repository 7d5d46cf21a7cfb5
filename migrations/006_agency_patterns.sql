-- Agency-wide patterns (issue 10 part 3): one pattern per type pooled over every client's sufficient
-- statistics, stored under its own scope (not as a fake client). The learning run writes them; the
-- detectors use them as the shrinkage prior, and the API serves them to a client that has no pattern
-- of its own for a type (scope 'agency').
-- Idempotent: every statement can run again on a database that already has it.

-- 1. The current agency pattern per type -----------------------------------------------------------
create table if not exists agency_patterns (
    id             uuid primary key default gen_random_uuid(),
    pattern_type   text not null check (pattern_type in ('who', 'what', 'when', 'how')),
    patterns       jsonb not null,
    sample_size    integer not null default 0 check (sample_size >= 0),
    confidence     double precision not null default 0 check (confidence >= 0 and confidence <= 1),
    clients_pooled integer not null check (clients_pooled >= 0),
    computed_at    timestamptz not null default now(),
    valid_until    timestamptz not null,
    created_at     timestamptz not null default now(),
    constraint agency_patterns_pattern_type_key unique (pattern_type)
);

-- 2. One row per stored agency pattern per learning run: its drift record --------------------------
create table if not exists agency_pattern_history (
    id             bigint generated always as identity primary key,
    pattern_type   text not null check (pattern_type in ('who', 'what', 'when', 'how')),
    patterns       jsonb not null,
    sample_size    integer not null default 0 check (sample_size >= 0),
    confidence     double precision not null default 0 check (confidence >= 0 and confidence <= 1),
    clients_pooled integer not null check (clients_pooled >= 0),
    computed_at    timestamptz not null,
    run_id         uuid,
    created_at     timestamptz not null default now()
);

create index if not exists agency_pattern_history_type_idx on agency_pattern_history (pattern_type, computed_at desc);

-- 3. Access ------------------------------------------------------------------------------------------
-- No row-level security: these rows belong to no client. They hold only counts summed over at least
-- MIN_CLIENTS_POOLED clients (detectors/agency.py) and statistics computed from those sums — never a
-- per-client breakdown and no client id — so every tenant's session may read them. Only the owner
-- (the learning run) writes them; convintel_app gets SELECT and nothing else.
grant select on agency_patterns, agency_pattern_history to convintel_app;

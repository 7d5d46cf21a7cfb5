-- Conversion-intelligence objects (SPEC §3.3; the seed's migration 014, corrected).
-- Idempotent: every statement can run again on a database that already has it.

-- 1. Columns on the platform tables --------------------------------------------------------------
alter table leads add column if not exists als_components   jsonb;
alter table leads add column if not exists als_weights_used jsonb;
alter table leads add column if not exists scored_at        timestamptz;
alter table leads add column if not exists converted_at     timestamptz;

alter table activities add column if not exists led_to_booking   boolean not null default false;
alter table activities add column if not exists content_snapshot jsonb;

alter table clients add column if not exists als_learned_weights     jsonb;
alter table clients add column if not exists als_weights_updated_at  timestamptz;
alter table clients add column if not exists conversion_sample_count integer not null default 0;

-- 2. Pattern store ------------------------------------------------------------------------------
create table if not exists conversion_patterns (
    id           uuid primary key default gen_random_uuid(),
    client_id    uuid not null references clients (id) on delete cascade,
    pattern_type text not null check (pattern_type in ('who', 'what', 'when', 'how')),
    patterns     jsonb not null,
    sample_size  integer not null default 0 check (sample_size >= 0),
    confidence   double precision not null default 0 check (confidence >= 0 and confidence <= 1),
    computed_at  timestamptz not null default now(),
    valid_until  timestamptz not null,
    created_at   timestamptz not null default now(),
    constraint conversion_patterns_client_type_key unique (client_id, pattern_type)
);

-- One row per stored pattern per learning run: the drift record.
create table if not exists conversion_pattern_history (
    id           bigint generated always as identity primary key,
    client_id    uuid not null references clients (id) on delete cascade,
    pattern_type text not null check (pattern_type in ('who', 'what', 'when', 'how')),
    patterns     jsonb not null,
    sample_size  integer not null check (sample_size >= 0),
    confidence   double precision not null check (confidence >= 0 and confidence <= 1),
    computed_at  timestamptz not null,
    run_id       uuid not null,
    created_at   timestamptz not null default now()
);

create index if not exists conversion_pattern_history_lookup_idx
    on conversion_pattern_history (client_id, pattern_type, computed_at desc);
create index if not exists conversion_pattern_history_run_idx on conversion_pattern_history (run_id);
create index if not exists conversion_patterns_valid_until_idx on conversion_patterns (valid_until);
create index if not exists activities_converting_touch_idx on activities (lead_id) where led_to_booking;
create index if not exists activities_client_action_idx on activities (client_id, action);
create index if not exists leads_converted_idx on leads (client_id, converted_at) where status = 'converted';

-- 3. Converting touch -----------------------------------------------------------------------------
-- The platform's outbound ("send") actions. dbt keeps the same list as a seed; a test checks they agree.
create or replace function convintel_outbound_actions() returns text[]
language sql immutable parallel safe as $$
    select array['email_sent', 'linkedin_sent', 'sms_sent', 'voice_completed', 'mail_sent']::text[]
$$;

-- Re-marks led_to_booking for a set of leads, set-based (COPY of a million rows stays one query).
-- For each converted lead exactly one activity is marked: the last outbound touch strictly before
-- converted_at, ties on created_at broken by the larger id. Every other activity of these leads,
-- including everything at or after the booking, is unmarked.
create or replace function convintel_remark_converting_touches(p_lead_ids uuid[]) returns integer
language plpgsql as $$
declare
    marked integer;
begin
    with scoped as (
        select distinct unnest(p_lead_ids) as lead_id
    ),
    booked as (
        select l.id as lead_id, l.converted_at
        from leads as l
        join scoped as s on s.lead_id = l.id
        where l.status = 'converted' and l.converted_at is not null
    ),
    converting as (
        select distinct on (a.lead_id) a.id
        from activities as a
        join booked as b on b.lead_id = a.lead_id
        where a.action = any (convintel_outbound_actions())
          and a.created_at < b.converted_at
        order by a.lead_id, a.created_at desc, a.id desc
    ),
    unmarked as (
        update activities as a
        set led_to_booking = false
        from scoped as s
        where a.lead_id = s.lead_id
          and a.led_to_booking
          and a.id not in (select id from converting)
        returning a.id
    )
    update activities as a
    set led_to_booking = true
    from converting as c
    where a.id = c.id and not a.led_to_booking;
    get diagnostics marked = row_count;
    return marked;
end
$$;

-- BEFORE row trigger: a converted lead always has converted_at. The earliest meeting_booked
-- activity is the authoritative booking time; otherwise the value given; otherwise now().
create or replace function convintel_leads_set_converted_at() returns trigger
language plpgsql as $$
begin
    if new.status = 'converted' then
        new.converted_at := coalesce(
            (select min(a.created_at) from activities as a
              where a.lead_id = new.id and a.action = 'meeting_booked' and a.created_at is not null),
            new.converted_at,
            now());
    end if;
    return new;
end
$$;

drop trigger if exists convintel_leads_set_converted_at on leads;
create trigger convintel_leads_set_converted_at
    before insert or update of status, converted_at on leads
    for each row execute function convintel_leads_set_converted_at();

-- AFTER statement triggers with transition tables, so bulk loads re-mark in one pass.
create or replace function convintel_leads_after_insert() returns trigger
language plpgsql as $$
begin
    perform convintel_remark_converting_touches(array(
        select n.id from new_rows as n where n.status = 'converted'));
    return null;
end
$$;

create or replace function convintel_leads_after_update() returns trigger
language plpgsql as $$
begin
    perform convintel_remark_converting_touches(array(
        select n.id
        from new_rows as n
        join old_rows as o on o.id = n.id
        where (n.status = 'converted' or o.status = 'converted')
          and (n.status is distinct from o.status or n.converted_at is distinct from o.converted_at)));
    return null;
end
$$;

drop trigger if exists convintel_leads_after_insert on leads;
create trigger convintel_leads_after_insert
    after insert on leads
    referencing new table as new_rows
    for each statement execute function convintel_leads_after_insert();

drop trigger if exists convintel_leads_after_update on leads;
create trigger convintel_leads_after_update
    after update on leads
    referencing old table as old_rows new table as new_rows
    for each statement execute function convintel_leads_after_update();

-- New activities of converted leads: a meeting_booked row may move the booking time (the leads
-- triggers then re-mark); an outbound row may become the converting touch.
create or replace function convintel_activities_after_insert() returns trigger
language plpgsql as $$
begin
    update leads as l
    set converted_at = m.booked_at
    from (
        select a.lead_id, min(a.created_at) as booked_at
        from activities as a
        where a.action = 'meeting_booked'
          and a.lead_id in (select n.lead_id from new_rows as n where n.action = 'meeting_booked')
        group by a.lead_id
    ) as m
    where l.id = m.lead_id
      and l.status = 'converted'
      and l.converted_at is distinct from m.booked_at;

    perform convintel_remark_converting_touches(array(
        select distinct n.lead_id
        from new_rows as n
        join leads as l on l.id = n.lead_id
        where l.status = 'converted'
          and n.action = any (convintel_outbound_actions())
          and n.created_at < l.converted_at));
    return null;
end
$$;

drop trigger if exists convintel_activities_after_insert on activities;
create trigger convintel_activities_after_insert
    after insert on activities
    referencing new table as new_rows
    for each statement execute function convintel_activities_after_insert();

-- 4. Tenant isolation -----------------------------------------------------------------------------
-- The application role: no login of its own, no BYPASSRLS. Services connect as their own user and
-- SET ROLE convintel_app, or are granted it.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'convintel_app') then
        create role convintel_app nologin nobypassrls;
    end if;
end
$$;

do $$
begin
    execute format('grant convintel_app to %I', current_user);
exception when others then
    raise notice 'could not grant convintel_app to %: %', current_user, sqlerrm;
end
$$;

-- The clients a session is scoped to: `set app.client_ids = '<uuid>,<uuid>'`. Unset or empty means
-- none, so a handler that forgets to scope sees nothing rather than everything.
create or replace function convintel_scoped_client_ids() returns uuid[]
language sql stable parallel safe as $$
    select coalesce(
        string_to_array(nullif(replace(current_setting('app.client_ids', true), ' ', ''), ''), ',')::uuid[],
        '{}'::uuid[])
$$;

alter table conversion_patterns enable row level security;
alter table conversion_patterns force row level security;
alter table conversion_pattern_history enable row level security;
alter table conversion_pattern_history force row level security;

drop policy if exists tenant_isolation on conversion_patterns;
create policy tenant_isolation on conversion_patterns
    using (client_id = any (convintel_scoped_client_ids()))
    with check (client_id = any (convintel_scoped_client_ids()));

drop policy if exists tenant_isolation on conversion_pattern_history;
create policy tenant_isolation on conversion_pattern_history
    using (client_id = any (convintel_scoped_client_ids()))
    with check (client_id = any (convintel_scoped_client_ids()));

grant usage on schema public to convintel_app;
grant select on clients, campaigns, leads, activities, memberships to convintel_app;
grant select on conversion_patterns, conversion_pattern_history to convintel_app;
grant execute on function convintel_scoped_client_ids() to convintel_app;

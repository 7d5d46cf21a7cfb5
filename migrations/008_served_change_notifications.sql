-- What the API serves from memory is invalidated by the database itself (issue 11, docs/api.md "Serving
-- from memory"): every committed change to a client's patterns, to the agency-wide patterns or to the
-- API keys sends a notification on channel `convintel_served`, which each API process LISTENs to.
-- Triggers rather than calls in the pattern store, so a manual edit, the health job or a cascade from a
-- deleted client is heard too. NOTIFY is delivered at commit (never for a rolled-back store) and
-- identical payloads within one transaction are delivered once: a learning run storing 1,000 clients
-- sends one notification per client. Payloads: a client id, 'agency' (every client may be served an
-- agency pattern), 'keys', or 'all' (TRUNCATE). Idempotent.

create or replace function convintel_notify_served_change() returns trigger
language plpgsql as $$
begin
    if tg_op = 'TRUNCATE' then
        perform pg_notify('convintel_served', 'all');
    elsif tg_table_name = 'conversion_patterns' then
        if tg_op in ('UPDATE', 'DELETE') then
            perform pg_notify('convintel_served', old.client_id::text);
        end if;
        if tg_op in ('INSERT', 'UPDATE') then
            perform pg_notify('convintel_served', new.client_id::text);
        end if;
    elsif tg_table_name = 'agency_patterns' then
        perform pg_notify('convintel_served', 'agency');
    elsif tg_table_name = 'api_keys' then
        perform pg_notify('convintel_served', 'keys');
    end if;
    return null;
end
$$;

drop trigger if exists served_change on conversion_patterns;
create trigger served_change after insert or update or delete on conversion_patterns
    for each row execute function convintel_notify_served_change();
drop trigger if exists served_change_truncate on conversion_patterns;
create trigger served_change_truncate after truncate on conversion_patterns
    for each statement execute function convintel_notify_served_change();

drop trigger if exists served_change on agency_patterns;
create trigger served_change after insert or update or delete on agency_patterns
    for each statement execute function convintel_notify_served_change();
drop trigger if exists served_change_truncate on agency_patterns;
create trigger served_change_truncate after truncate on agency_patterns
    for each statement execute function convintel_notify_served_change();

-- Revocation (or any edit of a key) reaches every API process's key cache at once, not after its TTL.
drop trigger if exists served_change on api_keys;
create trigger served_change after update or delete on api_keys
    for each statement execute function convintel_notify_served_change();

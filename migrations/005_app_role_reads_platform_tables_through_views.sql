-- The application role reads the platform's own tables only through the client-scoped views of 004
-- (convintel_api_clients, convintel_api_leads): without row-level security on the platform tables (it
-- would cut off the platform's other roles), a direct SELECT grant would let a session scoped to one
-- tenant read every tenant's clients and leads. The views run with their owner's rights and filter by
-- app.client_ids, so nothing the API needs is lost.

-- The health policy's "scope covers every client" test reads clients; it runs with its owner's rights
-- so that it keeps working for convintel_app, and it returns only that one boolean.
create or replace function convintel_scope_covers_all_clients() returns boolean
language sql stable parallel safe security definer set search_path = public, pg_temp as $$
    select not exists (select 1 from clients where id <> all (convintel_scoped_client_ids()))
$$;

revoke select on clients, campaigns, leads, activities, memberships from convintel_app;

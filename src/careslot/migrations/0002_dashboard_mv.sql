-- depends: 0001_schema
-- dashboard_stats_mv: the guide's per-patient dashboard figures, precomputed, plus one
-- hospital-wide row (client_id = 0, from GROUPING SETS) so staff overviews are a single
-- index lookup. It is refreshed CONCURRENTLY every CARESLOT_MV_REFRESH_SECONDS by one
-- worker (careslot.dashboard.mv) or by pg_cron, so it may be up to that old: the
-- per-patient dashboard never reads it (a patient must see their own booking at once).
-- now() and date_trunc() follow the refreshing session's time zone (the hospital's).
create materialized view dashboard_stats_mv as
select
  coalesce(client_id, 0) as client_id,
  count(*) filter (where starts_at >= now()
                   and status in ('scheduled', 'confirmed', 'checked_in')) as upcoming_count,
  count(*) filter (where starts_at >= date_trunc('month', now())
                   and starts_at < date_trunc('month', now()) + interval '1 month')
    as total_month_count,
  count(*) filter (where status = 'completed') as completed_count,
  min(starts_at) filter (where starts_at >= now()
                         and status in ('scheduled', 'confirmed', 'checked_in'))
    as next_appointment_date,
  count(distinct client_id) filter (where starts_at >= now()
                                    and status in ('scheduled', 'confirmed', 'checked_in'))
    as patients_with_upcoming,
  count(*) filter (where status = 'cancelled') as cancelled_count,
  count(*) filter (where status = 'no_show') as no_show_count,
  count(*) as total_count,
  now() as refreshed_at
from appointments
group by grouping sets ((client_id), ());

-- REFRESH ... CONCURRENTLY needs a unique index over all rows.
create unique index idx_dashboard_stats_mv_client on dashboard_stats_mv (client_id);

-- pg_stat_statements where the server has it. CREATE EXTENSION succeeds without the library
-- preloaded (only reading the view then fails, which `careslot db top` reports), but fails
-- where contrib is missing or the role may not create it: that must not stop a migration.
-- The body is single-quoted (not dollar-quoted) so any SQL splitter reads it as one string.
do '
begin
  if exists (select 1 from pg_available_extensions where name = ''pg_stat_statements'') then
    create extension if not exists pg_stat_statements;
  end if;
exception when others then
  raise notice ''pg_stat_statements not enabled: %'', sqlerrm;
end
';

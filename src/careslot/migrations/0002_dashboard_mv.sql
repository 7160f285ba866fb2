-- depends: 0001_schema
-- dashboard_stats_mv: the guide's per-patient dashboard figures, precomputed, plus one
-- hospital-wide row (client_id = 0) so staff overviews are a single index lookup. It is
-- refreshed CONCURRENTLY every CARESLOT_MV_REFRESH_SECONDS by one worker
-- (careslot.dashboard.mv) or by pg_cron, so it may be up to that old: the per-patient
-- dashboard never reads it (a patient must see their own booking at once).
-- now() and date_trunc() follow the refreshing session's time zone (the hospital's).
-- The hospital row sums the per-patient rows (one parallel hash aggregate over
-- appointments) rather than using GROUPING SETS, whose count(distinct) sorts them all.
-- Only the hospital row carries the refresh time: a CONCURRENTLY refresh rewrites just the
-- rows that changed, and a timestamp on every row would change them all (2x slower at 1M).
create materialized view dashboard_stats_mv as
with per_patient as materialized (
  select
    client_id,
    count(*) filter (where starts_at >= now()
                     and status in ('scheduled', 'confirmed', 'checked_in')) as upcoming_count,
    count(*) filter (where starts_at >= date_trunc('month', now())
                     and starts_at < date_trunc('month', now()) + interval '1 month')
      as total_month_count,
    count(*) filter (where status = 'completed') as completed_count,
    min(starts_at) filter (where starts_at >= now()
                           and status in ('scheduled', 'confirmed', 'checked_in'))
      as next_appointment_date,
    count(*) filter (where status = 'cancelled') as cancelled_count,
    count(*) filter (where status = 'no_show') as no_show_count,
    count(*) as total_count
  from appointments
  group by client_id
)
select client_id, upcoming_count, total_month_count, completed_count, next_appointment_date,
       (upcoming_count > 0)::int::bigint as patients_with_upcoming,
       cancelled_count, no_show_count, total_count, null::timestamptz as refreshed_at
from per_patient
union all
select 0, coalesce(sum(upcoming_count), 0)::bigint, coalesce(sum(total_month_count), 0)::bigint,
       coalesce(sum(completed_count), 0)::bigint, min(next_appointment_date),
       count(*) filter (where upcoming_count > 0),
       coalesce(sum(cancelled_count), 0)::bigint, coalesce(sum(no_show_count), 0)::bigint,
       coalesce(sum(total_count), 0)::bigint, now()
from per_patient;

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

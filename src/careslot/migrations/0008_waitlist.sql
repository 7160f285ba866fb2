-- depends: 0007_schedule_webhooks
-- The waitlist (SPEC section 10).
--
-- An offer is a hold: a row in `appointments` with status 'held', the patient it is offered
-- to, and `hold_expires_at`. Both exclusion constraints cover it like any live appointment
-- (the doctor's over `blocked`, the patient's over the appointment), so while it stands
-- nobody else can book the slot and the patient cannot be double-booked, whatever the caches
-- say; and slots subtract it like any live appointment. Every read of appointments as
-- appointments (lists, dashboard, the view below, stream, desk) leaves 'held' rows out.
--
-- A freed slot is recorded in `waitlist_freed` by a trigger, in the transaction that frees
-- it (a cancellation, a reschedule away, a hold deleted, time off or a closure removed,
-- hours added), and only while someone waits: the sweeper (waitlist/sweeper.py) offers it
-- after commit, so a crash between the freeing commit and the offer loses nothing.

alter table appointments drop constraint appointments_status_check;
alter table appointments add constraint appointments_status_check check (status in (
    'scheduled', 'confirmed', 'checked_in', 'completed', 'cancelled', 'no_show', 'held'));

create table waitlist_entries (
    id             bigint generated always as identity primary key,
    client_id      bigint not null references users (id),
    -- One doctor, or (doctor_id null) any doctor of the department.
    doctor_id      bigint references doctors (id),
    department_id  bigint not null references departments (id),
    type_id        bigint references appointment_types (id),
    first_day      date not null,            -- hospital-local days, inclusive
    last_day       date not null,
    status         text not null default 'waiting'
                   check (status in ('waiting', 'offered', 'booked', 'declined', 'expired',
                                     'removed')),
    created_by     bigint references users (id),
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    -- When the slot now offered was freed (for the cancellation-to-rebooking histogram).
    offer_freed_at timestamptz,
    check (first_day <= last_day)
);
create index waitlist_entries_waiting_idx on waitlist_entries (created_at, id)
    where status = 'waiting';
create index waitlist_entries_client_idx on waitlist_entries (client_id, id desc);
create index waitlist_entries_doctor_idx on waitlist_entries (doctor_id, id desc);
-- One open entry per patient and wish: a repeated POST is a 409, not a second place.
create unique index waitlist_entries_open_key on waitlist_entries
    (client_id, coalesce(doctor_id, 0), department_id, coalesce(type_id, 0), first_day, last_day)
    where status in ('waiting', 'offered');

alter table appointments
    add column hold_expires_at timestamptz,
    add column waitlist_entry_id bigint references waitlist_entries (id),
    add constraint appointments_hold_check check ((status = 'held') = (hold_expires_at is not null));
create index appointments_held_idx on appointments (hold_expires_at) where status = 'held';

create table waitlist_freed (
    id        bigint generated always as identity primary key,
    doctor_id bigint,                 -- null: every doctor (a closure removed)
    period    tstzrange,              -- null: the whole booking horizon (hours changed)
    cause     text not null,
    freed_at  timestamptz not null default now()
);

create function waitlist_slot_freed() returns trigger language plpgsql as $$
begin
    -- Nobody waits: nothing to offer (one probe of a partial index).
    if not exists (select 1 from waitlist_entries where status = 'waiting') then
        return null;
    end if;
    if tg_table_name = 'appointments' then
        insert into waitlist_freed (doctor_id, period, cause)
        values (old.doctor_id, old.blocked,
                case when tg_op = 'DELETE' then 'hold_released'
                     when new.status = 'cancelled' then 'cancelled' else 'rescheduled' end);
    elsif tg_table_name = 'time_off' then
        insert into waitlist_freed (doctor_id, period, cause)
        values (old.doctor_id, old.period, 'time_off_removed');
    elsif tg_table_name = 'closures' then
        insert into waitlist_freed (doctor_id, period, cause)
        values (null, old.period, 'closure_removed');
    else
        insert into waitlist_freed (doctor_id, period, cause)
        values (new.doctor_id, null, 'hours_changed');
    end if;
    perform pg_notify('careslot_waitlist', '');
    return null;
end
$$;

create trigger appointments_waitlist_freed
    after update of status, starts_at, ends_at on appointments for each row
    when (old.status in ('scheduled', 'confirmed')
          and (new.status = 'cancelled' or new.starts_at <> old.starts_at
               or new.ends_at <> old.ends_at))
    execute function waitlist_slot_freed();
create trigger appointments_hold_released
    after delete on appointments for each row when (old.status = 'held')
    execute function waitlist_slot_freed();
create trigger time_off_waitlist_freed after delete on time_off
    for each row execute function waitlist_slot_freed();
create trigger closures_waitlist_freed after delete on closures
    for each row execute function waitlist_slot_freed();
create trigger working_hours_waitlist_freed after insert on working_hours
    for each row execute function waitlist_slot_freed();

-- The offer's mail and its webhook deliveries, in the offering transaction; no reason, no
-- appointment id (a hold is not an appointment and goes away).
create function outbox_waitlist_offered(p_hold bigint, p_now timestamptz) returns void
language plpgsql as $$
declare
    h record;
    data jsonb;
begin
    select ap.id, ap.client_id, ap.doctor_id, ap.department_id, ap.starts_at, ap.ends_at,
           ap.hold_expires_at, ap.waitlist_entry_id, u.email, u.name as client_name,
           d.name as doctor_name, dep.name as department_name, dep.color as department_color
      into h
      from appointments ap
      join users u on u.id = ap.client_id
      join doctors d on d.id = ap.doctor_id
      join departments dep on dep.id = ap.department_id
     where ap.id = p_hold and ap.status = 'held';
    if not found then
        return;
    end if;
    data := jsonb_build_object(
        'id', h.id, 'entryId', h.waitlist_entry_id, 'clientId', h.client_id,
        'clientName', h.client_name, 'doctorId', h.doctor_id, 'doctorName', h.doctor_name,
        'departmentId', h.department_id, 'departmentName', h.department_name,
        'departmentColor', h.department_color, 'start', h.starts_at, 'end', h.ends_at,
        'status', 'held', 'expiresAt', h.hold_expires_at);
    insert into outbox (channel, template, recipient, payload, due_at, next_attempt_at)
    values ('email', 'waitlist_offer', h.email, data, p_now, p_now);
    insert into outbox (channel, template, webhook_id, recipient, payload, due_at,
                        next_attempt_at)
    select 'webhook', 'waitlist.offered', w.id, w.url,
           jsonb_build_object('type', 'waitlist.offered', 'timestamp', p_now, 'data', data),
           p_now, p_now
      from webhooks w
     where 'waitlist.offered' = any (w.events);
    perform pg_notify('careslot_outbox', '');
end
$$;

-- The dashboard view counts appointments, not holds.
drop materialized view dashboard_stats_mv;
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
  where status <> 'held'
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
create unique index idx_dashboard_stats_mv_client on dashboard_stats_mv (client_id);

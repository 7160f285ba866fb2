-- depends: 0002_dashboard_mv
-- Appointment types per department, and buffers the database enforces.
--
-- An appointment blocks its doctor over `blocked`: from bufferBefore minutes before its start
-- to bufferAfter minutes after its end. The buffers are copied onto the appointment when it is
-- booked (a later change to its type does not move it), and the doctor's exclusion constraint
-- covers `blocked`, so two appointments whose buffers overlap cannot both be live, whatever the
-- caches say. The patient's constraint stays on the appointment itself.
--
-- `blocked` is generated from immutable built-ins only (timestamp arithmetic in UTC), so it
-- costs the bulk loader a few function calls per row rather than a trigger or a SQL function
-- call. Existing appointments get no buffers: blocked = [starts_at, ends_at).

create table appointment_types (
    id                    bigint generated always as identity primary key,
    department_id         bigint not null references departments (id),
    name                  text not null check (length(name) between 1 and 200),
    minutes               integer not null check (minutes between 5 and 240),
    buffer_before_minutes integer not null default 0 check (buffer_before_minutes between 0 and 120),
    buffer_after_minutes  integer not null default 0 check (buffer_after_minutes between 0 and 120),
    patient_bookable      boolean not null default true,
    is_active             boolean not null default true,
    created_at            timestamptz not null default now(),
    constraint appointment_types_name_key unique (department_id, name)
);

alter table appointments
    add column type_id bigint references appointment_types (id),
    add column buffer_before_minutes smallint not null default 0
        check (buffer_before_minutes between 0 and 120),
    add column buffer_after_minutes smallint not null default 0
        check (buffer_after_minutes between 0 and 120),
    add column blocked tstzrange generated always as (tstzrange(
        ((starts_at at time zone 'UTC') - make_interval(mins => buffer_before_minutes))
            at time zone 'UTC',
        ((ends_at at time zone 'UTC') + make_interval(mins => buffer_after_minutes))
            at time zone 'UTC',
        '[)')) stored;

alter table appointments drop constraint appointments_no_doctor_overlap;
alter table appointments add constraint appointments_no_doctor_overlap exclude using gist
    (doctor_id with =, blocked with &&) where (status <> 'cancelled');

-- Which doctor an admin change was about (working hours, time off, the doctor itself).
alter table audit_log add column doctor_id bigint;
create index audit_log_doctor_idx on audit_log (doctor_id, at desc) where doctor_id is not null;

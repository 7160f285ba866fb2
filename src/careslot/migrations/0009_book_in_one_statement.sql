-- A booking in one statement (issue 14): the idempotency claim, the patient's lock, the
-- schedule lock, the time-off check, the booking limit, the insert (the exclusion
-- constraints still judge it), the activity, the messages, the audit and the stored answer,
-- in one round trip instead of about twelve.
--
-- The slot grid (working hours in the hospital's zone, across DST) stays in Python, computed
-- from a copy of the schedules kept in process memory. That copy never decides a booking:
-- it carries the catalogue version it was read at, and book_appointment compares it under
-- the schedule lock with the version now. Any change to hours, doctors, departments or
-- appointment types bumps the version, and a booking made against an older copy is refused
-- with `stale_catalog` (nothing written), so the caller reloads and tries again.

create table catalog_version (
    one     boolean primary key default true check (one),
    version bigint not null
);
insert into catalog_version (version) values (1);

create function bump_catalog_version() returns trigger language plpgsql as $$
begin
    update catalog_version set version = version + 1;
    return null;
end $$;

create trigger working_hours_catalog after insert or update or delete or truncate
    on working_hours for each statement execute function bump_catalog_version();
create trigger doctors_catalog after insert or update or delete or truncate
    on doctors for each statement execute function bump_catalog_version();
create trigger departments_catalog after insert or update or delete or truncate
    on departments for each statement execute function bump_catalog_version();
create trigger appointment_types_catalog after insert or update or delete or truncate
    on appointment_types for each statement execute function bump_catalog_version();

-- A timestamp as the API writes it (orjson's ISO 8601: UTC, "+00:00", microseconds only
-- when there are any), so an answer built here reads like one built in Python.
create function iso_utc(t timestamptz) returns text language sql immutable parallel safe as $$
    select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || case when extract(microseconds from t)::bigint % 1000000 = 0 then ''
                else to_char(t at time zone 'UTC', '.US') end
        || '+00:00'
$$;

-- One appointment as the API's Appointment (booking/schemas.py), field for field. PL/pgSQL
-- so its query plan is kept (a non-inlined SQL function is planned again on every call).
create function appointment_json(p_id bigint) returns text language plpgsql stable as $$
declare
    answer text;
begin
    select '{"id":' || a.id
        || ',"clientId":' || a.client_id
        || ',"clientName":' || to_json(u.name)::text
        || ',"doctorId":' || a.doctor_id
        || ',"doctorName":' || to_json(d.name)::text
        || ',"departmentId":' || a.department_id
        || ',"departmentName":' || to_json(dep.name)::text
        || ',"departmentColor":' || to_json(dep.color)::text
        || ',"start":"' || iso_utc(a.starts_at)
        || '","end":"' || iso_utc(a.ends_at)
        || '","status":' || to_json(a.status)::text
        || ',"reason":' || to_json(a.reason)::text
        || ',"createdAt":"' || iso_utc(a.created_at)
        || '","updatedAt":"' || iso_utc(a.updated_at)
        || '","typeId":' || coalesce(a.type_id::text, 'null')
        || ',"typeName":' || coalesce(to_json(t.name)::text, 'null')
        || '}'
      into answer
      from appointments a
      join users u on u.id = a.client_id
      join doctors d on d.id = a.doctor_id
      join departments dep on dep.id = a.department_id
      left join appointment_types t on t.id = a.type_id
     where a.id = p_id;
    return answer;
end $$;

-- Refusals are raised (so the transaction, the idempotency claim included, rolls back) with
-- SQLSTATE P0001 and the problem code as the message; booking/repository.py maps them.
create function book_appointment(
    p_actor bigint,
    p_client bigint,
    p_doctor bigint,
    p_department bigint,
    p_start timestamptz,
    p_end timestamptz,
    p_before integer,
    p_after integer,
    p_type bigint,
    p_reason text,
    p_summary text,
    p_key text,
    p_hash bytea,
    p_limit integer,
    p_now timestamptz,
    p_reminders interval[],
    p_catalog bigint,
    p_lock integer,
    p_waitlist boolean
) returns table (
    body bytea,
    appointment_id bigint,
    released text[],  -- what became of the waitlist holds this booking released
    rebooked_minutes double precision[]  -- for those it books: minutes since the slot freed
) language plpgsql as $$
declare
    stored record;
    new_id bigint;
    answer bytea;
    v_released text[];
    v_minutes double precision[];
    v_blocked tstzrange := tstzrange(
        p_start - make_interval(mins => p_before), p_end + make_interval(mins => p_after), '[)');
begin
    if p_key is not null then
        -- A concurrent first use holds this row until it commits: a retry waits here and
        -- then replays its answer instead of booking twice.
        -- created_at by careslot's clock, which pruning compares it with
        insert into idempotency_keys (user_id, key, request_hash, status_code, response,
                                      created_at)
        values (p_actor, p_key, p_hash, 0, '', p_now) on conflict do nothing;
        if not found then
            select k.request_hash, k.response into stored
            from idempotency_keys k where k.user_id = p_actor and k.key = p_key;
            if stored.request_hash <> p_hash then
                raise exception 'idempotency_key_reused';
            end if;
            return query select stored.response, null::bigint, null::text[], null::double precision[];
            return;
        end if;
    end if;
    -- NO KEY UPDATE serialises one patient's bookings (the limit check) without conflicting
    -- with the KEY SHARE locks that foreign keys to users take.
    perform 1 from users where id = p_client and role = 'patient' and is_active
        for no key update;
    if not found then
        raise exception 'no_patient';
    end if;
    -- The schedule lock, shared: a time off or closure (exclusive) either sees this booking
    -- or is seen by the checks below.
    perform pg_advisory_xact_lock_shared(p_lock, 0),
            pg_advisory_xact_lock_shared(p_lock, (p_doctor % 2147483647 + 1)::int);
    if (select version from catalog_version) <> p_catalog then
        raise exception 'stale_catalog';
    end if;
    if exists (select 1 from time_off where doctor_id = p_doctor and period && v_blocked)
       or exists (select 1 from closures where period && v_blocked) then
        raise exception 'doctor_away';
    end if;
    if (select count(*) from appointments
        where client_id = p_client and starts_at > p_now
          and status in ('scheduled', 'confirmed', 'checked_in')) >= p_limit then
        raise exception 'booking_limit';
    end if;
    if p_waitlist then
        -- Waitlist holds (migration 0008) in the way that have expired are free, and so are
        -- the booking patient's own (booking a slot held for you is accepting it; booking
        -- another time over your own hold lets it go). A live hold of someone else stays,
        -- and the exclusion constraint refuses the booking. Every hold in the way is locked
        -- first, kept or not, so bookings that meet one hold take turns on its row instead
        -- of waiting for each other inside the exclusion check (a deadlock, not a 409).
        with gone as (
            delete from appointments
             where id in (select h.id from appointments h
                           where h.status = 'held'
                             and ((h.doctor_id = p_doctor and h.blocked && v_blocked)
                                  or (h.client_id = p_client
                                      and tstzrange(h.starts_at, h.ends_at, '[)')
                                          && tstzrange(p_start, p_end, '[)')))
                             for update)
               and (hold_expires_at <= p_now or client_id = p_client)
            returning waitlist_entry_id, doctor_id, starts_at, hold_expires_at
        ), settled as (
            update waitlist_entries e
               set status = case when gone.hold_expires_at <= p_now then 'expired'
                                 when gone.doctor_id = p_doctor and gone.starts_at = p_start
                                     then 'booked'
                                 else 'declined' end,
                   updated_at = p_now
              from gone
             where e.id = gone.waitlist_entry_id
            returning e.status,
                      extract(epoch from clock_timestamp() - e.offer_freed_at) / 60 as waited
        )
        select array_agg(status), array_agg(waited) filter (where status = 'booked')
          into v_released, v_minutes
          from settled;
    end if;
    insert into appointments
        (client_id, doctor_id, department_id, starts_at, ends_at, reason, created_by,
         type_id, buffer_before_minutes, buffer_after_minutes)
    values (p_client, p_doctor, p_department, p_start, p_end, p_reason, p_actor,
            p_type, p_before, p_after)
    returning id into new_id;
    insert into activity (actor_id, client_id, appointment_id, kind, summary)
    values (p_actor, p_client, new_id, 'booked', p_summary);
    perform outbox_appointment_changed(new_id, 'booked', p_now, p_reminders);
    insert into audit_log (actor_id, subject_id, action, entity, entity_id)
    values (p_actor, p_client, 'create', 'appointment', new_id);
    answer := convert_to(appointment_json(new_id), 'UTF8');
    if p_key is not null then
        update idempotency_keys set status_code = 201, response = answer
        where user_id = p_actor and key = p_key;
    end if;
    return query select answer, new_id, v_released, v_minutes;
end $$;

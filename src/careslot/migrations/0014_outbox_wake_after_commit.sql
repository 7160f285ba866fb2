-- A booking's commit no longer NOTIFYs the senders (issue 14). PostgreSQL serialises every
-- transaction that NOTIFYs on one lock, held from before its commit until after it, WAL flush
-- included ("AccessExclusiveLock on object 0 of class 1262", log_lock_waits): each booking's
-- commit waited for the one before it, so bookings could not share a WAL flush. The senders
-- are woken after the commit instead, at most once per 50 ms per process
-- (messages/outbox.py: Waker), and poll every CARESLOT_OUTBOX_POLL_SECONDS as before. With
-- 16 patients booking at once on the bench database: 533-560 -> 650-678 bookings/s.
-- Otherwise outbox_appointment_changed is migration 0010's, unchanged.
create or replace function outbox_appointment_changed(
    p_appointment bigint, p_event text, p_now timestamptz, p_reminders interval[]
) returns void language plpgsql as $$
declare
    a record;
    data jsonb;
    seq integer;
begin
    select ap.id, ap.client_id, ap.doctor_id, ap.department_id, ap.starts_at, ap.ends_at,
           ap.status, ap.created_at, ap.updated_at, u.email, u.name as client_name,
           u.reminders, d.name as doctor_name, dep.name as department_name,
           dep.color as department_color
      into a
      from appointments ap
      join users u on u.id = ap.client_id
      join doctors d on d.id = ap.doctor_id
      join departments dep on dep.id = ap.department_id
     where ap.id = p_appointment;
    if not found then
        return;
    end if;
    -- The appointment JSON of the API, without reason (no clinical content leaves).
    data := jsonb_build_object(
        'id', a.id, 'clientId', a.client_id, 'clientName', a.client_name,
        'doctorId', a.doctor_id, 'doctorName', a.doctor_name,
        'departmentId', a.department_id, 'departmentName', a.department_name,
        'departmentColor', a.department_color, 'start', a.starts_at, 'end', a.ends_at,
        'status', a.status, 'createdAt', a.created_at, 'updatedAt', a.updated_at);

    if p_event <> 'booked' then
        update outbox
           set status = 'skipped', next_attempt_at = null,
               last_error = case when p_event = 'rescheduled' then 'replaced by a reschedule'
                                 else 'appointment is ' || a.status end
         where appointment_id = p_appointment and template = 'reminder'
           and status in ('pending', 'held')
           and (p_event = 'rescheduled' or a.status not in ('scheduled', 'confirmed'));
    end if;

    if p_event in ('booked', 'rescheduled', 'cancelled') then
        if p_event = 'booked' then
            seq := 0;  -- a new appointment has no mail yet
        else
            select coalesce(max(sequence) + 1, 0) into seq
              from outbox where appointment_id = p_appointment and sequence is not null;
        end if;
        -- The mail and, for a booking or a reschedule, its reminders: one statement.
        insert into outbox (channel, template, appointment_id, recipient, payload, due_at,
                            status, next_attempt_at, last_error, sequence)
        values ('email', p_event, p_appointment, a.email, data, p_now, 'pending', p_now, null,
                seq)
        union all
        select 'email', 'reminder', p_appointment, a.email, data, a.starts_at - r,
               case when a.starts_at - r <= p_now or not a.reminders then 'skipped'
                    else 'pending' end,
               case when a.starts_at - r <= p_now or not a.reminders then null
                    else a.starts_at - r end,
               case when a.starts_at - r <= p_now then 'already past at booking'
                    when not a.reminders then 'patient turned reminders off' end,
               null::integer
          from unnest(p_reminders) as r
         where p_event in ('booked', 'rescheduled');
    end if;

    insert into outbox (channel, template, appointment_id, webhook_id, recipient, payload,
                        due_at, next_attempt_at)
    select 'webhook', 'appointment.' || p_event, p_appointment, w.id, w.url,
           jsonb_build_object('type', 'appointment.' || p_event, 'timestamp', p_now,
                              'data', data),
           p_now, p_now
      from webhooks w
     where 'appointment.' || p_event = any (w.events);
end
$$;

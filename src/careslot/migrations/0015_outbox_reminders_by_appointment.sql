-- A cancel or a reschedule skips its appointment's live reminders (outbox_appointment_changed).
-- With no statistics on the outbox (autovacuum off, as on the bench's machine, or a table too
-- young to have been analysed), the planner served that UPDATE by ANDing outbox_appointment_idx
-- with outbox_waiting_idx, reading one entry per waiting message: with 13,000 mails held (no
-- SMTP server) it was 0.5 of a cancel's 1.8 ms in PostgreSQL (auto_explain on the bench
-- database), growing with the backlog. The status test is now written so that no index on
-- status can serve it; the appointment's few rows come from outbox_appointment_idx alone,
-- whatever the statistics say (0.86 -> 0.09 ms for that statement on the bench database).
-- Otherwise outbox_appointment_changed is migration 0014's, unchanged.
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
           -- pending or held; spelled so that no index on status can serve it (above)
           and coalesce(status in ('pending', 'held'), false)
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

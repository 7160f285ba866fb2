-- depends: 0003_appointment_types
-- The outbox: every message (mail to a patient, delivery to a webhook) is a row written in
-- the same transaction as the change that causes it, then sent by careslot.messages.sender.
-- A sender claims a due row with FOR UPDATE SKIP LOCKED and holds that lock while it sends,
-- so two workers never send one row, and a sender that dies mid-send releases the row to be
-- sent again (with the same message_id): at most one duplicate, never a loss.

alter table users add column reminders boolean not null default true;

create table webhooks (
    id         bigint generated always as identity primary key,
    url        text not null,
    events     text[] not null,
    secret     text not null,
    created_at timestamptz not null default now()
);

create table outbox (
    id              bigint generated always as identity primary key,
    channel         text not null check (channel in ('email', 'webhook')),
    -- email: booked | rescheduled | cancelled | reminder; webhook: the event type
    template        text not null,
    appointment_id  bigint references appointments (id),
    webhook_id      bigint references webhooks (id) on delete set null,
    recipient       text not null,          -- an email address or a webhook URL
    payload         jsonb not null,         -- what the message says, as of the change
    due_at          timestamptz not null,
    status          text not null default 'pending'
                    check (status in ('pending', 'sent', 'failed', 'held', 'skipped')),
    attempts        integer not null default 0,
    last_error      text,
    next_attempt_at timestamptz,            -- set while pending or held
    sent_at         timestamptz,
    message_id      uuid not null default gen_random_uuid() unique,  -- Message-ID, webhook-id
    sequence        integer,                -- iCalendar SEQUENCE of this appointment's mail
    created_at      timestamptz not null default now(),
    check ((status in ('pending', 'held')) = (next_attempt_at is not null))
);
create index outbox_due_idx on outbox (next_attempt_at) where status = 'pending';
create index outbox_held_idx on outbox (next_attempt_at) where status = 'held';
create index outbox_appointment_idx on outbox (appointment_id, id);
create index outbox_status_idx on outbox (status, id desc);

create table calendar_tokens (
    user_id    bigint primary key references users (id),
    token_hash bytea not null unique,
    created_at timestamptz not null default now()
);

-- One round trip from a booking transaction: the change's mail, its reminders, and its
-- webhook deliveries, then a NOTIFY (delivered at commit) that wakes the senders.
-- p_event: booked | rescheduled | cancelled | status_changed.
create function outbox_appointment_changed(
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
        select coalesce(max(sequence) + 1, 0) into seq
          from outbox where appointment_id = p_appointment and sequence is not null;
        insert into outbox (channel, template, appointment_id, recipient, payload, due_at,
                            next_attempt_at, sequence)
        values ('email', p_event, p_appointment, a.email, data, p_now, p_now, seq);
    end if;

    if p_event in ('booked', 'rescheduled') then
        insert into outbox (channel, template, appointment_id, recipient, payload, due_at,
                            status, next_attempt_at, last_error)
        select 'email', 'reminder', p_appointment, a.email, data, a.starts_at - r,
               case when a.starts_at - r <= p_now or not a.reminders then 'skipped'
                    else 'pending' end,
               case when a.starts_at - r <= p_now or not a.reminders then null
                    else a.starts_at - r end,
               case when a.starts_at - r <= p_now then 'already past at booking'
                    when not a.reminders then 'patient turned reminders off' end
          from unnest(p_reminders) as r;
    end if;

    insert into outbox (channel, template, appointment_id, webhook_id, recipient, payload,
                        due_at, next_attempt_at)
    select 'webhook', 'appointment.' || p_event, p_appointment, w.id, w.url,
           jsonb_build_object('type', 'appointment.' || p_event, 'timestamp', p_now,
                              'data', data),
           p_now, p_now
      from webhooks w
     where 'appointment.' || p_event = any (w.events);

    perform pg_notify('careslot_outbox', '');
end
$$;

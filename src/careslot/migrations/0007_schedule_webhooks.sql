-- depends: 0006_address_limits
-- schedule.changed webhooks (working hours, time off, closures): one delivery per subscriber,
-- written in the transaction of the change, like the appointment events.
create function outbox_schedule_changed(
    p_doctor bigint, p_change text, p_now timestamptz
) returns void language plpgsql as $$
begin
    insert into outbox (channel, template, webhook_id, recipient, payload, due_at,
                        next_attempt_at)
    select 'webhook', 'schedule.changed', w.id, w.url,
           jsonb_build_object('type', 'schedule.changed', 'timestamp', p_now,
                              'data', jsonb_build_object('doctorId', p_doctor,
                                                         'change', p_change)),
           p_now, p_now
      from webhooks w
     where 'schedule.changed' = any (w.events);
    if found then
        perform pg_notify('careslot_outbox', '');
    end if;
end
$$;

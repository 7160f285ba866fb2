-- A status move (confirm, check in, complete, no-show, cancel) in one statement (issue 14).
-- The service reads the appointment and checks the move without a lock; move_appointment
-- then locks the row (and shares the doctor's, so the department the caches drop stays the
-- doctor's until this commits), confirms that the row is still what the checks saw, and
-- writes through change_appointment (migration 0011). If it changed meanwhile, it raises
-- SQLSTATE P0001 'changed_meanwhile' and writes nothing; the service reads and checks again.
-- Before: BEGIN, the locked read, change_appointment, COMMIT: four round trips, now two.
-- A staff change inside the patients' change window is audited as exempt here too, in the
-- same transaction (p_exempt). Moves in time keep their transaction (booking/service.py).
create function move_appointment(
    p_id bigint,
    p_seen_status text,  -- what the checks saw: the status and the time
    p_seen_start timestamptz,
    p_seen_end timestamptz,
    p_actor bigint,
    p_status text,
    p_kind text,
    p_summary text,
    p_event text,
    p_now timestamptz,
    p_reminders interval[],
    p_exempt boolean
) returns table (body bytea, department_id bigint) language plpgsql as $$
declare
    seen record;
begin
    select a.status, a.starts_at, a.ends_at, a.client_id, a.doctor_id,
           d.department_id as department
      into seen
      from appointments a join doctors d on d.id = a.doctor_id
     where a.id = p_id and a.status <> 'held'
       for update of a for share of d;
    if not found or seen.status <> p_seen_status or seen.starts_at <> p_seen_start
       or seen.ends_at <> p_seen_end then
        raise exception 'changed_meanwhile';
    end if;
    if p_exempt then
        insert into audit_log (actor_id, subject_id, action, entity, entity_id, doctor_id)
        values (p_actor, seen.client_id, 'exempt:change_window', 'appointment', p_id,
                seen.doctor_id);
    end if;
    return query
        select change_appointment(p_id, p_actor, seen.client_id, p_status, null, null,
                                  p_kind, p_summary, p_event, p_now, p_reminders),
               seen.department;
end $$;

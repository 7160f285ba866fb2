-- A status move or a reschedule writes in one statement (issue 14), after the service has
-- locked the row and checked the move: the change itself, the activity, the messages, the
-- audit, and the answer's JSON, in one round trip instead of five. The exclusion
-- constraints still judge a move.
create function change_appointment(
    p_id bigint,
    p_actor bigint,
    p_subject bigint,
    p_status text,  -- the new status, or null for a move to [p_start, p_end)
    p_start timestamptz,
    p_end timestamptz,
    p_kind text,  -- the activity's and the audit's name for it
    p_summary text,
    p_event text,  -- what outbox_appointment_changed tells people
    p_now timestamptz,
    p_reminders interval[]
) returns bytea language plpgsql as $$
begin
    if p_status is not null then
        update appointments set status = p_status, updated_at = now() where id = p_id;
    else
        update appointments set starts_at = p_start, ends_at = p_end, updated_at = now()
         where id = p_id;
    end if;
    insert into activity (actor_id, client_id, appointment_id, kind, summary)
    values (p_actor, p_subject, p_id, p_kind, p_summary);
    perform outbox_appointment_changed(p_id, p_event, p_now, p_reminders);
    insert into audit_log (actor_id, subject_id, action, entity, entity_id)
    values (p_actor, p_subject, 'update:' || p_kind, 'appointment', p_id);
    return convert_to(appointment_json(p_id), 'UTF8');
end $$;

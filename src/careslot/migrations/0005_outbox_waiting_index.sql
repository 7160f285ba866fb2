-- depends: 0004_messages_outbox
-- The outbox's depth and oldest-waiting age (on /metrics) count what is due and not yet
-- delivered, retries included: a range scan over due rows only, however many reminders
-- wait in the future.
drop index outbox_held_idx;
create index outbox_waiting_idx on outbox (due_at) where status in ('pending', 'held');

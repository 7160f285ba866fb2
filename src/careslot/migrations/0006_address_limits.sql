-- depends: 0005_outbox_waiting_index
-- Per-client-address limits (issue 13): one row per failed sign-in (kind 'login', deleted
-- again when the sign-in succeeds) or registration attempt (kind 'register') from an
-- address. Counted over a sliding window before any password is hashed; pruned in the
-- background once older than the longest window (careslot/db/pruning.py).
create table address_attempts (
    id      bigint generated always as identity primary key,
    kind    text not null check (kind in ('login', 'register')),
    address text not null,
    at      timestamptz not null
);
create index address_attempts_kind_address_at_idx on address_attempts (kind, address, at);
create index address_attempts_at_idx on address_attempts (at);

-- The background pruning deletes by age; these make it an index range scan.
create index login_failures_at_idx on login_failures (at);
create index sessions_expires_at_idx on sessions (expires_at);
create index idempotency_keys_created_at_idx on idempotency_keys (created_at);

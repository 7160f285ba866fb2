-- careslot schema: the database guards every booking invariant.
create extension if not exists btree_gist;

create table departments (
    id          bigint generated always as identity primary key,
    name        text not null unique,
    color       text not null default '#2563eb' check (color ~ '^#[0-9a-fA-F]{6}$'),
    description text not null default '',
    is_active   boolean not null default true,
    created_at  timestamptz not null default now()
);

create table users (
    id            bigint generated always as identity primary key,
    email         text not null,
    password_hash text not null,
    name          text not null,
    role          text not null check (role in ('patient', 'doctor', 'staff', 'admin')),
    is_active     boolean not null default true,
    created_at    timestamptz not null default now()
);
create unique index users_email_key on users (lower(email));

create table doctors (
    id            bigint generated always as identity primary key,
    user_id       bigint unique references users (id),
    department_id bigint not null references departments (id),
    name          text not null,
    specialty     text not null default '',
    slot_minutes  integer not null default 30 check (slot_minutes between 5 and 240),
    is_active     boolean not null default true
);
create index doctors_department_idx on doctors (department_id);

-- Wall-clock hours in the hospital's zone; weekday is ISO (1 = Monday).
create table working_hours (
    id         bigint generated always as identity primary key,
    doctor_id  bigint not null references doctors (id) on delete cascade,
    weekday    smallint not null check (weekday between 1 and 7),
    start_time time not null,
    end_time   time not null,
    check (start_time < end_time),
    exclude using gist (doctor_id with =, weekday with =, tsrange('2000-01-01'::date + start_time, '2000-01-01'::date + end_time, '[)') with &&)
);

create table time_off (
    id        bigint generated always as identity primary key,
    doctor_id bigint not null references doctors (id) on delete cascade,
    period    tstzrange not null check (not isempty(period)),
    reason    text not null default ''
);
create index time_off_doctor_idx on time_off using gist (doctor_id, period);

create table closures (
    id     bigint generated always as identity primary key,
    period tstzrange not null check (not isempty(period)),
    reason text not null default ''
);
create index closures_period_idx on closures using gist (period);

create table appointments (
    id            bigint generated always as identity primary key,
    client_id     bigint not null references users (id),
    doctor_id     bigint not null references doctors (id),
    department_id bigint not null references departments (id),
    starts_at     timestamptz not null,
    ends_at       timestamptz not null,
    status        text not null default 'scheduled'
                  check (status in ('scheduled', 'confirmed', 'checked_in', 'completed', 'cancelled', 'no_show')),
    reason        text not null default '',
    created_by    bigint references users (id),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    check (starts_at < ends_at),
    -- Half-open ranges: back-to-back appointments touch but never overlap.
    constraint appointments_no_doctor_overlap exclude using gist
        (doctor_id with =, tstzrange(starts_at, ends_at, '[)') with &&) where (status <> 'cancelled'),
    constraint appointments_no_client_overlap exclude using gist
        (client_id with =, tstzrange(starts_at, ends_at, '[)') with &&) where (status <> 'cancelled')
);
create index appointments_client_start_idx on appointments (client_id, starts_at desc);
create index appointments_doctor_start_idx on appointments (doctor_id, starts_at);
create index appointments_start_idx on appointments (starts_at desc, id desc);

create table sessions (
    token_hash   bytea primary key,
    user_id      bigint not null references users (id),
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at   timestamptz not null,
    revoked_at   timestamptz
);
create index sessions_user_idx on sessions (user_id);

create table login_failures (
    id     bigint generated always as identity primary key,
    email  text not null,
    at     timestamptz not null default now()
);
create index login_failures_email_at_idx on login_failures (lower(email), at);

-- Who read or changed whose record; never the medical content.
create table audit_log (
    id         bigint generated always as identity primary key,
    at         timestamptz not null default now(),
    actor_id   bigint,
    subject_id bigint,
    action     text not null,
    entity     text not null,
    entity_id  bigint,
    outcome    text not null default 'ok'
);
create index audit_log_subject_idx on audit_log (subject_id, at desc);

-- What patients and staff see as "recent activity": changes only.
create table activity (
    id             bigint generated always as identity primary key,
    at             timestamptz not null default now(),
    actor_id       bigint,
    client_id      bigint not null,
    appointment_id bigint,
    kind           text not null,
    summary        text not null
);
create index activity_client_idx on activity (client_id, at desc, id desc);
create index activity_at_idx on activity (at desc, id desc);

create table idempotency_keys (
    user_id      bigint not null references users (id),
    key          text not null,
    request_hash bytea not null,
    status_code  integer not null,
    response     bytea not null,
    created_at   timestamptz not null default now(),
    primary key (user_id, key)
);

create table settings (
    key   text primary key,
    value jsonb not null
);

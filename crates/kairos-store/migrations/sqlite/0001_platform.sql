-- platform: workspaces, org units, users, sessions, tokens, accounts, contacts, audit,
-- idempotency. sqlite flavour; postgres/0001_platform.sql must define the same tables and
-- columns (a test compares the two).
--
-- conventions: ids are uuidv7 text; timestamps are rfc 3339 text in utc (sqlx's chrono
-- encoding, which sorts chronologically as text); booleans are 0/1; money is integer minor
-- units. every business table leads its keys with workspace_id so that a tenant-sharded
-- postgres can distribute by it.

create table workspace (
    workspace_id text primary key,
    name text not null,
    base_currency text not null default 'CNY',
    time_zone text not null default 'Asia/Shanghai',
    locale text not null default 'zh-CN',
    fiscal_year_start_month integer not null default 1,
    number_pattern text not null default '{yyyy}-{region}-{seq:3}',
    created_at text not null,
    updated_at text not null,
    version integer not null default 1
);

create table org_unit (
    workspace_id text not null references workspace (workspace_id),
    org_unit_id text not null,
    parent_id text,
    name text not null,
    code text not null,
    kind text not null,
    manager_id text,
    archived_at text,
    created_at text not null,
    updated_at text not null,
    version integer not null default 1,
    primary key (workspace_id, org_unit_id),
    foreign key (workspace_id, parent_id) references org_unit (workspace_id, org_unit_id)
);
-- the code becomes the region part of opportunity numbers, so it must be unique.
create unique index org_unit_code on org_unit (workspace_id, code);

-- "user" is reserved in postgres, hence app_user.
create table app_user (
    workspace_id text not null references workspace (workspace_id),
    user_id text not null,
    email text not null,
    email_key text not null,
    display_name text not null,
    password_hash text not null,
    org_unit_id text,
    roles text not null,
    active integer not null default 1,
    locale text,
    created_at text not null,
    updated_at text not null,
    version integer not null default 1,
    primary key (workspace_id, user_id),
    foreign key (workspace_id, org_unit_id) references org_unit (workspace_id, org_unit_id)
);
-- people log in with an e-mail and nothing else, so an address names one user across all
-- workspaces of a deployment.
create unique index app_user_email on app_user (email_key);
create index app_user_unit on app_user (workspace_id, org_unit_id);

-- browser sessions; the cookie holds a random secret, the table only its sha-256.
create table user_session (
    session_hash text primary key,
    workspace_id text not null,
    user_id text not null,
    csrf_token text not null,
    created_at text not null,
    expires_at text not null,
    foreign key (workspace_id, user_id) references app_user (workspace_id, user_id)
);
create index user_session_user on user_session (workspace_id, user_id);

-- personal api tokens; like sessions, only the sha-256 of the secret is kept.
create table api_token (
    workspace_id text not null,
    token_id text not null,
    user_id text not null,
    name text not null,
    token_hash text not null,
    created_at text not null,
    expires_at text not null,
    last_used_at text,
    revoked_at text,
    primary key (workspace_id, token_id),
    foreign key (workspace_id, user_id) references app_user (workspace_id, user_id)
);
create unique index api_token_hash on api_token (token_hash);
create index api_token_user on api_token (workspace_id, user_id);

-- failed logins, kept in the database (not in memory) so that several server instances
-- share one rate limit. the key is 'account:<email key>' or 'address:<ip>'.
create table login_failure (
    failure_key text not null,
    failed_at text not null
);
create index login_failure_key on login_failure (failure_key, failed_at);

create table account (
    workspace_id text not null references workspace (workspace_id),
    account_id text not null,
    name text not null,
    name_key text not null,
    account_type text not null,
    industry text,
    size text,
    region text,
    address text,
    credit_rating text,
    owner_id text not null,
    org_unit_id text,
    tags text not null default '[]',
    notes text,
    archived_at text,
    created_by text,
    created_at text not null,
    updated_at text not null,
    version integer not null default 1,
    primary key (workspace_id, account_id),
    foreign key (workspace_id, owner_id) references app_user (workspace_id, user_id)
);
-- archived accounts keep their name: a duplicate of one should be restored, not re-created.
create unique index account_name_key on account (workspace_id, name_key);
create index account_owner on account (workspace_id, owner_id);
create index account_unit on account (workspace_id, org_unit_id);
create index account_updated on account (workspace_id, updated_at);

-- the account team: people who are not the owner but work the account and see it.
create table account_member (
    workspace_id text not null,
    account_id text not null,
    user_id text not null,
    role text not null,
    created_at text not null,
    primary key (workspace_id, account_id, user_id),
    foreign key (workspace_id, account_id) references account (workspace_id, account_id),
    foreign key (workspace_id, user_id) references app_user (workspace_id, user_id)
);
create index account_member_user on account_member (workspace_id, user_id);

create table contact (
    workspace_id text not null,
    contact_id text not null,
    account_id text not null,
    name text not null,
    title text,
    phone text,
    phone_key text,
    email text,
    email_key text,
    wechat text,
    decision_role text not null,
    attitude text not null,
    reports_to_id text,
    notes text,
    archived_at text,
    created_by text,
    created_at text not null,
    updated_at text not null,
    version integer not null default 1,
    primary key (workspace_id, contact_id),
    foreign key (workspace_id, account_id) references account (workspace_id, account_id),
    foreign key (workspace_id, reports_to_id) references contact (workspace_id, contact_id)
);
create unique index contact_phone_key on contact (workspace_id, phone_key) where phone_key is not null;
create unique index contact_email_key on contact (workspace_id, email_key) where email_key is not null;
create index contact_account on contact (workspace_id, account_id);

-- append-only: one row per changed field of a create, update, archive or restore.
create table audit_log (
    workspace_id text not null,
    audit_id text not null,
    at text not null,
    actor_id text,
    entity text not null,
    entity_id text not null,
    action text not null,
    field text,
    old_value text,
    new_value text,
    primary key (workspace_id, audit_id)
);
create index audit_log_entity on audit_log (workspace_id, entity, entity_id, at);

-- idempotency-key replay store for post requests.
create table idempotency_key (
    workspace_id text not null,
    user_id text not null,
    idem_key text not null,
    request_hash text not null,
    status_code integer,
    response_body text,
    location text,
    created_at text not null,
    primary key (workspace_id, user_id, idem_key)
);

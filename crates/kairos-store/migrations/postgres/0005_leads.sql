-- leads (PRODUCT.md §3): capture, scoring, assignment, dedup, conversion; web forms for
-- capture; in-app notifications (new owners hear of their leads). postgres flavour;
-- sqlite/0005_leads.sql defines the same tables and columns.

create table lead (
    workspace_id text not null references workspace (workspace_id),
    lead_id text not null,
    source text not null,
    campaign text,
    company text,
    company_key text,
    contact_name text,
    title text,
    phone text,
    phone_key text,
    email text,
    email_key text,
    region text,
    industry text,
    notes text,
    budget_amount bigint,
    budget_approved boolean not null,
    is_decision_maker boolean,
    need_description text,
    need_match bigint,
    expected_purchase_date date,
    status text not null,
    disqualify_reason text,
    score bigint not null,
    score_hits text not null,
    owner_id text,
    org_unit_id text,
    assigned_at timestamptz,
    assigned_by_rule text,
    account_id text,
    contact_id text,
    opportunity_id text,
    converted_at timestamptz,
    archived_at timestamptz,
    created_by text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    version bigint not null default 1,
    primary key (workspace_id, lead_id),
    foreign key (workspace_id, owner_id) references app_user (workspace_id, user_id)
);
-- one live lead per phone and per e-mail: a second capture is refused or merged, and the
-- index makes that hold under concurrent captures too.
create unique index lead_phone_key on lead (workspace_id, phone_key) where phone_key is not null and archived_at is null;
create unique index lead_email_key on lead (workspace_id, email_key) where email_key is not null and archived_at is null;
create index lead_owner_status on lead (workspace_id, owner_id, status);
create index lead_unit on lead (workspace_id, org_unit_id);
create index lead_created on lead (workspace_id, created_at);
create index lead_source on lead (workspace_id, source, created_at);
-- no index on company_key (a shared company is no duplicate between leads, and search
-- matches inside names) nor on updated_at (a rare sort): each index costs every import.

-- the scoring and assignment rule sets, one row per workspace (absent: the defaults).
create table lead_settings (
    workspace_id text primary key references workspace (workspace_id),
    scoring text not null,
    assignment text not null,
    updated_at timestamptz not null,
    version bigint not null default 1
);

-- when each rep last received a lead by rule, as a workspace-wide sequence number; round
-- robin and least-loaded ties go to whoever waited longest.
create table lead_assignee (
    workspace_id text not null,
    user_id text not null,
    last_seq bigint not null,
    primary key (workspace_id, user_id)
);

-- public web forms: a secret key in the url instead of a login.
create table lead_form (
    workspace_id text not null references workspace (workspace_id),
    form_id text not null,
    form_key text not null,
    name text not null,
    source text not null,
    campaign text,
    allowed_origins text not null,
    per_address_per_hour bigint not null,
    active boolean not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    version bigint not null default 1,
    primary key (workspace_id, form_id)
);
create unique index lead_form_key on lead_form (form_key);

-- accepted public submissions, kept in the database so that several instances share one
-- rate limit.
create table form_submission (
    form_id text not null,
    address text not null,
    submitted_at timestamptz not null
);
create index form_submission_address on form_submission (form_id, address, submitted_at);

create table notification (
    workspace_id text not null,
    notification_id text not null,
    user_id text not null,
    kind text not null,
    message text not null,
    entity text,
    entity_id text,
    created_at timestamptz not null,
    read_at timestamptz,
    primary key (workspace_id, notification_id),
    foreign key (workspace_id, user_id) references app_user (workspace_id, user_id)
);
create index notification_user on notification (workspace_id, user_id, created_at);

-- opportunities and the sales-process engine (PRODUCT.md §4, §5). The sqlite and postgres
-- files define the same tables and columns; a test compares the migrated schemas.

alter table workspace add column weekend_days text not null default '6,7';
alter table workspace add column priority_health_above bigint not null default 85;
alter table workspace add column priority_amount_above bigint not null default 50000000;

create table sales_process (
    workspace_id text not null references workspace (workspace_id),
    process_id text not null,
    name text not null,
    description text,
    is_default boolean not null,
    business_types text not null,
    customer_types text not null,
    industries text not null,
    product_categories text not null,
    org_unit_ids text not null,
    won_required_fields text not null,
    archived_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    version bigint not null default 1,
    primary key (workspace_id, process_id)
);

create table process_stage (
    workspace_id text not null,
    stage_id text not null,
    process_id text not null,
    name text not null,
    position bigint not null,
    probability bigint not null,
    forecast_category text not null,
    expected_dwell_days bigint not null,
    cadence_touches bigint not null,
    cadence_days bigint not null,
    cadence_channels text not null,
    guidance text,
    required_fields text not null,
    checklist text not null,
    required_documents text not null,
    health_refuse_below bigint not null,
    health_pass_above bigint not null,
    approval_rule text not null,
    approval_role text,
    retired_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (workspace_id, stage_id),
    foreign key (workspace_id, process_id) references sales_process (workspace_id, process_id)
);
create index process_stage_order on process_stage (workspace_id, process_id, position);

-- one row per numbering scope (year and region, as the pattern says); bumped in the
-- transaction that creates the opportunity, so a number is taken exactly when a deal is.
create table number_sequence (
    workspace_id text not null,
    scope_key text not null,
    last_value bigint not null,
    primary key (workspace_id, scope_key)
);

create table opportunity (
    workspace_id text not null references workspace (workspace_id),
    opportunity_id text not null,
    number text not null,
    name text not null,
    account_id text not null,
    primary_contact_id text,
    owner_id text not null,
    org_unit_id text,
    process_id text not null,
    stage_id text not null,
    status text not null,
    amount bigint not null,
    currency text not null,
    expected_close_date date,
    probability bigint not null,
    probability_reason text,
    forecast_category text not null,
    source text,
    business_type text,
    product_category text,
    competitors text not null,
    tags text not null,
    priority boolean not null,
    need_items text not null,
    budget_approved boolean not null,
    in_annual_plan boolean not null,
    health_score bigint not null,
    health_need double precision not null,
    health_chain double precision not null,
    health_budget double precision not null,
    contract_number text,
    contract_signed_on date,
    stage_entered_at timestamptz not null,
    closed_at timestamptz,
    close_reason_id text,
    close_competitor text,
    close_note text,
    review_due_on date,
    imported boolean not null,
    created_by text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    version bigint not null default 1,
    primary key (workspace_id, opportunity_id),
    foreign key (workspace_id, account_id) references account (workspace_id, account_id),
    foreign key (workspace_id, stage_id) references process_stage (workspace_id, stage_id)
);
create unique index opportunity_number on opportunity (workspace_id, number);
create index opportunity_owner on opportunity (workspace_id, owner_id);
create index opportunity_unit on opportunity (workspace_id, org_unit_id);
create index opportunity_stage on opportunity (workspace_id, process_id, stage_id, status);
create index opportunity_account on opportunity (workspace_id, account_id);
create index opportunity_close on opportunity (workspace_id, expected_close_date);

create table opportunity_member (
    workspace_id text not null,
    opportunity_id text not null,
    user_id text not null,
    role text not null,
    created_at timestamptz not null,
    primary key (workspace_id, opportunity_id, user_id)
);
create index opportunity_member_user on opportunity_member (workspace_id, user_id);

-- contacts linked to a deal with their role in its decision chain and whether they have been
-- reached: the decision-chain part of the health score.
create table opportunity_contact (
    workspace_id text not null,
    opportunity_id text not null,
    contact_id text not null,
    role text not null,
    reached boolean not null,
    created_at timestamptz not null,
    primary key (workspace_id, opportunity_id, contact_id)
);

create table checklist_tick (
    workspace_id text not null,
    opportunity_id text not null,
    stage_id text not null,
    item_key text not null,
    ticked_by text not null,
    ticked_at timestamptz not null,
    note text,
    primary key (workspace_id, opportunity_id, stage_id, item_key)
);

create table opportunity_document (
    workspace_id text not null,
    document_id text not null,
    opportunity_id text not null,
    doc_type text not null,
    file_name text not null,
    content_type text not null,
    size_bytes bigint not null,
    storage_key text not null,
    uploaded_by text not null,
    uploaded_at timestamptz not null,
    primary key (workspace_id, document_id)
);
create index opportunity_document_opp on opportunity_document (workspace_id, opportunity_id);

-- append-only: stage and status changes, and changes of the fields the pipeline is replayed
-- from (amount, expected close, probability, owner). Stage names are copied, so renaming a
-- stage never rewrites the past.
create table opportunity_history (
    workspace_id text not null,
    history_id text not null,
    opportunity_id text not null,
    at timestamptz not null,
    actor_id text,
    kind text not null,
    from_stage_id text,
    from_stage_name text,
    to_stage_id text,
    to_stage_name text,
    from_status text,
    to_status text,
    amount bigint not null,
    currency text not null,
    probability bigint not null,
    days_in_stage double precision,
    working_days_in_stage double precision,
    field text,
    old_value text,
    new_value text,
    reason text,
    override_reason text,
    imported boolean not null,
    primary key (workspace_id, history_id)
);
create index opportunity_history_opp on opportunity_history (workspace_id, opportunity_id, at);
create index opportunity_history_at on opportunity_history (workspace_id, at);

create table approval_request (
    workspace_id text not null,
    approval_id text not null,
    opportunity_id text not null,
    from_stage_id text not null,
    to_stage_id text not null,
    reason text not null,
    note text,
    requested_by text not null,
    requested_at timestamptz not null,
    approver_id text,
    approver_role text,
    status text not null,
    decided_by text,
    decided_at timestamptz,
    comment text,
    version bigint not null default 1,
    primary key (workspace_id, approval_id)
);
create index approval_request_open on approval_request (workspace_id, status, approver_id);
create index approval_request_opp on approval_request (workspace_id, opportunity_id);

create table close_reason (
    workspace_id text not null,
    reason_id text not null,
    outcome text not null,
    label text not null,
    position bigint not null,
    active boolean not null,
    created_at timestamptz not null,
    primary key (workspace_id, reason_id)
);

create table calendar_day (
    workspace_id text not null,
    day date not null,
    kind text not null,
    name text,
    primary key (workspace_id, day)
);

-- rate_micros: how many base-currency units one unit of `currency` is worth, times 1,000,000.
create table fx_rate (
    workspace_id text not null,
    currency text not null,
    valid_on date not null,
    rate_micros bigint not null,
    created_at timestamptz not null,
    primary key (workspace_id, currency, valid_on)
);

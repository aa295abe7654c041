-- follow-up (PRODUCT.md §6): activities (touches), tasks, the risk the scanners found, and
-- the leases that let several instances share the background jobs. sqlite flavour; the
-- postgres file defines the same tables and columns.

-- the workspace's follow-up rules (stale and alert days, dwell factor, task grace hours) as
-- JSON; what is left out takes §6's defaults.
alter table workspace add column followup_settings text not null default '{}';

alter table sales_process add column close_reminder_days integer not null default 7;

-- a scanner's notification carries a key naming the event it reports (e.g. the stale alert
-- of one deal since its last sign of life); the unique index makes a second scan, on this
-- instance or another, a no-op instead of a second message.
alter table notification add column dedup_key text;
create unique index notification_dedup on notification (workspace_id, dedup_key);

create table activity (
    workspace_id text not null references workspace (workspace_id),
    activity_id text not null,
    kind text not null,
    occurred_at text not null,
    duration_minutes integer,
    opportunity_id text,
    account_id text,
    lead_id text,
    contact_ids text not null,
    summary text not null,
    outcome text,
    next_step text,
    next_step_at text,
    next_task_id text,
    owner_id text not null,
    org_unit_id text,
    created_at text not null,
    updated_at text not null,
    version integer not null default 1,
    primary key (workspace_id, activity_id)
);
create index activity_opportunity on activity (workspace_id, opportunity_id, occurred_at);
create index activity_account on activity (workspace_id, account_id, occurred_at);
create index activity_lead on activity (workspace_id, lead_id, occurred_at);
create index activity_owner on activity (workspace_id, owner_id, occurred_at);
-- the scanners read the touches of the last few weeks across the workspace
create index activity_recent on activity (workspace_id, occurred_at);

create table task (
    workspace_id text not null references workspace (workspace_id),
    task_id text not null,
    title text not null,
    notes text,
    due_at text not null,
    assignee_id text not null,
    -- the assignee's unit when assigned: how a manager's "my team's tasks" is scoped
    org_unit_id text,
    entity text,
    entity_id text,
    origin text not null,
    -- what a generated task stands for (cadence of one deal since its last touch, …): the
    -- unique index lets a scanner create it exactly once however often it runs
    origin_key text,
    status text not null,
    done_at text,
    done_by text,
    escalated_at text,
    created_by text,
    created_at text not null,
    updated_at text not null,
    version integer not null default 1,
    primary key (workspace_id, task_id)
);
create unique index task_origin on task (workspace_id, origin_key);
create index task_assignee on task (workspace_id, assignee_id, status, due_at);
create index task_unit on task (workspace_id, org_unit_id, status, due_at);
create index task_entity on task (workspace_id, entity, entity_id, status);
create index task_due on task (workspace_id, status, due_at);

-- what the last scan found about each open deal at risk (deals without risk have no row)
create table opportunity_risk (
    workspace_id text not null,
    opportunity_id text not null,
    stale_level text not null,
    idle_days real not null,
    days_in_stage real not null,
    dwell_limit_days real,
    dwell_basis text,
    dwell_over integer not null,
    cadence_short integer not null,
    close_overdue integer not null,
    recommended_action text,
    scanned_at text not null,
    primary key (workspace_id, opportunity_id)
);

create table job_lease (
    job text not null primary key,
    leased_by text,
    lease_until text,
    last_started_at text,
    last_finished_at text,
    last_error text,
    runs integer not null default 0
);

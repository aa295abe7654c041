-- sales targets (quotas) per user or org unit per month, quarter or year.
create table sales_target (
    workspace_id text not null references workspace (workspace_id),
    target_id text not null,
    subject_kind text not null,
    subject_id text not null,
    period_kind text not null,
    period_start date not null,
    amount bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    version bigint not null default 1,
    primary key (workspace_id, target_id)
);
create unique index sales_target_subject on sales_target (workspace_id, subject_kind, subject_id, period_kind, period_start);

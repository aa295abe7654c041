-- Dwell's passages counted in buckets of days (PRODUCT.md §8; #4). sqlite flavour; the
-- postgres file makes the same change.
--
-- Dwell's median and p90 need the values of every passage that ended in the period, in
-- order: at a million deals some 3.6 million pairs of durations, over a second to read on
-- either database. This table counts the passages per local month and per local day (UTC+8,
-- as every rollup cuts days), stage, measure (calendar or working days) and bucket of days
-- (`kairos_domain::dwell_histogram`), with the sum of their days. A period's counts say which
-- bucket holds the median and p90; the report then reads those buckets' values alone, in
-- order, from the two indexes below. The period's whole months are read from the month rows,
-- its days at either end from the day rows.
--
-- Each write of a deal's history adds its passages (`source` = the first new event's id);
-- the `passage_bucket_rollup` job folds those rows into one row per key (`source` = '').
-- The rows of the workspaces that exist now are built by Kairos after this migration
-- (`passage_buckets::build_missing`), by the code that writes them afterwards;
-- `passage_bucket_built` lists the workspaces built.
create table passage_bucket (
    workspace_id text not null,
    -- 'month' (period YYYY-MM) or 'day' (period YYYY-MM-DD), local: when the passage ended
    span text not null,
    period text not null,
    -- the stage the deal left
    stage_id text not null,
    -- 'calendar' (days_in_stage) or 'working' (working_days_in_stage)
    measure text not null,
    bucket integer not null,
    -- '' for the folded row of the key; otherwise the first event id of the write, and ':passages'
    source text not null,
    passages integer not null,
    -- the sum of their days
    days real not null,
    primary key (workspace_id, span, period, stage_id, measure, bucket, source)
) without rowid;
create index passage_bucket_pending on passage_bucket (workspace_id, source) where source <> '';

create table passage_bucket_built (
    workspace_id text primary key
) without rowid;

-- A bucket's values of one stage, in order, inside a period: the passages of the dwell
-- report (a move or a close that left a stage, with both durations). Every column the read
-- names is in the index, so the walk never touches the table.
create index opportunity_history_calendar_passages on opportunity_history (workspace_id, from_stage_id, days_in_stage, at, kind, working_days_in_stage)
    where kind in ('moved', 'closed') and from_stage_id is not null and days_in_stage is not null and working_days_in_stage is not null;
create index opportunity_history_working_passages on opportunity_history (workspace_id, from_stage_id, working_days_in_stage, at, kind, days_in_stage)
    where kind in ('moved', 'closed') and from_stage_id is not null and days_in_stage is not null and working_days_in_stage is not null;
-- Statistics for the new indexes alone (0017 analysed the table's others).
analyze opportunity_history_calendar_passages;
analyze opportunity_history_working_passages;

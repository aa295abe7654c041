-- Each deal's change over a local month, quarter and year (PRODUCT.md §8; #4). sqlite flavour;
-- the postgres file makes the same change.
--
-- Migration 0026 kept one row per deal and month. A quarter's movement read three months'
-- rows (at a million deals 448,612 of them) and folded them per deal, which took 1.3-1.5 s on
-- both databases; a year's would read twelve. This table keeps the deal's change over each
-- quarter and year beside its month, so that any calendar period (a month, a quarter, a year)
-- is one row per deal that had events in it, and movement sums its categories in SQL.
--
-- A period is cut as movement's is: the events after the local midnight (UTC+8) that starts
-- it, up to and including the one that ends it. A row holds the deal's state before the
-- period's first event and after its last; each write of a deal's history merges its events
-- into the rows of every period they fall in, the earlier first event keeping its
-- before-state and the later last event its after-state. The rows of the workspaces that exist
-- now are built by Kairos after this migration (`deal_period_changes::build_missing`), by the
-- code that writes them afterwards; `deal_period_change_built` lists the workspaces built.
drop table deal_month_change;
drop table deal_month_change_built;

create table deal_period_change (
    workspace_id text not null,
    -- month, quarter or year
    span text not null,
    -- local: YYYY-MM, YYYY-Qn or YYYY
    period text not null,
    opportunity_id text not null,
    -- the period's first event, and the deal's state before it (none for its first event ever)
    first_at text not null,
    first_history_id text not null,
    was_stage_id text,
    was_status text,
    was_amount integer,
    was_currency text,
    was_probability integer,
    was_close_date text,
    -- the period's last event, and the deal's state after it
    last_at text not null,
    last_history_id text not null,
    stage_id text,
    status text,
    amount integer not null,
    currency text not null,
    probability integer not null,
    close_date text,
    primary key (workspace_id, span, period, opportunity_id)
) without rowid;

create table deal_period_change_built (
    workspace_id text primary key
) without rowid;

-- Each deal's change over a local month (PRODUCT.md §8; #4). postgres flavour; the sqlite
-- file makes the same change.
--
-- The movement report compares each deal that had events in its period as it was before the
-- first of them and after the last. For a month at a million deals with five million history
-- rows that is some 330,000 events of 145,000 deals: read from their covering index, handed
-- over and put in order per deal it took 1.1-1.4 s on both databases, and grouping them by
-- deal in SQL alone took SQLite 0.8-1.2 s. This table holds one row per deal and local month
-- (UTC+8, as every rollup cuts days) in which it had events: its state before the first of
-- them and after the last. A period of whole months reads its months' rows, one per deal.
--
-- A month here is the movement report's: the events after the local midnight that starts it,
-- up to and including the one that ends it (an event at exactly midnight counts in the month
-- before, as the pipeline at an instant includes the events at that instant). Each write of
-- a deal's history updates the deal's row of each month it writes into: the earlier first
-- event keeps its before-state and the later last event its after-state, so the row ends the
-- same in whatever order events are written. The rows of the workspaces that exist now are
-- built by Kairos after this migration (`deal_month_changes::build_missing`), by the code that
-- writes them afterwards; `deal_month_change_built` lists the workspaces built.
create table deal_month_change (
    workspace_id text not null,
    -- YYYY-MM, local: the month of the events, cut as above
    month text not null,
    opportunity_id text not null,
    -- the month's first event, and the deal's state before it (none for its first event ever)
    first_at timestamptz not null,
    first_history_id text not null,
    was_stage_id text,
    was_status text,
    was_amount bigint,
    was_currency text,
    was_probability bigint,
    was_close_date date,
    -- the month's last event, and the deal's state after it
    last_at timestamptz not null,
    last_history_id text not null,
    stage_id text,
    status text,
    amount bigint not null,
    currency text not null,
    probability bigint not null,
    close_date date,
    primary key (workspace_id, month, opportunity_id)
);

create table deal_month_change_built (
    workspace_id text primary key
);

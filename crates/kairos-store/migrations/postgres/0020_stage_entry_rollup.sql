-- Entries into stages rolled up per day (PRODUCT.md §8; #4). postgres flavour; the sqlite
-- file makes the same change.
--
-- The conversion report follows every deal that entered a stage in its period to what became
-- of it. Over two years at a million deals that is a window over every deal's history: the
-- fastest hand-written query takes 4.2 s on PostgreSQL and 10.1 s on SQLite. This table holds
-- each entry counted under its local day (UTC+8, as every rollup cuts days), its stage and
-- the local day of the deal's previous entry into that stage ('' for none), with how many of
-- those entries later went further and how many were won. A period's cohort is the entries
-- inside it whose previous entry came before it: some thousands of rows for two years.
--
-- Each write of a deal's history writes what it changed (`source` = the first new event's
-- id); the `stage_entry_rollup` job folds those rows into one row per key (`source` = '').
-- A read sums both, so it is exact whether or not the job has run. Whether an entry went
-- further depends on the order of its process's stages: reordering them rebuilds the
-- workspace's rows. The rows of the workspaces that exist now are built by Kairos itself
-- after this migration (`stage_entry_rollup::build_missing`), from the same code that
-- writes them afterwards; `stage_entry_built` lists the workspaces built.
create table stage_entry_day (
    workspace_id text not null,
    -- YYYY-MM-DD, local: the day of the entry
    day text not null,
    stage_id text not null,
    -- YYYY-MM-DD, local: the day the deal last entered the stage before; '' for never
    previous_day text not null,
    -- '' for the folded row of the key; otherwise the first event id of the write, and ':entries'
    source text not null,
    entered bigint not null,
    -- of them, those that later reached a stage further on, or were won
    advanced bigint not null,
    won bigint not null,
    primary key (workspace_id, day, stage_id, previous_day, source)
);
create index stage_entry_day_pending on stage_entry_day (workspace_id, source) where source <> '';

create table stage_entry_built (
    workspace_id text primary key
);

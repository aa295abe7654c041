-- The closed deals summed per local month and day (PRODUCT.md §8; #4). postgres flavour; the
-- sqlite file makes the same change.
--
-- Win rate, loss reasons and the leaderboard's wins group the deals closed in a period. At a
-- million deals two years hold some 620,000 of them, and grouping them by reason, stage and
-- competitors took SQLite 0.8-1.3 s even from their covering index: its sorter orders every
-- row by every key. This table holds them already grouped: per local month and per local day
-- (UTC+8, as every rollup cuts days) of the close, status and currency, under each of a few
-- facets, each the keys one grouping needs:
--   loss:             k1 close reason, k2 stage, k3 competitors (the stored JSON list), k4 close competitor
--   owner, org_unit, process, product_category, source: k1 that column
-- ('' for none), with the count and the amount split as the reports split it (billions and
-- the rest). A period reads the month rows of its whole months and the day rows at its ends.
--
-- Each write of a deal that changes what it adds (a close, a reopen, a new owner of a closed
-- deal) writes the difference (`source` = the deal and its new version); the
-- `closed_deal_rollup` job folds those rows into one row per key (`source` = ''). A read sums
-- both, so it is exact whether or not the job has run. The rows of the workspaces that exist
-- now are built by Kairos after this migration (`closed_deal_sums::build_missing`), by the
-- code that writes them afterwards; `closed_deal_sum_built` lists the workspaces built.
create table closed_deal_sum (
    workspace_id text not null,
    -- 'month' (period YYYY-MM) or 'day' (period YYYY-MM-DD), local: when the deal closed
    span text not null,
    period text not null,
    facet text not null,
    status text not null,
    k1 text not null,
    k2 text not null,
    k3 text not null,
    k4 text not null,
    currency text not null,
    -- '' for the folded row of the key; otherwise the deal, its version and ':closed'
    source text not null,
    deals bigint not null,
    amount_hi bigint not null,
    amount_lo bigint not null,
    primary key (workspace_id, facet, span, period, status, k1, k2, k3, k4, currency, source)
);
create index closed_deal_sum_pending on closed_deal_sum (workspace_id, source) where source <> '';

create table closed_deal_sum_built (
    workspace_id text primary key
);

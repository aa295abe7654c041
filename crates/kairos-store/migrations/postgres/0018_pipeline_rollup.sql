-- The open pipeline's changes rolled up per day (PRODUCT.md §8; #4). postgres flavour; the
-- sqlite file makes the same change.
--
-- Trend and forecast accuracy sum the open pipeline's changes of every day in their range.
-- Over two years at a million deals that is every history row, and the fastest hand-written
-- query over the history takes 3.3 to 3.8 s on SQLite and 1.8 to 2.3 s on PostgreSQL: no
-- index makes a whole-workspace read of them fit in a second. This table holds the same
-- changes summed per local day, stage, month of the expected close and currency, so the
-- whole workspace's changes over two years are some thousands of rows.
--
-- Every history event writes its own rows beside it, in the same transaction (`source` = the
-- event's id and side, never in conflict with another writer); the rollup job folds them
-- into one row per key (`source` = ''). A read sums both, so it is exact whether or not the
-- job has run. Days are cut at local midnight in UTC+8, the time zone every workspace's
-- calendar uses (`kairos_domain::calendar::WORKSPACE_UTC_OFFSET_MINUTES`).
create table pipeline_change_day (
    workspace_id text not null,
    -- YYYY-MM-DD, local
    day text not null,
    -- '' where none
    stage_id text not null,
    -- YYYY-MM-01 of the expected close; '' where none
    close_month text not null,
    currency text not null,
    -- '' for the folded row of the key; otherwise the history event's id and side
    source text not null,
    -- what the changes added to the open pipeline, negative for what they took away; the
    -- amounts in two parts like the reports' sums (billions and the rest)
    deals bigint not null,
    amount_hi bigint not null,
    amount_lo bigint not null,
    weighted_hi bigint not null,
    weighted_lo bigint not null,
    primary key (workspace_id, day, stage_id, close_month, currency, source)
);
create index pipeline_change_day_pending on pipeline_change_day (workspace_id, source) where source <> '';

-- The history so far, folded.
insert into pipeline_change_day (workspace_id, day, stage_id, close_month, currency, source, deals, amount_hi, amount_lo, weighted_hi, weighted_lo)
select workspace_id, day, stage_id, close_month, currency, '', sum(deals), sum(amount_hi), sum(amount_lo), sum(weighted_hi), sum(weighted_lo)
from (
    select workspace_id, to_char((at at time zone 'UTC') + interval '480 minutes', 'YYYY-MM-DD') as day, coalesce(stage_id, '') as stage_id,
           coalesce(to_char(close_date, 'YYYY-MM') || '-01', '') as close_month, currency, 1 as deals,
           amount / 1000000000 as amount_hi, amount % 1000000000 as amount_lo,
           (amount / 1000000000) * probability as weighted_hi, (amount % 1000000000) * probability as weighted_lo
    from opportunity_history where status = 'open'
    union all
    select workspace_id, to_char((at at time zone 'UTC') + interval '480 minutes', 'YYYY-MM-DD'), coalesce(was_stage_id, ''),
           coalesce(to_char(was_close_date, 'YYYY-MM') || '-01', ''), coalesce(was_currency, currency), -1,
           -(coalesce(was_amount, 0) / 1000000000), -(coalesce(was_amount, 0) % 1000000000),
           -((coalesce(was_amount, 0) / 1000000000) * coalesce(was_probability, 0)), -((coalesce(was_amount, 0) % 1000000000) * coalesce(was_probability, 0))
    from opportunity_history where was_status = 'open'
) as changes
group by workspace_id, day, stage_id, close_month, currency;

analyze pipeline_change_day;

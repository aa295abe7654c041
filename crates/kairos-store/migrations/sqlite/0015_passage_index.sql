-- The dwell report's passages (PRODUCT.md §8; #4). sqlite flavour; the postgres file makes
-- the same change.
--
-- The stage passages that ended in a period, read from this index alone: at 1,000,000
-- deals the period's 2.3 million passages were fetched row by row from the table (57 s to
-- count them on SQLite, 0.5 s from this index).
create index opportunity_history_passages on opportunity_history (workspace_id, at, kind, from_stage_id, days_in_stage, working_days_in_stage, opportunity_id) where from_stage_id is not null and days_in_stage is not null and working_days_in_stage is not null;

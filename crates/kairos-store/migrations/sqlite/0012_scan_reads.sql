-- two cuts to what the follow-up scan reads (PRODUCT.md §6; #7 asks for 100,000 open deals
-- within 5 s). sqlite flavour; the postgres file makes the same changes.
--
-- The p90 dwell per stage counts a stage's passages of the last year, then reads the one at
-- the p90 rank by walking this index in days_in_stage order, instead of sorting a year of
-- passages with window functions (2.5 s of a 10 s scan at 510,000 passages). It replaces
-- 0010's opportunity_history_dwell, which only the scanner used.
drop index opportunity_history_dwell;
create index opportunity_history_stage_dwell on opportunity_history (workspace_id, from_stage_id, days_in_stage, at, kind) where from_stage_id is not null and days_in_stage is not null;

-- A risk row's finding in one comparable text (written with the row): the next scan compares
-- it with what it finds instead of reading back ten columns for each of 100,000 deals.
-- Rows written before this have none and are rewritten once.
alter table opportunity_risk add column finding text;

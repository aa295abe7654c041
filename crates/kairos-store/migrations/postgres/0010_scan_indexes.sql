-- the follow-up scanner reads every open deal of a workspace and a year of stage passages
-- (PRODUCT.md §6; #7 asks for 100,000 open deals within 5 s). These covering indexes let
-- both reads come from an index alone instead of the wide opportunity and history rows.
-- postgres flavour; the sqlite file defines the same indexes.
create index opportunity_open_scan on opportunity (workspace_id, opportunity_id, number, name, owner_id, org_unit_id, process_id, stage_id, stage_entered_at, updated_at, expected_close_date) where status = 'open';
create index opportunity_history_dwell on opportunity_history (workspace_id, at, kind, from_stage_id, days_in_stage);

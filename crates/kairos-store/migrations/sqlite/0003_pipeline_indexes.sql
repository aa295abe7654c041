-- the kanban: column totals read everything they need, including the scope columns, from
-- this index alone; each column's first cards come off the second in amount order.
create index opportunity_pipeline on opportunity (workspace_id, process_id, status, stage_id, currency, amount, probability, org_unit_id, owner_id, opportunity_id);
create index opportunity_cards on opportunity (workspace_id, stage_id, status, amount);

-- a move waits for at most one approval at a time.
create unique index approval_request_one_pending on approval_request (workspace_id, opportunity_id) where status = 'pending';
-- which stage's approval need a request answers (a move through several gated stages
-- collects one approval per stage, in order).
alter table approval_request add column need_stage_id text;

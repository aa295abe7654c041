-- the kanban: column totals read (process, status, stage, currency, amount, probability)
-- from the index alone, and each column's first cards come off an index in amount order.
create index opportunity_pipeline on opportunity (workspace_id, process_id, status, stage_id, currency, amount, probability);
create index opportunity_cards on opportunity (workspace_id, stage_id, status, amount);

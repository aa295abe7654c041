-- the kanban: column totals read everything they need, including the scope columns, from
-- this index alone; each column's first cards come off the second in amount order.
create index opportunity_pipeline on opportunity (workspace_id, process_id, status, stage_id, currency, amount, probability, org_unit_id, owner_id, opportunity_id);
create index opportunity_cards on opportunity (workspace_id, stage_id, status, amount);

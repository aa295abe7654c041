-- The state reports count and sum in the database (PRODUCT.md §8; #4 asks for each report
-- within 1.5 × its hand-written floor at 1,000,000 deals). postgres flavour; the sqlite
-- file makes the same changes.
--
-- Open deals by expected close: the funnel, the forecast's pipeline and the team's open
-- deals read this index alone instead of the wide opportunity rows.
create index opportunity_open_reports on opportunity (workspace_id, expected_close_date, process_id, stage_id, forecast_category, owner_id, currency, amount, probability, health_score, health_chain) where status = 'open';

-- Deals closed in a period: win rate, loss reasons, the team's closed deals and what the
-- forecast counts as won.
create index opportunity_closed_reports on opportunity (workspace_id, closed_at, status, owner_id, currency, amount, close_reason_id, stage_id, close_competitor, competitors) where closed_at is not null;

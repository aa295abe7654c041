-- The won closes of a period (PRODUCT.md §8; #4). sqlite flavour; the postgres file makes the
-- same change.
--
-- Forecast accuracy's attainment and the cycle report read only the won closes, but found
-- them through the history's time index, fetching every event of the period from the table
-- to test its kind: at 100,500 deals, six months' won closes took 285 ms on SQLite this way
-- and 4 ms from this index.
create index opportunity_history_won on opportunity_history (workspace_id, at, opportunity_id, history_id, amount, currency) where kind = 'closed' and to_status = 'won';

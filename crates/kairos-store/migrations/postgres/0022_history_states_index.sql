-- The history's states in time order, covered (PRODUCT.md §8; #4). postgres flavour; the
-- sqlite file makes the same change.
--
-- Movement reads every event of its period with the deal's state before and after it
-- (migration 0016), and sorts them per deal. Through the time index alone each event's row
-- is fetched from the table: a month at a million deals is some 200,000 rows scattered over
-- the whole table wherever the history was written out of time order (an import, or the
-- demo, which writes each deal's history at once), 1.5 s on SQLite and 0.9 s on PostgreSQL.
-- This index holds every column that read names, so a period is one stretch of it: 0.5-0.6 s
-- on both. It costs about two thirds of the history table's size again (1.0 GB beside 1.5 GB
-- on PostgreSQL at a million deals).
create index opportunity_history_states on opportunity_history (
    workspace_id, at, opportunity_id, history_id, stage_id, status, amount, currency, probability, close_date,
    was_stage_id, was_status, was_amount, was_currency, was_probability, was_close_date
);

-- The open deals in owner order, covered (PRODUCT.md §8; #4). postgres flavour; the sqlite
-- file makes the same change.
--
-- The team leaderboard sums each owner's open deals: the pipeline, the weighted pipeline,
-- the decision-chain coverage, the health bands and the deals above the high-value
-- threshold. Grouped by owner, health band and high value as keys, SQLite sorted every open
-- deal (at a million deals some 380,000) before it could sum them. Grouped by owner and
-- currency alone, with the bands and the high-value deals counted beside the sums, the
-- groups come in this index's order, and SQLite sums them as it reads, without sorting.
create index opportunity_open_owners on opportunity (workspace_id, owner_id, currency, amount, probability, health_score, health_chain) where status = 'open';

-- Each deal's creation by its id, covered (PRODUCT.md §8; #4). postgres flavour; the sqlite
-- file makes the same change.
--
-- The cycle report reads the won closes of its period from the history and, for each, when
-- its deal was created. Through the primary key SQLite found each deal's row and read it
-- from the table: over two years at a million deals some 110,000 reads of rows that hold
-- every column of a deal, 1.0-1.2 s. This index answers the creation (and the status) from
-- the index alone: 0.58 s. PostgreSQL may read it index-only as well.
create index opportunity_created on opportunity (workspace_id, opportunity_id, created_at, status);

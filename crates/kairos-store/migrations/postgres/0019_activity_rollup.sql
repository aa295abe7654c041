-- Activities on deals counted per day and deal owner (PRODUCT.md §8; #4). postgres flavour;
-- the sqlite file makes the same change.
--
-- The team leaderboard counts the activities of its period on each owner's deals. For the
-- whole workspace over two years at a million deals that is six million activities, each
-- joined to its deal: 4.6 s for the fastest hand-written query on SQLite, 3.5 s on
-- PostgreSQL. This table holds the same counts per local day (UTC+8, as every rollup cuts
-- days) and the deal's current owner, so the whole workspace's leaderboard sums some
-- hundred thousand rows.
--
-- An activity logged on a deal writes a row for the deal's owner (`source` = the activity's
-- id); a deal that changes owner writes its activities' counts away from the old owner and
-- to the new one (`source` = the deal, its new version and the side). Rows are never in
-- conflict between writers; the `activity_rollup` job folds them into one row per key
-- (`source` = ''). A read sums both, so it is exact whether or not the job has run.
create table activity_day (
    workspace_id text not null,
    -- YYYY-MM-DD, local
    day text not null,
    -- the deal's owner
    owner_id text not null,
    -- '' for the folded row of the key; otherwise what wrote it
    source text not null,
    -- negative for counts moved away
    activities bigint not null,
    primary key (workspace_id, day, owner_id, source)
);
create index activity_day_pending on activity_day (workspace_id, source) where source <> '';

-- The activities so far, folded.
insert into activity_day (workspace_id, day, owner_id, source, activities)
select a.workspace_id, to_char((a.occurred_at at time zone 'UTC') + interval '480 minutes', 'YYYY-MM-DD'), o.owner_id, '', count(*)
from activity as a
join opportunity as o on o.workspace_id = a.workspace_id and o.opportunity_id = a.opportunity_id
group by 1, 2, 3;

analyze activity_day;

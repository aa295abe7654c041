-- the keys of the tasks and notices a scan made for a deal at risk (its cadence task, stale
-- alert, dwell notice…), kept on its risk row so that the next scan offers only events that
-- are new instead of some 100,000 known ones each time; the unique keys on task and
-- notification stay the guarantee, this only spares the work (#7: 100,000 open deals in 5 s).
-- sqlite flavour; the other file adds the same column.
alter table opportunity_risk add column event_keys text;

-- Each deal's own movement categories over a period, kept beside its row (PRODUCT.md §8; #4).
-- sqlite flavour; the postgres file makes the same change.
--
-- Movement of one calendar period sums its deals' rows per category and currency. Worked out
-- per row in the query and grouped, this year at a million deals (723,779 rows) took 1.0-1.1 s
-- on SQLite, most of it sorting the rows into their groups. The categories that do not depend
-- on the sales processes are a function of the row: kept as a column, with an index in the
-- order of the groups, the sums stream without a sort (183 ms for the same rows). It is a plain
-- column, kept by the write path (`deal_period_changes::write`), because SQLite does not use an
-- index as covering when the query reads a generated column (docs/benchmarks.md).
--
-- `moved` is a bit mask, by the rules of App::movement: 1 new (no state before the period,
-- open after it); 2 won or 4 lost (closed by the end, lost counting invalid, and open or not
-- yet there before); for a deal open at both ends 512, plus 8 pushed out or 16 pulled in (its
-- expected close later or earlier) and 32 value up or 64 value down. Advanced and regressed
-- compare the stages' positions, which the processes' settings decide: the report works them
-- out per pair of stages, which the index groups by too. The same expression is
-- `deal_period_changes::MOVED`.
alter table deal_period_change add column moved integer not null default 0;

update deal_period_change set moved = case
    when was_status is null then case when coalesce(status, 'open') = 'open' then 1 when status = 'won' then 2 else 4 end
    when was_status <> 'open' then 0
    when coalesce(status, 'open') <> 'open' then case when status = 'won' then 2 else 4 end
    else 512
        + case when close_date > was_close_date then 8 when close_date < was_close_date then 16 else 0 end
        + case when amount > coalesce(was_amount, 0) then 32 when amount < coalesce(was_amount, 0) then 64 else 0 end
end;

create index deal_period_change_moved on deal_period_change (workspace_id, span, period, moved, currency, was_stage_id, stage_id, amount, was_amount);

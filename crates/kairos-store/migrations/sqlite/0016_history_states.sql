-- Each history row carries the deal's replayable state before and after it (PRODUCT.md §8;
-- #4). sqlite flavour; the postgres file makes the same change.
--
-- movement, trend and forecast accuracy rebuild the pipeline as it stood on past dates. They
-- read every event of every deal and replayed it in the application: 14 to 30 s at 1,000,000
-- deals. With the state after each event (stage, status, expected close; amount, currency
-- and probability were already there) and the state before it (was_*, null on a deal's
-- first event), the pipeline at any instant is a sum in SQL: each event adds its after-state
-- when that is open and takes away its before-state when that was open.
alter table opportunity_history add column stage_id text;
alter table opportunity_history add column status text;
alter table opportunity_history add column close_date text;
alter table opportunity_history add column was_stage_id text;
alter table opportunity_history add column was_status text;
alter table opportunity_history add column was_amount integer;
alter table opportunity_history add column was_currency text;
alter table opportunity_history add column was_probability integer;
alter table opportunity_history add column was_close_date text;

-- The past rows' states, by the rules the replay used: the stage and status are the last
-- ones an event gave (status open before any), the expected close is the last change's new
-- value, or before any change the first change's old value, or without changes the deal's
-- expected close today.
create temporary table history_state (
    workspace_id text not null,
    history_id text not null,
    stage_id text,
    status text,
    close_date text,
    was_stage_id text,
    was_status text,
    was_amount integer,
    was_currency text,
    was_probability integer,
    was_close_date text,
    primary key (workspace_id, history_id)
);
insert into history_state
with runs as (
    select h.workspace_id, h.history_id, h.opportunity_id, h.at, h.to_stage_id, h.to_status, h.new_value, h.amount, h.currency, h.probability,
        count(h.to_stage_id) over upto as stage_run,
        count(h.to_status) over upto as status_run,
        sum(case when h.field = 'expected_close_date' then 1 else 0 end) over upto as close_run,
        first_value(case when h.field = 'expected_close_date' then coalesce(h.old_value, '') end)
            over (partition by h.workspace_id, h.opportunity_id order by case when h.field = 'expected_close_date' then 0 else 1 end, h.at, h.history_id) as first_old_close
    from opportunity_history h
    window upto as (partition by h.workspace_id, h.opportunity_id order by h.at, h.history_id rows between unbounded preceding and current row)
),
states as (
    select r.workspace_id, r.history_id, r.opportunity_id, r.at, r.amount, r.currency, r.probability,
        first_value(r.to_stage_id) over (partition by r.workspace_id, r.opportunity_id, r.stage_run order by r.at, r.history_id) as stage_id,
        coalesce(first_value(r.to_status) over (partition by r.workspace_id, r.opportunity_id, r.status_run order by r.at, r.history_id), 'open') as status,
        case
            when r.close_run > 0 then nullif(first_value(r.new_value) over (partition by r.workspace_id, r.opportunity_id, r.close_run order by r.at, r.history_id), '')
            when r.first_old_close is not null then nullif(r.first_old_close, '')
            else (select o.expected_close_date from opportunity o where o.workspace_id = r.workspace_id and o.opportunity_id = r.opportunity_id)
        end as close_date
    from runs r
)
select s.workspace_id, s.history_id, s.stage_id, s.status, s.close_date,
    lag(s.stage_id) over prior, lag(s.status) over prior, lag(s.amount) over prior, lag(s.currency) over prior, lag(s.probability) over prior, lag(s.close_date) over prior
from states s
window prior as (partition by s.workspace_id, s.opportunity_id order by s.at, s.history_id);

update opportunity_history set
    stage_id = s.stage_id, status = s.status, close_date = s.close_date,
    was_stage_id = s.was_stage_id, was_status = s.was_status, was_amount = s.was_amount, was_currency = s.was_currency,
    was_probability = s.was_probability, was_close_date = s.was_close_date
from history_state s
where opportunity_history.workspace_id = s.workspace_id and opportunity_history.history_id = s.history_id;
drop table history_state;

-- The pipeline's changes up to an instant, read from these indexes alone: what each event
-- made open, and what it took away.
create index opportunity_history_open_after on opportunity_history (workspace_id, at, stage_id, currency, amount, probability, close_date) where status = 'open';
create index opportunity_history_open_before on opportunity_history (workspace_id, at, was_stage_id, was_currency, was_amount, was_probability, was_close_date) where was_status = 'open';

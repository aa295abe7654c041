-- support requests (跨部门协作, PRODUCT.md §6): a deal's owner asks presales, customer
-- success, finance or legal for help; they accept or reject within a deadline, finish, and
-- both sides rate the collaboration. sqlite flavour; the postgres file defines the same
-- tables and columns.
create table support_request (
    workspace_id text not null references workspace (workspace_id),
    support_request_id text not null,
    opportunity_id text not null,
    -- presales | customer_success | finance | legal
    team text not null,
    kind text not null,
    description text not null,
    expected_output text,
    due_on text,
    requester_id text not null,
    -- a named supporter, or anyone of the team when null
    assignee_id text,
    -- open | accepted | rejected | done | cancelled
    status text not null,
    accept_by text not null,
    responded_at text,
    responder_id text,
    reject_reason text,
    done_at text,
    done_note text,
    requester_rating integer,
    requester_comment text,
    supporter_rating integer,
    supporter_comment text,
    -- when the requester's manager was told that nobody answered in time
    overdue_notified_at text,
    -- manual | priority (opened when the deal became a priority deal)
    origin text not null,
    -- one automatic request per deal and cause
    origin_key text,
    created_at text not null,
    updated_at text not null,
    version integer not null default 1,
    primary key (workspace_id, support_request_id)
);
create unique index support_request_origin on support_request (workspace_id, origin_key);
create index support_request_opportunity on support_request (workspace_id, opportunity_id);
create index support_request_team on support_request (workspace_id, team, status);
create index support_request_requester on support_request (workspace_id, requester_id, created_at);
-- the scanner's question: which open requests are past their answer deadline
create index support_request_unanswered on support_request (workspace_id, accept_by) where status = 'open';

-- saved views (PRODUCT.md §10): a person's named filters of a list page (the opportunity
-- list, …), kept as the query string the page was showing. sqlite flavour; the postgres
-- file defines the same table.
create table saved_view (
    workspace_id text not null references workspace (workspace_id),
    view_id text not null,
    user_id text not null,
    -- which list the view filters: opportunities | accounts | leads
    list text not null,
    name text not null,
    query text not null,
    created_at text not null,
    primary key (workspace_id, view_id),
    unique (workspace_id, user_id, list, name)
);

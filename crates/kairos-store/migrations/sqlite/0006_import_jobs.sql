-- lead imports started from the browser or with POST /api/v1/lead-imports run in the
-- background; this row is how the person who started one follows it (rows done, then the
-- report), from whichever instance answers. sqlite flavour.
create table import_job (
    workspace_id text not null references workspace (workspace_id),
    job_id text not null,
    created_by text not null,
    kind text not null,
    file_name text not null,
    status text not null,
    rows_done integer not null,
    rows_estimated integer,
    report text,
    error text,
    created_at text not null,
    -- the running instance touches the row every second or so: a running job whose row
    -- stopped changing lost its instance (its transaction rolled back; nothing imported).
    updated_at text not null,
    finished_at text,
    primary key (workspace_id, job_id)
);
create index import_job_creator on import_job (workspace_id, created_by, created_at);

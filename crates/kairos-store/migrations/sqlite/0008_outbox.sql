-- the outbox (PRODUCT.md §6, §10): webhook endpoints an admin set up (chat group robots and
-- signed generic webhooks), the deliveries written in the same transaction as the event
-- that causes them, and each person's e-mail preferences. sqlite flavour; the postgres file
-- defines the same tables and columns.

-- {"email": bool, "email_muted": [kind, …]}; missing keys take the defaults (e-mail on).
alter table app_user add column notification_prefs text not null default '{}';

create table webhook_endpoint (
    workspace_id text not null references workspace (workspace_id),
    endpoint_id text not null,
    name text not null,
    -- generic | wecom | dingtalk | feishu
    kind text not null,
    url text not null,
    -- the signing secret; never sent back by the API, never logged
    secret text,
    -- JSON array of subscribed events (opportunity.won, notification.deal_stale, …)
    events text not null,
    active integer not null default 1,
    created_at text not null,
    updated_at text not null,
    version integer not null default 1,
    primary key (workspace_id, endpoint_id)
);

create table delivery (
    workspace_id text not null references workspace (workspace_id),
    delivery_id text not null,
    -- email | webhook
    channel text not null,
    endpoint_id text,
    user_id text,
    -- the address or URL it went to when it was written (for people reading failures)
    recipient text not null,
    event text not null,
    subject text not null,
    -- the e-mail text, or the JSON body before signing
    body text not null,
    notification_id text,
    -- pending | sent | failed
    status text not null,
    attempts integer not null default 0,
    -- when it may be tried next; claiming a delivery moves this to the end of the claim's
    -- lease, so a worker that dies leaves it to be claimed again once the lease is over
    next_attempt_at text not null,
    leased_by text,
    last_error text,
    created_at text not null,
    sent_at text,
    primary key (workspace_id, delivery_id)
);
-- the workers of every workspace look for due deliveries, so this one index is not led by
-- the workspace; it holds only what is still to send
create index delivery_due on delivery (next_attempt_at) where status = 'pending';
create index delivery_recent on delivery (workspace_id, created_at);

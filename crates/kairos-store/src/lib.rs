//! Persistence for Kairos on SQLite and PostgreSQL.
//!
//! One code path serves both databases: statements are written once, either as SQL with
//! `$n` placeholders (which both sqlx drivers accept) or built with sea-query and rendered
//! for the backend at hand, and rows decode through one `FromRow` type per table. The
//! backend is chosen once, from the URL, when the [`Store`] connects. This is why no
//! business rule or query is ever written twice.
//!
//! Store functions take a [`Conn`] (`get_*` fails when absent, `find_*` answers an
//! `Option`, `list_*`, `insert_*`, `update_*`), so the app layer decides which of them share
//! one transaction.

pub mod db;
pub mod error;
mod inline;
pub mod page;
mod row;

pub mod account;
pub mod activity;
pub mod audit;
pub mod bulk;
pub mod auth;
pub mod contact;
pub mod followup;
pub mod idempotency;
pub mod import_job;
pub mod job;
pub mod lead;
pub mod lead_form;
pub mod notification;
pub mod opportunity;
pub mod pipeline;
pub mod pipeline_rollup;
pub mod rollup;
pub mod activity_rollup;
pub mod stage_entry_rollup;
pub mod passage_buckets;
pub mod closed_deal_sums;
pub mod deal_period_changes;
pub mod process;
pub mod saved_view;
pub mod reports;
pub mod settings;
pub mod approval;
pub mod org_unit;
pub mod outbox;
pub mod scope;
pub mod target;
pub mod support;
pub mod task;
pub mod user;
pub mod workspace;

pub use db::{Backend, Conn, LookupConn, PlannedWithItsValues, ReadConn, Sql, Store, StoreOptions, Tx, sql};
pub use inline::InlineConn;
pub use error::StoreError;

//! Kairos use-cases, named after the verbs of PRODUCT.md.
//!
//! Each use-case receives the [`Actor`] (who is asking, with their data scope), parses its
//! input into domain values (collecting every field error), loads what it needs through
//! the store, asks the domain, and writes in one transaction together with the audit rows.
//! Authorisation lives here, not in the HTTP layer, so every interface (API, web pages,
//! CLI, import, jobs) gets the same rules.

pub mod accounts;
pub mod activities;
pub mod actor;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod contacts;
pub mod demo;
pub mod documents;
pub mod error;
pub mod followup;
pub mod idempotency;
pub mod input;
pub mod jobs;
pub mod lead_capture;
pub mod lead_convert;
pub mod lead_import;
pub mod lead_import_jobs;
pub mod lead_reports;
pub mod lead_settings;
pub mod leads;
pub mod listing;
pub mod notifications;
pub mod opportunities;
pub mod org_units;
pub mod outbox;
mod ownership;
pub mod password;
pub mod pipeline;
pub mod processes;
pub mod report_amounts;
pub mod reports;
pub mod saved_views;
pub mod stage_engine;
pub mod support;
pub mod targets;
pub mod tasks;
pub mod users;
pub mod workspace_settings;
pub mod workspaces;

mod app;

pub use actor::Actor;
pub use app::{App, AppConfig, Clock, SystemClock};
pub use error::{AppError, AppResult};
pub use kairos_domain as domain;
pub use kairos_store as store;

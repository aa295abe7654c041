//! The black-box suite: the real application on port 0, a fresh database of the kind
//! `KAIROS_TEST_DB` names, and HTTP. One test binary, so it is compiled once.

mod accounts;
mod auth;
mod cli;
mod contacts;
mod demo;
mod errors;
mod fixture;
mod followup;
mod identity;
mod lead_import;
mod leads;
mod opportunities;
mod outbox;
mod processes;
mod reports;
mod saved_views;
mod schema;
mod scopes;
mod support;
mod web;
mod web_contacts;
mod web_settings;

//! The pure core of Kairos: business types and rules.
//!
//! Nothing here performs I/O, reads the clock or draws random numbers: time and ids are
//! passed in by the caller, so every rule can be tested with a fixed clock and a table of
//! cases. The test command checks that this crate depends on no database, network or async
//! runtime crate.

pub mod account;
pub mod activity;
pub mod analytics;
pub mod audit;
pub mod calendar;
pub mod cohort;
pub mod dwell_histogram;
pub mod contact;
pub mod followup;
pub mod gate;
pub mod health;
pub mod ids;
pub mod identity;
pub mod lead;
pub mod lead_assignment;
pub mod lead_form;
pub mod lead_import;
pub mod lead_rules;
pub mod lead_scoring;
pub mod notice;
pub mod notification;
pub mod numbering;
pub mod opportunity;
pub mod org;
pub mod outbox;
pub mod process;
pub mod replay;
pub mod support;
pub mod text;
pub mod validation;
pub mod workspace;

pub use validation::{FieldError, FieldErrors, Problem};

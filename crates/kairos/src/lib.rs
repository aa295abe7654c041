//! The `kairos` binary's library half: configuration, start-up and the command line, so
//! that the black-box tests start exactly what `kairos serve` starts.

pub mod cli;
pub mod config;
mod import_report;
pub mod startup;

pub use config::Settings;
pub use startup::Application;

//! The application layer: the jobs that hold a store and a client together (snapshot, check, the
//! nightly run, the demo, report gathering, import, the run lock), and the one error type whose
//! mapping decides every exit code.

pub mod baseline;
pub mod check;
pub mod config;
pub mod demo;
pub mod error;
pub mod import;
pub mod lock;
pub mod nightly;
pub mod notify;
pub mod organization;
pub mod output;
pub mod report;
pub mod restore;
pub mod runtime;
pub mod snapshot;
pub mod verify;

pub use error::{Error, ExitCode, Result};

//! tcss-audit: a tamper-evident history of the TCSS scheduled image-registry scan task, its drift,
//! and its compliance with policies written in TOML.

pub mod checker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod diff;
pub mod error;
pub mod nightly;
pub mod normalize;
pub mod policy;
pub mod report;
pub mod runlock;
pub mod sim;
pub mod snapshotter;
pub mod store;
pub mod tencent;
pub mod when;

pub use error::{Error, ExitCode};

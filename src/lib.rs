//! tcss-audit: a tamper-evident history of the TCSS scheduled image-registry scan task, its drift,
//! and its compliance with policies written in TOML.
//!
//! The layers, each using only those below it (`tests/it/layers.rs` holds the code to that):
//! - [`cli`]: flags resolved into validated settings, then one call into the application layer;
//! - [`app`]: the jobs, the only code that holds a store and a client together;
//! - [`notify`]: the alert destinations, one file each, over [`net`];
//! - [`report`] and [`sim`]: reports built from what the jobs gathered, and the stand-in endpoint;
//! - [`tencent`], [`store`], [`policy`]: the API, the history, the rules;
//! - [`net`]: below every client: trust, proxy, where plain HTTP may go, bounded answers;
//! - [`task`]: the task's own notions (its fields, normalization, diff, moments, the clock).
//!   [`trust`] beside it: keys, signatures and witnessed heads.

pub mod app;
pub mod cli;
pub mod net;
pub mod notify;
pub mod policy;
pub mod report;
pub mod sim;
pub mod store;
pub mod task;
pub mod tencent;
pub mod trust;

pub use app::{Error, ExitCode};

// The shared test helpers name the library `tcss_audit`, as the integration tests do.
#[cfg(test)]
extern crate self as tcss_audit;

#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_support;

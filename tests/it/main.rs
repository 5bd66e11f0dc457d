//! Integration tests: the real `audit` binary, a real SQLite file, the real stand-in on loopback.

// The limits on length and nesting hold for the code in src/; a test that tells one story end to
// end (a history of nights, a proxy's relay threads) reads best whole.
#![allow(clippy::too_many_lines, clippy::excessive_nesting)]

#[path = "../common/mod.rs"]
mod common;

mod check;
mod defects;
mod deploy;
mod docs;
mod drift;
mod faults;
mod history;
mod identity;
mod layers;
mod line;
mod notify;
mod platform;
mod report;
mod restore;
mod run;
mod schemas;
mod sim;
mod snapshot;
mod sql;
mod storage;
mod support;
mod tls;
mod trust;

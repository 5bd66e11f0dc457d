//! Integration tests: the real `audit` binary, a real SQLite file, the real stand-in on loopback.

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

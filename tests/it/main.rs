//! Integration tests: the real `audit` binary, a real SQLite file, the real stand-in on loopback.

mod drift;
mod history;
mod report;
mod sim;
mod snapshot;
mod support;

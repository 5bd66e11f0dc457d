//! `audit policy validate` and `audit policy test`.

use super::Context;
use crate::{Error, ExitCode};

#[derive(Debug, clap::Subcommand)]
pub enum Command {}

pub fn run(cmd: &Command, _ctx: &Context) -> Result<ExitCode, Error> {
    match *cmd {}
}

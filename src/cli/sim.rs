//! `audit sim`: run the stand-in endpoint.

use super::Context;
use crate::{Error, ExitCode};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args, _ctx: &Context) -> Result<ExitCode, Error> {
    Err(Error::Usage("audit sim is not built yet".into()))
}

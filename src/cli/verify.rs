//! `audit verify`: check the hash chain of the whole history.

use super::{Context, TextOrJson};
use crate::app::{Error, ExitCode};
use crate::report::history::{verify_json, verify_text};
use crate::store::OpenMode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let store = ctx.open_store(OpenMode::Existing)?;
    let report = store.verify()?;
    ctx.emit(|w| match args.format {
        TextOrJson::Text => verify_text(&report, w),
        TextOrJson::Json => verify_json(&report, w),
    })?;
    Ok(if report.ok() {
        ExitCode::Ok
    } else {
        ExitCode::Wanting
    })
}

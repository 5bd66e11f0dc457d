//! `audit verify`: check the hash chain of the whole history, the tables derived from it, the
//! signed checkpoints, and the heads that witnesses name.

use std::path::PathBuf;

use super::{Context, TextOrJson};
use crate::app::verify::{VerifyRequest, verify};
use crate::app::{Error, ExitCode};
use crate::report::history::{verify_json, verify_text};
use crate::store::OpenMode;
use crate::trust::PublicKey;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without options: every snapshot's chain link, raw answer and config is \
re-hashed, and the change events and first-seen fields are derived again from them and compared \
with what is stored. That finds an edit that did not recompute the chain, and any edit of the \
derived tables; a history rewritten and re-chained as a whole, or cut at its newest end, needs \
a witness or the public key. Exit 0 when everything holds, 1 when anything does not, 2 when a \
witness or key file cannot be used, 4 when the database cannot be read."
)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// A filed report (JSON or Markdown), the JSON of an earlier `audit verify`, or a `.sig`
    /// beside a report: the head it names must still be in the history unchanged (repeatable)
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub witness: Vec<PathBuf>,
    /// Check every signed checkpoint (and each witness's `.sig`) with this public key (the
    /// `.pub` line from `audit key generate`, or a line of an allowed_signers file)
    #[arg(long, value_name = "FILE.pub")]
    pub public_key: Option<PathBuf>,
    /// Snapshots recorded after the newest verified signed checkpoint are a failure
    #[arg(long, requires = "public_key")]
    pub require_signed: bool,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let key = args
        .public_key
        .as_deref()
        .map(PublicKey::load)
        .transpose()?;
    let store = ctx.open_store(OpenMode::Existing)?;
    let outcome = verify(
        &store,
        &VerifyRequest {
            witnesses: &args.witness,
            public_key: key.as_ref(),
            require_signed: args.require_signed,
        },
    )?;
    ctx.emit(|w| match args.format {
        TextOrJson::Text => verify_text(&outcome, w),
        TextOrJson::Json => verify_json(&outcome, w),
    })?;
    Ok(if outcome.ok() {
        ExitCode::Ok
    } else {
        ExitCode::Wanting
    })
}

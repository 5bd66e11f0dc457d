//! `audit key generate`: the Ed25519 key that signs checkpoints and reports.

use std::path::PathBuf;

use super::Context;
use crate::app::{Error, ExitCode};
use crate::trust::SigningKey;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a new Ed25519 private key (OpenSSH format, mode 0600) to FILE and its public key to
    /// FILE.pub, and print the public key
    #[command(
        after_help = "Keep the private key apart from the database: whoever can write the \
database must not be able to read the key (a systemd credential, a Kubernetes secret mounted \
read-only). Give the public key to auditors: `audit verify --public-key FILE.pub`, or in an \
allowed_signers file as `tcss-audit ssh-ed25519 AAAA...` for `ssh-keygen -Y verify`. \
Neither file is overwritten."
    )]
    Generate {
        /// Where the private key goes (refused if it or FILE.pub exists)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Copy the signer state a run wrote (NEW) over the kept one (--to) only when it extends it:
    /// the same key, its place in the line not behind. For a service manager's step after the
    /// run, as the user the database's writers are not (exit 1: refused, nothing copied)
    KeepState {
        /// The state the run wrote (its `signer_state`)
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// The state kept where the database's writers cannot write
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

pub fn run(cmd: &Command, ctx: &Context) -> Result<ExitCode, Error> {
    match cmd {
        Command::Generate { out } => {
            let key = SigningKey::generate();
            let public = key.write_new(out)?;
            ctx.emit(|w| writeln!(w, "{}", key.public_key().openssh()))?;
            if !ctx.quiet() {
                eprintln!(
                    "wrote the private key to {} (mode 0600) and the public key to {}",
                    out.display(),
                    public.display()
                );
            }
            Ok(ExitCode::Ok)
        }
        Command::KeepState { new, to } => keep_state(new, to, ctx),
    }
}

fn keep_state(
    new: &std::path::Path,
    to: &std::path::Path,
    ctx: &Context,
) -> Result<ExitCode, Error> {
    use crate::store::{read_state, write_state};
    let shown =
        |p: &std::path::Path| crate::task::text::visible(&p.display().to_string()).into_owned();
    let Some(fresh) = read_state(new).map_err(Error::Input)? else {
        if !ctx.quiet() {
            eprintln!(
                "{}: no state was written; {} is kept",
                shown(new),
                shown(to)
            );
        }
        return Ok(ExitCode::Ok);
    };
    let kept = read_state(to).map_err(Error::Input)?;
    if !fresh.extends(kept.as_ref()) {
        eprintln!(
            "error: {} does not extend {} (another key, or a place behind it): the kept state is left as it was",
            shown(new),
            shown(to)
        );
        return Ok(ExitCode::Wanting);
    }
    write_state(to, &fresh).map_err(|source| Error::Output {
        what: shown(to),
        source,
    })?;
    if !ctx.quiet() {
        eprintln!(
            "kept checkpoint {} at snapshot {} in {}",
            fresh.seq,
            fresh.snapshot,
            shown(to)
        );
    }
    Ok(ExitCode::Ok)
}

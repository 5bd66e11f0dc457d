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
    }
}

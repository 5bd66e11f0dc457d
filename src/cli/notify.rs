//! `audit notify test`: one test message to each destination of the config file.

use super::Context;
use crate::app::{Error, ExitCode, notify};
use crate::task::text::visible;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send one test message to each [[notify]] destination of the config file
    Test {
        /// Also trust the CA certificates in this PEM file (a TLS-inspecting proxy, a private
        /// destination), beside the platform's store and the bundled web roots [default: the
        /// config's ca_file]
        #[arg(long, value_name = "FILE", env = "TCSS_AUDIT_CA_FILE")]
        ca_file: Option<std::path::PathBuf>,
    },
}

pub fn run(cmd: &Command, ctx: &Context) -> Result<ExitCode, Error> {
    match cmd {
        Command::Test { ca_file } => {
            if ctx.settings.notify.is_empty() {
                return Err(Error::Usage(
                    "the config file names no [[notify]] destination (give one with --config)"
                        .into(),
                ));
            }
            let env = |name: &str| std::env::var(name).ok();
            let net = ctx.settings.client.net(ca_file.clone());
            let done = notify::test_all(&ctx.settings.notify, ctx.now(), ctx.tz, &env, &net)?;
            let mut code = ExitCode::Ok;
            ctx.emit(|w| {
                for d in &done {
                    match &d.failed {
                        None => writeln!(w, "{}: delivered", visible(&d.destination))?,
                        Some(why) => {
                            code = ExitCode::Remote;
                            writeln!(
                                w,
                                "{}: NOT delivered: {}",
                                visible(&d.destination),
                                visible(why)
                            )?
                        }
                    }
                }
                Ok(())
            })?;
            Ok(code)
        }
    }
}

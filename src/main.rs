//! The `audit` binary: parse arguments, start logging, run, exit with the README's exit code.

use clap::Parser;
use tcss_audit::ExitCode;
use tcss_audit::cli::{self, Cli};
use tcss_audit::task::text::visible;

/// mimalloc rather than the system allocator: an import or a year's report makes and frees
/// millions of small values (parsed answers, configs, rows), often on another thread than the
/// one that made them, where glibc's allocator spent a large share of the time. It is built
/// without transparent huge pages (see Cargo.toml), which doubled the peak memory of a verify.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return std::process::ExitCode::from(code);
        }
    };
    let level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TCSS_AUDIT_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(format!("tcss_audit={level}"))
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(cli.global.color.applies(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    // A panic is a bug: the hook has printed where; the exit code says so (5), not 101.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cli::run(cli)));
    let Ok(result) = outcome else {
        eprintln!(
            "error: internal error: the command stopped unexpectedly; this is a bug: please report it"
        );
        return ExitCode::Internal.into();
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            // The message may carry text from outside (an API's, a file's): each of its lines is
            // shown with control characters escaped, so none can forge a line or a sequence.
            let text = e.to_string();
            let mut lines = text.lines();
            eprintln!("error: {}", visible(lines.next().unwrap_or_default()));
            for line in lines {
                eprintln!("{}", visible(line));
            }
            e.exit_code().into()
        }
    }
}

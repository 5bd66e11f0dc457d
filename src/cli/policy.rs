//! `audit policy validate` and `audit policy test`.

use std::io::Write;
use std::path::PathBuf;

use super::Context;
use crate::app::{Error, ExitCode};
use crate::policy::{self, Loaded, PolicyError};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Load policy files and report every error and warning (exit 2 on any error)
    Validate(Paths),
    /// Run the [[test]] cases of policy files (exit 1 on any mismatch, 2 on load errors)
    Test(Paths),
}

#[derive(Debug, clap::Args)]
pub struct Paths {
    /// Policy files or directories (every *.toml in it) [default: the config file's policies,
    /// else the built-in policies]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// The policies named, else the config file's (what `check` and `run` would use), else the
/// shipped set.
fn load(paths: &[PathBuf], configured: &[PathBuf]) -> Result<Loaded, PolicyError> {
    let paths = if paths.is_empty() { configured } else { paths };
    if paths.is_empty() {
        Ok(policy::builtin())
    } else {
        policy::load_paths(paths)
    }
}

fn output(e: std::io::Error) -> Error {
    Error::Output {
        what: "policy results to stdout".into(),
        source: e,
    }
}

pub fn run(cmd: &Command, ctx: &Context) -> Result<ExitCode, Error> {
    let paths = match cmd {
        Command::Validate(p) | Command::Test(p) => &p.paths,
    };
    let loaded = load(paths, &ctx.settings.policies)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::Validate(_) => {
            for w in loaded.set.waiver_warnings(ctx.clock.now()) {
                eprintln!("{w}");
            }
            let set = &loaded.set;
            for (i, f) in set.files().iter().enumerate() {
                let count =
                    |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
                writeln!(
                    out,
                    "ok {} ({}): {}, {}, {}",
                    f.file,
                    f.name,
                    count(set.rules().iter().filter(|r| r.file == i).count(), "rule"),
                    count(
                        set.waivers().iter().filter(|w| w.file == i).count(),
                        "waiver"
                    ),
                    count(set.tests().iter().filter(|t| t.file == i).count(), "test"),
                )
                .map_err(output)?;
            }
            Ok(ExitCode::Ok)
        }
        Command::Test(_) => {
            let report = policy::run_tests(&loaded.set);
            for o in &report.outcomes {
                if o.passed() {
                    writeln!(out, "ok       {}: {}", o.location, o.name).map_err(output)?;
                    continue;
                }
                writeln!(out, "MISMATCH {}: {}", o.location, o.name).map_err(output)?;
                for m in &o.mismatches {
                    writeln!(
                        out,
                        "    {}: expected {}, got {}: {}",
                        m.rule, m.expected, m.got, m.message
                    )
                    .map_err(output)?;
                }
            }
            writeln!(
                out,
                "{} test{}: {} passed, {} mismatched",
                report.outcomes.len(),
                if report.outcomes.len() == 1 { "" } else { "s" },
                report.passed(),
                report.failed()
            )
            .map_err(output)?;
            Ok(if report.all_passed() {
                ExitCode::Ok
            } else {
                ExitCode::Wanting
            })
        }
    }
}

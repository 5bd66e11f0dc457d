//! The command line: global flags, the subcommands, and the context they run in.
//! Subcommands hold no SQL, HTTP or rendering: they call the library and pick a renderer.

pub mod policy;
pub mod sim;

use std::path::PathBuf;
use std::sync::Arc;

use chrono_tz::Tz;
use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::Clock;
use crate::{Error, ExitCode};

/// Keep a tamper-evident history of the TCSS scheduled image-registry scan task, show its drift,
/// check it against policies, and write compliance reports.
#[derive(Debug, Parser)]
#[command(name = "audit", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// The SQLite history file [default: the user's data directory, tcss-audit/audit.db]
    #[arg(long, global = true, env = "TCSS_AUDIT_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// A config file naming targets and defaults
    #[arg(long, global = true, env = "TCSS_AUDIT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More detail on stderr (-v, -vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour on stdout
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Show and read days in this IANA zone instead of UTC (e.g. Asia/Shanghai)
    #[arg(long, global = true, value_name = "ZONE")]
    pub tz: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check policy files: `validate` reports every error, `test` runs their [[test]] cases
    #[command(subcommand)]
    Policy(policy::Command),
    /// Run a local stand-in for the TCSS endpoint
    Sim(sim::Args),
}

/// What every subcommand may use: the clock, the display zone, colour, the config file's settings.
pub struct Context {
    pub clock: Arc<dyn Clock>,
    pub tz: Tz,
    /// Whether stdout gets colour.
    pub color: bool,
    pub verbose: u8,
    pub global: GlobalArgs,
}

/// Runs the parsed command line and returns the exit code.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    let clock = crate::clock::from_env().map_err(Error::Usage)?;
    let tz = match &cli.global.tz {
        Some(name) => crate::when::parse_zone(name).map_err(Error::Usage)?,
        None => Tz::UTC,
    };
    let color = match cli.global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::IsTerminal::is_terminal(&std::io::stdout())
        }
    };
    let ctx = Context {
        clock,
        tz,
        color,
        verbose: cli.global.verbose,
        global: cli.global,
    };
    match &cli.command {
        Command::Policy(cmd) => policy::run(cmd, &ctx),
        Command::Sim(args) => sim::run(args, &ctx),
    }
}

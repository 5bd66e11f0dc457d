//! The command line: global flags, the subcommands, and the context they run in.
//! Subcommands hold no SQL, HTTP or rendering: they turn flags into settings, make one call into
//! the application layer (or the store, for the reading commands), and pick a renderer.

pub mod baseline;
pub mod check;
pub mod completions;
pub mod demo;
pub mod diff;
pub mod export;
pub mod history;
pub mod import;
pub mod key;
pub mod log;
pub mod notify;
pub mod policy;
pub mod prune;
pub mod report;
pub mod restore;
pub mod run;
pub mod show;
pub mod sim;
pub mod snapshot;
pub mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use chrono_tz::Tz;
use clap::{Parser, Subcommand, ValueEnum};

use crate::app::config::{Settings, TargetSpec};
use crate::app::{Error, ExitCode};
use crate::store::{OpenMode, Store};
use crate::task::clock::Clock;
use crate::task::when::When;

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
    /// Colour on stdout and stderr (auto: only on a terminal, and not with NO_COLOR set)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Show and read days in this IANA zone instead of UTC (e.g. Asia/Shanghai)
    #[arg(long, global = true, value_name = "ZONE", env = "TCSS_AUDIT_TZ")]
    pub tz: Option<String>,
    /// Sign each new chain head (snapshot, import, run) and run's reports with this Ed25519 key
    /// (OpenSSH format, from `audit key generate`; not readable by other users) [default: the
    /// config's signing_key]
    #[arg(
        long,
        global = true,
        env = "TCSS_AUDIT_SIGNING_KEY",
        value_name = "FILE"
    )]
    pub signing_key: Option<PathBuf>,
    /// Start the signing key's signature line on a history that already has snapshots (a new or
    /// rotated key): the key then vouches for the history as it stands. Recorded in the journal
    /// with --reason and --by; give them before the command (`audit --start-signing --reason
    /// TEXT run`)
    #[arg(long, requires = "reason")]
    pub start_signing: bool,
    /// Why the line starts (with --start-signing)
    #[arg(long, value_name = "TEXT", requires = "start_signing")]
    pub reason: Option<String>,
    /// Who starts it (with --start-signing) [default: the user running the command]
    #[arg(long, value_name = "WHO", requires = "start_signing")]
    pub by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether `stream` gets colour: `always`, `never`, or (`auto`) when it is a terminal and
    /// `NO_COLOR` is not set.
    pub fn applies(self, stream: &impl std::io::IsTerminal) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && stream.is_terminal()
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch the task now and record it: one line per target
    Snapshot(snapshot::Args),
    /// Record saved answers ({"Response":{…}}, the bare object, or tccli's output; - is stdin)
    Import(import::Args),
    /// List snapshots, oldest first
    History(history::Args),
    /// Show the config (or the raw answer) at a moment
    Show(show::Args),
    /// What changed between two moments
    Diff(diff::Args),
    /// Change events over time, newest first
    Log(log::Args),
    /// Evaluate policies on the snapshot at a moment
    Check(check::Args),
    /// The nightly job: snapshot every target, diff, check, write reports
    Run(run::Args),
    /// The whole job end to end on the stand-in, in seconds, with no account
    Demo(demo::Args),
    /// Compliance report for a window
    Report(report::Args),
    /// Approve the config at a moment as a target's baseline; show it and its history
    #[command(subcommand)]
    Baseline(baseline::Command),
    /// Plan putting a drifted task back to its baseline (or a recorded moment); --apply does it
    Restore(restore::Args),
    /// Check the history: the hash chain, the tables derived from it, signed checkpoints, witnesses
    Verify(verify::Args),
    /// Make the Ed25519 key that signs checkpoints and reports
    #[command(subcommand)]
    Key(key::Command),
    /// Check the notification destinations: `test` sends each one a test message
    #[command(subcommand)]
    Notify(notify::Command),
    /// Print a completion script for a shell
    Completions(completions::CompletionsArgs),
    /// Write the man pages (one per subcommand)
    Man(completions::ManArgs),
    /// Write the whole history as JSON lines (a backup `import --jsonl` restores)
    Export(export::Args),
    /// Remove the oldest observations; the chain stays verifiable from a checkpoint
    Prune(prune::Args),
    /// Check policy files: `validate` reports every error, `test` runs their [[test]] cases
    #[command(subcommand)]
    Policy(policy::Command),
    /// Run a local stand-in for the TCSS endpoint
    Sim(sim::Args),
}

/// What every subcommand may use: the clock, the display zone, colour, the config file's settings.
pub struct Context {
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub tz: Tz,
    /// Whether stdout gets colour.
    pub color: crate::report::Color,
    pub verbose: u8,
    pub global: GlobalArgs,
}

/// Runs the parsed command line and returns the exit code.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    let clock = crate::task::clock::from_env().map_err(Error::Usage)?;
    let settings = match &cli.global.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    let tz = match cli.global.tz.as_ref().or(settings.timezone.as_ref()) {
        Some(name) => crate::task::when::parse_zone(name).map_err(Error::Usage)?,
        None => Tz::UTC,
    };
    let color = match cli.global.color.applies(&std::io::stdout()) {
        true => crate::report::Color::Ansi,
        false => crate::report::Color::Plain,
    };
    let ctx = Context {
        clock,
        settings,
        tz,
        color,
        verbose: cli.global.verbose,
        global: cli.global,
    };
    let result = match &cli.command {
        Command::Snapshot(args) => snapshot::run(args, &ctx),
        Command::Import(args) => import::run(args, &ctx),
        Command::History(args) => history::run(args, &ctx),
        Command::Show(args) => show::run(args, &ctx),
        Command::Diff(args) => diff::run(args, &ctx),
        Command::Log(args) => log::run(args, &ctx),
        Command::Check(args) => check::run(args, &ctx),
        Command::Run(args) => run::run(args, &ctx),
        Command::Demo(args) => demo::run(args, &ctx),
        Command::Report(args) => report::run(args, &ctx),
        Command::Baseline(cmd) => baseline::run(cmd, &ctx),
        Command::Restore(args) => restore::run(args, &ctx),
        Command::Verify(args) => verify::run(args, &ctx),
        Command::Key(cmd) => key::run(cmd, &ctx),
        Command::Notify(cmd) => notify::run(cmd, &ctx),
        Command::Completions(args) => completions::completions(args, &ctx),
        Command::Man(args) => completions::man(args, &ctx),
        Command::Export(args) => export::run(args, &ctx),
        Command::Prune(args) => prune::run(args, &ctx),
        Command::Policy(cmd) => policy::run(cmd, &ctx),
        Command::Sim(args) => sim::run(args, &ctx),
    };
    match result {
        // A reader that stops early (`| head`) is not a failure of the command.
        Err(Error::Output { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(ExitCode::Ok)
        }
        other => other,
    }
}

/// Which targets a command reads or writes.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The target (as named in the config file) [default: the only one, or `default`]
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Every target
    #[arg(long, conflicts_with = "target")]
    pub all: bool,
}

/// The target of a command that acts on one (no `--all`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OneTarget {
    /// The target [default: the only one]
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
}

impl OneTarget {
    pub fn selection(&self) -> TargetArgs {
        TargetArgs {
            target: self.target.clone(),
            all: false,
        }
    }
}

/// How requests to the API are made and retried.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Seconds allowed for one request, answer included [default: the config's timeout, else 30]
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Retries of a network error, HTTP 5xx, InternalError or RequestLimitExceeded (backoff
    /// doubles from 0.5 s, with jitter) [default: the config's retries, else 3]
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// No retry starts after this many seconds [default: the config's retry_max_time, else 60]
    #[arg(long, value_name = "SECONDS")]
    pub retry_max_time: Option<u64>,
    /// Read credentials from this profile of the credentials file (~/.tencentcloud/credentials)
    /// instead of the environment
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Also trust the CA certificates in this PEM file (a TLS-inspecting proxy, a private
    /// endpoint), beside the platform's store and the bundled web roots [default: the config's
    /// ca_file]
    #[arg(long, value_name = "FILE", env = "TCSS_AUDIT_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

impl ClientArgs {
    /// Applies `--profile` to the targets about to be fetched.
    pub fn apply(&self, mut targets: Vec<TargetSpec>) -> Vec<TargetSpec> {
        if let Some(p) = &self.profile {
            for t in &mut targets {
                t.credentials.profile = Some(p.clone());
            }
        }
        targets
    }

    /// Flags first, then the config file, then the defaults.
    pub fn options(&self, settings: &Settings) -> crate::tencent::ClientOptions {
        let c = &settings.client;
        crate::tencent::ClientOptions {
            net: crate::net::Settings {
                timeout: std::time::Duration::from_secs(
                    self.timeout.or(c.timeout).unwrap_or(30).max(1),
                ),
                ..c.net(self.ca_file.clone())
            },
            max_attempts: self.retries.or(c.retries).unwrap_or(3).saturating_add(1),
            max_retry_time: std::time::Duration::from_secs(
                self.retry_max_time.or(c.retry_max_time).unwrap_or(60),
            ),
            ..Default::default()
        }
    }
}

/// A stretch of time, either end open.
pub type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `--since` and `--until` for commands that list a stretch of history.
#[derive(Debug, Clone, clap::Args)]
pub struct WindowArgs {
    /// From this moment (a date means its start)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Up to this moment (a date means its end)
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

impl WindowArgs {
    /// Both bounds as instants (either may be open).
    pub fn resolve(&self, store: &Store, target: &str, ctx: &Context) -> Result<Bounds, Error> {
        Ok((
            bound(store, target, self.since.as_deref(), ctx, End::Start)?,
            bound(store, target, self.until.as_deref(), ctx, End::Finish)?,
        ))
    }

    /// Both bounds, when neither names a snapshot (`latest`, an id): the same for every target.
    pub fn instants(&self, ctx: &Context) -> Result<Option<Bounds>, Error> {
        // Some(None): an open end; None: a snapshot, different for each target.
        let end = |text: Option<&str>, end| -> Result<Option<Option<DateTime<Utc>>>, Error> {
            Ok(match text {
                None => Some(None),
                Some(text) => instant(text, ctx, end)?.ok().map(Some),
            })
        };
        let since = end(self.since.as_deref(), End::Start)?;
        let until = end(self.until.as_deref(), End::Finish)?;
        Ok(since.zip(until))
    }
}

/// Text for people or JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

impl Context {
    /// The database file: `--db`, else the config file's `db`, else the user's data directory.
    pub fn db_path(&self) -> PathBuf {
        if let Some(p) = &self.global.db {
            return p.clone();
        }
        if let Some(p) = &self.settings.db {
            return p.clone();
        }
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("tcss-audit")
            .join("audit.db")
    }

    pub fn open_store(&self, mode: OpenMode) -> Result<Store, Error> {
        Ok(Store::open(&self.db_path(), mode)?)
    }

    /// The signing key, if one is given (`--signing-key`, `TCSS_AUDIT_SIGNING_KEY`, the config's
    /// `signing_key`): read and checked before anything is fetched or recorded.
    pub fn signing_key(&self) -> Result<Option<Arc<crate::trust::SigningKey>>, Error> {
        match self
            .global
            .signing_key
            .as_ref()
            .or(self.settings.signing_key.as_ref())
        {
            Some(path) => Ok(Some(Arc::new(crate::trust::SigningKey::load(path)?))),
            None => Ok(None),
        }
    }

    /// The store for a command that records rows: with a signing key, each recording signs the
    /// new head in its own transaction.
    pub fn open_recording_store(&self) -> Result<Store, Error> {
        let key = self.signing_key()?;
        let mut store = self.open_store(OpenMode::Create)?;
        if let Some(key) = key {
            store.sign_checkpoints_with(key);
            store.keep_line(self.line_settings()?);
        }
        Ok(store)
    }

    /// The signature line's settings for a store that signs: `--start-signing` and the
    /// config's `signer_state`.
    pub fn line_settings(&self) -> Result<crate::store::LineSettings, Error> {
        let start = match self.global.start_signing {
            true => Some(crate::store::LineStart {
                reason: crate::app::baseline::checked_text(
                    "--reason",
                    self.global.reason.as_deref().unwrap_or_default(),
                )?,
                by: crate::app::baseline::who(self.global.by.as_deref())?,
                at: self.clock.now(),
            }),
            false => None,
        };
        Ok(crate::store::LineSettings {
            state: self.settings.signer_state.clone(),
            start,
        })
    }

    /// The targets a writing command acts on: they must be named in the config (or be `default`).
    pub fn configured_targets(&self, sel: &TargetArgs) -> Result<Vec<TargetSpec>, Error> {
        self.configured(sel, AllFlag::Taken)
    }

    /// [`Context::configured_targets`] for a command that acts on one target (no `--all`).
    pub fn configured_target(&self, sel: &OneTarget) -> Result<TargetSpec, Error> {
        Ok(self
            .configured(&sel.selection(), AllFlag::NotTaken)?
            .remove(0))
    }

    /// Without a name, the one target the config names; with several, an error listing them
    /// (and `--all` where the command takes it) rather than a guess.
    fn configured(&self, sel: &TargetArgs, all: AllFlag) -> Result<Vec<TargetSpec>, Error> {
        if sel.all {
            return Ok(self.settings.targets.clone());
        }
        match &sel.target {
            Some(name) => self
                .settings
                .target(name)
                .cloned()
                .map(|t| vec![t])
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "target {name:?} is not in {}; known targets: {}",
                        self.settings
                            .file
                            .as_ref()
                            .map(|f| format!("the config file {}", f.display()))
                            .unwrap_or_else(|| "the defaults (no --config given)".into()),
                        self.settings
                            .targets
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }),
            None if self.settings.targets.len() == 1 => Ok(vec![self.settings.targets[0].clone()]),
            None => Err(ambiguous(
                self.settings
                    .targets
                    .iter()
                    .map(|t| t.name.clone())
                    .collect(),
                all,
            )),
        }
    }

    /// [`Context::target_names`] for a command that acts on one target (no `--all`).
    pub fn one_target_name(&self, sel: &OneTarget, store: &Store) -> Result<String, Error> {
        Ok(self
            .pick(&sel.selection(), store, AllFlag::NotTaken)?
            .remove(0))
    }

    /// The target names a reading command acts on: any name with history may be read. `--all`
    /// means the targets the database holds and, with a config file, those it names; without
    /// either flag, the one target there is, or an error listing them when there are several.
    /// [`Context::target_names`] for a command that only reads the history (`log`,
    /// `history`): a `--target` that neither the history nor the config knows is refused, with
    /// the nearest known name, rather than shown as a target that never changed.
    pub fn known_target_names(
        &self,
        sel: &TargetArgs,
        store: &Store,
    ) -> Result<Vec<String>, Error> {
        let Some(name) = sel.target.as_ref().filter(|_| !sel.all) else {
            return self.target_names(sel, store);
        };
        // The history's targets are read once, here, not again by `target_names`.
        let stored = store.targets()?;
        let configured =
            self.settings.file.is_some() && self.settings.targets.iter().any(|t| &t.name == name);
        if !configured && !stored.contains(name) {
            let known = stored.iter().map(String::as_str);
            return Err(Error::Usage(if stored.is_empty() {
                format!(
                    "no target {} in the history, which holds none yet",
                    crate::task::text::visible(name)
                )
            } else {
                format!(
                    "no target {} in the history or the config (did you mean {}?); \
                         `audit history --all` lists the targets",
                    crate::task::text::visible(name),
                    crate::task::text::visible(&crate::task::text::nearest(name, known))
                )
            }));
        }
        Ok(vec![name.clone()])
    }

    pub fn target_names(&self, sel: &TargetArgs, store: &Store) -> Result<Vec<String>, Error> {
        self.pick(sel, store, AllFlag::Taken)
    }

    fn pick(&self, sel: &TargetArgs, store: &Store, all: AllFlag) -> Result<Vec<String>, Error> {
        let stored = store.targets()?;
        if sel.all {
            // A set, not a search of the list for each configured target: a fleet of ten
            // thousand made that a hundred million comparisons.
            let mut names: std::collections::BTreeSet<String> = stored.into_iter().collect();
            if self.settings.file.is_some() {
                names.extend(self.settings.targets.iter().map(|t| t.name.clone()));
            }
            return Ok(names.into_iter().collect());
        }
        if let Some(name) = &sel.target {
            return Ok(vec![name.clone()]);
        }
        let candidates: Vec<String> = match (&self.settings.file, &self.settings.organization) {
            (Some(_), org) => {
                let mut names: Vec<String> = self
                    .settings
                    .targets
                    .iter()
                    .map(|t| t.name.clone())
                    .collect();
                // The organization's members the history holds are targets too.
                if let Some(org) = org {
                    let made = crate::app::organization::made_by(&org.name);
                    names.extend(stored.into_iter().filter(|n| made(n)));
                    names.sort();
                    names.dedup();
                }
                names
            }
            (None, _) => stored,
        };
        match candidates.len() {
            // Nothing recorded and no config: the default target, whose history says it is empty.
            0 => Ok(vec![self.settings.targets[0].name.clone()]),
            1 => Ok(candidates),
            _ => Err(ambiguous(candidates, all)),
        }
    }

    /// Writes a result to stdout, mapping failures to [`Error::Output`].
    pub fn emit(&self, f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), Error> {
        // Standard output is line-buffered; a log or report of a fleet is many thousand lines,
        // written here at once, so it goes out in large writes.
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        f(&mut out)
            .and_then(|()| out.flush())
            .map_err(|source| Error::Output {
                what: "to stdout".into(),
                source,
            })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// How API times are read (the config's `api_offset`) and shown (`--tz`).
    pub fn times(&self) -> crate::policy::Times {
        crate::policy::Times::new(self.settings.api_offset, self.tz)
    }

    /// Where STS, Organization and the CVM metadata service are, as the config file says.
    pub fn services(&self) -> crate::app::snapshot::ServiceSettings {
        crate::app::snapshot::ServiceSettings {
            sts: self.settings.sts_endpoint.clone(),
            organization: self.settings.organization_endpoint.clone(),
            metadata: self.settings.metadata_endpoint.clone(),
        }
    }

    /// `-q`: only errors reach stderr.
    pub fn quiet(&self) -> bool {
        self.global.quiet
    }
}

/// Asks `question` on stderr and reads the answer from stdin: whether it was yes.
pub fn confirm(question: &str) -> Result<bool, Error> {
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|source| Error::File {
            path: "standard input".into(),
            action: "read the answer",
            source,
        })?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Which end of a stretch of time a moment bounds: a day given for it is the day's start, or
/// its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Start,
    Finish,
}

/// Turns `--since`/`--until` into an instant: a day is its start or its end, as `end` says; a
/// snapshot id or `latest` is that snapshot's time.
pub fn bound(
    store: &Store,
    target: &str,
    text: Option<&str>,
    ctx: &Context,
    end: End,
) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(text) = text else { return Ok(None) };
    match instant(text, ctx, end)? {
        Ok(at) => Ok(Some(at)),
        Err(when) => Ok(Some(store.resolve(target, &when, ctx.tz)?.observed_at)),
    }
}

/// `text` as an instant (a day is its start, or its end), or the snapshot it names (an id,
/// `latest`), which only a target's history can place.
fn instant(text: &str, ctx: &Context, end: End) -> Result<Result<DateTime<Utc>, When>, Error> {
    let when = When::parse(text, ctx.now())?;
    let at = match end {
        End::Start => when.lower_instant(ctx.tz),
        End::Finish => when.upper_instant(ctx.tz),
    };
    Ok(at.ok_or(when))
}

/// The error of a command that would have to guess its target among `candidates`.
/// Whether a command takes `--all`: the ambiguity's message offers it only where it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AllFlag {
    Taken,
    NotTaken,
}

fn ambiguous(mut candidates: Vec<String>, all: AllFlag) -> Error {
    candidates.sort();
    let shown: Vec<String> = candidates
        .iter()
        .map(|n| crate::task::text::visible(n).into_owned())
        .collect();
    Error::Usage(format!(
        "{} targets could be meant: {}; name one with --target NAME{}",
        candidates.len(),
        shown.join(", "),
        if all == AllFlag::Taken {
            ", or use --all"
        } else {
            ""
        }
    ))
}

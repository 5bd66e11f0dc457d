//! The tool's error type and the one mapping from errors to the exit codes the README lists.

/// The exit codes every command shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Done; nothing found wanting.
    Ok = 0,
    /// Found wanting: policy failures, changes with `--exit-code`, a broken chain.
    Wanting = 1,
    /// Usage or input: a bad flag, WHEN, policy, config or import file.
    Usage = 2,
    /// Remote: credentials, API errors, network, malformed answers.
    Remote = 3,
    /// Storage: the database is unreadable, corrupt, locked or full.
    Storage = 4,
}

impl ExitCode {
    /// Orders codes by how bad they are, for jobs over several targets: 4 > 3 > 2 > 1 > 0.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// Every failure a command can end with. Each module has its own error type; this one only
/// gathers them so that [`Error::exit_code`] is the single place that decides the code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad flag or argument combination.
    #[error("{0}")]
    Usage(String),
    /// Bad input: a file to import, a config file, a value given on the command line.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    When(#[from] crate::task::when::WhenError),
    #[error(transparent)]
    Config(#[from] crate::app::config::ConfigError),
    #[error(transparent)]
    Remote(Box<crate::tencent::Error>),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// A signing or public key that cannot be used.
    #[error(transparent)]
    Key(#[from] crate::trust::KeyError),
    /// A journal entry would be dated before what the history already holds: the clock (or
    /// `TCSS_AUDIT_NOW`) is behind it.
    #[error(
        "nothing was recorded: the new journal entry's time is out of order: {0}; an entry is never dated before what the history holds: check the clock (and TCSS_AUDIT_NOW)"
    )]
    OutOfOrder(crate::task::journal_time::OutOfOrder),
    /// A restore plan refused before anything was sent.
    #[error(transparent)]
    Refused(#[from] crate::app::restore::Refused),
    /// One target's work ended unexpectedly (a panic): that target failed, the others went on.
    #[error(
        "the work for target {target:?} stopped unexpectedly ({why}); the other targets were done; please report this"
    )]
    TaskFailed { target: String, why: String },
    /// The signing key could not vouch for the history: what was fetched was recorded, unsigned.
    #[error(
        "signature line broken: {0}; the observations were recorded without a signature (run `audit verify --public-key KEY.pub` to see what changed)"
    )]
    SignatureLine(String),
    /// Writing a result failed (a closed pipe is handled before this).
    #[error("writing {what}: {source}")]
    Output {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::Input(_) | Error::When(_) | Error::Config(_) => {
                ExitCode::Usage
            }
            Error::Policy(_) | Error::Key(_) | Error::OutOfOrder(_) => ExitCode::Usage,
            Error::Refused(crate::app::restore::Refused::AccountUnknown) => ExitCode::Remote,
            Error::Refused(_) => ExitCode::Usage,
            Error::Remote(_) | Error::TaskFailed { .. } => ExitCode::Remote,
            Error::Store(e) if e.is_about_the_request() => ExitCode::Usage,
            Error::Store(_) => ExitCode::Storage,
            Error::Output { .. } | Error::SignatureLine(_) => ExitCode::Storage,
        }
    }
}

impl From<crate::tencent::Error> for Error {
    fn from(e: crate::tencent::Error) -> Self {
        Error::Remote(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The tool's error type and the one mapping from errors to the exit codes the README lists.

pub use crate::task::exit::ExitCode;

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
        "the work for target {target:?} stopped unexpectedly ({why}); the other targets were done; this is a bug: please report it"
    )]
    TaskFailed { target: String, why: String },
    /// A bug: something this tool holds true was not (a broken invariant, a worker lost).
    #[error("internal error: {what}; this is a bug: please report it")]
    Internal { what: String },
    /// A file this command reads or writes (other than the database and the config file).
    #[error("{}: cannot {action}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        /// What was being done: "read the plan", "make the demo's folder".
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A notification destination that may not be sent to: a configuration error, found before
    /// anything is sent.
    #[error("[[notify]] {destination}: {source}; nothing was sent")]
    Destination {
        destination: String,
        #[source]
        source: crate::notify::AddressError,
    },
    /// The stand-in cannot start: its address, credentials, state file or certificates.
    #[error("the stand-in cannot start: {0}")]
    Sim(#[from] crate::sim::SimError),
    /// The network settings cannot make a client (the CA file, the proxy).
    #[error("{what}: {source}")]
    Net {
        what: &'static str,
        #[source]
        source: crate::net::Error,
    },
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
            Error::Remote(_) => ExitCode::Remote,
            Error::TaskFailed { .. } | Error::Internal { .. } => ExitCode::Internal,
            Error::File { .. } | Error::Destination { .. } | Error::Net { .. } => ExitCode::Usage,
            Error::Sim(_) => ExitCode::Usage,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A bug leaves with 5, the most severe of all, whatever else a run met.
    #[test]
    fn a_bug_is_exit_5_and_the_most_severe() {
        let panicked = Error::TaskFailed {
            target: "prod".into(),
            why: "index out of bounds".into(),
        };
        assert_eq!(panicked.exit_code(), ExitCode::Internal);
        assert!(panicked.to_string().contains("please report it"));
        let invariant = Error::Internal {
            what: "a worker was lost".into(),
        };
        assert_eq!(invariant.exit_code() as u8, 5);
        assert_eq!(
            ExitCode::Storage.worst(ExitCode::Internal),
            ExitCode::Internal
        );
        assert_eq!(
            ExitCode::Internal.worst(ExitCode::Wanting),
            ExitCode::Internal
        );
    }

    /// A file error names the file and what was done with it, and keeps the error underneath.
    #[test]
    fn a_file_error_carries_its_path_and_source() {
        let e = Error::File {
            path: "plans/p.json".into(),
            action: "read the plan",
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(e.exit_code(), ExitCode::Usage);
        assert!(
            e.to_string()
                .starts_with("plans/p.json: cannot read the plan: "),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}

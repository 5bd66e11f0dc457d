//! The exit codes every command shares, low in the layers so that what reports a run (its
//! report, its metrics, its notifications) carries the code itself rather than a number.

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
    /// Internal: a bug (a panic caught, a broken invariant); the message asks for a report.
    Internal = 5,
}

impl ExitCode {
    /// Orders codes by how bad they are, for jobs over several targets: 5 > 4 > 3 > 2 > 1 > 0.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }
}

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", *self as u8)
    }
}

/// Written as its number, as a scheduler sees it.
impl serde::Serialize for ExitCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

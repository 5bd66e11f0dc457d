//! How an observation came in: fetched from the API, or imported from a saved answer or backup.

/// How an observation came in; serialized as its stored word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Fetch,
    Import,
}

impl Source {
    /// Every source, for messages that list them.
    pub const ALL: [Source; 2] = [Source::Fetch, Source::Import];

    /// The word stored in the database and written in exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Fetch => "fetch",
            Source::Import => "import",
        }
    }

    /// The source a stored or exported word names.
    pub fn parse(text: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that a column width (`{:<6}`) applies.
        f.pad(self.as_str())
    }
}

/// Which account an observation came from, as `sts:GetCallerIdentity` said for the credentials
/// that fetched it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The account's UIN (`AccountId`).
    pub account: String,
    pub arn: String,
    /// `Type`: `RootAccount`, `CAMUser`, `AssumedRole`, ...
    pub principal_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_reads_back_from_its_word() {
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
        assert_eq!(Source::parse("Fetch"), None);
        // Its JSON is the same word.
        for s in Source::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Source::parse(""), None);
    }
}

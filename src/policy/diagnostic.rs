//! Located policy diagnostics (`file:line:col: error[rule]: message`) and the error that carries them.

use std::fmt;

/// How bad a diagnostic is: errors stop a load, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

/// Where something sits in a policy file; 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl Location {
    /// The location of byte offset `at` in `text`.
    pub fn of(file: &str, text: &str, at: usize) -> Location {
        let at = text.floor_char_boundary(at.min(text.len()));
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: file.to_string(),
            line,
            col: text[line_start..at].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One finding about a policy file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub level: Level,
    /// The file, and the position when the problem has one (an unreadable file has none).
    pub file: String,
    pub line: Option<usize>,
    pub col: Option<usize>,
    /// The rule id (or `rule #N` when the rule has none, `waiver #N`, `test "name"`) it concerns.
    pub subject: Option<String>,
    pub message: String,
}

impl Diagnostic {
    pub fn at(level: Level, loc: &Location, subject: Option<&str>, message: String) -> Self {
        Diagnostic {
            level,
            file: loc.file.clone(),
            line: Some(loc.line),
            col: Some(loc.col),
            subject: subject.map(|s| capped(s.to_string())),
            message: capped(message),
        }
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(col)) = (self.line, self.col) {
            write!(f, ":{line}:{col}")?;
        }
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        match &self.subject {
            Some(s) => write!(f, ": {level}[{s}]: {}", self.message),
            None => write!(f, ": {level}: {}", self.message),
        }
    }
}

/// Policy files that could not be loaded: every error found in every file, then the warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub diagnostics: Vec<Diagnostic>,
}

impl PolicyError {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors().count();
        writeln!(
            f,
            "{n} error{} in policy files; fix each one below, then run `audit policy validate`:",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        let at = text.find('2').unwrap();
        let loc = Location::of("p.toml", text, at);
        assert_eq!(loc.to_string(), "p.toml:2:6");
        assert_eq!(Location::of("p.toml", text, 0).to_string(), "p.toml:1:1");
    }

    #[test]
    fn diagnostics_print_file_line_col_level_and_subject() {
        let loc = Location {
            file: "x.toml".into(),
            line: 3,
            col: 7,
        };
        let d = Diagnostic::at(Level::Error, &loc, Some("TCSS-1"), "bad".into());
        assert_eq!(d.to_string(), "x.toml:3:7: error[TCSS-1]: bad");
    }
}

/// The longest message a diagnostic keeps: a policy file can quote a megabyte of text back at its
/// author, and the location already says where to look.
const MAX_MESSAGE: usize = 4000;

fn capped(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        text.truncate(text.floor_char_boundary(MAX_MESSAGE));
        text.push_str("… (cut)");
    }
    text
}

#[cfg(test)]
mod capped_tests {
    use super::*;

    #[test]
    fn a_huge_quote_is_cut_on_a_character_boundary() {
        let loc = Location {
            file: "p.toml".into(),
            line: 1,
            col: 1,
        };
        let d = Diagnostic::at(
            Level::Error,
            &loc,
            Some("R-1"),
            format!("unknown op `{}`", "é".repeat(100_000)),
        );
        assert!(d.message.len() < MAX_MESSAGE + 20, "{}", d.message.len());
        assert!(d.message.ends_with("… (cut)"));
        let short = Diagnostic::at(Level::Error, &loc, None, "unknown op `equals`".into());
        assert_eq!(short.message, "unknown op `equals`");
    }
}

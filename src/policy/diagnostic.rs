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

/// Where each line of a text begins, found once, so that placing a span costs a binary search
/// rather than a scan from the start of the file: a file with a diagnostic or a rule on every
/// line made loading take time in the square of its size.
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offsets of each line's first byte; the first is 0.
    starts: Vec<usize>,
    /// UTF-8 continuation bytes before each multiple of [`LineIndex::BLOCK`]: a column counts
    /// characters, and a line can be the whole file.
    continuations: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    const BLOCK: usize = 1024;

    pub fn new(text: &'a str) -> LineIndex<'a> {
        let bytes = text.as_bytes();
        let starts = std::iter::once(0)
            .chain(newlines(bytes).map(|i| i + 1))
            .collect();
        let mut continuations = vec![0];
        for block in bytes.chunks(Self::BLOCK) {
            let last = continuations[continuations.len() - 1];
            continuations.push(last + block.iter().filter(|b| is_continuation(**b)).count());
        }
        LineIndex {
            text,
            starts,
            continuations,
        }
    }

    /// The location of byte offset `at` in `file`'s text.
    pub fn locate(&self, file: &str, at: usize) -> Location {
        let at = self.text.floor_char_boundary(at.min(self.text.len()));
        let line = self.starts.partition_point(|&s| s <= at);
        Location {
            file: file.to_string(),
            line,
            col: self.chars_before(at) - self.chars_before(self.starts[line - 1]) + 1,
        }
    }

    /// How many characters precede byte offset `at` (a character boundary).
    fn chars_before(&self, at: usize) -> usize {
        let block = at / Self::BLOCK;
        let rest = &self.text.as_bytes()[block * Self::BLOCK..at];
        let continuations = rest.iter().filter(|b| is_continuation(**b)).count();
        at - self.continuations[block] - continuations
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

fn newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter_map(|(i, b)| (*b == b'\n').then_some(i))
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

    fn at(text: &str, offset: usize) -> String {
        LineIndex::new(text).locate("p.toml", offset).to_string()
    }

    #[test]
    fn locations_count_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(at(text, text.find('2').unwrap()), "p.toml:2:6");
        assert_eq!(at(text, 0), "p.toml:1:1");
    }

    #[test]
    fn offsets_map_to_lines_and_columns_through_the_table() {
        // The last line has no newline; an empty line sits in the middle.
        let text = "[policy]\nname = \"é\"\n\n[[rule]]\nid = \"ü-1\"";
        let offset = |needle: &str| text.find(needle).unwrap();
        assert_eq!(at(text, offset("name")), "p.toml:2:1");
        assert_eq!(at(text, offset("\"é") + 1), "p.toml:2:9");
        // The empty line: its newline is its first character.
        assert_eq!(at(text, offset("\n\n") + 1), "p.toml:3:1");
        assert_eq!(at(text, offset("[[rule]]")), "p.toml:4:1");
        assert_eq!(at(text, offset("1\"")), "p.toml:5:9");
        // The end of the text, past the last character, and inside a character.
        assert_eq!(at(text, text.len()), "p.toml:5:11");
        assert_eq!(at(text, text.len() + 5), "p.toml:5:11");
        assert_eq!(at(text, offset("é") + 1), "p.toml:2:9");
    }

    #[test]
    fn columns_hold_on_a_line_longer_than_a_block() {
        let line = "é".repeat(3000);
        let text = format!("x\n{line}!");
        assert_eq!(at(&text, text.find('!').unwrap()), "p.toml:2:3001");
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

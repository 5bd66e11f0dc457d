//! Text from outside (the API, stored data, files) made safe to show: every control character
//! becomes a visible escape, so a value can neither forge a line nor send a terminal sequence.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a reader as it is: C0 and C1 controls, DEL, and the bidirectional
/// overrides and isolates that reorder what a reader sees.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with each control character shown as an escape: `\n`, `\r`, `\t`, else `\u{1b}`.
/// Text without one is returned as it is, without copying.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`visible`] for text of several lines (pretty JSON, a unified diff): its line breaks kept,
/// every other control character shown as an escape.
pub fn visible_lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && hidden(c)) {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(visible).collect();
    Cow::Owned(lines.join("\n"))
}

/// The candidate nearest to `name` by edit distance, case aside (ties to the first): what a
/// message suggests for a misspelt name.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let name = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .min_by_key(|c| strsim::levenshtein(&name, &c.to_ascii_lowercase()))
        .unwrap_or_default()
        .to_string()
}

/// `n` and the word for that many: `1 rule`, `3 rules`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_word_for_their_number() {
        assert_eq!(count(1u64, "rule", "rules"), "1 rule");
        assert_eq!(count(0u64, "rule", "rules"), "0 rules");
        assert_eq!(
            count(3u32, "missed night", "missed nights"),
            "3 missed nights"
        );
    }

    #[test]
    fn control_characters_become_escapes() {
        assert_eq!(visible("plain text, ünïcode"), "plain text, ünïcode");
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
        assert_eq!(visible("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(visible("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(visible("x\u{7f}\u{9b}y"), "x\\u{7f}\\u{9b}y");
        assert_eq!(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
    }

    #[test]
    fn lines_keep_their_breaks_and_lose_their_controls() {
        let text = "{\n  \"a\": \"x\u{9b}31m\",\n  \"b\": \"\u{202e}\\t\"\n}\n";
        assert_eq!(
            visible_lines(text),
            "{\n  \"a\": \"x\\u{9b}31m\",\n  \"b\": \"\\u{202e}\\t\"\n}\n"
        );
        assert!(matches!(visible_lines("a\nb\n"), Cow::Borrowed(_)));
        assert_eq!(visible_lines("a\r\nb"), "a\\r\nb");
    }
}

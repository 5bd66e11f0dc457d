//! The one Markdown escaping every report uses: text that cannot end a table row, open HTML or
//! hide a control character, and inline code that no content can break out of.

use serde_json::Value;

use crate::task::canonical::canonical_value;
use crate::task::text::visible;

/// Text for a table cell or a list item: control characters shown as escapes, and nothing in it
/// can end the row, escape the next character or open HTML.
pub fn text(s: &str) -> String {
    visible(s)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
}

/// Inline code that survives any content, in a table cell too: control characters shown as
/// escapes, a fence longer than any run of backticks inside, pipes escaped (code hosts unescape
/// `\|` inside code spans in tables). Empty text reads `(empty)`.
pub fn code(s: &str) -> String {
    if s.is_empty() {
        return "(empty)".into();
    }
    let s = visible(s).replace('|', "\\|");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if longest > 0 || s.starts_with(' ') || s.ends_with(' ') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A JSON value as inline code (its canonical JSON).
pub fn value_code(v: &Value) -> String {
    code(&canonical_value(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_survives_pipes_backticks_and_controls() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "`` x`y ``");
        assert_eq!(code("``"), "``` `` ```");
        assert_eq!(code(" lead"), "`  lead `");
        assert_eq!(code("two\nlines"), "`two\\nlines`");
        assert_eq!(code("\u{1b}[2J"), "`\\u{1b}[2J`");
        assert_eq!(code(""), "(empty)");
    }

    #[test]
    fn text_cannot_end_a_row_or_open_html() {
        assert_eq!(text("a|b\n<c>"), "a\\|b\\\\n&lt;c>");
        assert_eq!(text("back\\slash"), "back\\\\slash");
        assert_eq!(text("\u{7}bell"), "\\\\u{7}bell");
    }
}

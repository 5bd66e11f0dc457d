//! The `--credentials-file` format: one `SECRET_ID SECRET_KEY` or `SECRET_ID=SECRET_KEY` a line.

use std::collections::HashSet;
use std::path::Path;

use super::SimError;
use crate::tencent::Secret;

/// Reads credentials; blank lines and lines starting with `#` are skipped. Errors name the line
/// but never echo it, since it may hold a key.
pub fn parse_credentials_file(path: &Path) -> Result<Vec<(String, Secret)>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|e| SimError::Credentials {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse_credentials(&text).map_err(|message| SimError::Credentials {
        path: path.to_path_buf(),
        message,
    })
}

pub(crate) fn parse_credentials(text: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let pair = match line.split_once('=') {
            Some((id, key)) => Some((id.trim(), key.trim())),
            None => {
                let mut words = line.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some(id), Some(key), None) => Some((id, key)),
                    _ => None,
                }
            }
        };
        let (id, key) = match pair {
            Some((id, key))
                if !id.is_empty() && !key.is_empty() && !id.contains(char::is_whitespace) =>
            {
                (id, key)
            }
            _ => {
                return Err(format!(
                    "line {}: expected `SECRET_ID SECRET_KEY` or `SECRET_ID=SECRET_KEY`",
                    n + 1
                ));
            }
        };
        if !ids.insert(id.to_string()) {
            return Err(format!("line {}: SecretId {id} is given twice", n + 1));
        }
        out.push((id.to_string(), Secret::new(key)));
    }
    if out.is_empty() {
        return Err("no credentials in the file".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_line_forms_comments_and_blanks() {
        let creds =
            parse_credentials("# fleet\nAKID1 key1\n\n  AKID2=key2 \nAKID3\tkey3\n").unwrap();
        let ids: Vec<&str> = creds.iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(ids, ["AKID1", "AKID2", "AKID3"]);
        assert_eq!(creds[1].1.expose(), "key2");
    }

    #[test]
    fn bad_lines_are_named_without_their_content() {
        let err = parse_credentials("AKID1 key1\nAKID2 sekrit extra\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(!err.contains("sekrit"), "{err}");
        assert!(
            parse_credentials("A k\nA j\n")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_credentials("=k\n").unwrap_err().contains("line 1"));
        assert!(
            parse_credentials("# only\n")
                .unwrap_err()
                .contains("no credentials")
        );
    }
}

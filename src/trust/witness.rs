//! Witnesses: files kept outside the database (filed reports, the output of an earlier
//! `audit verify`) that each name a chain head. The history still holds a witnessed head when the
//! snapshot with that id is there with that chain hash.

use serde::Serialize;

use super::Head;

/// The Markdown report's line that names its head; [`head_of`] reads it back.
pub fn markdown_head_line(head: Option<&Head>) -> String {
    match head {
        Some(h) => format!(
            "Chain head: snapshot #{}, chain hash `{}`.",
            h.snapshot, h.chain_hash
        ),
        None => "Chain head: none (the history holds no snapshot).".into(),
    }
}

/// The head a witness file names (`None`: it was made from an empty history), read from a report
/// (JSON or Markdown) or from `audit verify --format json`.
pub fn head_of(bytes: &[u8]) -> Result<Option<Head>, String> {
    let not_a_witness =
        "it is neither a tcss-audit report (JSON or Markdown) nor the JSON of `audit verify`";
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let head = match doc.get("schema").and_then(|s| s.as_str()) {
            Some("tcss-audit/report/v1") => doc.get("integrity").and_then(|i| i.get("head")),
            Some("tcss-audit/verify/v1") => doc.get("head"),
            _ => return Err(not_a_witness.into()),
        };
        return match head {
            None => Err("it names no chain head (made by a tcss-audit older than 0.2)".into()),
            Some(serde_json::Value::Null) => Ok(None),
            Some(h) => serde_json::from_value::<Head>(h.clone())
                .ok()
                .filter(|h| is_hash(&h.chain_hash))
                .map(Some)
                .ok_or_else(|| "its chain head is not a snapshot id and a chain hash".into()),
        };
    }
    let text = std::str::from_utf8(bytes).map_err(|_| not_a_witness.to_string())?;
    if !text.starts_with("# ") || !text.contains("## Chain of custody") {
        return Err(not_a_witness.into());
    }
    for line in text.lines() {
        if line.starts_with("Chain head: none") {
            return Ok(None);
        }
        if let Some(rest) = line.strip_prefix("Chain head: snapshot #") {
            let parsed = rest.split_once(", chain hash `").and_then(|(id, rest)| {
                let hash = rest.strip_suffix("`.")?;
                Some(Head {
                    snapshot: id.parse().ok()?,
                    chain_hash: hash.to_string(),
                })
            });
            return parsed
                .filter(|h| is_hash(&h.chain_hash))
                .map(Some)
                .ok_or_else(|| "its chain head line cannot be read".into());
        }
    }
    Err("it names no chain head (made by a tcss-audit older than 0.2)".into())
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a witnessed head stands in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum HeadStatus {
    /// The snapshot is there with the witnessed chain hash.
    Held,
    /// The snapshot was pruned, and the pruning checkpoint that ends at it has the witnessed hash.
    HeldAtCheckpoint,
    /// The snapshot was pruned and no checkpoint ends at it: nothing is left to compare.
    Pruned,
    /// The snapshot is there with another chain hash: the history at or before it was rewritten.
    Rewritten { found: String },
    /// The snapshot is not there, and it was not pruned: the history was cut below it.
    Missing { newest: Option<i64> },
}

impl HeadStatus {
    /// Whether this is a failure: a rewrite or a cut. A pruned head is not.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            HeadStatus::Rewritten { .. } | HeadStatus::Missing { .. }
        )
    }
}

/// What one witness file says about the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessResult {
    pub file: String,
    /// The witnessed snapshot (none: the witness was made from an empty history).
    pub snapshot: Option<i64>,
    #[serde(flatten)]
    pub status: WitnessStatus,
    /// The signature beside the file: `verified`, or absent when none was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<&'static str>,
}

/// A witness's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum WitnessStatus {
    Head(HeadStatus),
    /// The witness names no head: it was made from an empty history and witnesses nothing.
    Empty {
        status: &'static str,
    },
    /// Its signature does not verify with the public key given.
    BadSignature {
        status: &'static str,
        reason: String,
    },
}

impl WitnessStatus {
    pub fn bad_signature(reason: String) -> WitnessStatus {
        WitnessStatus::BadSignature {
            status: "bad-signature",
            reason,
        }
    }

    pub fn empty() -> WitnessStatus {
        WitnessStatus::Empty { status: "empty" }
    }

    pub fn is_failure(&self) -> bool {
        match self {
            WitnessStatus::Head(h) => h.is_failure(),
            WitnessStatus::Empty { .. } => false,
            WitnessStatus::BadSignature { .. } => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Head {
        Head {
            snapshot: 20,
            chain_hash: "ab".repeat(32),
        }
    }

    #[test]
    fn heads_are_read_from_report_json_verify_json_and_report_markdown() {
        let h = head();
        let report = serde_json::json!({"schema": "tcss-audit/report/v1", "integrity": {"ok": true, "head": h}});
        assert_eq!(head_of(report.to_string().as_bytes()), Ok(Some(h.clone())));
        let verify = serde_json::json!({"schema": "tcss-audit/verify/v1", "head": null});
        assert_eq!(head_of(verify.to_string().as_bytes()), Ok(None));
        let md = format!(
            "# Report\n\n## Chain of custody\n\n{}\n",
            markdown_head_line(Some(&h))
        );
        assert_eq!(head_of(md.as_bytes()), Ok(Some(h)));
    }

    #[test]
    fn files_that_are_not_witnesses_say_why() {
        for bad in [
            &b"{\"schema\": \"tcss-audit/diff/v1\"}"[..],
            b"hello",
            b"{\"schema\": \"tcss-audit/verify/v1\", \"head\": {\"snapshot\": 3, \"chain_hash\": \"zz\"}}",
            b"# Report\n\n## Chain of custody\n\nChain head: snapshot #x, chain hash `00`.\n",
        ] {
            assert!(head_of(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}

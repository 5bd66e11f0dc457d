//! Backup: every observation as one JSON line, in recording order, enough to rebuild the same
//! configs, hashes and chain in an empty database.

use serde::{Deserialize, Serialize};

use super::{ExportEntry, Store, StoreError, from_ms};
use crate::task::when::fmt_utc_exact;

/// The first line of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportHeader {
    pub schema: String,
    pub tool_version: String,
    pub snapshots: u64,
}

pub const EXPORT_SCHEMA: &str = "tcss-audit/export/v1";

/// One observation as exported. `raw` is the answer's text exactly (answers are UTF-8 by the
/// time they are stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRow {
    pub id: i64,
    pub target: String,
    pub observed_at: String,
    pub recorded_at: String,
    pub source: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    pub raw: String,
    pub config_hash: String,
    pub chain_hash: String,
    /// Which account it came from, when known (older exports have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<crate::task::source::Identity>,
}

/// One line of an export after the header: an observation, or a journal entry (written as
/// `{"journal":{...}}` just before the first observation that links it, so that an import in
/// line order rebuilds the same links).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum ExportLine<'a> {
    Journal {
        journal: &'a ExportEntry,
    },
    Snapshot(&'a ExportRow),
    /// A signed checkpoint, as stored: written after every observation, so that a backup
    /// restored into an empty database verifies with the public key as the original does.
    Checkpoint {
        checkpoint: &'a super::StoredCheckpoint,
    },
}

impl ExportLine<'_> {
    /// Whether a line's text is a journal entry's, by the prefix the export writes: rows are
    /// parsed once, as rows, without trying each shape in turn.
    pub fn is_journal(text: &str) -> bool {
        text.trim_start().starts_with("{\"journal\"")
    }

    /// Whether a line's text is a signed checkpoint's.
    pub fn is_checkpoint(text: &str) -> bool {
        text.trim_start().starts_with("{\"checkpoint\"")
    }
}

impl Store {
    /// Calls `each` for every snapshot in recording order, without loading the history at once,
    /// and for each journal entry before the first snapshot that links it. Gives the number of
    /// snapshots.
    pub fn export(
        &self,
        mut each: impl FnMut(ExportLine<'_>) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let mut entries = self.export_entries()?.into_iter().peekable();
        let io = |e: std::io::Error| StoreError::Sqlite {
            path: self.shown(),
            message: format!("writing the export failed: {e}"),
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.id, t.name, s.observed_at, s.recorded_at, s.source, s.endpoint, s.request_id,
                        s.raw_base, s.raw, s.config_hash, s.chain_hash, s.account, s.arn,
                        s.principal_type, s.journal_id
                 FROM snapshots s JOIN targets t ON t.id = s.target_id ORDER BY s.id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut n = 0;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let stored = (|| -> rusqlite::Result<(i64, Option<i64>, Vec<u8>)> {
                Ok((r.get(0)?, r.get(7)?, r.get(8)?))
            })()
            .map_err(|e| self.err(e))?;
            let raw = self.unpack_raw(stored.0, stored.1, stored.2)?;
            let row = (|| -> rusqlite::Result<ExportRow> {
                Ok(ExportRow {
                    id: r.get(0)?,
                    target: r.get(1)?,
                    observed_at: fmt_utc_exact(from_ms(r.get(2)?)),
                    recorded_at: fmt_utc_exact(from_ms(r.get(3)?)),
                    source: r.get(4)?,
                    endpoint: r.get(5)?,
                    request_id: r.get(6)?,
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                    config_hash: r.get(9)?,
                    chain_hash: hex::encode(r.get::<_, Vec<u8>>(10)?),
                    identity: match r.get::<_, Option<String>>(11)? {
                        Some(account) => Some(crate::task::source::Identity {
                            account,
                            arn: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
                            principal_type: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                        }),
                        None => None,
                    },
                })
            })()
            .map_err(|e| self.err(e))?;
            let linked: Option<i64> = r.get(14).map_err(|e| self.err(e))?;
            while let Some(e) = entries.next_if(|e| linked.is_some_and(|j| e.id <= j)) {
                each(ExportLine::Journal { journal: &e }).map_err(io)?;
            }
            each(ExportLine::Snapshot(&row)).map_err(io)?;
            n += 1;
        }
        for e in entries {
            each(ExportLine::Journal { journal: &e }).map_err(io)?;
        }
        for c in self.checkpoints()? {
            each(ExportLine::Checkpoint { checkpoint: &c }).map_err(io)?;
        }
        Ok(n)
    }

    /// How many snapshots the database holds.
    pub fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM snapshots", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }
}

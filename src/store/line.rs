//! The signature line: before a recording command signs a new head, it links it to the newest
//! checkpoint signed with its key (that checkpoint verifies, its head is on the chain, and the
//! history from it to the new head verifies), so that the signer never vouches for rows it did
//! not see. Also the signer's state kept outside the database, and a line's start.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::trust::witness::HeadStatus;
use crate::trust::{
    CHECKPOINT_NAMESPACE, Head, LinePos, PublicKey, checkpoint_message, checkpoint_message_v2,
    message_digest,
};

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    pub id: i64,
    pub snapshot: i64,
    pub chain_hash: String,
    pub signed_at: i64,
    pub tool_version: String,
    pub signature: String,
    /// Its place in its key's line; `None`: made before checkpoints were chained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<LinePos>,
    /// The key's fingerprint, to find its checkpoints quickly (not trusted: each is verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl StoredCheckpoint {
    pub fn head(&self) -> Head {
        Head {
            snapshot: self.snapshot,
            chain_hash: self.chain_hash.clone(),
        }
    }

    /// The bytes its signature covers.
    pub fn message(&self) -> Vec<u8> {
        let head = self.head();
        match &self.line {
            Some(pos) => checkpoint_message_v2(pos, &head, self.signed_at, &self.tool_version),
            None => checkpoint_message(&head, self.signed_at, &self.tool_version),
        }
    }

    /// Whether `key` made its signature.
    pub fn verifies(&self, key: &PublicKey) -> Result<(), String> {
        key.verify(CHECKPOINT_NAMESPACE, &self.message(), &self.signature)
    }
}

pub(crate) const CHECKPOINT_COLUMNS: &str =
    "id, snapshot, chain_hash, signed_at, tool_version, signature, seq, prev_message, key";

pub(crate) fn checkpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    let seq: Option<i64> = r.get(6)?;
    Ok(StoredCheckpoint {
        id: r.get(0)?,
        snapshot: r.get(1)?,
        chain_hash: r.get(2)?,
        signed_at: r.get(3)?,
        tool_version: r.get(4)?,
        signature: r.get(5)?,
        line: seq.map(|seq| LinePos {
            seq,
            prev: r.get(7).ok().flatten(),
        }),
        key: r.get(8)?,
    })
}

/// What the signer keeps outside the database: its last signature's place and head. The
/// database may be ahead of it (a state that could not be written), never behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerState {
    pub schema: String,
    /// The key's fingerprint.
    pub key: String,
    pub seq: i64,
    pub snapshot: i64,
    pub chain_hash: String,
    /// The SHA-256 of the last signed message.
    pub message_sha256: String,
}

pub const SIGNER_STATE_SCHEMA: &str = "tcss-audit/signer-state/v1";

/// Why the signer state file cannot be used.
fn state_error(path: &Path, why: impl std::fmt::Display) -> String {
    format!(
        "the signer state {} {why}",
        crate::task::text::visible(&path.display().to_string())
    )
}

/// Reads the signer state at `path`: `None` when there is no file.
pub fn read_state(path: &Path) -> Result<Option<SignerState>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(state_error(path, format_args!("cannot be read: {e}"))),
    };
    // An empty file is a state not written yet: a deploy creates it so that the service
    // manager can hand it in before the first signature.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let state: SignerState = serde_json::from_slice(&bytes)
        .map_err(|e| state_error(path, format_args!("is not a signer state: {e}")))?;
    if state.schema != SIGNER_STATE_SCHEMA {
        return Err(state_error(path, "is of another schema"));
    }
    Ok(Some(state))
}

impl SignerState {
    /// Whether this state may replace `old`: the same key, and its place in the line not
    /// behind (no older state, or an empty one, is replaced by any).
    pub fn extends(&self, old: Option<&SignerState>) -> bool {
        old.is_none_or(|o| {
            o.key == self.key
                && (self.seq > o.seq || (self.seq == o.seq && self.snapshot >= o.snapshot))
        })
    }
}

/// Writes the signer state at `path` whole (beside it, then renamed into place).
pub fn write_state(path: &Path, state: &SignerState) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(state).expect("a state serializes");
    text.push('\n');
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A signature line started on a history that has rows, as `--start-signing` asks.
#[derive(Debug, Clone)]
pub struct LineStart {
    pub reason: String,
    pub by: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// How a recording command keeps its signature line: the signer's state file, and a line to
/// start.
#[derive(Debug, Clone, Default)]
pub struct LineSettings {
    pub state: Option<PathBuf>,
    pub start: Option<LineStart>,
}

/// Where the line stands for one recording command.
#[derive(Debug, Default)]
pub(crate) struct LineState {
    /// `--start-signing`, until it is used (or found needless).
    pub start: Option<LineStart>,
    /// The `signing` journal entry recorded in the open transaction.
    pub start_pending: bool,
    /// The line was started by this command (its journal entry committed).
    pub started: bool,
    /// Where the signer keeps its state, if it does.
    pub state: Option<PathBuf>,
    /// Why this command cannot sign: once broken, it records the rest unsigned.
    pub broken: Option<String>,
}

/// How the new checkpoint continues the line: the place it takes, and whether it moves this
/// command's own checkpoint forward.
pub(crate) struct Linked {
    pub pos: LinePos,
}

impl Store {
    /// The newest checkpoint that `key` signed, if any (checkpoints of other keys are passed
    /// over; one whose signature does not verify is not the key's).
    pub(crate) fn newest_of_key(
        &self,
        conn: &rusqlite::Connection,
        key: &PublicKey,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let fingerprint = key.fingerprint();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM signed_checkpoints
                 WHERE key IS NULL OR key = ?1 ORDER BY id DESC"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([&fingerprint]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let c = checkpoint_row(r).map_err(|e| self.err(e))?;
            if c.verifies(key).is_ok() {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Links the head about to be signed to the line of `key`, in the open transaction whose
    /// first new snapshot is `first_new`; the reason the line is broken if it cannot.
    pub(crate) fn link_line(
        &self,
        key: &PublicKey,
        own_row: Option<i64>,
        line: &LineState,
        first_new: i64,
    ) -> Result<Result<Linked, String>, StoreError> {
        if let Some(why) = &line.broken {
            return Ok(Err(why.clone()));
        }
        let conn = &self.conn;
        let newest = self.newest_of_key(conn, key)?;
        let state = match &line.state {
            Some(path) => match read_state(path) {
                Ok(s) => Some((path.as_path(), s)),
                Err(why) => return Ok(Err(why)),
            },
            None => None,
        };
        let Some(c) = newest else {
            return self.line_start(key, line, state, first_new);
        };
        if let Some((path, s)) = &state
            && let Err(why) = self.state_agrees(key, path, s.as_ref(), &c)?
        {
            return Ok(Err(why));
        }
        let from = match self.head_status(&c.head())? {
            // From the row before it, so that the signed row's own content is checked too.
            HeadStatus::Held => self
                .link_before(c.snapshot)?
                .unwrap_or((c.snapshot, c.chain_hash.clone())),
            HeadStatus::HeldAtCheckpoint => (c.snapshot, c.chain_hash.clone()),
            HeadStatus::Pruned => match self.chain_start()? {
                Some(start) => start,
                None => return Ok(Err(format!("snapshot {} is gone", c.snapshot))),
            },
            HeadStatus::Rewritten { .. } => {
                return Ok(Err(format!(
                    "the history at or before snapshot {}, which the newest checkpoint of this key signed, was rewritten",
                    c.snapshot
                )));
            }
            HeadStatus::Missing { .. } => {
                return Ok(Err(format!(
                    "snapshot {}, which the newest checkpoint of this key signed, is gone: the history was cut below it",
                    c.snapshot
                )));
            }
        };
        if let Some(b) = self.verify_since(conn, from)? {
            return Ok(Err(format!(
                "the history after the newest checkpoint of this key (snapshot {}) does not verify: snapshot {}: {}",
                c.snapshot, b.snapshot, b.reason
            )));
        }
        let pos = match (&c.line, own_row == Some(c.id)) {
            // This command's own checkpoint, still the newest: it moves forward in place.
            (Some(pos), true) => pos.clone(),
            (Some(pos), false) => LinePos {
                seq: pos.seq + 1,
                prev: Some(message_digest(&c.message())),
            },
            // The newest checkpoint made before checkpoints were chained: the first chained
            // one links it.
            (None, _) => LinePos {
                seq: 1,
                prev: Some(message_digest(&c.message())),
            },
        };
        Ok(Ok(Linked { pos }))
    }

    /// The snapshot before `id` and its chain hash as stored (the genesis before the first, the
    /// pruning checkpoint where the rows before were pruned): where a check of `id`'s own link
    /// starts.
    fn link_before(&self, id: i64) -> Result<Option<(i64, String)>, StoreError> {
        if id == 1 {
            return Ok(Some((0, super::chain::GENESIS.to_string())));
        }
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT lower(hex(chain_hash)) FROM snapshots WHERE id = ?1
                 UNION ALL
                 SELECT chain_hash FROM chain_checkpoints WHERE last_snapshot = ?1
                 LIMIT 1",
                [id - 1],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(stored.map(|hash| (id - 1, hash)))
    }

    /// No checkpoint of the key: a line starts only on a history with no row before this
    /// transaction, or with `--start-signing`.
    fn line_start(
        &self,
        key: &PublicKey,
        line: &LineState,
        state: Option<(&Path, Option<SignerState>)>,
        first_new: i64,
    ) -> Result<Result<Linked, String>, StoreError> {
        let start = Ok(Ok(Linked {
            pos: LinePos { seq: 1, prev: None },
        }));
        if line.start_pending || line.started {
            return start;
        }
        if let Some((path, Some(s))) = &state
            && s.key == key.fingerprint()
        {
            return Ok(Err(format!(
                "the history has no checkpoint of this key, but {} names its checkpoint {} at snapshot {}: the newest checkpoints were deleted",
                crate::task::text::visible(&path.display().to_string()),
                s.seq,
                s.snapshot
            )));
        }
        let had_rows: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM snapshots WHERE id < ?1)
                     OR EXISTS (SELECT 1 FROM chain_checkpoints)",
                [first_new],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if !had_rows {
            return start;
        }
        Ok(Err(format!(
            "the history has snapshots but no checkpoint of this key ({}): a new or rotated key, or its checkpoints were deleted; to let this key vouch for the history as it stands, start its line with --start-signing --reason TEXT",
            key.fingerprint()
        )))
    }

    /// The signer state must not be ahead of the database: its checkpoint deleted or rolled
    /// back is a broken line, and so is a missing state where the key has checkpoints.
    fn state_agrees(
        &self,
        key: &PublicKey,
        path: &Path,
        state: Option<&SignerState>,
        c: &StoredCheckpoint,
    ) -> Result<Result<(), String>, StoreError> {
        let shown = crate::task::text::visible(&path.display().to_string()).into_owned();
        let Some(s) = state else {
            return Ok(Err(format!(
                "the signer state {shown} is missing, yet the history has checkpoints of this key: restore the state, or start a new line with --start-signing"
            )));
        };
        if s.key != key.fingerprint() {
            return Ok(Err(format!(
                "the signer state {shown} is of another key ({})",
                crate::task::text::visible(&s.key)
            )));
        }
        let behind = match &c.line {
            None => true,
            Some(pos) => {
                pos.seq < s.seq
                    || (pos.seq == s.seq && c.snapshot < s.snapshot)
                    || (pos.seq == s.seq
                        && c.snapshot == s.snapshot
                        && message_digest(&c.message()) != s.message_sha256)
            }
        };
        if behind {
            return Ok(Err(format!(
                "the history's newest checkpoint of this key (snapshot {}) is behind the signer state {shown} (checkpoint {} at snapshot {}): the newest checkpoints were deleted or rolled back",
                c.snapshot, s.seq, s.snapshot
            )));
        }
        let head = Head {
            snapshot: s.snapshot,
            chain_hash: s.chain_hash.clone(),
        };
        Ok(match self.head_status(&head)? {
            HeadStatus::Rewritten { .. } | HeadStatus::Missing { .. } => Err(format!(
                "snapshot {}, which the signer state {shown} names, no longer holds: the history at or before it was rewritten or cut",
                s.snapshot
            )),
            _ => Ok(()),
        })
    }

    /// The `signing` journal entry of `--start-signing`, recorded at the start of the first
    /// transaction so that the snapshots recorded after it link it; needless (the key has a
    /// line) it is not recorded, and said.
    pub(crate) fn record_line_start(
        &self,
        key: &PublicKey,
        start: &LineStart,
    ) -> Result<bool, StoreError> {
        if self.newest_of_key(&self.conn, key)?.is_some() {
            tracing::warn!(
                "--start-signing: the history already has a signature line for this key ({}); it continues, and no line is started",
                key.fingerprint()
            );
            return Ok(false);
        }
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let detail = serde_json::json!({ "key": key.fingerprint() });
        super::journal::insert(
            &self.conn,
            &super::NewEntry {
                target: "",
                kind: super::EntryKind::Signing,
                at: start.at,
                by: &start.by,
                reason: &start.reason,
                snapshot: None,
                config_hash: "",
                detail: &detail,
            },
            err,
        )?;
        Ok(true)
    }

    /// Every checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM signed_checkpoints ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        stmt.query_map([], checkpoint_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// A checkpoint from an export, kept as it was (its signature is checked by `verify`).
    pub(crate) fn import_checkpoint_in(
        conn: &rusqlite::Connection,
        c: &StoredCheckpoint,
    ) -> rusqlite::Result<bool> {
        let present: Option<i64> = conn
            .query_row(
                "SELECT id FROM signed_checkpoints WHERE signature = ?1",
                [&c.signature],
                |r| r.get(0),
            )
            .optional()?;
        if present.is_some() {
            return Ok(false);
        }
        conn.execute(
            "INSERT INTO signed_checkpoints
                 (snapshot, chain_hash, signed_at, tool_version, signature, seq, prev_message, key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.snapshot,
                c.chain_hash,
                c.signed_at,
                c.tool_version,
                c.signature,
                c.line.as_ref().map(|p| p.seq),
                c.line.as_ref().and_then(|p| p.prev.clone()),
                c.key
            ],
        )?;
        Ok(true)
    }
}

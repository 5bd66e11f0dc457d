//! Signed checkpoints: the chain head signed, in the same transaction as the rows it covers, with
//! a key kept apart from the database; and their verification with the public key.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::chain::ChainBreak;
use super::line::{LineSettings, LineState, SIGNER_STATE_SCHEMA, SignerState};
use super::{Store, StoreError};
use crate::trust::witness::HeadStatus;
use crate::trust::{
    CHECKPOINT_NAMESPACE, Head, LinePos, PublicKey, SigningKey, checkpoint_message_v2,
    message_digest,
};

/// The key a connection signs with, the checkpoint row this command keeps moving forward (one
/// row per command, however many batches it commits while it is the newest), and where its
/// signature line stands.
pub(crate) struct Signer {
    pub key: Arc<SigningKey>,
    pub public: PublicKey,
    pub row: Option<i64>,
    pub line: LineState,
}

impl Signer {
    /// Signs `head` (the newest snapshot, as this transaction sees it) at its place `pos` in the
    /// line and stores it; gives the row and the state to keep once the transaction commits.
    pub fn write(
        &self,
        tx: &rusqlite::Connection,
        shown: &str,
        (snapshot, chain_hash): (i64, String),
        signed_at: i64,
        pos: LinePos,
    ) -> Result<(i64, SignerState), StoreError> {
        let err = |e| super::classify(shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let head = Head {
            snapshot,
            chain_hash,
        };
        let version = env!("CARGO_PKG_VERSION");
        let message = checkpoint_message_v2(&pos, &head, signed_at, version);
        let signature = self.key.sign(CHECKPOINT_NAMESPACE, &message);
        let fingerprint = self.public.fingerprint();
        // This command's row moves forward (a NULL id is a new row); a row removed meanwhile
        // is written again.
        tx.prepare_cached(
            "INSERT INTO signed_checkpoints
                 (id, snapshot, chain_hash, signed_at, tool_version, signature, seq, prev_message, key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot,
                 chain_hash = excluded.chain_hash, signed_at = excluded.signed_at,
                 tool_version = excluded.tool_version, signature = excluded.signature,
                 seq = excluded.seq, prev_message = excluded.prev_message, key = excluded.key",
        )
        .and_then(|mut st| {
            st.execute(params![
                self.row,
                head.snapshot,
                head.chain_hash,
                signed_at,
                version,
                signature,
                pos.seq,
                pos.prev,
                fingerprint
            ])
        })
        .map_err(err)?;
        let row = self.row.unwrap_or_else(|| tx.last_insert_rowid());
        let state = SignerState {
            schema: SIGNER_STATE_SCHEMA.into(),
            key: fingerprint,
            seq: pos.seq,
            snapshot: head.snapshot,
            chain_hash: head.chain_hash,
            message_sha256: message_digest(&message),
        };
        Ok((row, state))
    }
}

/// What the stored signed checkpoints say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    /// Signed checkpoints stored.
    pub signed: u64,
    /// Of them, those whose signature verifies with the public key and whose head lies on the
    /// chain; `None` when no public key was given.
    pub verified: Option<u64>,
    /// Those whose head was pruned since (nothing left to compare it with).
    pub pruned: u64,
    /// Snapshots recorded after the newest verified signed head (without a key: the newest
    /// stored one).
    pub unsigned_tail: u64,
    /// The newest signed head that verified.
    pub newest: Option<Head>,
    /// The first checkpoint that does not hold, by its head's snapshot.
    pub first_bad: Option<ChainBreak>,
    /// Where the key's signature line starts: on an empty history, or by `--start-signing`
    /// (the journal's `signing` entries say who and why).
    pub line_starts: Vec<LineStartSeen>,
}

/// A checkpoint that starts its key's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineStartSeen {
    pub snapshot: i64,
    pub signed_at: String,
}

/// Why checkpoint `c` does not continue the line after `before` (the key's checkpoint made
/// before it), if it does not. Checkpoints made before chaining (no place in a line) link
/// nothing; the first chained one links the newest of them, or starts a line.
fn link_break(
    before: Option<&super::line::StoredCheckpoint>,
    c: &super::line::StoredCheckpoint,
) -> Option<String> {
    let pos = c.line.as_ref()?;
    let Some(prev) = &pos.prev else {
        return (pos.seq != 1).then(|| {
            format!(
                "the checkpoint of snapshot {} starts a line but is numbered {}",
                c.snapshot, pos.seq
            )
        });
    };
    let Some(b) = before else {
        return Some(format!(
            "the checkpoint of snapshot {} links a checkpoint that is gone (the checkpoints before it were deleted)",
            c.snapshot
        ));
    };
    let seq = b.line.as_ref().map_or(1, |p| p.seq + 1);
    (pos.seq != seq || *prev != message_digest(&b.message())).then(|| {
        format!(
            "the checkpoint of snapshot {} does not link the one before it (snapshot {}): a checkpoint between them was deleted or altered",
            c.snapshot, b.snapshot
        )
    })
}

impl Store {
    /// Signs every later recording's new head with `key`, in the recording's transaction.
    pub fn sign_checkpoints_with(&mut self, key: Arc<SigningKey>) {
        let public = key.public_key();
        self.signer = Some(Signer {
            key,
            public,
            row: None,
            line: LineState::default(),
        });
    }

    /// With a signing key: keep the signer's state outside the database and hold the history
    /// to it; start the key's line on a history that has rows (`--start-signing`, recorded in
    /// the journal before the first snapshot this command records).
    pub fn keep_line(&mut self, settings: LineSettings) {
        if let Some(s) = &mut self.signer {
            s.line.state = settings.state;
            s.line.start = settings.start;
        }
    }

    /// Why this command's signature line is broken (it records without signing), if it is.
    pub fn signature_line_broken(&self) -> Option<&str> {
        self.signer.as_ref()?.line.broken.as_deref()
    }

    /// Where `head` stands in this history: held, rewritten, pruned or cut.
    pub fn head_status(&self, head: &Head) -> Result<HeadStatus, StoreError> {
        let hash_at = |sql: &str| -> Result<Option<String>, StoreError> {
            self.conn
                .query_row(sql, [head.snapshot], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(e))
        };
        let compare = |found: String, held: HeadStatus| {
            if found == head.chain_hash {
                held
            } else {
                HeadStatus::Rewritten { found }
            }
        };
        if let Some(found) = hash_at("SELECT lower(hex(chain_hash)) FROM snapshots WHERE id = ?1")?
        {
            return Ok(compare(found, HeadStatus::Held));
        }
        if let Some(found) = hash_at(
            "SELECT chain_hash FROM chain_checkpoints WHERE last_snapshot = ?1
             ORDER BY id DESC LIMIT 1",
        )? {
            return Ok(compare(found, HeadStatus::HeldAtCheckpoint));
        }
        let (pruned_through, newest): (Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                "SELECT (SELECT MAX(last_snapshot) FROM chain_checkpoints),
                        (SELECT MAX(id) FROM snapshots)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))?;
        Ok(match pruned_through {
            Some(p) if head.snapshot <= p => HeadStatus::Pruned,
            _ => HeadStatus::Missing { newest },
        })
    }

    /// Checks every stored signed checkpoint: with `key`, that its signature verifies, that its
    /// head lies on the chain and that it links the checkpoint of the key before it; and counts
    /// the snapshots after the newest one that holds.
    pub fn verify_checkpoints(
        &self,
        key: Option<&PublicKey>,
    ) -> Result<CheckpointReport, StoreError> {
        let rows = self.checkpoints()?;
        let mut report = CheckpointReport {
            signed: rows.len() as u64,
            verified: key.map(|_| 0),
            pruned: 0,
            unsigned_tail: 0,
            newest: None,
            first_bad: None,
            line_starts: Vec::new(),
        };
        let Some(key) = key else {
            report.newest = rows.iter().max_by_key(|c| c.snapshot).map(|c| c.head());
            return self.count_unsigned_tail(report);
        };
        // The key's checkpoint before the one being checked, in the order they were made.
        let mut before: Option<&super::line::StoredCheckpoint> = None;
        // The first checkpoint of another key, should none be this key's.
        let mut others: Option<ChainBreak> = None;
        for c in &rows {
            let snapshot = c.snapshot;
            let bad = |reason: String| ChainBreak { snapshot, reason };
            if let Err(why) = c.verifies(key) {
                let reason = bad(format!(
                    "the signed checkpoint of snapshot {snapshot} does not verify with the public key: {why}"
                ));
                // Another key's checkpoint (after a rotation) is not this line's; one made
                // before keys were named, or that names this key, is bad.
                if c.key.as_deref().is_none_or(|k| k == key.fingerprint()) {
                    report.first_bad.get_or_insert(reason);
                } else {
                    others.get_or_insert(reason);
                }
                continue;
            }
            if let Some(why) = link_break(before, c) {
                report.first_bad.get_or_insert(bad(why));
            }
            if c.line.as_ref().is_some_and(|p| p.prev.is_none()) {
                report.line_starts.push(LineStartSeen {
                    snapshot,
                    signed_at: crate::task::when::fmt_utc(super::from_ms(c.signed_at)),
                });
            }
            before = Some(c);
            match self.head_status(&c.head())? {
                HeadStatus::Held | HeadStatus::HeldAtCheckpoint => {
                    *report.verified.as_mut().expect("a key was given") += 1;
                    if report
                        .newest
                        .as_ref()
                        .is_none_or(|n| n.snapshot <= snapshot)
                    {
                        report.newest = Some(c.head());
                    }
                }
                HeadStatus::Pruned => report.pruned += 1,
                HeadStatus::Rewritten { .. } => {
                    report.first_bad.get_or_insert(bad(format!(
                        "snapshot {snapshot} no longer has the chain hash its signed checkpoint gives: the history at or before it was rewritten"
                    )));
                }
                HeadStatus::Missing { .. } => {
                    report.first_bad.get_or_insert(bad(format!(
                        "snapshot {snapshot}, which a signed checkpoint covers, is gone: the history was cut below it"
                    )));
                }
            }
        }
        // Checkpoints, and none of this key: the wrong key was given, or it signed nothing.
        if before.is_none() && report.first_bad.is_none() {
            report.first_bad = others;
        }
        self.count_unsigned_tail(report)
    }

    fn count_unsigned_tail(
        &self,
        mut report: CheckpointReport,
    ) -> Result<CheckpointReport, StoreError> {
        // Without a verified checkpoint every snapshot is unsigned: a count without a condition,
        // which reads the smallest index rather than every row. Either reads through a small
        // cache, which a long history would otherwise fill.
        let after = report.newest.as_ref().map_or(0, |h| h.snapshot);
        report.unsigned_tail = self.with_small_cache(|| {
            let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
                self.conn
                    .query_row(sql, p, |r| r.get::<_, i64>(0))
                    .map_err(|e| self.err(e))
            };
            if after == 0 {
                count("SELECT COUNT(*) FROM snapshots", &[])
            } else {
                count("SELECT COUNT(*) FROM snapshots WHERE id > ?1", &[&after])
            }
        })? as u64;
        Ok(report)
    }
}

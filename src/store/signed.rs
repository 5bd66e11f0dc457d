//! Signed checkpoints: the chain head signed, in the same transaction as the rows it covers, with
//! a key kept apart from the database; and their verification with the public key.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::chain::ChainBreak;
use super::{Store, StoreError};
use crate::trust::witness::HeadStatus;
use crate::trust::{CHECKPOINT_NAMESPACE, Head, PublicKey, SigningKey, checkpoint_message};

/// The key a connection signs with, and the checkpoint row this connection keeps moving forward
/// (one row per command, however many batches it commits).
pub(crate) struct Signer {
    pub key: Arc<SigningKey>,
    pub row: Option<i64>,
}

impl Signer {
    /// Signs `head` (the newest snapshot, as this transaction sees it) and stores it; gives the
    /// row, which the caller remembers once the transaction commits.
    pub fn write(
        &self,
        tx: &rusqlite::Connection,
        shown: &str,
        (snapshot, chain_hash): (i64, String),
        signed_at: i64,
    ) -> Result<i64, StoreError> {
        let err = |e| super::classify(shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let head = Head {
            snapshot,
            chain_hash,
        };
        let version = env!("CARGO_PKG_VERSION");
        let signature = self.key.sign(
            CHECKPOINT_NAMESPACE,
            &checkpoint_message(&head, signed_at, version),
        );
        // This command's row moves forward (a NULL id is a new row); a row removed meanwhile
        // is written again.
        tx.prepare_cached(
            "INSERT INTO signed_checkpoints (id, snapshot, chain_hash, signed_at, tool_version, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot,
                 chain_hash = excluded.chain_hash, signed_at = excluded.signed_at,
                 tool_version = excluded.tool_version, signature = excluded.signature",
        )
        .and_then(|mut st| {
            st.execute(params![
                self.row,
                head.snapshot,
                head.chain_hash,
                signed_at,
                version,
                signature
            ])
        })
        .map_err(err)?;
        Ok(self.row.unwrap_or_else(|| tx.last_insert_rowid()))
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
}

impl Store {
    /// Signs every later recording's new head with `key`, in the recording's transaction.
    pub fn sign_checkpoints_with(&mut self, key: Arc<SigningKey>) {
        self.signer = Some(Signer { key, row: None });
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

    /// Checks every stored signed checkpoint: with `key`, that its signature verifies and that
    /// its head lies on the chain; and counts the snapshots after the newest one that holds.
    pub fn verify_checkpoints(
        &self,
        key: Option<&PublicKey>,
    ) -> Result<CheckpointReport, StoreError> {
        type Row = (i64, String, i64, String, String);
        let rows: Vec<Row> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT snapshot, chain_hash, signed_at, tool_version, signature
                     FROM signed_checkpoints ORDER BY snapshot, id",
                )
                .map_err(|e| self.err(e))?;
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?
        };
        let mut report = CheckpointReport {
            signed: rows.len() as u64,
            verified: key.map(|_| 0),
            pruned: 0,
            unsigned_tail: 0,
            newest: None,
            first_bad: None,
        };
        for (snapshot, chain_hash, signed_at, version, signature) in rows {
            let head = Head {
                snapshot,
                chain_hash,
            };
            let Some(key) = key else {
                report.newest = Some(head);
                continue;
            };
            let bad = |reason: String| ChainBreak { snapshot, reason };
            let message = checkpoint_message(&head, signed_at, &version);
            if let Err(why) = key.verify(CHECKPOINT_NAMESPACE, &message, &signature) {
                report.first_bad.get_or_insert(bad(format!(
                    "the signed checkpoint of snapshot {snapshot} does not verify with the public key: {why}"
                )));
                continue;
            }
            match self.head_status(&head)? {
                HeadStatus::Held | HeadStatus::HeldAtCheckpoint => {
                    *report.verified.as_mut().expect("a key was given") += 1;
                    report.newest = Some(head);
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

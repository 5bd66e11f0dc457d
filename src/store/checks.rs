//! Policy results stored with the snapshot they judged. A check's JSON document is kept in two
//! parts: its own (`head`: schema, target, snapshot) with the check, and the rest (`body`: the
//! policy files, each rule's result, the counts) once in `check_documents` for every check that
//! gave the same, since a target that did not change gives the same body night after night.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use sha2::Digest;

use super::{Store, StoreError, from_ms, ms};
use crate::task::canonical::canonical_value;

/// The counts of one stored check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckCounts {
    pub pass: u64,
    pub fail: u64,
    pub waived: u64,
    pub error: u64,
}

/// One check result to keep: its document split by [`split_document`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheck {
    pub snapshot_id: i64,
    pub policy_digest: String,
    pub checked_at: chrono::DateTime<chrono::Utc>,
    pub counts: CheckCounts,
    /// The document's own members, canonical JSON.
    pub head: String,
    /// The rest of it, canonical JSON; stored once however many checks give it.
    pub body: String,
}

/// A kept check, read back whole.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptCheck {
    pub policy_digest: String,
    pub checked_at: chrono::DateTime<chrono::Utc>,
    pub counts: CheckCounts,
    /// The check's JSON document, as `audit check --format json` gave it then.
    pub document: Value,
}

/// The members of a check's document that are its own; the others are the body.
const HEAD_MEMBERS: [&str; 3] = ["schema", "target", "snapshot"];

/// Splits a check's JSON document into its own members and the rest, each as canonical JSON
/// (keys sorted, no white space), so that the same body is the same bytes whichever way the
/// document was written. A document that is not a JSON object is kept whole as the body.
pub fn split_document(document: Value) -> (String, String) {
    let Value::Object(members) = document else {
        return ("{}".into(), canonical_value(&document));
    };
    let (mut head, mut body) = (Map::new(), Map::new());
    for (k, v) in members {
        match HEAD_MEMBERS.contains(&k.as_str()) {
            true => head.insert(k, v),
            false => body.insert(k, v),
        };
    }
    (
        canonical_value(&Value::Object(head)),
        canonical_value(&Value::Object(body)),
    )
}

/// The id of the stored body `body`, stored now if it is new.
pub(crate) fn document_id(conn: &Connection, body: &str) -> rusqlite::Result<i64> {
    let digest = sha2::Sha256::digest(body.as_bytes());
    let found = conn
        .prepare_cached("SELECT id FROM check_documents WHERE sha256 = ?1")?
        .query_row([digest.as_slice()], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    conn.prepare_cached("INSERT INTO check_documents (sha256, body) VALUES (?1, ?2)")?
        .execute(params![digest.as_slice(), body])?;
    Ok(conn.last_insert_rowid())
}

/// Keeps `c`, its body stored once.
fn insert_check(conn: &Connection, c: &StoredCheck) -> rusqlite::Result<()> {
    let document = document_id(conn, &c.body)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO check_results
         (snapshot_id, policy_digest, checked_at, pass, fail, waived, error, head, document)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        c.snapshot_id,
        c.policy_digest,
        ms(c.checked_at),
        c.counts.pass as i64,
        c.counts.fail as i64,
        c.counts.waived as i64,
        c.counts.error as i64,
        c.head,
        document
    ])?;
    Ok(())
}

/// The schema update that split the documents: every check kept whole (the table
/// `check_results`, column `report`) moves into `check_results_shared`, its other columns copied
/// as they are and its body stored once, and that table takes the old one's name. A document
/// that is not JSON is kept whole as its body.
pub(crate) fn split_kept_documents(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    {
        let mut old = tx.prepare("SELECT snapshot_id, policy_digest, report FROM check_results")?;
        let mut moved = tx.prepare(
            "INSERT INTO check_results_shared
             (snapshot_id, policy_digest, checked_at, pass, fail, waived, error, head, document)
             SELECT snapshot_id, policy_digest, checked_at, pass, fail, waived, error, ?3, ?4
             FROM check_results WHERE snapshot_id = ?1 AND policy_digest = ?2",
        )?;
        let mut rows = old.query([])?;
        while let Some(r) = rows.next()? {
            let (snapshot_id, policy_digest, text): (i64, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?);
            let (head, body) = match serde_json::from_str::<Value>(&text) {
                Ok(document) => split_document(document),
                Err(_) => ("{}".into(), text),
            };
            let document = document_id(tx, &body)?;
            moved.execute(params![snapshot_id, policy_digest, head, document])?;
        }
    }
    tx.execute_batch(
        "DROP TABLE check_results;
         ALTER TABLE check_results_shared RENAME TO check_results;",
    )
}

impl Store {
    /// Stores (or replaces) checks, each the result of checking its snapshot with its policy
    /// set, in one transaction: a fleet's checks are kept together, not one commit each.
    pub fn save_checks(&mut self, checks: &[StoredCheck]) -> Result<(), StoreError> {
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let tx = self.conn.transaction().map_err(err)?;
        for c in checks {
            insert_check(&tx, c).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The checks kept for snapshot `snapshot_id`, oldest first, each with its whole document.
    pub fn kept_checks(&self, snapshot_id: i64) -> Result<Vec<KeptCheck>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT c.policy_digest, c.checked_at, c.pass, c.fail, c.waived, c.error,
                        c.head, d.body
                 FROM check_results c JOIN check_documents d ON d.id = c.document
                 WHERE c.snapshot_id = ?1
                 ORDER BY c.checked_at, c.policy_digest",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([snapshot_id], |r| {
                let count = |i: usize| r.get::<_, i64>(i).map(|n| n as u64);
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    CheckCounts {
                        pass: count(2)?,
                        fail: count(3)?,
                        waived: count(4)?,
                        error: count(5)?,
                    },
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut kept = Vec::new();
        for row in rows {
            let (policy_digest, checked_at, counts, head, body) = row.map_err(|e| self.err(e))?;
            let object = |text: &str| match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(StoreError::Corrupt {
                    path: self.shown(),
                    message: format!(
                        "the check of snapshot {snapshot_id} kept at {} is not a JSON document",
                        crate::task::when::fmt_utc(from_ms(checked_at))
                    ),
                }),
            };
            let mut document = object(&head)?;
            document.extend(object(&body)?);
            kept.push(KeptCheck {
                policy_digest,
                checked_at: from_ms(checked_at),
                counts,
                document: Value::Object(document),
            });
        }
        Ok(kept)
    }
}

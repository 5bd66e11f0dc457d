//! The journal: what people decided about a target's task (a baseline approved, a restore
//! applied). Entries are chained among themselves, and every snapshot recorded after an entry
//! links the newest entry's hash in its own chain link, so the snapshot chain, its witnesses and
//! its signed checkpoints cover the journal too (migration 09 says how).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Store, StoreError, from_ms, ms};
use crate::task::canonical::canonical_value;
use crate::task::when::fmt_utc_exact;

/// What a journal entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A config approved as the target's baseline.
    Baseline,
    /// A restore applied: the Update sent, and what the task read back afterwards.
    Restore,
    /// A signature line started on a history that already had rows (`--start-signing`): no
    /// target, no config; its detail names the key.
    Signing,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Baseline => "baseline",
            EntryKind::Restore => "restore",
            EntryKind::Signing => "signing",
        }
    }

    fn parse(s: &str) -> Option<EntryKind> {
        match s {
            "baseline" => Some(EntryKind::Baseline),
            "restore" => Some(EntryKind::Restore),
            "signing" => Some(EntryKind::Signing),
            _ => None,
        }
    }
}

/// An entry to record.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub target: &'a str,
    pub kind: EntryKind,
    pub at: DateTime<Utc>,
    /// Who decided (a person or a service account, as given).
    pub by: &'a str,
    /// Why (a baseline's reason; empty for a restore).
    pub reason: &'a str,
    /// A baseline's approved snapshot. A restore recorded with [`Store::record_after_entry`]
    /// names the snapshot recorded with it, whatever is given here.
    pub snapshot: Option<i64>,
    /// A baseline's config; a restore's config restored to.
    pub config_hash: &'a str,
    /// The rest, as JSON (a restore's plan and outcome); stored in canonical form.
    pub detail: &'a Value,
}

/// A recorded entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: i64,
    pub target: String,
    pub kind: EntryKind,
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
    pub snapshot: Option<i64>,
    pub config_hash: String,
    pub detail: Value,
    /// Its link in the journal's chain, in hex.
    pub hash: String,
}

fn ser_time<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::task::when::fmt_utc(*at))
}

/// An entry as `audit export` writes it: `{"journal": {...}}`, one line, before the first
/// snapshot that links it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEntry {
    pub id: i64,
    pub target: String,
    pub kind: EntryKind,
    pub at: String,
    pub by: String,
    pub reason: String,
    #[serde(default)]
    pub snapshot: Option<i64>,
    pub config_hash: String,
    pub detail: Value,
    pub hash: String,
}

/// What `verify` found of the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JournalReport {
    pub entries: u64,
    /// Entries newer than the newest snapshot: no snapshot links them yet, so a witness or a
    /// signed checkpoint covers them only from the next snapshot on.
    pub unlinked: u64,
    /// The first entry that does not hold, and why.
    pub first_break: Option<JournalBreak>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalBreak {
    pub entry: i64,
    pub reason: String,
}

/// What an entry's link covers, serialized as canonical JSON (fields in this order).
#[derive(Serialize)]
struct EntryLink<'a> {
    id: i64,
    /// `None` (JSON null) only for a `signing` entry: every other entry links its target and
    /// config as the strings they always were, so their hashes are unchanged.
    target: Option<&'a str>,
    kind: &'a str,
    at: i64,
    by: &'a str,
    reason: &'a str,
    snapshot: Option<i64>,
    config_hash: Option<&'a str>,
    detail: &'a str,
}

/// A `signing` entry names no target and no config; [`Entry`] holds them as empty strings.
fn named<'a>(kind: &str, value: &'a str) -> Option<&'a str> {
    (kind != EntryKind::Signing.as_str()).then_some(value)
}

/// `sha256("tcss-audit/journal/v1\n" + prev + "\n" + canonical JSON of the link)`.
fn entry_digest(prev: &str, link: &EntryLink<'_>) -> [u8; 32] {
    let json = serde_json::to_vec(link).expect("links serialize");
    let mut h = Sha256::new();
    h.update(b"tcss-audit/journal/v1\n");
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(&json);
    h.finalize().into()
}

/// The newest entry's id and hash (hex), if there is one.
pub(crate) fn head(tx: &rusqlite::Connection) -> rusqlite::Result<Option<(i64, String)>> {
    tx.prepare_cached("SELECT id, hash FROM journal ORDER BY id DESC LIMIT 1")
        .and_then(|mut st| {
            st.query_row([], |r| {
                Ok((r.get(0)?, hex::encode(r.get::<_, Vec<u8>>(1)?)))
            })
            .optional()
        })
}

/// Appends `e` after the newest entry, in `tx`.
pub(crate) fn insert(
    tx: &rusqlite::Connection,
    e: &NewEntry<'_>,
    err: impl Fn(rusqlite::Error) -> StoreError + Copy,
) -> Result<Entry, StoreError> {
    let target_id: Option<i64> = if e.kind == EntryKind::Signing {
        None
    } else {
        tx.prepare_cached("INSERT OR IGNORE INTO targets (name, created_at) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(params![e.target, ms(e.at)]))
            .map_err(err)?;
        tx.prepare_cached("SELECT id FROM targets WHERE name = ?1")
            .and_then(|mut st| st.query_row([e.target], |r| r.get(0)))
            .map_err(err)?
    };
    let kind = e.kind.as_str();
    let (prev_id, prev) = head(tx)
        .map_err(err)?
        .unwrap_or((0, super::chain::GENESIS.to_string()));
    let id = prev_id + 1;
    let detail = canonical_value(e.detail);
    let link = EntryLink {
        id,
        target: named(kind, e.target),
        kind,
        at: ms(e.at),
        by: e.by,
        reason: e.reason,
        snapshot: e.snapshot,
        config_hash: named(kind, e.config_hash),
        detail: &detail,
    };
    let digest = entry_digest(&prev, &link);
    tx.prepare_cached(
        "INSERT INTO journal (id, target_id, kind, at, by_whom, reason, snapshot, config_hash, detail, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut st| {
        st.execute(params![
            id,
            target_id,
            e.kind.as_str(),
            ms(e.at),
            e.by,
            e.reason,
            e.snapshot,
            named(kind, e.config_hash),
            detail,
            digest
        ])
    })
    .map_err(err)?;
    Ok(Entry {
        id,
        target: e.target.to_string(),
        kind: e.kind,
        at: from_ms(ms(e.at)),
        by: e.by.to_string(),
        reason: e.reason.to_string(),
        snapshot: e.snapshot,
        config_hash: e.config_hash.to_string(),
        detail: e.detail.clone(),
        hash: hex::encode(digest),
    })
}

/// One stored entry as read, before it is checked.
struct Stored {
    id: i64,
    target: String,
    kind: String,
    at: i64,
    by: String,
    reason: String,
    snapshot: Option<i64>,
    config_hash: String,
    detail: String,
    hash: Vec<u8>,
}

const SELECT: &str =
    "SELECT j.id, COALESCE(t.name, ''), j.kind, j.at, j.by_whom, j.reason, j.snapshot,
                             COALESCE(j.config_hash, ''), j.detail, j.hash
                      FROM journal j LEFT JOIN targets t ON t.id = j.target_id";

fn stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        id: r.get(0)?,
        target: r.get(1)?,
        kind: r.get(2)?,
        at: r.get(3)?,
        by: r.get(4)?,
        reason: r.get(5)?,
        snapshot: r.get(6)?,
        config_hash: r.get(7)?,
        detail: r.get(8)?,
        hash: r.get(9)?,
    })
}

impl Stored {
    fn into_entry(self) -> Entry {
        Entry {
            id: self.id,
            target: self.target,
            kind: EntryKind::parse(&self.kind).unwrap_or(EntryKind::Baseline),
            at: from_ms(self.at),
            by: self.by,
            reason: self.reason,
            snapshot: self.snapshot,
            config_hash: self.config_hash,
            // Stored by this tool as canonical JSON; `verify` says when it was altered.
            detail: serde_json::from_str(&self.detail).unwrap_or(Value::Null),
            hash: hex::encode(self.hash),
        }
    }
}

impl Store {
    /// Appends an entry in a transaction of its own.
    pub fn append_entry(&mut self, e: &NewEntry<'_>) -> Result<Entry, StoreError> {
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let entry = insert(&tx, e, err)?;
        tx.commit().map_err(err)?;
        Ok(entry)
    }

    /// A target's entries of `kind` (every kind: `None`), oldest first.
    pub fn entries(
        &self,
        target: Option<&str>,
        kind: Option<EntryKind>,
    ) -> Result<Vec<Entry>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE (?1 IS NULL OR t.name = ?1) AND (?2 IS NULL OR j.kind = ?2) ORDER BY j.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![target, kind.map(EntryKind::as_str)], stored)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(Stored::into_entry).collect())
    }

    /// An exported entry: recorded unless the same decision is already there (same target,
    /// kind, moment, person and config). Gives the entry's hash here and whether it was present.
    pub fn import_entry(&mut self, e: &ExportEntry) -> Result<(String, bool), StoreError> {
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let done = import_in(&tx, &shown, e)?;
        tx.commit().map_err(err)?;
        Ok(done)
    }

    /// Every entry as exported, oldest first.
    pub(crate) fn export_entries(&self) -> Result<Vec<ExportEntry>, StoreError> {
        Ok(self
            .entries(None, None)?
            .into_iter()
            .map(|e| ExportEntry {
                id: e.id,
                target: e.target,
                kind: e.kind,
                at: fmt_utc_exact(e.at),
                by: e.by,
                reason: e.reason,
                snapshot: e.snapshot,
                config_hash: e.config_hash,
                detail: e.detail,
                hash: e.hash,
            })
            .collect())
    }

    /// Checks the journal's chain: gives the hash of every entry up to the first that does not
    /// hold (a snapshot linking a later one breaks the snapshot chain too), and what was found.
    pub(crate) fn verify_journal(
        &self,
        tx: &rusqlite::Connection,
        newest_link: Option<i64>,
    ) -> Result<(HashMap<i64, String>, JournalReport), StoreError> {
        let mut stmt = tx
            .prepare(&format!("{SELECT} ORDER BY j.id"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], stored)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>();
        let mut hashes = HashMap::new();
        let mut report = JournalReport::default();
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                report.first_break = Some(JournalBreak {
                    entry: 0,
                    reason: format!("the journal cannot be read ({e})"),
                });
                return Ok((hashes, report));
            }
        };
        let mut configs = tx
            .prepare("SELECT 1 FROM configs WHERE hash = ?1")
            .map_err(|e| self.err(e))?;
        let mut prev = super::chain::GENESIS.to_string();
        for (i, s) in rows.iter().enumerate() {
            report.entries += 1;
            if newest_link.is_none_or(|n| s.id > n) {
                report.unlinked += 1;
            }
            if report.first_break.is_some() {
                continue;
            }
            let expected = i as i64 + 1;
            let reason = if s.id != expected {
                Some(format!(
                    "journal entry {expected} is missing (the next is {})",
                    s.id
                ))
            } else if EntryKind::parse(&s.kind).is_none() {
                Some(format!("its kind {:?} is not known", s.kind))
            } else {
                let detail_ok = serde_json::from_str::<Value>(&s.detail)
                    .is_ok_and(|v| canonical_value(&v) == s.detail);
                let link = EntryLink {
                    id: s.id,
                    target: named(&s.kind, &s.target),
                    kind: &s.kind,
                    at: s.at,
                    by: &s.by,
                    reason: &s.reason,
                    snapshot: s.snapshot,
                    config_hash: named(&s.kind, &s.config_hash),
                    detail: &s.detail,
                };
                if !detail_ok || entry_digest(&prev, &link)[..] != s.hash[..] {
                    Some("its content does not match its hash (the entry was altered, or one before it was removed, reordered or altered)".to_string())
                } else if named(&s.kind, &s.config_hash).is_some()
                    && !configs.exists([&s.config_hash]).map_err(|e| self.err(e))?
                {
                    Some("the config it names is missing from the database".to_string())
                } else {
                    None
                }
            };
            match reason {
                Some(reason) => {
                    report.first_break = Some(JournalBreak {
                        entry: s.id,
                        reason,
                    })
                }
                None => {
                    prev = hex::encode(&s.hash);
                    hashes.insert(s.id, prev.clone());
                }
            }
        }
        // A time out of order is a break of its own: the hashes still hold, so the snapshots
        // linking the entry do too.
        if let Some(b) = self.time_break(tx, &rows)?
            && report
                .first_break
                .as_ref()
                .is_none_or(|f| b.entry < f.entry)
        {
            report.first_break = Some(b);
        }
        Ok((hashes, report))
    }

    /// The first entry dated out of order with what is around it (see
    /// [`crate::task::journal_time`]). A snapshot links the newest entry when it is recorded,
    /// so `journal_id` grows with the snapshot's id: each entry's first linking snapshot is found
    /// by one scan forward from the previous entry's, and the snapshot before it is the newest
    /// recorded before the entry.
    fn time_break(
        &self,
        tx: &rusqlite::Connection,
        rows: &[Stored],
    ) -> Result<Option<JournalBreak>, StoreError> {
        use crate::task::journal_time::{self, Around};
        let err = |e| self.err(e);
        let mut linking = tx
            .prepare(
                "SELECT id, recorded_at FROM snapshots WHERE id >= ?1 AND journal_id >= ?2
                 ORDER BY id LIMIT 1",
            )
            .map_err(err)?;
        let mut before = tx
            .prepare("SELECT id, recorded_at FROM snapshots WHERE id < ?1 ORDER BY id DESC LIMIT 1")
            .map_err(err)?;
        let pair = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, from_ms(r.get(1)?)));
        let (mut from, mut unlinked) = (0, false);
        let mut entry_before = None;
        for s in rows {
            let first_linking = match unlinked {
                true => None,
                false => linking
                    .query_row(params![from, s.id], pair)
                    .optional()
                    .map_err(err)?,
            };
            match first_linking {
                Some((id, _)) => from = id,
                // No snapshot links this one, so none links a later one.
                None => unlinked = true,
            }
            let upto = first_linking.map_or(i64::MAX, |(id, _)| id);
            let snapshot_before = before.query_row([upto], pair).optional().map_err(err)?;
            let around = Around {
                entry_before,
                snapshot_before,
                first_linking,
            };
            if let Err(e) = journal_time::check(from_ms(s.at), &around) {
                return Ok(Some(JournalBreak {
                    entry: s.id,
                    reason: e.to_string(),
                }));
            }
            entry_before = Some((s.id, from_ms(s.at)));
        }
        Ok(None)
    }
}

/// [`Store::import_entry`] in the transaction open on `tx`.
pub(crate) fn import_in(
    tx: &rusqlite::Connection,
    shown: &str,
    e: &ExportEntry,
) -> Result<(String, bool), StoreError> {
    let err = |e: rusqlite::Error| super::classify(shown, e, super::DEFAULT_BUSY_TIMEOUT);
    let at = chrono::DateTime::parse_from_rfc3339(&e.at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|x| StoreError::Sqlite {
            path: shown.to_string(),
            message: format!("journal entry {}: bad time {:?}: {x}", e.id, e.at),
        })?;
    let present: Option<Vec<u8>> = tx
        .query_row(
            "SELECT j.hash FROM journal j LEFT JOIN targets t ON t.id = j.target_id
             WHERE COALESCE(t.name, '') = ?1 AND j.kind = ?2 AND j.at = ?3 AND j.by_whom = ?4
                 AND COALESCE(j.config_hash, '') = ?5",
            params![e.target, e.kind.as_str(), ms(at), e.by, e.config_hash],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    if let Some(hash) = present {
        return Ok((hex::encode(hash), true));
    }
    let entry = insert(
        tx,
        &NewEntry {
            target: &e.target,
            kind: e.kind,
            at,
            by: &e.by,
            reason: &e.reason,
            snapshot: e.snapshot,
            config_hash: &e.config_hash,
            detail: &e.detail,
        },
        err,
    )?;
    Ok((entry.hash, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::tests_support as testing;

    fn approve(store: &mut Store, snapshot: i64, hash: &str, reason: &str) -> Entry {
        store
            .append_entry(&NewEntry {
                target: "prod",
                kind: EntryKind::Baseline,
                // A minute after the snapshot approved, which the nightly fixture records a day apart.
                at: DateTime::from_timestamp(1_780_000_000 + (snapshot - 1) * 86_400 + 60, 0)
                    .unwrap(),
                by: "alice",
                reason,
                snapshot: Some(snapshot),
                config_hash: hash,
                detail: &serde_json::json!({}),
            })
            .unwrap()
    }

    #[test]
    fn entries_chain_and_the_snapshots_after_them_link_the_newest() {
        let (_dir, _path, mut store) = testing::fresh();
        let first = testing::record(&mut store, 0, 1);
        let a = approve(&mut store, first.id, &first.config_hash, "agreed");
        let second = testing::record(&mut store, 1, 7);
        let b = approve(&mut store, second.id, &second.config_hash, "weekly now");
        assert_eq!((a.id, b.id), (1, 2));
        assert_ne!(a.hash, b.hash);
        let report = store.verify().unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.journal.entries, 2);
        assert_eq!(report.journal.unlinked, 1, "no snapshot follows the second");
        let kept = store
            .entries(Some("prod"), Some(EntryKind::Baseline))
            .unwrap();
        assert_eq!(
            kept.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            ["agreed", "weekly now"]
        );
        assert!(store.entries(Some("other"), None).unwrap().is_empty());
    }

    #[test]
    fn an_altered_entry_breaks_the_journal_and_the_snapshot_linking_it() {
        let (_dir, _path, mut store) = testing::fresh();
        let first = testing::record(&mut store, 0, 1);
        approve(&mut store, first.id, &first.config_hash, "agreed");
        let linked = testing::record(&mut store, 1, 1);
        store
            .conn
            .execute("UPDATE journal SET reason = 'forged'", [])
            .unwrap();
        let report = store.verify().unwrap();
        assert_eq!(report.journal.first_break.as_ref().unwrap().entry, 1);
        assert_eq!(report.first_break.as_ref().unwrap().snapshot, linked.id);
        assert!(!report.ok());
    }

    #[test]
    fn recomputing_the_journal_after_an_edit_still_breaks_the_snapshot_chain() {
        let (_dir, _path, mut store) = testing::fresh();
        let first = testing::record(&mut store, 0, 1);
        approve(&mut store, first.id, &first.config_hash, "agreed");
        let linked = testing::record(&mut store, 1, 1);
        // An insider rewrites the entry with a valid hash of its own.
        let tx = store.conn.transaction().unwrap();
        tx.execute("DELETE FROM journal", []).unwrap();
        insert(
            &tx,
            &NewEntry {
                target: "prod",
                kind: EntryKind::Baseline,
                at: DateTime::from_timestamp(1_780_000_061, 0).unwrap(),
                by: "mallory",
                reason: "agreed",
                snapshot: Some(first.id),
                config_hash: &first.config_hash,
                detail: &serde_json::json!({}),
            },
            |e| StoreError::Sqlite {
                path: String::new(),
                message: e.to_string(),
            },
        )
        .unwrap();
        tx.commit().unwrap();
        let report = store.verify().unwrap();
        assert!(report.journal.first_break.is_none(), "{report:?}");
        assert_eq!(report.first_break.unwrap().snapshot, linked.id);
    }
}

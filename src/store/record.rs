//! Recording one observation: target, config once, snapshot, chain link and change events, all in
//! one transaction.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{BaseCache, Store, StoreError, chain, ms, rawpack};
use crate::task::diff;
use crate::task::normalize::{self, Config, Prepared, Status};
use crate::task::source::{Identity, Source};
use sha2::{Digest, Sha256};

/// One observation to record.
#[derive(Debug, Clone)]
pub struct NewSnapshot<'a> {
    pub target: &'a str,
    pub observed_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub source: Source,
    pub endpoint: Option<&'a str>,
    pub request_id: Option<&'a str>,
    /// The answer exactly as it came.
    pub raw: &'a [u8],
    /// The normalized config, with its canonical JSON and hash.
    pub config: &'a Prepared,
    pub status: &'a Status,
    /// Which account it came from, when known.
    pub identity: Option<&'a Identity>,
}

/// What recording did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    pub observed_at: DateTime<Utc>,
    pub config_hash: String,
    /// The config differs from the observation just before it in time (true for a first one).
    pub changed: bool,
    /// No observation of this target comes before it in time.
    pub first: bool,
    /// This observation was already recorded (same target, moment and bytes): nothing was added.
    pub duplicate: bool,
    /// Undocumented fields this target shows for the first time.
    pub new_fields: Vec<String>,
    /// This snapshot's link in the hash chain.
    pub chain_hash: String,
    /// Which account it came from, when known.
    pub identity: Option<Identity>,
}

impl Store {
    /// Records one observation in a single transaction: either all of it is stored or none.
    pub fn record(&mut self, s: &NewSnapshot<'_>) -> Result<Recorded, StoreError> {
        Ok(self.record_batch(std::slice::from_ref(s))?.remove(0))
    }

    /// Records several observations in one transaction (for imports: one commit, not one per
    /// row); either all of them are stored or none.
    pub fn record_batch(&mut self, batch: &[NewSnapshot<'_>]) -> Result<Vec<Recorded>, StoreError> {
        Ok(self.record_batch_with(None, batch)?.1)
    }

    /// Records a journal entry and the observation that follows it in one transaction (a
    /// restore: the Update's entry, then what the task read back). The entry names the
    /// snapshot, and the snapshot's link covers the entry.
    pub fn record_after_entry(
        &mut self,
        entry: &super::NewEntry<'_>,
        s: &NewSnapshot<'_>,
    ) -> Result<(super::Entry, Recorded), StoreError> {
        let (entry, mut recorded) = self.record_batch_with(Some(entry), std::slice::from_ref(s))?;
        Ok((entry.expect("an entry was given"), recorded.remove(0)))
    }

    fn record_batch_with(
        &mut self,
        entry: Option<&super::NewEntry<'_>>,
        batch: &[NewSnapshot<'_>],
    ) -> Result<(Option<super::Entry>, Vec<Recorded>), StoreError> {
        let mut open = self.begin()?;
        let done = (|| {
            let entry = match entry {
                Some(e) => {
                    let shown = self.shown();
                    let err = |e: rusqlite::Error| {
                        super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT)
                    };
                    let mut state = self.batch(&shown, &mut open);
                    let (last, _) = state.last(&self.conn)?;
                    let e = super::NewEntry {
                        snapshot: (!batch.is_empty()).then_some(last + 1).or(e.snapshot),
                        ..e.clone()
                    };
                    let entry = super::journal::insert(&self.conn, &e, err)?;
                    state.open.journal = Some(Some((entry.id, Arc::from(entry.hash.as_str()))));
                    Some(entry)
                }
                None => None,
            };
            Ok((entry, self.record_into(&mut open, batch)?))
        })();
        match done {
            Ok(done) => {
                self.commit(open)?;
                Ok(done)
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Opens a write transaction (raw `BEGIN`, so that a [`Bulk`] can keep it open across calls
    /// while it holds the store).
    fn begin(&mut self) -> Result<Open, StoreError> {
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        // Taken, not borrowed: if anything below fails, what it remembered is dropped with it.
        let mut recent = std::mem::take(&mut self.recent);
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        // With the write lock held, nobody else can change the history until the commit; what
        // was remembered from earlier batches still holds only if nobody did in between.
        let version: i64 = match self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)) {
            Ok(v) => v,
            Err(e) => {
                self.rollback();
                return Err(err(e));
            }
        };
        if recent.data_version != Some(version) {
            recent = Recent {
                data_version: Some(version),
                ..Recent::default()
            };
        }
        if let Err(e) = self.begin_line() {
            self.rollback();
            return Err(e);
        }
        Ok(Open {
            recent,
            new_bases: HashMap::new(),
            journal: None,
            rows: 0,
            recorded_at: None,
            first_new: None,
        })
    }

    /// `--start-signing`: its journal entry, first in the transaction, so that the snapshots
    /// recorded after it link it (or nothing, when the key already has a line).
    fn begin_line(&mut self) -> Result<(), StoreError> {
        let Some(signer) = &self.signer else {
            return Ok(());
        };
        let line = &signer.line;
        let Some(start) = line.start.clone().filter(|_| !line.start_pending) else {
            return Ok(());
        };
        let recorded = self.record_line_start(&signer.public, &start)?;
        let line = &mut self.signer.as_mut().expect("checked above").line;
        if recorded {
            line.start_pending = true;
        } else {
            line.start = None;
        }
        Ok(())
    }

    /// Links the open transaction's new head to the key's signature line and signs it: the
    /// checkpoint row and the state to keep, or nothing when the line is broken (the command
    /// then records without signing, and says why at its end).
    fn sign_open(
        &mut self,
        open: &mut Open,
        at: i64,
    ) -> Result<Option<(i64, super::line::SignerState)>, StoreError> {
        let shown = self.shown();
        let head = self.batch(&shown, open).last(&self.conn)?;
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let first_new = open.first_new.unwrap_or(head.0 + 1);
        match self.link_line(&signer.public, signer.row, &signer.line, first_new)? {
            Ok(linked) => Ok(Some(
                signer.write(&self.conn, &shown, head, at, linked.pos)?,
            )),
            Err(why) => {
                tracing::debug!(
                    "signature line broken: {}",
                    crate::task::text::visible(&why)
                );
                let signer = self.signer.as_mut().expect("checked above");
                signer.line.broken = Some(why);
                Ok(None)
            }
        }
    }

    /// After a commit: the signer remembers its row and keeps its state outside the database.
    fn signed(&mut self, checkpoint: Option<(i64, super::line::SignerState)>) {
        let Some(signer) = &mut self.signer else {
            return;
        };
        if signer.line.start_pending {
            signer.line.start_pending = false;
            signer.line.started = true;
            signer.line.start = None;
        }
        let Some((row, state)) = checkpoint else {
            return;
        };
        signer.row = Some(row);
        if let Some(path) = &signer.line.state
            && let Err(e) = super::line::write_state(path, &state)
        {
            // The database is then ahead of the state, which the next signer accepts.
            tracing::warn!(
                "the signer state {} could not be written ({e}); the next signing run still links to the history's newest checkpoint",
                crate::task::text::visible(&path.display().to_string())
            );
        }
    }

    fn batch<'a>(&'a self, shown: &'a str, open: &'a mut Open) -> Batch<'a> {
        Batch {
            shown,
            bases: &self.bases,
            open,
        }
    }

    /// Records `batch` in the open transaction.
    fn record_into(
        &self,
        open: &mut Open,
        batch: &[NewSnapshot<'_>],
    ) -> Result<Vec<Recorded>, StoreError> {
        let shown = self.shown();
        let mut state = self.batch(&shown, open);
        let mut out = Vec::with_capacity(batch.len());
        for s in batch {
            let recorded = record_in(&self.conn, &mut state, s)?;
            if !recorded.duplicate {
                state.open.first_new.get_or_insert(recorded.id);
            }
            out.push(recorded);
        }
        let newest = batch.iter().map(|s| ms(s.recorded_at)).max();
        open.recorded_at = open.recorded_at.max(newest);
        open.rows += batch.len();
        Ok(out)
    }

    /// Commits the open transaction; on failure nothing of it is kept, or remembered.
    fn commit(&mut self, mut open: Open) -> Result<(), StoreError> {
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        // With a signing key, the new head is signed in the same transaction: no committed row
        // is newer than the newest signature unless the process died between two commands.
        let checkpoint = match (&self.signer, open.recorded_at) {
            (Some(_), Some(at)) if open.rows > 0 => match self.sign_open(&mut open, at) {
                Ok(signed) => signed,
                Err(e) => {
                    self.rollback();
                    return Err(e);
                }
            },
            _ => None,
        };
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            self.rollback();
            return Err(err(e));
        }
        self.signed(checkpoint);
        // Only committed bases are remembered: a rolled-back id may be given out again.
        self.bases.remember(open.new_bases);
        self.recent = open.recent;
        Ok(())
    }

    /// Rolls the open transaction back, forgetting what it remembered.
    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.recent = Recent::default();
        // A line start rolled back is recorded again by the next transaction.
        if let Some(signer) = &mut self.signer {
            signer.line.start_pending = false;
        }
    }

    /// A write transaction held open across batches (for restoring a large export), committed
    /// once it holds `nights` rows for each target the connection knows, and at least
    /// `at_least` rows (and by [`Bulk::commit`]). Each commit writes every page it changed, and
    /// a night of a large fleet changes a page of the time index per target: committing a
    /// few thousand rows at a time would write each such page again every batch, where a
    /// commit of several nights writes it once for them all.
    ///
    /// While it lasts, the connection's page cache is twice its usual size: the pages a commit
    /// of a large fleet changes (its rows, and a page of the time index per target) then stay
    /// in memory until it writes them, instead of being spilled and read back.
    pub fn bulk(&mut self, at_least: usize, nights: usize) -> Bulk<'_> {
        let cache = self
            .conn
            .pragma_query_value(None, "cache_size", |r| r.get::<_, i64>(0))
            .ok();
        if let Some(cache) = cache {
            // A cache that cannot be grown only makes the import slower.
            let _ = self
                .conn
                .pragma_update(None, "cache_size", cache.saturating_mul(2));
        }
        Bulk {
            store: self,
            open: None,
            at_least,
            nights,
            cache,
        }
    }

    /// Forgets what recording remembers between batches (after this connection removes rows).
    pub(crate) fn forget_recent(&mut self) {
        self.recent = Recent::default();
    }
}

/// What recording remembers between batches on one connection, valid while the database's
/// `data_version` says no other connection has committed since: a large import then writes its
/// rows without first looking each target up again.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    data_version: Option<i64>,
    targets: HashMap<String, i64>,
    /// The newest snapshot's id and chain hash.
    last: Option<(i64, String)>,
    /// Each target's latest observation (by observed time, then id); `None`: it has none.
    latest: HashMap<i64, Option<Neighbour>>,
}

/// A neighbour in observed time.
#[derive(Debug, Clone)]
struct Neighbour {
    id: i64,
    config_hash: String,
    observed_at: i64,
    raw_base: Option<i64>,
}

/// What one open transaction carries from row to row and from batch to batch.
pub(crate) struct Open {
    recent: Recent,
    new_bases: HashMap<i64, Arc<[u8]>>,
    /// The journal's newest entry (id, hash), read once per transaction: new snapshots link it.
    journal: Option<Option<(i64, Arc<str>)>>,
    rows: usize,
    /// The newest `recorded_at` among its rows: a signed checkpoint's time.
    recorded_at: Option<i64>,
    /// The first snapshot it adds: the history before it is what the signer must link.
    first_new: Option<i64>,
}

/// Recording's view of the store and the open transaction.
struct Batch<'a> {
    shown: &'a str,
    bases: &'a BaseCache,
    open: &'a mut Open,
}

/// See [`Store::bulk`]. Dropped with a transaction open, it rolls that back.
pub struct Bulk<'s> {
    store: &'s mut Store,
    open: Option<Open>,
    at_least: usize,
    nights: usize,
    /// The page cache's size before, restored when it ends.
    cache: Option<i64>,
}

impl Bulk<'_> {
    /// Records `batch`, committing when the transaction holds enough rows. On an error the
    /// open transaction is rolled back: the rows since the last commit are not kept.
    pub fn record_batch(&mut self, batch: &[NewSnapshot<'_>]) -> Result<Vec<Recorded>, StoreError> {
        let mut open = match self.open.take() {
            Some(open) => open,
            None => self.store.begin()?,
        };
        match self.store.record_into(&mut open, batch) {
            Ok(recorded) => {
                let targets = open.recent.targets.len();
                if open.rows >= self.at_least.max(self.nights.saturating_mul(targets)) {
                    self.store.commit(open)?;
                } else {
                    self.open = Some(open);
                }
                Ok(recorded)
            }
            Err(e) => {
                self.store.rollback();
                Err(e)
            }
        }
    }

    /// An exported journal entry, in the open transaction: see [`Store::import_entry`].
    pub fn import_entry(&mut self, e: &super::ExportEntry) -> Result<(String, bool), StoreError> {
        let mut open = match self.open.take() {
            Some(open) => open,
            None => self.store.begin()?,
        };
        match super::journal::import_in(&self.store.conn, &self.store.shown(), e) {
            Ok(done) => {
                // The journal's head may have moved: the next snapshot reads it again.
                open.journal = None;
                self.open = Some(open);
                Ok(done)
            }
            Err(e) => {
                self.store.rollback();
                Err(e)
            }
        }
    }

    /// An exported signed checkpoint, kept as it was, in the open transaction (its signature
    /// is `verify`'s to check). Gives whether it was new.
    pub fn import_checkpoint(&mut self, c: &super::StoredCheckpoint) -> Result<bool, StoreError> {
        let open = match self.open.take() {
            Some(open) => open,
            None => self.store.begin()?,
        };
        self.open = Some(open);
        match Store::import_checkpoint_in(&self.store.conn, c) {
            Ok(new) => Ok(new),
            Err(e) => {
                self.open = None;
                self.store.rollback();
                Err(self.store.err(e))
            }
        }
    }

    /// Commits what is open.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        match self.open.take() {
            Some(open) => self.store.commit(open),
            None => Ok(()),
        }
    }
}

impl Drop for Bulk<'_> {
    fn drop(&mut self) {
        if self.open.take().is_some() {
            self.store.rollback();
        }
        if let Some(cache) = self.cache {
            let _ = self.store.conn.pragma_update(None, "cache_size", cache);
        }
    }
}

impl<'a> Batch<'a> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + Copy + use<'a> {
        let shown = self.shown;
        move |e| super::classify(shown, e, super::DEFAULT_BUSY_TIMEOUT)
    }

    fn target_id(
        &mut self,
        tx: &rusqlite::Connection,
        s: &NewSnapshot<'_>,
    ) -> Result<i64, StoreError> {
        if let Some(id) = self.open.recent.targets.get(s.target) {
            return Ok(*id);
        }
        let err = self.err();
        tx.prepare_cached("INSERT OR IGNORE INTO targets (name, created_at) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(params![s.target, ms(s.recorded_at)]))
            .map_err(&err)?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM targets WHERE name = ?1")
            .and_then(|mut st| st.query_row([s.target], |r| r.get(0)))
            .map_err(&err)?;
        self.open.recent.targets.insert(s.target.to_string(), id);
        Ok(id)
    }

    /// The newest snapshot's id and chain hash; with every snapshot pruned, the checkpoint's.
    fn last(&mut self, tx: &rusqlite::Connection) -> Result<(i64, String), StoreError> {
        if let Some(last) = &self.open.recent.last {
            return Ok(last.clone());
        }
        let last = tx
            .prepare_cached("SELECT id, chain_hash FROM snapshots ORDER BY id DESC LIMIT 1")
            .and_then(|mut st| {
                st.query_row([], |r| Ok((r.get(0)?, hex::encode(r.get::<_, Vec<u8>>(1)?))))
                    .optional()
            })
            .and_then(|last| match last {
                Some(last) => Ok(last),
                None => tx
                    .prepare_cached(
                        "SELECT last_snapshot, chain_hash FROM chain_checkpoints ORDER BY id DESC LIMIT 1",
                    )
                    .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
                    .optional()
                    .map(|c| c.unwrap_or((0, chain::GENESIS.to_string()))),
            })
            .map_err(self.err())?;
        Ok(last)
    }

    /// The journal's newest entry, which a snapshot recorded now links.
    fn journal(
        &mut self,
        tx: &rusqlite::Connection,
    ) -> Result<Option<(i64, Arc<str>)>, StoreError> {
        if let Some(j) = &self.open.journal {
            return Ok(j.clone());
        }
        let head = super::journal::head(tx)
            .map_err(self.err())?
            .map(|(id, hash)| (id, Arc::from(hash)));
        self.open.journal = Some(head.clone());
        Ok(head)
    }

    /// The target's latest observation.
    fn latest(
        &mut self,
        tx: &rusqlite::Connection,
        target_id: i64,
    ) -> Result<Option<Neighbour>, StoreError> {
        if let Some(latest) = self.open.recent.latest.get(&target_id) {
            return Ok(latest.clone());
        }
        let latest = neighbour(
            tx,
            "SELECT id, config_hash, observed_at, raw_base FROM snapshots
             WHERE target_id = ?1 ORDER BY observed_at DESC, id DESC LIMIT 1",
            params![target_id],
        )
        .map_err(self.err())?;
        self.open.recent.latest.insert(target_id, latest.clone());
        Ok(latest)
    }

    /// Raw base `base`, which the new snapshot `id` is packed against.
    fn base(&self, tx: &rusqlite::Connection, id: i64, base: i64) -> Result<Arc<[u8]>, StoreError> {
        if let Some(b) = self.open.new_bases.get(&base) {
            return Ok(b.clone());
        }
        self.bases
            .get_or_load(base, || super::load_base(tx, self.shown, id, base))
    }
}

fn neighbour(
    tx: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Option<Neighbour>> {
    tx.prepare_cached(sql).and_then(|mut st| {
        st.query_row(params, |r| {
            Ok(Neighbour {
                id: r.get(0)?,
                config_hash: r.get(1)?,
                observed_at: r.get(2)?,
                raw_base: r.get(3)?,
            })
        })
        .optional()
    })
}

/// Where a new observation falls among its target's: the observations just before and just
/// after it in observed time, or the same observation already recorded.
enum Place {
    Between(Option<Neighbour>, Option<Neighbour>),
    Duplicate { id: i64, chain_hash: String },
}

fn record_in(
    tx: &rusqlite::Connection,
    state: &mut Batch<'_>,
    s: &NewSnapshot<'_>,
) -> Result<Recorded, StoreError> {
    let config_hash = s.config.hash();
    let raw_digest: [u8; 32] = Sha256::digest(s.raw).into();
    let observed = ms(s.observed_at);
    let target_id = state.target_id(tx, s)?;
    let (last_id, prev_chain) = state.last(tx)?;
    let id = last_id + 1;
    let (before, after) = match place(tx, state, target_id, id, observed, &raw_digest)? {
        Place::Duplicate { id, chain_hash } => {
            return Ok(Recorded {
                id,
                observed_at: s.observed_at,
                config_hash: config_hash.to_string(),
                changed: false,
                first: false,
                duplicate: true,
                new_fields: Vec::new(),
                chain_hash,
                identity: s.identity.cloned(),
            });
        }
        Place::Between(before, after) => (before, after),
    };
    let same = |n: &Option<Neighbour>| n.as_ref().is_some_and(|n| n.config_hash == config_hash);
    if !same(&before) && !same(&after) {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO configs (hash, canonical, first_seen_at) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut st| st.execute(params![config_hash, s.config.canonical(), observed]))
        .map_err(state.err())?;
    }
    let (raw_base, stored) = store_raw(tx, state, s, id, [&before, &after])?;
    let row = Row {
        id,
        target_id,
        raw_base,
        stored: &stored,
        raw_digest: &raw_digest,
    };
    let chain_hash = insert_snapshot(tx, state, s, &row, &prev_chain)?;
    state.open.recent.last = Some((id, chain_hash.clone()));
    if after.is_none() {
        // Nothing comes after it: it is the target's latest now.
        state.open.recent.latest.insert(
            target_id,
            Some(Neighbour {
                id,
                config_hash: config_hash.to_string(),
                observed_at: observed,
                raw_base,
            }),
        );
    }
    let changed = change_events(tx, state, s, &row, (&before, &after))?;
    let new_fields = note_new_fields(tx, state, s, target_id, id)?;
    Ok(Recorded {
        id,
        observed_at: s.observed_at,
        config_hash: config_hash.to_string(),
        changed,
        first: before.is_none(),
        duplicate: false,
        new_fields,
        chain_hash,
        identity: s.identity.cloned(),
    })
}

/// The new observation's neighbours in observed time, so that an import of an older answer slots
/// in between. The common case, an answer newer than all of its target's, needs no search: its
/// neighbour is the latest, nothing comes after it, and nothing recorded can be the same
/// observation.
fn place(
    tx: &rusqlite::Connection,
    state: &mut Batch<'_>,
    target_id: i64,
    id: i64,
    observed: i64,
    raw_digest: &[u8; 32],
) -> Result<Place, StoreError> {
    let err = state.err();
    let latest = state.latest(tx, target_id)?;
    if latest.as_ref().is_none_or(|l| l.observed_at < observed) {
        return Ok(Place::Between(latest, None));
    }
    // The same answer recorded for the same moment is one observation.
    let duplicate = tx
        .prepare_cached(
            "SELECT id, chain_hash FROM snapshots
             WHERE target_id = ?1 AND observed_at = ?2 AND raw_sha256 = ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![target_id, observed, raw_digest], |r| {
                Ok((r.get::<_, i64>(0)?, hex::encode(r.get::<_, Vec<u8>>(1)?)))
            })
            .optional()
        })
        .map_err(err)?;
    if let Some((id, chain_hash)) = duplicate {
        return Ok(Place::Duplicate { id, chain_hash });
    }
    let before = neighbour(
        tx,
        "SELECT id, config_hash, observed_at, raw_base FROM snapshots
         WHERE target_id = ?1 AND (observed_at < ?2 OR (observed_at = ?2 AND id < ?3))
         ORDER BY observed_at DESC, id DESC LIMIT 1",
        params![target_id, observed, id],
    )
    .map_err(err)?;
    let after = neighbour(
        tx,
        "SELECT id, config_hash, observed_at, raw_base FROM snapshots
         WHERE target_id = ?1 AND (observed_at > ?2 OR (observed_at = ?2 AND id > ?3))
         ORDER BY observed_at ASC, id ASC LIMIT 1",
        params![target_id, observed, id],
    )
    .map_err(err)?;
    Ok(Place::Between(before, after))
}

/// The raw answer as stored: packed against the base its neighbour of the same config uses, or,
/// for the first answer of a config, a base itself. Gives the base's id (when packed) and the
/// bytes to store.
fn store_raw(
    tx: &rusqlite::Connection,
    state: &mut Batch<'_>,
    s: &NewSnapshot<'_>,
    id: i64,
    neighbours: [&Option<Neighbour>; 2],
) -> Result<(Option<i64>, Vec<u8>), StoreError> {
    let config_hash = s.config.hash();
    let shared_base = neighbours
        .into_iter()
        .flatten()
        .find(|n| n.config_hash == config_hash)
        .and_then(|n| n.raw_base);
    let (base_id, base) = match shared_base {
        Some(b) => (b, state.base(tx, id, b)?),
        None => {
            tx.prepare_cached("INSERT INTO raw_bases (bytes) VALUES (?1)")
                .and_then(|mut st| st.execute([s.raw]))
                .map_err(state.err())?;
            let b = tx.last_insert_rowid();
            let bytes: Arc<[u8]> = Arc::from(s.raw);
            state.open.new_bases.insert(b, bytes.clone());
            (b, bytes)
        }
    };
    Ok(match rawpack::pack(s.raw, &base) {
        Some(packed) => (Some(base_id), packed),
        None => (None, s.raw.to_vec()),
    })
}

/// The new snapshot's row as the steps after its placing need it.
struct Row<'a> {
    id: i64,
    target_id: i64,
    raw_base: Option<i64>,
    stored: &'a [u8],
    raw_digest: &'a [u8; 32],
}

/// Links the snapshot to the chain after `prev_chain` and inserts it; gives its chain hash.
fn insert_snapshot(
    tx: &rusqlite::Connection,
    state: &mut Batch<'_>,
    s: &NewSnapshot<'_>,
    row: &Row<'_>,
    prev_chain: &str,
) -> Result<String, StoreError> {
    let raw_sha256 = hex::encode(row.raw_digest);
    let journal = state.journal(tx)?;
    let link = chain::Link {
        id: row.id,
        target: s.target,
        observed_at: ms(s.observed_at),
        recorded_at: ms(s.recorded_at),
        source: s.source.as_str(),
        endpoint: s.endpoint,
        request_id: s.request_id,
        raw_sha256: &raw_sha256,
        config_hash: s.config.hash(),
        last_scan_time: s.status.last_scan_time.as_deref(),
        scan_result: s.status.scan_result.as_deref(),
        account: s.identity.map(|i| i.account.as_str()),
        arn: s.identity.map(|i| i.arn.as_str()),
        principal_type: s.identity.map(|i| i.principal_type.as_str()),
        journal: journal.as_ref().map(|(_, hash)| &**hash),
    };
    let chain_digest = chain::link_digest(prev_chain, &link, &mut Vec::new());
    tx.prepare_cached(
        "INSERT INTO snapshots (id, target_id, observed_at, recorded_at, source, endpoint,
                request_id, raw_base, raw, raw_sha256, config_hash, last_scan_time, scan_result,
                chain_hash, account, arn, principal_type, journal_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )
    .and_then(|mut st| {
        st.execute(params![
            row.id,
            row.target_id,
            ms(s.observed_at),
            ms(s.recorded_at),
            s.source.as_str(),
            s.endpoint,
            s.request_id,
            row.raw_base,
            row.stored,
            row.raw_digest,
            s.config.hash(),
            s.status.last_scan_time,
            s.status.scan_result,
            chain_digest,
            s.identity.map(|i| &i.account),
            s.identity.map(|i| &i.arn),
            s.identity.map(|i| &i.principal_type),
            journal.as_ref().map(|(id, _)| *id)
        ])
    })
    .map_err(state.err())?;
    Ok(hex::encode(chain_digest))
}

/// The change events around the new snapshot: from the one before it, and (for an observation
/// slotted in) to the one after it, replacing the event that spanned the gap. Gives whether
/// the config changed from the one before (true for a first observation).
fn change_events(
    tx: &rusqlite::Connection,
    state: &Batch<'_>,
    s: &NewSnapshot<'_>,
    row: &Row<'_>,
    (before, after): (&Option<Neighbour>, &Option<Neighbour>),
) -> Result<bool, StoreError> {
    let (err, shown, target_id, id) = (state.err(), state.shown, row.target_id, row.id);
    let config_hash = s.config.hash();
    if let Some(a) = after {
        tx.prepare_cached("DELETE FROM change_events WHERE target_id = ?1 AND to_snapshot = ?2")
            .and_then(|mut st| st.execute(params![target_id, a.id]))
            .map_err(err)?;
    }
    let load = |hash: &str| -> Result<Config, StoreError> {
        let text: String = tx
            .prepare_cached("SELECT canonical FROM configs WHERE hash = ?1")
            .and_then(|mut st| st.query_row([hash], |r| r.get(0)))
            .map_err(err)?;
        Config::from_canonical(&text).map_err(|e| StoreError::BadConfig {
            path: shown.to_string(),
            hash: hash.to_string(),
            message: e.to_string(),
        })
    };
    let add_event = |from: i64, from_config: &Config, to: i64, to_config: &Config, at: i64| {
        let changes = diff::diff(from_config, to_config);
        let json = serde_json::to_string(&changes).expect("changes serialize");
        tx.prepare_cached(
            "INSERT OR REPLACE INTO change_events (target_id, from_snapshot, to_snapshot, at, changes)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut st| st.execute(params![target_id, from, to, at, json]))
        .map(|_| ())
        .map_err(err)
    };
    let config = s.config.config();
    let observed = ms(s.observed_at);
    let changed = match before {
        Some(b) if b.config_hash != config_hash => {
            add_event(b.id, &load(&b.config_hash)?, id, config, observed)?;
            true
        }
        Some(_) => false,
        None => true,
    };
    if let Some(a) = after
        && a.config_hash != config_hash
    {
        add_event(id, config, a.id, &load(&a.config_hash)?, a.observed_at)?;
    }
    Ok(changed)
}

/// The fields of the answer this tool does not know, each noted the first time the target shows
/// it; gives those seen for the first time.
fn note_new_fields(
    tx: &rusqlite::Connection,
    state: &Batch<'_>,
    s: &NewSnapshot<'_>,
    target_id: i64,
    id: i64,
) -> Result<Vec<String>, StoreError> {
    let mut new_fields = Vec::new();
    for field in normalize::unknown_fields(s.config.config()) {
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO seen_fields (target_id, field, first_snapshot) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut st| st.execute(params![target_id, field, id]))
            .map_err(state.err())?;
        if inserted == 1 {
            new_fields.push(field);
        }
    }
    Ok(new_fields)
}

#[cfg(test)]
pub(crate) mod tests_support {
    pub use super::*;
    use serde_json::json;

    pub fn answer(period: i64, req: &str) -> (Vec<u8>, Prepared, Status) {
        let inner = json!({"Enable": true, "ScanPeriod": period, "RequestId": req});
        let fields = inner.as_object().unwrap();
        (
            serde_json::to_vec(&json!({ "Response": inner })).unwrap(),
            Prepared::new(normalize::normalize(fields)),
            normalize::status_of(fields),
        )
    }

    /// A new database in a folder of its own (kept while the folder handle lives).
    pub fn fresh() -> (tempfile::TempDir, std::path::PathBuf, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let store = Store::open(&path, crate::store::OpenMode::Create).unwrap();
        (dir, path, store)
    }

    /// Night `night`'s observation of target `prod`, imported.
    pub fn nightly<'a>(
        night: i64,
        (raw, config, status): &'a (Vec<u8>, Prepared, Status),
    ) -> NewSnapshot<'a> {
        let at = DateTime::from_timestamp(1_780_000_000 + night * 86_400, 0).unwrap();
        NewSnapshot {
            target: "prod",
            observed_at: at,
            recorded_at: at,
            source: Source::Import,
            endpoint: None,
            request_id: None,
            raw,
            config,
            status,
            identity: None,
        }
    }

    pub fn record(store: &mut Store, night: i64, period: i64) -> Recorded {
        let answer = answer(period, &format!("req-{night}"));
        store.record(&nightly(night, &answer)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use crate::store::OpenMode;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Whatever order answers are imported in, and after pruning, the stored change events
        /// and first-seen fields are exactly what `verify` derives from the snapshots.
        #[test]
        fn derived_tables_match_the_snapshots_in_any_order_and_after_a_prune(
            order in Just((1..=12i64).collect::<Vec<_>>()).prop_shuffle(),
            periods in proptest::collection::vec(1..4i64, 12),
            extra in proptest::collection::vec(any::<bool>(), 12),
        ) {
            let (_dir, _, mut a) = fresh();
            for &night in &order {
                let i = (night - 1) as usize;
                let mut inner = serde_json::json!({"Enable": true, "ScanPeriod": periods[i], "RequestId": format!("r{night}")});
                if extra[i] {
                    inner["LaterField"] = serde_json::json!(periods[i]);
                }
                let fields = inner.as_object().unwrap().clone();
                let answer = (
                    serde_json::to_vec(&serde_json::json!({ "Response": inner })).unwrap(),
                    Prepared::new(normalize::normalize(&fields)),
                    normalize::status_of(&fields),
                );
                a.record(&nightly(night, &answer)).unwrap();
            }
            let v = a.verify().unwrap();
            prop_assert!(v.ok(), "{:?}", v.first_break);
            let cut = DateTime::from_timestamp(1_780_000_000 + 6 * 86_400, 0).unwrap();
            a.prune(cut, cut, false).unwrap();
            let v = a.verify().unwrap();
            prop_assert!(v.ok(), "after pruning: {:?}", v.first_break);
        }
    }

    #[test]
    fn a_prune_checks_references_itself_refuses_a_dangling_one_and_leaves_them_enforced() {
        let (_dir, _, mut a) = fresh();
        for night in 1..=12i64 {
            record(&mut a, night, night);
        }
        let count = |a: &Store, table: &str| -> i64 {
            a.conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        let enforced = |a: &Store| -> i64 {
            a.conn
                .pragma_query_value(None, "foreign_keys", |r| r.get(0))
                .unwrap()
        };
        let night = |n: i64| DateTime::from_timestamp(1_780_000_000 + n * 86_400, 0).unwrap();
        let pruned = a.prune(night(5), night(5), false).unwrap();
        assert_eq!(pruned.removed, 4);
        // Each night had a config of its own: the four removed nights' configs went with them.
        assert_eq!((count(&a, "snapshots"), count(&a, "configs")), (8, 8));
        assert_eq!(
            enforced(&a),
            1,
            "references are enforced again after a prune"
        );
        assert!(a.verify().unwrap().ok());

        // A kept row that points at a raw base that is not there: nothing is removed.
        a.conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        a.conn
            .execute("UPDATE snapshots SET raw_base = 999999 WHERE id = 12", [])
            .unwrap();
        a.conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        let e = a.prune(night(9), night(9), false).unwrap_err().to_string();
        assert!(
            e.contains("table snapshots") && e.contains("nothing was removed"),
            "{e}"
        );
        assert_eq!((count(&a, "snapshots"), count(&a, "configs")), (8, 8));
        assert_eq!(
            enforced(&a),
            1,
            "references are enforced again after a refused prune"
        );
    }

    #[test]
    fn what_one_connection_remembers_gives_way_to_another_connections_writes() {
        let (_dir, path, mut a) = fresh();
        let mut b = Store::open(&path, OpenMode::Create).unwrap();
        assert!(record(&mut a, 1, 1).changed);
        // Another process records a change in between.
        let r = record(&mut b, 2, 3);
        assert!(r.changed && r.id == 2);
        // The first connection must see it: the next id, and no change against night 2.
        let r = record(&mut a, 3, 3);
        assert_eq!(r.id, 3);
        assert!(
            !r.changed,
            "night 3 equals night 2, which another connection recorded"
        );
        let v = a.verify().unwrap();
        assert!(v.ok(), "{:?}", v.first_break);
        assert_eq!(v.checked, 3);
    }

    #[test]
    fn a_failed_batch_leaves_nothing_remembered_that_it_did_not_commit() {
        let (_dir, _, mut a) = fresh();
        record(&mut a, 1, 1);
        // A batch whose second row fails. The trigger is made and dropped on the store's own
        // connection, so that no other connection's commit clears what it remembers anyway.
        let answer = answer(2, "req-2");
        let good = nightly(2, &answer);
        a.conn
            .execute_batch(
                "CREATE TEMP TRIGGER refuse AFTER INSERT ON snapshots WHEN NEW.id = 3
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let third = nightly(3, &answer);
        assert!(a.record_batch(&[good.clone(), third]).is_err());
        a.conn.execute_batch("DROP TRIGGER refuse").unwrap();
        // Nothing of the failed batch is there, and recording again starts from what is.
        assert_eq!(a.count().unwrap(), 1);
        let r = a.record(&good).unwrap();
        assert_eq!(r.id, 2);
        assert!(r.changed);
        let v = a.verify().unwrap();
        assert!(v.ok(), "{:?}", v.first_break);
    }
    #[test]
    fn a_bulk_commits_every_so_many_rows_and_drops_what_it_did_not_commit() {
        let (_dir, path, mut a) = fresh();
        let answers: Vec<_> = (1..=5)
            .map(|n| answer(n % 2, &format!("req-{n}")))
            .collect();
        {
            let mut bulk = a.bulk(2, 1);
            for (n, answer) in answers.iter().enumerate() {
                bulk.record_batch(&[nightly(n as i64 + 1, answer)]).unwrap();
            }
            // Rows 1-4 were committed two at a time; row 5 is open when the bulk is dropped.
            let other = Store::open(&path, crate::store::OpenMode::Existing).unwrap();
            assert_eq!(other.count().unwrap(), 4);
        }
        assert_eq!(a.count().unwrap(), 4);
        // The page cache is its usual size again, and recording goes on from what is there.
        let cache: i64 = a
            .conn
            .pragma_query_value(None, "cache_size", |r| r.get(0))
            .unwrap();
        assert_eq!(cache, -65536);
        assert_eq!(a.record(&nightly(5, &answers[4])).unwrap().id, 5);
        let mut bulk = a.bulk(100, 1);
        bulk.record_batch(&[nightly(6, &answers[0])]).unwrap();
        bulk.commit().unwrap();
        drop(bulk);
        assert_eq!(a.count().unwrap(), 6);
        let v = a.verify().unwrap();
        assert!(v.ok(), "{:?}", v.first_break);
        assert_eq!(v.events_checked, 4);
    }

    #[test]
    fn a_config_missing_from_the_database_is_named_at_its_first_snapshot() {
        let (_dir, _, mut a) = fresh();
        record(&mut a, 1, 1);
        let r = record(&mut a, 2, 3);
        record(&mut a, 3, 3);
        assert!(a.verify().unwrap().ok());
        a.conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        a.conn
            .execute("DELETE FROM configs WHERE hash = ?1", [&r.config_hash])
            .unwrap();
        let v = a.verify().unwrap();
        let b = v.first_break.unwrap();
        assert_eq!(b.snapshot, 2);
        assert!(b.reason.contains("config is missing"), "{}", b.reason);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_a_break_not_an_error() {
        let (_dir, _, mut a) = fresh();
        for night in 1..=3 {
            record(&mut a, night, 1);
        }
        a.conn
            .execute_batch(
                "PRAGMA ignore_check_constraints = ON;
                 UPDATE snapshots SET chain_hash = 'not bytes' WHERE id = 2;",
            )
            .unwrap();
        let b = a.verify().unwrap().first_break.unwrap();
        assert_eq!(b.snapshot, 2);
        assert!(b.reason.contains("wrong type"), "{}", b.reason);
    }
}

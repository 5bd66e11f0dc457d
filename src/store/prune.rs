//! Retention: remove the oldest observations while the rest of the chain stays verifiable from a
//! recorded checkpoint, and never remove a config that a kept snapshot still needs.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Store, StoreError, ms};

/// What pruning removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Snapshots removed.
    pub removed: u64,
    /// The last removed snapshot, where the checkpoint now anchors the chain.
    pub through: Option<i64>,
    /// Observations older than the cut that had to stay, because a newer recording comes before
    /// them in the chain (answers imported out of order).
    pub kept_older: u64,
    /// Observations older than the cut kept because the chain cannot be cut past a target's
    /// newest snapshot: the newest of every target is never removed.
    pub kept_newest: u64,
    /// Nothing was removed: this is what pruning would do.
    pub dry_run: bool,
}

impl Store {
    /// The chain's starting point: the genesis, or the last checkpoint (its snapshot and hash).
    pub(crate) fn chain_start(&self) -> Result<Option<(i64, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT last_snapshot, chain_hash FROM chain_checkpoints ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Removes every snapshot observed before `before` that lies in the chain's oldest stretch:
    /// the chain is cut only at a prefix, so what remains links up from the checkpoint.
    ///
    /// The newest snapshot of every target stays whatever `before` says, so each target keeps
    /// its latest state. With `dry_run`, nothing is removed and the result says what would be.
    pub fn prune(
        &mut self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Pruned, StoreError> {
        // SQLite checks a removed row's references by searching the table that may point at it,
        // and the columns that point at configs, raw bases and check documents have no index
        // (one would cost every observation tens of bytes). With the check on, each config,
        // base or document removed was a pass over every snapshot or check kept: half a year
        // of 1,000 targets took four minutes to prune. So the removals run unchecked (they
        // remove only rows nothing kept points at), and one `foreign_key_check` over the
        // whole database confirms that before the commit.
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        self.conn
            .pragma_update(None, "foreign_keys", "OFF")
            .map_err(err)?;
        let pruned = self.prune_unchecked(before, now, dry_run);
        let checked = self.conn.pragma_update(None, "foreign_keys", "ON");
        let pruned = pruned?;
        checked.map_err(err)?;
        Ok(pruned)
    }

    /// [`Store::prune`], with foreign keys off: it checks them itself before committing.
    fn prune_unchecked(
        &mut self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Pruned, StoreError> {
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let cut = ms(before);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let plan = Cut::plan(&tx, cut, err)?;
        let pruned = |removed: i64, through: Option<i64>| Pruned {
            removed: removed as u64,
            through,
            kept_older: plan.kept_older as u64,
            kept_newest: plan.kept_newest as u64,
            dry_run,
        };
        let Some(anchor) = plan.anchor.clone().filter(|_| plan.removed > 0) else {
            return Ok(pruned(0, None));
        };
        if dry_run {
            // The transaction is dropped unchanged.
            return Ok(pruned(plan.removed, Some(plan.limit)));
        }
        remove_through(&tx, plan.limit, err)?;
        // Consecutive observations are now those that stay, and a field first seen in a removed
        // snapshot is first seen in the oldest kept one that has it: exactly what `verify`
        // derives and compares.
        let derived = super::derived::gather(&tx, &shown, err)?;
        super::derived::rewrite(&tx, &derived, err)?;
        tx.execute(
            "INSERT INTO chain_checkpoints (last_snapshot, chain_hash, removed, before, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![plan.limit, anchor, plan.removed, cut, ms(now)],
        )
        .map_err(err)?;
        if let Some(table) = super::dangling_reference(&tx).map_err(err)? {
            // The transaction is dropped, and rolled back: nothing was removed.
            return Err(StoreError::Corrupt {
                path: shown.clone(),
                message: format!(
                    "pruning would leave rows of table {table} pointing at rows that are not there; nothing was removed (run audit verify)"
                ),
            });
        }
        tx.commit().map_err(err)?;
        self.forget_recent();
        Ok(pruned(plan.removed, Some(plan.limit)))
    }
}

/// Where a prune cuts the chain, and what it leaves older than the cut.
struct Cut {
    /// The last snapshot removed, in chain order.
    limit: i64,
    /// Snapshots removed (those with ids up to `limit`).
    removed: i64,
    /// The chain hash of the snapshot at `limit`, the new start of the chain.
    anchor: Option<String>,
    /// Older than the cut but kept: they are some target's newest.
    kept_newest: i64,
    /// Older than the cut but kept: they come after a snapshot that must stay, in chain order.
    kept_older: i64,
}

impl Cut {
    fn plan(
        tx: &rusqlite::Transaction<'_>,
        cut: i64,
        err: impl Fn(rusqlite::Error) -> StoreError + Copy,
    ) -> Result<Cut, StoreError> {
        // The prefix ends just before the first snapshot, in chain order, that must stay.
        let first_kept: Option<i64> = tx
            .query_row(
                "SELECT MIN(id) FROM snapshots WHERE observed_at >= ?1",
                [cut],
                |r| r.get(0),
            )
            .map_err(err)?;
        let by_time = match first_kept {
            Some(id) => id - 1,
            None => tx
                .query_row("SELECT COALESCE(MAX(id), 0) FROM snapshots", [], |r| {
                    r.get(0)
                })
                .map_err(err)?,
        };
        // The first, in chain order, of the targets' newest snapshots: the cut stays before it.
        let first_newest: Option<i64> = tx
            .query_row(
                "SELECT MIN(newest) FROM (SELECT (SELECT s.id FROM snapshots s WHERE s.target_id = t.id
                     ORDER BY s.observed_at DESC, s.id DESC LIMIT 1) AS newest FROM targets t)",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        let limit = match first_newest {
            Some(newest) => by_time.min(newest - 1),
            None => by_time,
        };
        let kept_newest: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM snapshots WHERE observed_at < ?1 AND id > ?2 AND id <= ?3",
                params![cut, limit, by_time],
                |r| r.get(0),
            )
            .map_err(err)?;
        let kept_older: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM snapshots WHERE observed_at < ?1 AND id > ?2",
                params![cut, by_time],
                |r| r.get(0),
            )
            .map_err(err)?;
        let (removed, anchor): (i64, Option<String>) = tx
            .query_row(
                "SELECT COUNT(*), (SELECT lower(hex(chain_hash)) FROM snapshots WHERE id = ?1) FROM snapshots WHERE id <= ?1",
                [limit],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(err)?;
        Ok(Cut {
            limit,
            removed,
            anchor,
            kept_newest,
            kept_older,
        })
    }
}

/// Removes the snapshots through `limit` and what only they used. The derived tables go whole
/// (they are written afresh from what stays); their rows go first, since they point at the
/// snapshots about to be removed.
fn remove_through(
    tx: &rusqlite::Transaction<'_>,
    limit: i64,
    err: impl Fn(rusqlite::Error) -> StoreError + Copy,
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM change_events", []).map_err(err)?;
    tx.execute("DELETE FROM seen_fields", []).map_err(err)?;
    tx.execute("DELETE FROM check_results WHERE snapshot_id <= ?1", [limit])
        .map_err(err)?;
    tx.execute(
        "DELETE FROM check_documents WHERE id NOT IN (SELECT document FROM check_results)",
        [],
    )
    .map_err(err)?;
    tx.execute("DELETE FROM snapshots WHERE id <= ?1", [limit])
        .map_err(err)?;
    // Only configs and raw bases no kept snapshot refers to go (one pass over the snapshots
    // each, not one per config); the journal's configs (approved baselines, restores) stay.
    tx.execute(
        "DELETE FROM configs WHERE hash NOT IN (SELECT config_hash FROM snapshots)
                               AND hash NOT IN (SELECT config_hash FROM journal)",
        [],
    )
    .map_err(err)?;
    tx.execute(
        "DELETE FROM raw_bases WHERE id NOT IN
             (SELECT raw_base FROM snapshots WHERE raw_base IS NOT NULL)",
        [],
    )
    .map_err(err)?;
    Ok(())
}

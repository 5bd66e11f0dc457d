//! Policy results stored with the snapshot they judged.

use rusqlite::params;

use super::{Store, StoreError, ms};

/// The counts of one stored check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckCounts {
    pub pass: u64,
    pub fail: u64,
    pub waived: u64,
    pub error: u64,
}

/// One check result to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheck {
    pub snapshot_id: i64,
    pub policy_digest: String,
    pub checked_at: chrono::DateTime<chrono::Utc>,
    pub counts: CheckCounts,
    pub report_json: String,
}

impl Store {
    /// Stores (or replaces) the result of checking `snapshot_id` with the policy set `policy_digest`.
    pub fn save_check(&mut self, check: &StoredCheck) -> Result<(), StoreError> {
        self.save_checks(std::slice::from_ref(check))
    }

    /// Stores many checks in one transaction (the nightly job judges every target, then keeps
    /// the results together: one commit, not one per target).
    pub fn save_checks(&mut self, checks: &[StoredCheck]) -> Result<(), StoreError> {
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT OR REPLACE INTO check_results
                     (snapshot_id, policy_digest, checked_at, pass, fail, waived, error, report)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            for c in checks {
                stmt.execute(params![
                    c.snapshot_id,
                    c.policy_digest,
                    ms(c.checked_at),
                    c.counts.pass as i64,
                    c.counts.fail as i64,
                    c.counts.waived as i64,
                    c.counts.error as i64,
                    c.report_json
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}

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

impl Store {
    /// Stores (or replaces) the result of checking `snapshot_id` with the policy set `policy_digest`.
    pub fn save_check(
        &mut self,
        snapshot_id: i64,
        policy_digest: &str,
        checked_at: chrono::DateTime<chrono::Utc>,
        counts: CheckCounts,
        report_json: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO check_results
                 (snapshot_id, policy_digest, checked_at, pass, fail, waived, error, report)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    snapshot_id,
                    policy_digest,
                    ms(checked_at),
                    counts.pass as i64,
                    counts.fail as i64,
                    counts.waived as i64,
                    counts.error as i64,
                    report_json
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The stored check of a snapshot by a policy set, as JSON.
    pub fn stored_check(
        &self,
        snapshot_id: i64,
        policy_digest: &str,
    ) -> Result<Option<String>, StoreError> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(
                "SELECT report FROM check_results WHERE snapshot_id = ?1 AND policy_digest = ?2",
                params![snapshot_id, policy_digest],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

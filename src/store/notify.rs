//! What each notification destination was last told, by target (see migration 08).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params};

use super::{Store, StoreError, ms};

impl Store {
    /// The states `destination` was last told, by target (JSON as saved).
    pub fn told(&self, destination: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT target, state FROM notify_state WHERE destination = ?1")
            .map_err(|e| self.err(e))?;
        stmt.query_map([destination], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// Records what `destination` was told, in one transaction.
    pub fn save_told(
        &mut self,
        destination: &str,
        states: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let shown = self.shown();
        let err = |e| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let mut put = tx
                .prepare(
                    "INSERT OR REPLACE INTO notify_state (destination, target, state, told_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for (target, state) in states {
                put.execute(params![destination, target, state, ms(at)])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}

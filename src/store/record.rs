//! Recording one observation: target, config once, snapshot, chain link and change events, all in
//! one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Store, StoreError, chain, ms};
use crate::diff;
use crate::normalize::{self, Config, Status};
use crate::tencent::sign::sha256_hex;

/// How an observation came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Fetch,
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Fetch => "fetch",
            Source::Import => "import",
        }
    }
}

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
    pub config: &'a Config,
    pub status: &'a Status,
}

/// What recording did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    pub observed_at: DateTime<Utc>,
    pub config_hash: String,
    /// The config differs from the observation just before it in time (true for a first one).
    pub changed: bool,
    /// This observation was already recorded (same target, moment and bytes): nothing was added.
    pub duplicate: bool,
    /// Undocumented fields this target shows for the first time.
    pub new_fields: Vec<String>,
    /// This snapshot's link in the hash chain.
    pub chain_hash: String,
}

impl Store {
    /// Records one observation in a single transaction: either all of it is stored or none.
    pub fn record(&mut self, s: &NewSnapshot<'_>) -> Result<Recorded, StoreError> {
        Ok(self.record_batch(std::slice::from_ref(s))?.remove(0))
    }

    /// Records several observations in one transaction (for imports: one commit, not one per
    /// row); either all of them are stored or none.
    pub fn record_batch(&mut self, batch: &[NewSnapshot<'_>]) -> Result<Vec<Recorded>, StoreError> {
        let shown = self.shown();
        let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut out = Vec::with_capacity(batch.len());
        for s in batch {
            out.push(record_in(&tx, &shown, s)?);
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }
}

fn record_in(
    tx: &rusqlite::Transaction<'_>,
    shown: &str,
    s: &NewSnapshot<'_>,
) -> Result<Recorded, StoreError> {
    let shown = shown.to_string();
    let canonical = normalize::canonical_json(s.config);
    let config_hash = normalize::config_hash(s.config);
    let raw_sha256 = sha256_hex(s.raw);
    let observed = ms(s.observed_at);
    let err = |e: rusqlite::Error| super::classify(&shown, e, super::DEFAULT_BUSY_TIMEOUT);

    tx.prepare_cached("INSERT OR IGNORE INTO targets (name, created_at) VALUES (?1, ?2)")
        .and_then(|mut st| st.execute(params![s.target, ms(s.recorded_at)]))
        .map_err(err)?;
    let target_id: i64 = tx
        .query_row("SELECT id FROM targets WHERE name = ?1", [s.target], |r| {
            r.get(0)
        })
        .map_err(err)?;

    if let Some((id, chain_hash)) = tx
            .query_row(
                "SELECT id, chain_hash FROM snapshots WHERE target_id = ?1 AND observed_at = ?2 AND raw_sha256 = ?3",
                params![target_id, observed, raw_sha256],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(err)?
        {
            return Ok(Recorded {
                id,
                observed_at: s.observed_at,
                config_hash,
                changed: false,
                duplicate: true,
                new_fields: Vec::new(),
                chain_hash,
            });
        }

    tx.prepare_cached(
        "INSERT OR IGNORE INTO configs (hash, canonical, first_seen_at) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut st| st.execute(params![config_hash, canonical, observed]))
    .map_err(err)?;

    let (last_id, prev_chain): (i64, String) = tx
            .query_row(
                "SELECT id, chain_hash FROM snapshots ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?
            .map_or_else(
                // With every snapshot pruned, the chain continues from the checkpoint.
                || {
                    tx.prepare_cached("SELECT last_snapshot, chain_hash FROM chain_checkpoints ORDER BY id DESC LIMIT 1").and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
                    .optional()
                    .map(|c| c.unwrap_or((0, chain::GENESIS.to_string())))
                },
                Ok,
            )
            .map_err(err)?;
    let id = last_id + 1;
    let link = chain::Link {
        id,
        target: s.target,
        observed_at: observed,
        recorded_at: ms(s.recorded_at),
        source: s.source.as_str(),
        endpoint: s.endpoint,
        request_id: s.request_id,
        raw_sha256: &raw_sha256,
        config_hash: &config_hash,
        last_scan_time: s.status.last_scan_time.as_deref(),
        scan_result: s.status.scan_result.as_deref(),
    };
    let chain_hash = chain::link_hash(&prev_chain, &link);
    tx.prepare_cached("INSERT INTO snapshots (id, target_id, observed_at, recorded_at, source, endpoint, request_id,
                raw, raw_sha256, config_hash, last_scan_time, scan_result, prev_chain, chain_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)").and_then(|mut st| st.execute(params![
                id,
                target_id,
                observed,
                ms(s.recorded_at),
                s.source.as_str(),
                s.endpoint,
                s.request_id,
                s.raw,
                raw_sha256,
                config_hash,
                s.status.last_scan_time,
                s.status.scan_result,
                prev_chain,
                chain_hash
            ]))
        .map_err(err)?;

    // Neighbours in observed time, so an import of an older answer slots in between.
    // Neighbours carry only their hash: the stored config text is read only when it differs,
    // which on a nightly history is the rare case.
    let neighbour = |sql: &str| {
        tx.prepare_cached(sql)
            .and_then(|mut st| {
                st.query_row(params![target_id, observed, id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
            })
            .optional()
    };
    let before = neighbour(
        "SELECT id, config_hash, observed_at FROM snapshots
         WHERE target_id = ?1 AND (observed_at < ?2 OR (observed_at = ?2 AND id < ?3))
         ORDER BY observed_at DESC, id DESC LIMIT 1",
    )
    .map_err(err)?;
    let after = neighbour(
        "SELECT id, config_hash, observed_at FROM snapshots
         WHERE target_id = ?1 AND (observed_at > ?2 OR (observed_at = ?2 AND id > ?3))
         ORDER BY observed_at ASC, id ASC LIMIT 1",
    )
    .map_err(err)?;
    if let Some((after_id, _, _)) = &after {
        tx.prepare_cached("DELETE FROM change_events WHERE target_id = ?1 AND to_snapshot = ?2")
            .and_then(|mut st| st.execute(params![target_id, after_id]))
            .map_err(err)?;
    }
    let load = |hash: &str| -> Result<Config, StoreError> {
        let text: String = tx
            .prepare_cached("SELECT canonical FROM configs WHERE hash = ?1")
            .and_then(|mut st| st.query_row([hash], |r| r.get(0)))
            .map_err(err)?;
        serde_json::from_str(&text).map_err(|e| StoreError::BadConfig {
            path: shown.clone(),
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
    };
    let changed = match &before {
        Some((before_id, before_hash, _)) if *before_hash != config_hash => {
            add_event(*before_id, &load(before_hash)?, id, s.config, observed).map_err(err)?;
            true
        }
        Some(_) => false,
        None => true,
    };
    if let Some((after_id, after_hash, after_at)) = &after
        && *after_hash != config_hash
    {
        add_event(id, s.config, *after_id, &load(after_hash)?, *after_at).map_err(err)?;
    }

    let mut new_fields = Vec::new();
    for field in normalize::unknown_fields(s.config) {
        let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO seen_fields (target_id, field, first_snapshot) VALUES (?1, ?2, ?3)",
                    params![target_id, field, id],
                )
                .map_err(err)?;
        if inserted == 1 {
            new_fields.push(field);
        }
    }
    Ok(Recorded {
        id,
        observed_at: s.observed_at,
        config_hash,
        changed,
        duplicate: false,
        new_fields,
        chain_hash,
    })
}

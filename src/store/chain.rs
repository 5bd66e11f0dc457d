//! The hash chain: each snapshot's chain hash covers its own content and the previous chain hash,
//! so that altering, removing or reordering any recorded row is detectable.

use std::collections::HashMap;

use rusqlite::params;
use serde::Serialize;

use super::{Store, StoreError};
use crate::normalize::{self, Config};
use crate::tencent::sign::sha256_hex;

/// The "previous chain hash" of the first snapshot.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What one chain link covers. Serialized as canonical JSON (fields in this order, no spaces),
/// so the hashed bytes are unambiguous.
#[derive(Debug, Serialize)]
pub(crate) struct Link<'a> {
    pub id: i64,
    pub target: &'a str,
    pub observed_at: i64,
    pub recorded_at: i64,
    pub source: &'a str,
    pub endpoint: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub raw_sha256: &'a str,
    pub config_hash: &'a str,
    pub last_scan_time: Option<&'a str>,
    pub scan_result: Option<&'a str>,
}

/// `sha256("tcss-audit/chain/v1\n" + prev + "\n" + canonical JSON of the link)`.
pub(crate) fn link_hash(prev: &str, link: &Link<'_>) -> String {
    let body = serde_json::to_string(link).expect("links serialize");
    sha256_hex(format!("tcss-audit/chain/v1\n{prev}\n{body}").as_bytes())
}

/// Where the chain first fails to hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub snapshot: i64,
    pub reason: String,
}

/// The outcome of checking the whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub checked: u64,
    pub configs_checked: u64,
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_break.is_none()
    }
}

impl Store {
    /// Recomputes every link, every raw answer's hash and every stored config's hash.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.id, t.name, s.observed_at, s.recorded_at, s.source, s.endpoint, s.request_id,
                        s.raw_base, s.raw, s.raw_sha256, s.config_hash, s.last_scan_time,
                        s.scan_result, s.chain_hash
                 FROM snapshots s JOIN targets t ON t.id = s.target_id ORDER BY s.id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let start = self.chain_start()?;
        // After pruning, the chain links up from the checkpoint instead of the genesis.
        let mut prev = start
            .as_ref()
            .map_or(GENESIS.to_string(), |(_, h)| h.clone());
        let mut checked = 0u64;
        let mut first_break = None;
        let mut expected_id = Some(start.as_ref().map_or(1, |(id, _)| id + 1));
        // The first snapshot of each config, gathered on the way so that checking the configs
        // costs one pass over them rather than one scan of the history per config.
        let mut first_use: HashMap<String, i64> = HashMap::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let get_s = |i: usize| r.get::<_, String>(i);
            let get_o = |i: usize| r.get::<_, Option<String>>(i);
            let id: i64 = r.get(0).map_err(|e| self.err(e))?;
            let fields = (|| -> rusqlite::Result<_> {
                Ok((
                    get_s(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    get_s(4)?,
                    get_o(5)?,
                    get_o(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, Vec<u8>>(8)?,
                    r.get::<_, Vec<u8>>(9).map(hex::encode)?,
                    get_s(10)?,
                    get_o(11)?,
                    get_o(12)?,
                    r.get::<_, Vec<u8>>(13).map(hex::encode)?,
                ))
            })();
            checked += 1;
            let Ok((
                target,
                observed_at,
                recorded_at,
                source,
                endpoint,
                request_id,
                raw_base,
                stored_raw,
                raw_sha,
                config_hash,
                lst,
                sr,
                chain_hash,
            )) = fields
            else {
                first_break = Some(ChainBreak {
                    snapshot: id,
                    reason: "the row has a value of the wrong type".into(),
                });
                break;
            };
            let mut fail = |reason: String| {
                first_break = Some(ChainBreak {
                    snapshot: id,
                    reason,
                });
            };
            if let Some(want) = expected_id
                && id != want
            {
                fail(format!("snapshot {want} is missing (the next row is {id})"));
                break;
            }
            expected_id = Some(id + 1);
            let raw = match self.unpack_raw(id, raw_base, stored_raw) {
                Ok(raw) => raw,
                Err(e) => {
                    fail(format!("its raw answer cannot be rebuilt ({e})"));
                    break;
                }
            };
            if sha256_hex(&raw) != raw_sha {
                fail("its raw answer does not match the hash recorded for it".into());
                break;
            }
            let link = Link {
                id,
                target: &target,
                observed_at,
                recorded_at,
                source: &source,
                endpoint: endpoint.as_deref(),
                request_id: request_id.as_deref(),
                raw_sha256: &raw_sha,
                config_hash: &config_hash,
                last_scan_time: lst.as_deref(),
                scan_result: sr.as_deref(),
            };
            if link_hash(&prev, &link) != chain_hash {
                fail("its content does not match its chain hash (the row was altered, or a row before it was removed, reordered or altered)".into());
                break;
            }
            first_use.entry(config_hash).or_insert(id);
            prev = chain_hash;
        }
        drop(rows);
        drop(stmt);
        let configs_checked = if first_break.is_none() {
            self.verify_configs(&first_use, &mut first_break)?
        } else {
            0
        };
        Ok(VerifyReport {
            checked,
            configs_checked,
            first_break,
        })
    }

    /// Every stored config must hash to its name, and every snapshot's config must be there.
    fn verify_configs(
        &self,
        first_use: &HashMap<String, i64>,
        first_break: &mut Option<ChainBreak>,
    ) -> Result<u64, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash, canonical FROM configs")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query_map([], |r| {
                let hash = r.get::<_, String>(0)?;
                let first = first_use.get(&hash).copied();
                Ok((hash, r.get::<_, String>(1)?, first))
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        // In order of first use (unused configs first), so the break named is the earliest.
        rows.sort_by_key(|(_, _, first)| *first);
        let mut n = 0;
        for (hash, canonical, first) in rows {
            n += 1;
            let ok = serde_json::from_str::<Config>(&canonical)
                .map(|c| {
                    normalize::config_hash(&c) == hash && normalize::canonical_json(&c) == canonical
                })
                .unwrap_or(false);
            if !ok {
                *first_break = Some(ChainBreak {
                    snapshot: first.unwrap_or(0),
                    reason: format!(
                        "the stored config {} does not match its hash (the configs table was altered)",
                        &hash[..12.min(hash.len())]
                    ),
                });
                break;
            }
        }
        if first_break.is_none() {
            let orphan: Option<i64> = self
                .conn
                .query_row(
                    "SELECT s.id FROM snapshots s LEFT JOIN configs c ON c.hash = s.config_hash WHERE c.hash IS NULL ORDER BY s.id LIMIT 1",
                    params![],
                    |r| r.get(0),
                )
                .ok();
            if let Some(id) = orphan {
                *first_break = Some(ChainBreak {
                    snapshot: id,
                    reason: "its config is missing from the database".into(),
                });
            }
        }
        Ok(n)
    }
}

//! The history after a signed head, checked for the signer before it signs a newer one: the
//! chain and raw answers from that head on (the chain pass, started there), the configs those
//! rows use, and the derived tables at each of those rows. Its cost is what is new since the
//! head, not the whole history.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{OptionalExtension, params};

use super::chain::ChainBreak;
use super::derived::Obs;
use super::{Store, StoreError};
use crate::task::diff;
use crate::task::normalize::{self, Config};

/// A neighbour in observed time: id, observed time, config hash.
type Near = (i64, i64, String);

const BEFORE: &str = "SELECT id, observed_at, config_hash FROM snapshots
     WHERE target_id = ?1 AND (observed_at < ?2 OR (observed_at = ?2 AND id < ?3))
     ORDER BY observed_at DESC, id DESC LIMIT 1";
const AFTER: &str = "SELECT id, observed_at, config_hash FROM snapshots
     WHERE target_id = ?1 AND (observed_at > ?2 OR (observed_at = ?2 AND id > ?3))
     ORDER BY observed_at ASC, id ASC LIMIT 1";

/// The change event a (target, to-snapshot) must have: none, or (from, at, from config, to
/// config).
type Want = Option<(i64, i64, String, String)>;

/// The new observations, each with its config's hash.
pub(crate) struct NewRows<'a> {
    pub obs: &'a [Obs],
    pub hash_of: &'a dyn Fn(u32) -> String,
}

impl Store {
    /// Checks the history after `from` (a snapshot id and chain hash on the chain): the first
    /// break, if any.
    pub(crate) fn verify_since(
        &self,
        conn: &rusqlite::Connection,
        from: (i64, String),
    ) -> Result<Option<ChainBreak>, StoreError> {
        let start = from.0;
        let (obs, names, first_use) = match self.chain_since(conn, from)? {
            Ok(seen) => seen,
            Err(b) => return Ok(Some(b)),
        };
        let mut configs = HashMap::new();
        for (name, first) in names.iter().zip(&first_use) {
            if self.config_holds(conn, name, &mut configs)?.is_none() {
                return Ok(Some(ChainBreak {
                    snapshot: *first,
                    reason: "its config is missing, or does not match its hash".into(),
                }));
            }
        }
        let rows = NewRows {
            obs: &obs,
            hash_of: &|i| names[i as usize].clone(),
        };
        if let Some(b) = self.events_since(conn, start, &rows, &mut configs)? {
            return Ok(Some(b));
        }
        self.fields_since(conn, start, &rows, &mut configs)
    }

    /// The config named `hash`, if it is stored whole: it parses, hashes to its name and is
    /// written canonically (kept in `configs` once read).
    fn config_holds<'c>(
        &self,
        conn: &rusqlite::Connection,
        hash: &str,
        configs: &'c mut HashMap<String, Config>,
    ) -> Result<Option<&'c Config>, StoreError> {
        if !configs.contains_key(hash) {
            let text: Option<String> = conn
                .prepare_cached("SELECT canonical FROM configs WHERE hash = ?1")
                .and_then(|mut st| st.query_row([hash], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))?;
            let whole = text.and_then(|t| {
                let c = Config::from_canonical(&t).ok()?;
                (normalize::config_hash(&c) == hash
                    && crate::task::canonical::canonical_json(&c) == t)
                    .then_some(c)
            });
            match whole {
                Some(c) => configs.insert(hash.to_string(), c),
                None => return Ok(None),
            };
        }
        Ok(configs.get(hash))
    }

    /// The change events at each new row, and at the older row just after it in observed
    /// time, against what the snapshots imply; and no other event at a new row.
    fn events_since(
        &self,
        conn: &rusqlite::Connection,
        start: i64,
        rows: &NewRows<'_>,
        configs: &mut HashMap<String, Config>,
    ) -> Result<Option<ChainBreak>, StoreError> {
        let near = |sql: &str, o: &Obs| -> Result<Option<Near>, StoreError> {
            conn.prepare_cached(sql)
                .and_then(|mut st| {
                    st.query_row(params![o.target, o.observed_at, o.id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                })
                .map_err(|e| self.err(e))
        };
        let mut want: BTreeMap<(i64, i64), Want> = BTreeMap::new();
        for o in rows.obs {
            let hash = (rows.hash_of)(o.config);
            let before = near(BEFORE, o)?;
            want.insert(
                (o.target, o.id),
                before
                    .filter(|b| b.2 != hash)
                    .map(|b| (b.0, o.observed_at, b.2, hash.clone())),
            );
            // An older row after it (an import into the past): its event now comes from it.
            if let Some(a) = near(AFTER, o)?.filter(|a| a.0 <= start) {
                let event = (a.2 != hash).then(|| (o.id, a.1, hash.clone(), a.2.clone()));
                want.insert((o.target, a.0), event);
            }
        }
        for ((target, to), w) in &want {
            if !self.event_holds(conn, (*target, *to), w.as_ref(), configs)? {
                return Ok(Some(altered(*to)));
            }
        }
        let targets: BTreeSet<i64> = rows.obs.iter().map(|o| o.target).collect();
        let mut stmt = conn
            .prepare_cached(
                "SELECT to_snapshot FROM change_events
                 WHERE target_id = ?1 AND (to_snapshot > ?2 OR from_snapshot > ?2)",
            )
            .map_err(|e| self.err(e))?;
        for t in targets {
            let tos: Vec<i64> = stmt
                .query_map(params![t, start], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.err(e))?;
            if let Some(to) = tos
                .into_iter()
                .find(|to| !matches!(want.get(&(t, *to)), Some(Some(_))))
            {
                return Ok(Some(altered(to)));
            }
        }
        Ok(None)
    }

    /// Whether the stored change event at (target, to) is `want` (none: there is none).
    fn event_holds(
        &self,
        conn: &rusqlite::Connection,
        (target, to): (i64, i64),
        want: Option<&(i64, i64, String, String)>,
        configs: &mut HashMap<String, Config>,
    ) -> Result<bool, StoreError> {
        let stored: Option<(i64, i64, String)> = conn
            .prepare_cached(
                "SELECT from_snapshot, at, changes FROM change_events
                 WHERE target_id = ?1 AND to_snapshot = ?2",
            )
            .and_then(|mut st| {
                st.query_row(params![target, to], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(|e| self.err(e))?;
        let (Some((from, at, from_hash, to_hash)), Some((s_from, s_at, s_changes))) =
            (want, &stored)
        else {
            return Ok(want.is_none() && stored.is_none());
        };
        if from != s_from || at != s_at {
            return Ok(false);
        }
        let (Some(a), Some(b)) = (
            self.config_holds(conn, from_hash, configs)?.cloned(),
            self.config_holds(conn, to_hash, configs)?,
        ) else {
            return Ok(false);
        };
        let changes = serde_json::to_string(&diff::diff(&a, b)).expect("changes serialize");
        Ok(changes == *s_changes)
    }

    /// The first-seen fields of the new rows' configs: each stored at its first new row, or
    /// before the start; and none stored at a new row that does not first show it.
    fn fields_since(
        &self,
        conn: &rusqlite::Connection,
        start: i64,
        rows: &NewRows<'_>,
        configs: &mut HashMap<String, Config>,
    ) -> Result<Option<ChainBreak>, StoreError> {
        let mut first: BTreeMap<(i64, String), i64> = BTreeMap::new();
        for o in rows.obs {
            let hash = (rows.hash_of)(o.config);
            let Some(config) = self.config_holds(conn, &hash, configs)? else {
                return Ok(Some(altered(o.id)));
            };
            for field in normalize::unknown_fields(config) {
                let e = first.entry((o.target, field)).or_insert(o.id);
                *e = (*e).min(o.id);
            }
        }
        let mut one = conn
            .prepare_cached(
                "SELECT first_snapshot FROM seen_fields WHERE target_id = ?1 AND field = ?2",
            )
            .map_err(|e| self.err(e))?;
        for ((t, field), id) in &first {
            let stored: Option<i64> = one
                .query_row(params![t, field], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(e))?;
            if !stored.is_some_and(|s| s == *id || s <= start) {
                return Ok(Some(field_altered(*id)));
            }
        }
        let mut later = conn
            .prepare_cached(
                "SELECT field, first_snapshot FROM seen_fields
                 WHERE target_id = ?1 AND first_snapshot > ?2",
            )
            .map_err(|e| self.err(e))?;
        let targets: BTreeSet<i64> = rows.obs.iter().map(|o| o.target).collect();
        for t in targets {
            let stored: Vec<(String, i64)> = later
                .query_map(params![t, start], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.err(e))?;
            if let Some((_, id)) = stored
                .into_iter()
                .find(|(f, id)| first.get(&(t, f.clone())) != Some(id))
            {
                return Ok(Some(field_altered(id)));
            }
        }
        Ok(None)
    }
}

fn altered(to: i64) -> ChainBreak {
    ChainBreak {
        snapshot: to,
        reason: "its change event does not match the snapshots (one was altered, added or removed)"
            .into(),
    }
}

fn field_altered(at: i64) -> ChainBreak {
    ChainBreak {
        snapshot: at,
        reason:
            "its first-seen fields do not match the snapshots (one was altered, added or removed)"
                .into(),
    }
}

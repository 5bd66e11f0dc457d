//! The derived tables, `change_events` and `seen_fields`, computed again from the chained
//! snapshots and their configs. `audit verify` compares what is stored with this, so that a row
//! removed, added or altered in either is a break even though the chain does not cover them;
//! pruning writes them afresh from it.

use std::collections::{BTreeMap, HashMap};

use rusqlite::params;

use super::StoreError;
use super::chain::ChainBreak;
use crate::task::diff;
use crate::task::normalize::{self, Config};

/// One observation as the derivation needs it: its target, when, its id, its config (an index
/// into the configs the caller gathered).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obs {
    pub target: i64,
    pub observed_at: i64,
    pub id: i64,
    pub config: u32,
}

/// A change event the history implies: between two consecutive observations of a target, in
/// observed time, whose configs differ.
#[derive(Debug)]
pub(crate) struct Event {
    pub from: i64,
    pub at: i64,
    pub changes: serde_json::Value,
}

/// What the derived tables must hold.
#[derive(Debug, Default)]
pub(crate) struct Derived {
    /// By (target, to_snapshot).
    pub events: BTreeMap<(i64, i64), Event>,
    /// By (target, field): the first snapshot (in recording order) whose config has the field.
    pub seen: BTreeMap<(i64, String), i64>,
}

/// What the derivation needs of the configs: each one's undocumented fields (by index), and a
/// way to read one whole when a change event needs its diff. Configs are read only for events,
/// a few at a time: a year of a large fleet has thousands of configs, too many to hold at once.
pub(crate) struct Configs<'a> {
    pub unknown: &'a [Vec<String>],
    pub load: &'a mut dyn FnMut(u32) -> Option<Config>,
}

/// Derives both tables from every observation.
pub(crate) fn derive(mut obs: Vec<Obs>, configs: Configs<'_>) -> Derived {
    obs.sort_unstable_by_key(|o| (o.target, o.observed_at, o.id));
    let mut out = Derived::default();
    // A target's events mostly chain (one event's new config is the next one's old): a small
    // cache of parsed configs reads each about once.
    let mut cache: HashMap<u32, std::rc::Rc<Option<Config>>> = HashMap::new();
    let mut get = |i: u32| -> std::rc::Rc<Option<Config>> {
        if let Some(c) = cache.get(&i) {
            return c.clone();
        }
        if cache.len() >= 16 {
            cache.clear();
        }
        let c = std::rc::Rc::new((configs.load)(i));
        cache.insert(i, c.clone());
        c
    };
    for group in obs.chunk_by(|a, b| a.target == b.target) {
        for pair in group.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.config == b.config {
                continue;
            }
            let (x, y) = (get(a.config), get(b.config));
            let changes = match (x.as_ref(), y.as_ref()) {
                (Some(x), Some(y)) => {
                    serde_json::to_value(diff::diff(x, y)).expect("changes serialize")
                }
                _ => serde_json::Value::Null,
            };
            out.events.insert(
                (b.target, b.id),
                Event {
                    from: a.id,
                    at: b.observed_at,
                    changes,
                },
            );
        }
        // The first use of each config with undocumented fields by this target.
        let mut first: HashMap<u32, i64> = HashMap::new();
        for o in group {
            if configs.unknown[o.config as usize].is_empty() {
                continue;
            }
            let e = first.entry(o.config).or_insert(o.id);
            *e = (*e).min(o.id);
        }
        for (config, id) in first {
            for field in &configs.unknown[config as usize] {
                let e = out
                    .seen
                    .entry((group[0].target, field.clone()))
                    .or_insert(id);
                *e = (*e).min(id);
            }
        }
    }
    out
}

/// Compares the stored tables with what the history implies. The break named is the one at the
/// lowest snapshot; the counts are the rows compared.
pub(crate) fn compare(
    conn: &rusqlite::Connection,
    derived: &Derived,
    err: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<(u64, u64, Option<ChainBreak>), StoreError> {
    let mut breaks: Vec<ChainBreak> = Vec::new();
    let mut stmt = conn
        .prepare("SELECT target_id, from_snapshot, to_snapshot, at, changes FROM change_events")
        .map_err(&err)?;
    let mut rows = stmt.query([]).map_err(&err)?;
    let mut seen_events = 0u64;
    let mut matched = std::collections::HashSet::new();
    while let Some(r) = rows.next().map_err(&err)? {
        seen_events += 1;
        let row = (|| -> rusqlite::Result<(i64, i64, i64, i64, String)> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })();
        let Ok((target, from, to, at, changes)) = row else {
            breaks.push(ChainBreak {
                snapshot: r.get(2).unwrap_or(0),
                reason: "change_events: a row has a value of the wrong type".into(),
            });
            continue;
        };
        match derived.events.get(&(target, to)) {
            None => breaks.push(ChainBreak {
                snapshot: to,
                reason: format!(
                    "change_events: a change from snapshot {from} to {to} is recorded that the snapshots do not show (the row was added or altered)"
                ),
            }),
            Some(e) => {
                matched.insert((target, to));
                let same_changes = serde_json::from_str::<serde_json::Value>(&changes)
                    .is_ok_and(|c| c == e.changes);
                if e.from != from || e.at != at || !same_changes {
                    breaks.push(ChainBreak {
                        snapshot: to,
                        reason: format!(
                            "change_events: the change into snapshot {to} does not match the snapshots (the row was altered)"
                        ),
                    });
                }
            }
        }
    }
    for ((target, to), e) in &derived.events {
        if !matched.contains(&(*target, *to)) {
            breaks.push(ChainBreak {
                snapshot: *to,
                reason: format!(
                    "change_events: the change from snapshot {} to {to} is missing (the row was deleted)",
                    e.from
                ),
            });
        }
    }
    drop(rows);
    drop(stmt);

    let mut stmt = conn
        .prepare("SELECT target_id, field, first_snapshot FROM seen_fields")
        .map_err(&err)?;
    let mut rows = stmt.query([]).map_err(&err)?;
    let mut seen_fields = 0u64;
    let mut matched = std::collections::HashSet::new();
    while let Some(r) = rows.next().map_err(&err)? {
        seen_fields += 1;
        let row =
            (|| -> rusqlite::Result<(i64, String, i64)> { Ok((r.get(0)?, r.get(1)?, r.get(2)?)) })(
            );
        let Ok((target, field, first)) = row else {
            breaks.push(ChainBreak {
                snapshot: r.get(2).unwrap_or(0),
                reason: "seen_fields: a row has a value of the wrong type".into(),
            });
            continue;
        };
        let shown = crate::task::text::visible(&field).to_string();
        let key = (target, field);
        match derived.seen.get(&key) {
            None => breaks.push(ChainBreak {
                snapshot: first,
                reason: format!(
                    "seen_fields: field {shown} is recorded as first seen in snapshot {first}, but no snapshot of its target has it (the row was added)"
                ),
            }),
            Some(&id) => {
                matched.insert(key);
                if id != first {
                    breaks.push(ChainBreak {
                        snapshot: id.min(first),
                        reason: format!(
                            "seen_fields: field {shown} is recorded as first seen in snapshot {first}, but it first appears in snapshot {id} (the row was altered)"
                        ),
                    });
                }
            }
        }
    }
    for (key, id) in &derived.seen {
        if !matched.contains(key) {
            let shown = crate::task::text::visible(&key.1);
            breaks.push(ChainBreak {
                snapshot: *id,
                reason: format!(
                    "seen_fields: field {shown}, first seen in snapshot {id}, is missing (the row was deleted)"
                ),
            });
        }
    }
    let first = breaks.into_iter().min_by_key(|b| b.snapshot);
    Ok((seen_events, seen_fields, first))
}

/// Writes both tables afresh from `derived` (after pruning removed the rows they referred to).
pub(crate) fn rewrite(
    tx: &rusqlite::Transaction<'_>,
    derived: &Derived,
    err: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM change_events", []).map_err(&err)?;
    tx.execute("DELETE FROM seen_fields", []).map_err(&err)?;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO change_events (target_id, from_snapshot, to_snapshot, at, changes)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(&err)?;
        for ((target, to), e) in &derived.events {
            insert
                .execute(params![target, e.from, to, e.at, e.changes.to_string()])
                .map_err(&err)?;
        }
        let mut insert = tx
            .prepare(
                "INSERT INTO seen_fields (target_id, field, first_snapshot) VALUES (?1, ?2, ?3)",
            )
            .map_err(&err)?;
        for ((target, field), id) in &derived.seen {
            insert.execute(params![target, field, id]).map_err(&err)?;
        }
    }
    Ok(())
}

/// Every observation and the configs they name, read afresh (for pruning, which has no chain
/// pass to gather them in).
pub(crate) fn gather(
    conn: &rusqlite::Connection,
    shown: &str,
    err: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<Derived, StoreError> {
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut obs = Vec::new();
    {
        let mut stmt = conn
            .prepare("SELECT target_id, observed_at, id, config_hash FROM snapshots")
            .map_err(&err)?;
        let mut rows = stmt.query([]).map_err(&err)?;
        while let Some(r) = rows.next().map_err(&err)? {
            let hash: String = r.get(3).map_err(&err)?;
            let n = index.len() as u32;
            let config = *index.entry(hash).or_insert(n);
            obs.push(Obs {
                target: r.get(0).map_err(&err)?,
                observed_at: r.get(1).map_err(&err)?,
                id: r.get(2).map_err(&err)?,
                config,
            });
        }
    }
    let mut hashes = vec![String::new(); index.len()];
    for (hash, i) in index {
        hashes[i as usize] = hash;
    }
    let mut stmt = conn
        .prepare("SELECT canonical FROM configs WHERE hash = ?1")
        .map_err(&err)?;
    let mut read = |i: u32| -> Result<Config, StoreError> {
        let hash = &hashes[i as usize];
        let text: String = stmt.query_row([hash], |r| r.get(0)).map_err(&err)?;
        Config::from_canonical(&text).map_err(|e| StoreError::BadConfig {
            path: shown.to_string(),
            hash: hash.clone(),
            message: e.to_string(),
        })
    };
    let mut unknown = Vec::with_capacity(hashes.len());
    for i in 0..hashes.len() as u32 {
        unknown.push(normalize::unknown_fields(&read(i)?));
    }
    let mut failed = None;
    let mut load = |i: u32| match read(i) {
        Ok(c) => Some(c),
        Err(e) => {
            failed.get_or_insert(e);
            None
        }
    };
    let derived = derive(
        obs,
        Configs {
            unknown: &unknown,
            load: &mut load,
        },
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(derived),
    }
}

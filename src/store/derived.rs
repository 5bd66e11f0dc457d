//! The derived tables, `change_events` and `seen_fields`, computed again from the chained
//! snapshots and their configs. `audit verify` compares what is stored with this, so that a row
//! removed, added or altered in either is a break even though the chain does not cover them;
//! pruning writes them afresh from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rusqlite::params;
use rustc_hash::FxHashMap;

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
    /// The changes as recording writes them (compact JSON): a large fleet's year has tens of
    /// thousands of events, which held as parsed values would take a kilobyte each.
    pub changes: String,
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
    let mut b = Builder::default();
    // In recording order, as the chain pass meets them.
    obs.sort_unstable_by_key(|o| o.id);
    for o in &obs {
        b.push(*o);
    }
    b.finish(configs.unknown, |_| Ok::<_, std::convert::Infallible>(obs))
        .unwrap_or_else(|e| match e {})
        .into_derived(configs.load)
}

/// A change between two consecutive observations of a target, its diff not yet made.
#[derive(Debug, Clone, Copy)]
struct Pair {
    target: i64,
    from: i64,
    to: i64,
    at: i64,
    from_config: u32,
    to_config: u32,
}

/// What the builder keeps of a target: its newest observation in observed time so far, and each
/// config it has had with the first snapshot (in recording order) that had it. A target has a
/// handful of configs over a year, so a list a target is smaller than a map over all of them,
/// and is searched only when the config is not the one of the row before.
#[derive(Debug)]
struct Track {
    last: Last,
    used: Vec<(u32, i64)>,
}

/// A target's newest observation in observed time, so far.
#[derive(Debug, Clone, Copy)]
struct Last {
    observed_at: i64,
    id: i64,
    config: u32,
}

/// Derives both tables from observations met in recording order, holding only what they
/// imply: a target's latest observation, each target's first use of each config, and the
/// changes. Its memory grows with the targets and their changes, not with the nights.
///
/// A target whose observations are recorded out of observed time (an import of older answers)
/// cannot be derived this way; [`Builder::finish`] reads its observations again.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    last: FxHashMap<i64, Track>,
    pairs: Vec<Pair>,
    /// Targets met out of observed order.
    disordered: std::collections::BTreeSet<i64>,
}

impl Builder {
    /// The next observation in recording order (ids increasing).
    pub(crate) fn push(&mut self, o: Obs) {
        let next = Last {
            observed_at: o.observed_at,
            id: o.id,
            config: o.config,
        };
        match self.last.entry(o.target) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Track {
                    last: next,
                    used: vec![(o.config, o.id)],
                });
            }
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let track = e.get_mut();
                let last = track.last;
                // Ids increase, so the first row met with a config is its first use; the
                // config of the row before is in the list already.
                if last.config != o.config && !track.used.iter().any(|&(c, _)| c == o.config) {
                    track.used.push((o.config, o.id));
                }
                // Ids increase, so an observation at the same moment still comes after.
                if o.observed_at < last.observed_at {
                    self.disordered.insert(o.target);
                    return;
                }
                if last.config != o.config && !self.disordered.contains(&o.target) {
                    self.pairs.push(Pair {
                        target: o.target,
                        from: last.id,
                        to: o.id,
                        at: o.observed_at,
                        from_config: last.config,
                        to_config: o.config,
                    });
                }
                track.last = next;
            }
        }
    }

    /// The tables, their change events not yet diffed. `unknown` gives each config's
    /// undocumented fields; `reread` gives every observation of the targets met out of order.
    pub(crate) fn finish<E>(
        mut self,
        unknown: &[Vec<String>],
        reread: impl FnOnce(&std::collections::BTreeSet<i64>) -> Result<Vec<Obs>, E>,
    ) -> Result<Pending, E> {
        if !self.disordered.is_empty() {
            let disordered = &self.disordered;
            self.pairs.retain(|p| !disordered.contains(&p.target));
            let mut obs = reread(disordered)?;
            obs.retain(|o| disordered.contains(&o.target));
            obs.sort_unstable_by_key(|o| (o.target, o.observed_at, o.id));
            let consecutive = obs
                .chunk_by(|a, b| a.target == b.target)
                .flat_map(|group| group.windows(2))
                .map(|pair| (pair[0], pair[1]));
            for (a, b) in consecutive.filter(|(a, b)| a.config != b.config) {
                self.pairs.push(Pair {
                    target: b.target,
                    from: a.id,
                    to: b.id,
                    at: b.observed_at,
                    from_config: a.config,
                    to_config: b.config,
                });
            }
        }
        // The change_events table's key, so that its rows and these meet in one pass.
        self.pairs.sort_unstable_by_key(|p| (p.target, p.at, p.to));
        let mut seen = BTreeMap::new();
        // The first use of each config with undocumented fields by each target.
        for (target, track) in self.last {
            for (config, id) in track.used {
                for field in &unknown[config as usize] {
                    let e = seen.entry((target, field.clone())).or_insert(id);
                    *e = (*e).min(id);
                }
            }
        }
        Ok(Pending {
            pairs: self.pairs,
            seen,
        })
    }
}

/// What the derived tables must hold, each change event's changes made only when it is met:
/// a large fleet's year has tens of thousands of events, which a comparison need not hold at
/// once.
#[derive(Debug)]
pub(crate) struct Pending {
    /// By (target, at, to_snapshot): the change_events table's key.
    pairs: Vec<Pair>,
    /// By (target, field): the first snapshot (in recording order) whose config has the field.
    seen: BTreeMap<(i64, String), i64>,
}

/// The configs a change goes from and to, as loaded (none if one cannot be read).
type Between = (Arc<Option<Config>>, Arc<Option<Config>>);

/// A change's differences as the change events table stores them.
fn changes_of((x, y): &Between) -> String {
    match (x.as_ref(), y.as_ref()) {
        (Some(x), Some(y)) => serde_json::to_string(&diff::diff(x, y)).expect("changes serialize"),
        _ => "null".to_string(),
    }
}

impl Pair {
    fn event(&self, changes: String) -> (i64, i64, Event) {
        (
            self.target,
            self.to,
            Event {
                from: self.from,
                at: self.at,
                changes,
            },
        )
    }
}

impl Pending {
    /// Each change with the two configs it goes between, in (target, at, to_snapshot) order.
    /// A target's events mostly chain (one event's new config is the next one's old): in this
    /// order, a small cache of parsed configs reads each about once.
    fn pairs_with_configs<'a>(
        &'a self,
        load: &'a mut dyn FnMut(u32) -> Option<Config>,
    ) -> impl Iterator<Item = (&'a Pair, Between)> + 'a {
        let mut cache: HashMap<u32, Arc<Option<Config>>> = HashMap::new();
        let mut get = move |i: u32| -> Arc<Option<Config>> {
            if let Some(c) = cache.get(&i) {
                return c.clone();
            }
            if cache.len() >= 16 {
                cache.clear();
            }
            let c = Arc::new(load(i));
            cache.insert(i, c.clone());
            c
        };
        self.pairs
            .iter()
            .map(move |p| (p, (get(p.from_config), get(p.to_config))))
    }

    /// The change events in (target, at, to_snapshot) order, as (target, to_snapshot, event).
    fn events<'a>(
        &'a self,
        load: &'a mut dyn FnMut(u32) -> Option<Config>,
    ) -> impl Iterator<Item = (i64, i64, Event)> + 'a {
        self.pairs_with_configs(load)
            .map(|(p, configs)| p.event(changes_of(&configs)))
    }

    /// Both tables whole (for pruning, which writes them afresh).
    pub(crate) fn into_derived(self, load: &mut dyn FnMut(u32) -> Option<Config>) -> Derived {
        let events = self
            .events(load)
            .map(|(target, to, e)| ((target, to), e))
            .collect();
        Derived {
            events,
            seen: self.seen,
        }
    }
}

/// Implied changes whose differences are worked out ahead of their comparison.
const AHEAD: usize = 64;

/// Compares the stored tables with what the history implies. The break named is the one at the
/// lowest snapshot; the counts are the rows compared.
///
/// The stored change events are read in their key's order and met with the implied ones made in
/// the same order, one at a time: only the rows that do not match are held.
pub(crate) fn compare(
    conn: &rusqlite::Connection,
    pending: &Pending,
    load: &mut dyn FnMut(u32) -> Option<Config>,
    err: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<(u64, u64, Option<ChainBreak>), StoreError> {
    let mut breaks: Vec<ChainBreak> = Vec::new();
    let seen_events = compare_events(conn, pending, load, &err, &mut breaks)?;
    let seen_fields = compare_seen_fields(conn, pending, &err, &mut breaks)?;
    let first = breaks.into_iter().min_by_key(|b| b.snapshot);
    Ok((seen_events, seen_fields, first))
}

/// Implied events with no stored row, by (target, to_snapshot), each with its from_snapshot;
/// and stored rows with no implied event, as (target, to_snapshot, from_snapshot). One of each
/// with the same target and snapshot is a row whose time was altered.
type Unmatched = (BTreeMap<(i64, i64), i64>, Vec<(i64, i64, i64)>);

/// The stored change events against the implied ones; gives the rows read.
fn compare_events(
    conn: &rusqlite::Connection,
    pending: &Pending,
    load: &mut dyn FnMut(u32) -> Option<Config>,
    err: &impl Fn(rusqlite::Error) -> StoreError,
    breaks: &mut Vec<ChainBreak>,
) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT target_id, from_snapshot, to_snapshot, at, changes FROM change_events
             ORDER BY target_id, at, to_snapshot",
        )
        .map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut seen = 0u64;
    // The differences of each implied change are worked out on a second thread, a few dozen
    // changes ahead, while this one loads their configs and reads the stored rows.
    let (missing, extra) = std::thread::scope(|scope| -> Result<Unmatched, StoreError> {
        let (to_worker, work) = std::sync::mpsc::sync_channel::<Between>(AHEAD);
        let (done, results) = std::sync::mpsc::sync_channel::<String>(AHEAD);
        scope.spawn(move || {
            for configs in work {
                if done.send(changes_of(&configs)).is_err() {
                    return;
                }
            }
        });
        let mut pairs = pending.pairs_with_configs(load);
        let mut queued = std::collections::VecDeque::with_capacity(AHEAD);
        let implied = std::iter::from_fn(move || {
            while queued.len() < AHEAD {
                let Some((p, configs)) = pairs.next() else {
                    break;
                };
                to_worker
                    .send(configs)
                    .expect("the worker lives while it is sent work");
                queued.push_back(p);
            }
            let p: &Pair = queued.pop_front()?;
            Some(
                p.event(
                    results
                        .recv()
                        .expect("the worker answers each change it is sent"),
                ),
            )
        });
        meet_events(&mut rows, err, implied, &mut seen, breaks)
    })?;
    unmatched_events(missing, extra, breaks);
    Ok(seen)
}

/// Meets the stored rows (in key order) with the implied events made in the same order, one at
/// a time, holding only what does not match.
fn meet_events(
    rows: &mut rusqlite::Rows<'_>,
    err: &impl Fn(rusqlite::Error) -> StoreError,
    implied: impl Iterator<Item = (i64, i64, Event)>,
    seen: &mut u64,
    breaks: &mut Vec<ChainBreak>,
) -> Result<Unmatched, StoreError> {
    let mut implied = implied.peekable();
    let mut missing: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    let mut extra: Vec<(i64, i64, i64)> = Vec::new();
    while let Some(r) = rows.next().map_err(err)? {
        *seen += 1;
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
        while let Some((t, implied_to, e)) =
            implied.next_if(|(t, it, e)| (*t, e.at, *it) < (target, at, to))
        {
            missing.insert((t, implied_to), e.from);
        }
        match implied.next_if(|(t, it, e)| (*t, e.at, *it) == (target, at, to)) {
            None => extra.push((target, to, from)),
            Some((_, _, e)) => {
                // As recording writes it, or the same JSON written otherwise.
                let same_changes = changes == e.changes || {
                    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
                    parse(&changes).is_some_and(|c| Some(c) == parse(&e.changes))
                };
                if e.from != from || !same_changes {
                    breaks.push(altered(to));
                }
            }
        }
    }
    missing.extend(implied.map(|(t, to, e)| ((t, to), e.from)));
    Ok((missing, extra))
}

/// The breaks of the rows that met no partner: altered (a pair with the same snapshot), added
/// or deleted.
fn unmatched_events(
    mut missing: BTreeMap<(i64, i64), i64>,
    extra: Vec<(i64, i64, i64)>,
    breaks: &mut Vec<ChainBreak>,
) {
    for (target, to, from) in extra {
        if missing.remove(&(target, to)).is_some() {
            breaks.push(altered(to));
        } else {
            breaks.push(ChainBreak {
                snapshot: to,
                reason: format!(
                    "change_events: a change from snapshot {from} to {to} is recorded that the snapshots do not show (the row was added or altered)"
                ),
            });
        }
    }
    for ((_, to), from) in missing {
        breaks.push(ChainBreak {
            snapshot: to,
            reason: format!(
                "change_events: the change from snapshot {from} to {to} is missing (the row was deleted)"
            ),
        });
    }
}

/// The stored first sightings of unknown fields against the implied ones; gives the rows read.
fn compare_seen_fields(
    conn: &rusqlite::Connection,
    pending: &Pending,
    err: &impl Fn(rusqlite::Error) -> StoreError,
    breaks: &mut Vec<ChainBreak>,
) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare("SELECT target_id, field, first_snapshot FROM seen_fields")
        .map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut seen = 0u64;
    let mut matched = std::collections::HashSet::new();
    while let Some(r) = rows.next().map_err(err)? {
        seen += 1;
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
        let Some(&id) = pending.seen.get(&key) else {
            breaks.push(ChainBreak {
                snapshot: first,
                reason: format!(
                    "seen_fields: field {shown} is recorded as first seen in snapshot {first}, but no snapshot of its target has it (the row was added)"
                ),
            });
            continue;
        };
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
    for (key, id) in &pending.seen {
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
    Ok(seen)
}

fn altered(to: i64) -> ChainBreak {
    ChainBreak {
        snapshot: to,
        reason: format!(
            "change_events: the change into snapshot {to} does not match the snapshots (the row was altered)"
        ),
    }
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
                .execute(params![target, e.from, to, e.at, e.changes])
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The events by definition: a target's observations in observed time (then id), and a
    /// change wherever two in a row differ in config.
    fn by_definition(obs: &[Obs]) -> Vec<(i64, i64, i64, i64)> {
        let mut sorted = obs.to_vec();
        sorted.sort_by_key(|o| (o.target, o.observed_at, o.id));
        let mut out = Vec::new();
        for w in sorted.windows(2) {
            if w[0].target == w[1].target && w[0].config != w[1].config {
                out.push((w[1].target, w[1].id, w[0].id, w[1].observed_at));
            }
        }
        out.sort();
        out
    }

    /// The stored tables in the real schema, written from `derived`.
    fn stored(derived: &Derived) -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrations().to_latest(&mut conn).unwrap();
        // The rows name snapshots and targets this test does not make.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let tx = conn.transaction().unwrap();
        rewrite(&tx, derived, |e| StoreError::Sqlite {
            path: String::new(),
            message: e.to_string(),
        })
        .unwrap();
        tx.commit().unwrap();
        conn
    }

    /// Two targets, each changing config every third night, in recording order.
    fn fleet() -> (Vec<Obs>, Vec<Vec<String>>) {
        let obs = (0..30)
            .map(|i: i64| Obs {
                target: i % 2,
                observed_at: 1_000 + i,
                id: i + 1,
                config: ((i / 6) % 3) as u32,
            })
            .collect();
        (obs, vec![Vec::new(); 3])
    }

    fn break_of(
        conn: &rusqlite::Connection,
        obs: &[Obs],
        unknown: &[Vec<String>],
    ) -> Option<ChainBreak> {
        let mut b = Builder::default();
        for o in obs {
            b.push(*o);
        }
        let pending = b.finish(unknown, |_| Ok::<_, ()>(Vec::new())).unwrap();
        let mut load = |_: u32| None;
        let err = |e: rusqlite::Error| StoreError::Sqlite {
            path: String::new(),
            message: e.to_string(),
        };
        compare(conn, &pending, &mut load, err).unwrap().2
    }

    /// The stored rows met in one pass with the implied ones: each kind of edit is named for
    /// what it is, at its snapshot, and the untouched table passes.
    #[test]
    fn the_streamed_comparison_names_each_edit_at_its_snapshot() {
        let (obs, unknown) = fleet();
        let mut load = |_: u32| None;
        let derived = derive(
            obs.clone(),
            Configs {
                unknown: &unknown,
                load: &mut load,
            },
        );
        assert!(derived.events.len() >= 6, "{}", derived.events.len());
        let (&(target, to), _) = derived.events.iter().nth(2).unwrap();
        let edits: [(&str, &str); 5] = [
            ("", ""),
            (
                "DELETE FROM change_events WHERE target_id = ?1 AND to_snapshot = ?2",
                "is missing (the row was deleted)",
            ),
            (
                "UPDATE change_events SET at = at + 5 WHERE target_id = ?1 AND to_snapshot = ?2",
                "does not match the snapshots (the row was altered)",
            ),
            (
                "UPDATE change_events SET changes = '[1]' WHERE target_id = ?1 AND to_snapshot = ?2",
                "does not match the snapshots (the row was altered)",
            ),
            (
                "UPDATE change_events SET from_snapshot = from_snapshot - 2 WHERE target_id = ?1 AND to_snapshot = ?2",
                "does not match the snapshots (the row was altered)",
            ),
        ];
        for (sql, said) in edits {
            let conn = stored(&derived);
            if !sql.is_empty() {
                assert_eq!(conn.execute(sql, [target, to]).unwrap(), 1);
            }
            let b = break_of(&conn, &obs, &unknown);
            if said.is_empty() {
                assert_eq!(b, None);
            } else {
                let b = b.unwrap_or_else(|| panic!("{sql} is not caught"));
                assert_eq!(b.snapshot, to, "{sql}");
                assert!(b.reason.contains(said), "{sql}: {}", b.reason);
            }
        }
        // A row added where the snapshots show no change.
        let conn = stored(&derived);
        conn.execute(
            "INSERT INTO change_events VALUES (0, 1, 3, 1002, 'null')",
            [],
        )
        .unwrap();
        let b = break_of(&conn, &obs, &unknown).unwrap();
        assert_eq!(b.snapshot, 3);
        assert!(
            b.reason.contains("(the row was added or altered)"),
            "{}",
            b.reason
        );
    }

    proptest! {
        /// Targets recorded in observed order are derived as the rows pass; a target with rows
        /// recorded out of order is read again; both give what the definition gives, and the
        /// first use of each undocumented field is the lowest id.
        #[test]
        fn the_builder_gives_the_events_and_fields_the_definition_gives(
            rows in proptest::collection::vec((0..3i64, 0..20i64, 0..3u32), 1..60),
            shuffled in any::<bool>(),
        ) {
            let mut obs: Vec<Obs> = rows
                .iter()
                .enumerate()
                .map(|(i, &(target, t, config))| Obs {
                    target,
                    // Target 0 in observed order; the others as drawn (or all, if shuffled).
                    observed_at: if target == 0 && !shuffled { i as i64 } else { t },
                    id: i as i64 + 1,
                    config,
                })
                .collect();
            let unknown = vec![Vec::new(), vec!["Later".to_string()], Vec::new()];
            let mut b = Builder::default();
            for o in &obs {
                b.push(*o);
            }
            let mut load = |_: u32| None;
            let reread_obs = obs.clone();
            let derived = b
                .finish(&unknown, |_| Ok::<_, ()>(reread_obs))
                .unwrap()
                .into_derived(&mut load);
            let mut got: Vec<_> = derived
                .events
                .iter()
                .map(|((target, to), e)| (*target, *to, e.from, e.at))
                .collect();
            got.sort();
            prop_assert_eq!(got, by_definition(&obs));
            obs.sort_by_key(|o| o.id);
            for target in 0..3 {
                let first = obs.iter().find(|o| o.target == target && o.config == 1).map(|o| o.id);
                prop_assert_eq!(derived.seen.get(&(target, "Later".to_string())).copied(), first);
            }
        }
    }
}

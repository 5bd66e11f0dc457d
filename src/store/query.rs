//! Reading the history: resolving WHEN to a snapshot, listing snapshots, change events, configs.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;

use rusqlite::{OptionalExtension, Row, params};
use serde::Deserialize;

use super::{Store, StoreError, from_ms, ms};
use crate::task::diff::Change;
use crate::task::normalize::{Config, Status};
use crate::task::source::{Identity, Source};
use crate::task::when::When;

/// A snapshot without its raw answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub id: i64,
    pub target: String,
    pub observed_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub source: Source,
    pub endpoint: Option<String>,
    pub request_id: Option<String>,
    pub config_hash: String,
    pub status: Status,
    /// Which account it came from, when known.
    pub identity: Option<Identity>,
}

/// A snapshot with its raw answer and config.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    pub meta: SnapshotMeta,
    pub raw: Vec<u8>,
    pub config: Config,
}

/// One line of `audit history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub meta: SnapshotMeta,
    /// The config differs from the observation before it (true for the first one).
    pub changed: bool,
    /// No observation of the target comes before it.
    pub first: bool,
}

/// A change event: two consecutive observations whose configs differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub from: i64,
    pub to: i64,
    pub changes: Vec<Change>,
}

/// A change event as stored: its changes still the JSON the recording wrote, to be read with
/// [`Store::changes_of`] into [`Change`]s or, borrowing from it, into
/// [`crate::task::diff::StoredChange`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub at: DateTime<Utc>,
    pub from: i64,
    pub to: i64,
    pub changes: String,
}

const META_COLUMNS: &str = "s.id, t.name, s.observed_at, s.recorded_at, s.source, s.endpoint, s.request_id, s.config_hash, s.last_scan_time, s.scan_result, s.account, s.arn, s.principal_type";

fn meta_of(r: &Row<'_>) -> rusqlite::Result<SnapshotMeta> {
    Ok(SnapshotMeta {
        id: r.get(0)?,
        target: r.get(1)?,
        observed_at: from_ms(r.get(2)?),
        recorded_at: from_ms(r.get(3)?),
        source: {
            let word: String = r.get(4)?;
            Source::parse(&word).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    4,
                    rusqlite::types::Type::Text,
                    format!("a snapshot's source is {word:?}, neither fetch nor import").into(),
                )
            })?
        },
        endpoint: r.get(5)?,
        request_id: r.get(6)?,
        config_hash: r.get(7)?,
        status: Status {
            last_scan_time: r.get(8)?,
            scan_result: r.get(9)?,
        },
        identity: match r.get::<_, Option<String>>(10)? {
            Some(account) => Some(Identity {
                account,
                arn: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                principal_type: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
            }),
            None => None,
        },
    })
}

impl Store {
    /// The names of every target with history, sorted.
    pub fn targets(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM targets ORDER BY name")
            .map_err(|e| self.err(e))?;
        let names = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| self.err(e))?;
        Ok(names)
    }

    fn target_id(&self, target: &str) -> Result<Option<i64>, StoreError> {
        self.cached_row("SELECT id FROM targets WHERE name = ?1", [target], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| self.err(e))
    }

    /// What bounds the time of the next journal entry: the newest entry (id, time) and the
    /// newest snapshot (id, recorded time), of any target (see [`crate::task::journal_time`]).
    pub fn newest_times(&self) -> Result<crate::task::journal_time::Around, StoreError> {
        let pair = |r: &Row<'_>| Ok((r.get::<_, i64>(0)?, from_ms(r.get(1)?)));
        let entry_before = self
            .cached_row(
                "SELECT id, at FROM journal ORDER BY id DESC LIMIT 1",
                [],
                pair,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let snapshot_before = self
            .cached_row(
                "SELECT id, recorded_at FROM snapshots ORDER BY id DESC LIMIT 1",
                [],
                pair,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(crate::task::journal_time::Around {
            entry_before,
            snapshot_before,
            first_linking: None,
        })
    }

    /// The earliest observation time of a target.
    pub fn earliest(&self, target: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> = self
            .cached_row("SELECT MIN(s.observed_at) FROM snapshots s JOIN targets t ON t.id = s.target_id WHERE t.name = ?1",
                [target],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(at.map(from_ms))
    }

    /// Which of `targets` have no snapshot. Read through a page cache of 256 KiB: a fleet's
    /// targets each touch an index page of their own, once. A larger cache keeps them for
    /// nothing, and the memory they took stays with the process: at 10,000 targets an 8 MiB
    /// cache held 8 MB for the rest of a report.
    pub fn unobserved<'a>(&self, targets: &'a [String]) -> Result<Vec<&'a str>, StoreError> {
        self.with_cache(super::PAGE_A_TARGET_CACHE_KIB, || {
            let mut out = Vec::new();
            for name in targets {
                if self.earliest(name)?.is_none() {
                    out.push(name.as_str());
                }
            }
            Ok(out)
        })
    }

    /// A snapshot's metadata by id.
    pub fn meta(&self, id: i64) -> Result<SnapshotMeta, StoreError> {
        let sql = format!(
            "SELECT {META_COLUMNS} FROM snapshots s JOIN targets t ON t.id = s.target_id WHERE s.id = ?1"
        );
        self.cached_row(&sql, [id], meta_of)
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(StoreError::UnknownSnapshot { id, target: None })
    }

    /// The snapshots of `target` whose answer carries `request_id`, oldest first. A RequestId names
    /// one answer of the API: seen at two moments, one of the two is not what it claims.
    pub fn with_request_id(
        &self,
        target: &str,
        request_id: &str,
    ) -> Result<Vec<SnapshotMeta>, StoreError> {
        let Some(target_id) = self.target_id(target)? else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {META_COLUMNS} FROM snapshots s JOIN targets t ON t.id = s.target_id
             WHERE s.target_id = ?1 AND s.request_id = ?2 ORDER BY s.observed_at, s.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_map(params![target_id, request_id], meta_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))
    }

    /// Resolves a WHEN to the newest snapshot of `target` at or before that moment.
    pub fn resolve(&self, target: &str, when: &When, tz: Tz) -> Result<SnapshotMeta, StoreError> {
        let no_snapshot = |what: String| -> Result<StoreError, StoreError> {
            Ok(StoreError::NoSnapshot {
                target: target.to_string(),
                what,
                earliest: self.earliest(target)?,
            })
        };
        if let When::Snapshot(id) = when {
            let meta = match self.meta(*id) {
                Ok(m) => m,
                Err(StoreError::UnknownSnapshot { id, .. }) => {
                    return Err(StoreError::UnknownSnapshot {
                        id,
                        target: Some(target.to_string()),
                    });
                }
                Err(e) => return Err(e),
            };
            if meta.target != target {
                return Err(StoreError::WrongTarget {
                    id: *id,
                    wanted: target.to_string(),
                    actual: meta.target,
                });
            }
            return Ok(meta);
        }
        let Some(target_id) = self.target_id(target)? else {
            return Err(no_snapshot(String::new())?);
        };
        let bound = when.upper_instant(tz).map(ms).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {META_COLUMNS} FROM snapshots s JOIN targets t ON t.id = s.target_id
             WHERE s.target_id = ?1 AND s.observed_at <= ?2 ORDER BY s.observed_at DESC, s.id DESC LIMIT 1"
        );
        match self
            .cached_row(&sql, params![target_id, bound], meta_of)
            .optional()
            .map_err(|e| self.err(e))?
        {
            Some(m) => Ok(m),
            None => Err(no_snapshot(match when.upper_instant(tz) {
                Some(at) => format!("at or before {}", crate::task::when::fmt_utc(at)),
                None => String::new(),
            })?),
        }
    }

    /// The observation just before `meta` in time, for the same target.
    pub fn previous(&self, meta: &SnapshotMeta) -> Result<Option<SnapshotMeta>, StoreError> {
        let sql = format!(
            "SELECT {META_COLUMNS} FROM snapshots s JOIN targets t ON t.id = s.target_id
             WHERE t.name = ?1 AND (s.observed_at < ?2 OR (s.observed_at = ?2 AND s.id < ?3))
             ORDER BY s.observed_at DESC, s.id DESC LIMIT 1"
        );
        self.cached_row(
            &sql,
            params![meta.target, ms(meta.observed_at), meta.id],
            meta_of,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// A snapshot with its raw answer and config.
    pub fn snapshot(&self, id: i64) -> Result<StoredSnapshot, StoreError> {
        let meta = self.meta(id)?;
        let (base, stored): (Option<i64>, Vec<u8>) = self
            .cached_row(
                "SELECT raw_base, raw FROM snapshots WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))?;
        let raw = self.unpack_raw(id, base, stored)?;
        let config = self.config(&meta.config_hash)?;
        Ok(StoredSnapshot { meta, raw, config })
    }

    /// A stored config by its hash.
    pub fn config(&self, hash: &str) -> Result<Config, StoreError> {
        let text: String = self
            .cached_row(
                "SELECT canonical FROM configs WHERE hash = ?1",
                [hash],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::BadConfig {
                path: self.shown(),
                hash: hash.to_string(),
                message: "it is missing".into(),
            })?;
        Config::from_canonical(&text).map_err(|e| StoreError::BadConfig {
            path: self.shown(),
            hash: hash.to_string(),
            message: e.to_string(),
        })
    }

    /// Observations of `target` within `[since, until]`, oldest first, each marked changed or not.
    pub fn history(
        &self,
        target: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let Some(target_id) = self.target_id(target)? else {
            return Ok(Vec::new());
        };
        let since = since.map(ms).unwrap_or(i64::MIN);
        let until = until.map(ms).unwrap_or(i64::MAX);
        // A row is "changed" when an event ends at it, or when it is the target's first.
        let sql = format!(
            "SELECT {META_COLUMNS},
                    EXISTS(SELECT 1 FROM change_events e WHERE e.target_id = s.target_id AND e.to_snapshot = s.id),
                    NOT EXISTS(SELECT 1 FROM snapshots p WHERE p.target_id = s.target_id
                                  AND (p.observed_at < s.observed_at OR (p.observed_at = s.observed_at AND p.id < s.id)))
             FROM snapshots s JOIN targets t ON t.id = s.target_id
             WHERE s.target_id = ?1 AND s.observed_at >= ?2 AND s.observed_at <= ?3
             ORDER BY s.observed_at, s.id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![target_id, since, until], |r| {
                let first: bool = r.get(14)?;
                Ok(HistoryRow {
                    meta: meta_of(r)?,
                    changed: first || r.get::<_, bool>(13)?,
                    first,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Change events of `target` within `[since, until]`, newest first.
    pub fn events(
        &self,
        target: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<Event>, StoreError> {
        self.stored_events(target, since, until)?
            .iter()
            .map(|e| {
                Ok(Event {
                    at: e.at,
                    from: e.from,
                    to: e.to,
                    changes: self.changes_of(e)?,
                })
            })
            .collect()
    }

    /// [`Store::events`] as stored, their changes not yet read.
    pub fn stored_events(
        &self,
        target: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(target_id) = self.target_id(target)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, from_snapshot, to_snapshot, changes FROM change_events
                 WHERE target_id = ?1 AND at >= ?2 AND at <= ?3 ORDER BY at DESC, to_snapshot DESC",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(
            params![
                target_id,
                since.map(ms).unwrap_or(i64::MIN),
                until.map(ms).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(StoredEvent {
                    at: from_ms(r.get(0)?),
                    from: r.get(1)?,
                    to: r.get(2)?,
                    changes: r.get(3)?,
                })
            },
        )
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// The changes of a stored event, read as `T`: [`Change`], or a
    /// [`crate::task::diff::StoredChange`] borrowing from the event.
    pub fn changes_of<'a, T: Deserialize<'a>>(
        &self,
        event: &'a StoredEvent,
    ) -> Result<Vec<T>, StoreError> {
        serde_json::from_str(&event.changes).map_err(|e| StoreError::Corrupt {
            path: self.shown(),
            message: format!(
                "the change event ending at snapshot {} cannot be read: {e}",
                event.to
            ),
        })
    }

    /// Change events of every target within `[since, until]`, a target at a time in the order
    /// of their names, each target's newest first: `each` is given a target's name and its
    /// events as stored (which it may take), and no more than one target's events are held. One statement
    /// for the fleet, where [`Store::events`] a target would prepare, bind and seek a thousand
    /// times for a fleet's log; a target without events in the window is not visited.
    pub fn each_target_events<E: From<StoreError>>(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        mut each: impl FnMut(&str, &mut Vec<StoredEvent>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT t.name, e.at, e.from_snapshot, e.to_snapshot, e.changes
                 FROM targets t JOIN change_events e ON e.target_id = t.id
                 WHERE e.at >= ?1 AND e.at <= ?2
                 ORDER BY t.name, e.at DESC, e.to_snapshot DESC",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![
                since.map(ms).unwrap_or(i64::MIN),
                until.map(ms).unwrap_or(i64::MAX)
            ])
            .map_err(|e| self.err(e))?;
        // The target whose events are being gathered, and its events so far: one target's worth
        // of memory, used again for the next.
        let mut current = String::new();
        let mut events: Vec<StoredEvent> = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let text = |i| {
                r.get_ref(i)
                    .and_then(|v| v.as_str().map_err(Into::into))
                    .map_err(|e| self.err(e))
            };
            let get = |i| r.get::<_, i64>(i).map_err(|e| self.err(e));
            let name = text(0)?;
            if name != current {
                if !events.is_empty() {
                    each(&current, &mut events)?;
                    events.clear();
                }
                name.clone_into(&mut current);
            }
            events.push(StoredEvent {
                at: from_ms(get(1)?),
                from: get(2)?,
                to: get(3)?,
                changes: text(4)?.to_owned(),
            });
        }
        if !events.is_empty() {
            each(&current, &mut events)?;
        }
        Ok(())
    }

    /// Snapshots with configs and status, oldest first, from the last one before `since` (so the
    /// state at the window's start is known) through `until`: what history policies evaluate.
    pub fn observations(
        &self,
        target: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(SnapshotMeta, Config)>, StoreError> {
        let Some(target_id) = self.target_id(target)? else {
            return Ok(Vec::new());
        };
        let start: i64 = self
            .cached_row("SELECT COALESCE(MAX(observed_at), ?2) FROM snapshots WHERE target_id = ?1 AND observed_at < ?2",
                params![target_id, ms(since)],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let sql = format!(
            "SELECT {META_COLUMNS} FROM snapshots s JOIN targets t ON t.id = s.target_id
             WHERE s.target_id = ?1 AND s.observed_at >= ?2 AND s.observed_at <= ?3 ORDER BY s.observed_at, s.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let metas = stmt
            .query_map(params![target_id, start, ms(until)], meta_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        // A target's observations share a few configs: each is read and parsed once.
        let mut configs: HashMap<String, Config> = HashMap::new();
        let mut out = Vec::with_capacity(metas.len());
        for meta in metas {
            let config = match configs.get(&meta.config_hash) {
                Some(c) => c.clone(),
                None => {
                    let c = self.config(&meta.config_hash)?;
                    configs.insert(meta.config_hash.clone(), c.clone());
                    c
                }
            };
            out.push((meta, config));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::record::tests_support::*;
    use crate::store::{StoreError, StoredEvent};

    /// The fleet's events in one query are, target by target, what a query a target gives:
    /// the same events in the same order, and within the same window.
    #[test]
    fn the_fleets_events_are_each_targets_events() {
        let (_dir, _, mut store) = fresh();
        let names = ["prod", "stage", "dev"];
        for night in 0..12i64 {
            for (i, name) in names.iter().enumerate() {
                // Each target changes on nights of its own; "dev" never does.
                let period = if i < 2 {
                    1 + (night / (i as i64 + 2)) % 3
                } else {
                    1
                };
                let answer = answer(period, &format!("req-{night}-{name}"));
                let mut s = nightly(night, &answer);
                s.target = *name;
                store.record(&s).unwrap();
            }
        }
        let at = |night: i64| chrono::DateTime::from_timestamp(1_780_000_000 + night * 86_400, 0);
        let fleet = |since, until| {
            let mut all: Vec<(String, Vec<StoredEvent>)> = Vec::new();
            store
                .each_target_events(since, until, |name, events| {
                    all.push((name.to_owned(), std::mem::take(events)));
                    Ok::<_, StoreError>(())
                })
                .unwrap();
            all
        };
        for (since, until) in [(None, None), (at(3), at(9)), (at(11), None)] {
            let all = fleet(since, until);
            let visited: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
            let mut sorted = visited.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(visited, sorted, "each target once, in the order of names");
            for name in names {
                let one = store.stored_events(name, since, until).unwrap();
                let got = all.iter().find(|(n, _)| n == name).map(|(_, e)| e.clone());
                assert_eq!(got.unwrap_or_default(), one, "{name}");
            }
            assert!(
                all.iter()
                    .all(|(n, e)| names.contains(&n.as_str()) && !e.is_empty())
            );
        }
        let whole = fleet(None, None);
        let of = |name: &str| whole.iter().find(|(n, _)| n == name).map(|(_, e)| e.len());
        assert!(of("prod") > Some(2) && of("stage") > Some(2));
        assert_eq!(
            of("dev"),
            None,
            "a target that never changed is not visited"
        );
    }
}

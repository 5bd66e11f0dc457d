//! Approved baselines: approving the config at a moment, and reading the one in force.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::app::Error;
use crate::store::{Entry, EntryKind, NewEntry, Store};
use crate::task::normalize::Config;
use crate::task::text::visible;
use crate::task::when::When;

/// The longest reason or name kept: a sentence or two, not a file.
const MAX_TEXT: usize = 2000;

/// Who is deciding: `--by`, else the account this process runs as (from the system's user
/// database, which a container may lack), else `$USER` or `$LOGNAME`.
pub fn who(by: Option<&str>) -> Result<String, Error> {
    let name = match by {
        Some(b) => b.to_string(),
        None => whoami::fallible::username()
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                ["USER", "LOGNAME"]
                    .iter()
                    .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
            })
            .ok_or_else(|| {
                Error::Usage(
                    "who is deciding is not known (this user has no name here): give --by NAME"
                        .into(),
                )
            })?,
    };
    checked_text("--by", &name)
}

/// `text` trimmed, refused when empty or longer than [`MAX_TEXT`].
pub fn checked_text(what: &str, text: &str) -> Result<String, Error> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::Usage(format!("{what} is empty: say it in words")));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(Error::Usage(format!(
            "{what} is longer than {MAX_TEXT} characters: keep it to a sentence or two and link the rest"
        )));
    }
    Ok(t.to_string())
}

/// Records the config `target` had at `when` as its approved baseline.
pub fn approve(
    store: &mut Store,
    target: &str,
    when: &When,
    tz: Tz,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Entry, Error> {
    let reason = checked_text("--reason", reason)?;
    let meta = store.resolve(target, when, tz)?;
    // The config must be readable now, or the baseline would name nothing.
    store.config(&meta.config_hash)?;
    // Dated before what is already recorded, an approval would change which baseline was in
    // force for moments already judged; `verify` would call it a break.
    crate::task::journal_time::check(now, &store.newest_times()?).map_err(Error::OutOfOrder)?;
    Ok(store.append_entry(&NewEntry {
        target,
        kind: EntryKind::Baseline,
        at: now,
        by,
        reason: &reason,
        snapshot: Some(meta.id),
        config_hash: &meta.config_hash,
        detail: &serde_json::json!({"observed_at": crate::task::when::fmt_utc(meta.observed_at)}),
    })?)
}

/// The target's baseline in force at `at` (by the rule of [`crate::task::in_force`]), or a
/// usage error saying how to approve one.
pub fn in_force(store: &Store, target: &str, at: DateTime<Utc>) -> Result<Entry, Error> {
    in_force_at(store, target, at)?.ok_or_else(|| {
        Error::Usage(format!(
            "target {} has no baseline in force at {} (none approved at or before then): approve one with `audit baseline approve --target {} --reason TEXT`",
            visible(target),
            crate::task::when::fmt_utc(at),
            visible(target)
        ))
    })
}

/// The target's baseline in force at `at`, if one is.
pub fn in_force_at(store: &Store, target: &str, at: DateTime<Utc>) -> Result<Option<Entry>, Error> {
    let approvals = store.entries(Some(target), Some(EntryKind::Baseline))?;
    Ok(crate::task::in_force::in_force(
        approvals,
        |e| (e.id, e.at),
        at,
    ))
}

/// The moment a snapshot found at `when` is judged as of, and so the moment whose baseline is
/// in force for it: `latest` as of now, so that a stopped nightly job shows as a gap; another
/// moment as of the snapshot's own time.
pub fn judged_at(when: &When, observed_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    match when {
        When::Latest => now,
        _ => observed_at,
    }
}

/// Approved baselines, each with its config, oldest first.
pub type Baselines = Vec<(Entry, Config)>;

/// A target's journal as reports and checks read it: every baseline with its config, and the
/// restores, oldest first.
pub fn journal_of(store: &Store, target: &str) -> Result<(Baselines, Vec<Entry>), Error> {
    let mut baselines = Vec::new();
    let mut restores = Vec::new();
    for e in store.entries(Some(target), None)? {
        match e.kind {
            EntryKind::Baseline => {
                let config = store.config(&e.config_hash)?;
                baselines.push((e, config));
            }
            EntryKind::Restore => restores.push(e),
            // A line start names no target, so none is found here.
            EntryKind::Signing => {}
        }
    }
    Ok((baselines, restores))
}

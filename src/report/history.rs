//! Renderers for `audit history`, `audit snapshot`/`import` lines and `audit verify`.

use std::io::{self, Write};

use chrono_tz::Tz;
use serde_json::json;

use super::{short, write_json};
use crate::store::{CheckpointReport, HistoryRow, Recorded, VerifyReport};
use crate::task::text::{count, visible};
use crate::task::when::{fmt_time, fmt_utc};
use crate::trust::witness::{HeadStatus, WitnessResult, WitnessStatus};

/// `audit history` as text: one line per snapshot.
pub fn history_text(
    target: &str,
    rows: &[HistoryRow],
    tz: Tz,
    w: &mut dyn Write,
) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(w, "{}: no snapshots in this window", visible(target));
    }
    writeln!(
        w,
        "{:>6}  {:<25}  {:<12}  {:<9}  {:<6}  {:<12}  REQUEST ID",
        "ID", "OBSERVED", "CONFIG", "CHANGE", "SOURCE", "ACCOUNT"
    )?;
    for r in rows {
        writeln!(
            w,
            "{:>6}  {:<25}  {:<12}  {:<9}  {:<6}  {:<12}  {}",
            r.meta.id,
            fmt_time(r.meta.observed_at, tz),
            short(&r.meta.config_hash),
            if r.first {
                "first"
            } else if r.changed {
                "changed"
            } else {
                "unchanged"
            },
            r.meta.source,
            visible(r.meta.identity.as_ref().map_or("-", |i| i.account.as_str())),
            visible(r.meta.request_id.as_deref().unwrap_or("-")),
        )?;
    }
    Ok(())
}

/// The history JSON document: `{schema, target, snapshots:[{id, at, request_id, config_hash, changed,
/// first?}]}`; a target's first snapshot is `changed: false, first: true`.
pub fn history_json_value(target: &str, rows: &[HistoryRow]) -> serde_json::Value {
    json!({
        "schema": "tcss-audit/history/v1",
        "target": target,
        "snapshots": rows.iter().map(|r| json!({
            "id": r.meta.id,
            "at": fmt_utc(r.meta.observed_at),
            "request_id": r.meta.request_id,
            "config_hash": r.meta.config_hash,
            // A first observation changed nothing: it is `first`, as the text says.
            "changed": r.changed && !r.first,
            "first": r.first.then_some(true),
            "identity": r.meta.identity,
        })).map(|mut v| {
            if v["first"].is_null() {
                v.as_object_mut().expect("an object").remove("first");
            }
            v
        }).collect::<Vec<_>>(),
    })
}

/// One line for a recorded observation: target, id, time, changed or unchanged, short hash.
pub fn recorded_line(target: &str, r: &Recorded, tz: Tz, w: &mut dyn Write) -> io::Result<()> {
    let state = if r.duplicate {
        "already recorded"
    } else if r.first {
        "first"
    } else if r.changed {
        "changed"
    } else {
        "unchanged"
    };
    write!(
        w,
        "{}  #{}  {}  {state}  {}",
        visible(target),
        r.id,
        fmt_time(r.observed_at, tz),
        short(&r.config_hash)
    )?;
    match &r.identity {
        Some(id) => writeln!(w, "  account {}", visible(&id.account)),
        None => writeln!(w),
    }
}

/// Everything `audit verify` found: the chain and derived tables, the signed checkpoints, and
/// each witness.
#[derive(Debug, Clone)]
pub struct VerifyOutcome {
    pub chain: VerifyReport,
    pub checkpoints: CheckpointReport,
    /// The public key's fingerprint, when one was given.
    pub key: Option<String>,
    pub require_signed: bool,
    pub witnesses: Vec<WitnessResult>,
}

impl VerifyOutcome {
    /// The unsigned tail is a failure only with `--require-signed`.
    pub fn tail_fails(&self) -> bool {
        self.require_signed && self.checkpoints.unsigned_tail > 0
    }

    pub fn ok(&self) -> bool {
        self.chain.ok()
            && self.checkpoints.first_bad.is_none()
            && !self.tail_fails()
            && !self.witnesses.iter().any(|w| w.status.is_failure())
    }
}

/// `audit verify` as text.
pub fn verify_text(v: &VerifyOutcome, w: &mut dyn Write) -> io::Result<()> {
    let c = &v.chain;
    match &c.first_break {
        None => writeln!(
            w,
            "chain holds: {} and {} verified; {} and {} match the snapshots",
            count(c.checked, "snapshot", "snapshots"),
            count(c.configs_checked, "config", "configs"),
            count(c.events_checked, "change event", "change events"),
            count(c.fields_checked, "first-seen field", "first-seen fields"),
        )?,
        Some(b) => writeln!(
            w,
            "chain BROKEN at snapshot {}: {} ({} snapshots read)",
            b.snapshot,
            visible(&b.reason),
            c.checked
        )?,
    }
    let j = &c.journal;
    match &j.first_break {
        Some(b) => writeln!(
            w,
            "journal BROKEN at entry {}: {}",
            b.entry,
            visible(&b.reason)
        )?,
        None if j.entries == 0 => {}
        None if j.unlinked > 0 => writeln!(
            w,
            "journal holds: {}; {} newer than the newest snapshot, covered by the chain from the next snapshot on",
            count(j.entries, "entry", "entries"),
            count(j.unlinked, "entry is", "entries are"),
        )?,
        None => writeln!(
            w,
            "journal holds: {}, every one linked by the snapshots after it",
            count(j.entries, "entry", "entries"),
        )?,
    }
    match &c.head {
        Some(h) => writeln!(
            w,
            "head: snapshot {}, chain hash {}",
            h.snapshot, h.chain_hash
        )?,
        None => writeln!(w, "head: none (no snapshots)")?,
    }
    checkpoints_text(v, w)?;
    for r in &v.witnesses {
        let file = visible(&r.file);
        let signed = match r.signature {
            Some(s) => format!(" (signature {s})"),
            None => String::new(),
        };
        let what = match (&r.status, r.snapshot) {
            (WitnessStatus::Head(HeadStatus::Held), Some(id)) => {
                format!("snapshot {id} held")
            }
            (WitnessStatus::Head(HeadStatus::HeldAtCheckpoint), Some(id)) => {
                format!("snapshot {id} held (at the pruning checkpoint that ends there)")
            }
            (WitnessStatus::Head(HeadStatus::Pruned), Some(id)) => {
                format!("snapshot {id} pruned, not checkable")
            }
            (WitnessStatus::Head(HeadStatus::Rewritten { found }), Some(id)) => format!(
                "snapshot {id} REWRITTEN: its chain hash is now {}, not the witnessed one; the history at or before it was changed",
                short(found)
            ),
            (WitnessStatus::Head(HeadStatus::Missing { newest }), Some(id)) => format!(
                "snapshot {id} MISSING: the history was cut below it ({})",
                match newest {
                    Some(n) => format!("the newest now is {n}"),
                    None => "no snapshot is left".into(),
                }
            ),
            (WitnessStatus::BadSignature { reason, .. }, _) => {
                format!("signature BAD: {}", visible(reason))
            }
            _ => "names no head (made from an empty history)".into(),
        };
        writeln!(w, "witness {file}{signed}: {what}")?;
    }
    Ok(())
}

/// The signed checkpoints' lines of `audit verify`'s text.
fn checkpoints_text(v: &VerifyOutcome, w: &mut dyn Write) -> io::Result<()> {
    let k = &v.checkpoints;
    match (&v.key, k.verified) {
        (Some(fp), Some(verified)) => {
            writeln!(
                w,
                "checkpoints: {} signed, {verified} verified with {fp}{}; {} after the newest verified one",
                k.signed,
                if k.pruned > 0 {
                    format!(", {} pruned", k.pruned)
                } else {
                    String::new()
                },
                count(k.unsigned_tail, "snapshot", "snapshots"),
            )?;
        }
        _ if k.signed == 0 => writeln!(w, "checkpoints: none signed")?,
        _ => writeln!(
            w,
            "checkpoints: {} signed, not checked (give --public-key FILE.pub)",
            k.signed
        )?,
    }
    if !k.line_starts.is_empty() {
        let starts: Vec<String> = k
            .line_starts
            .iter()
            .map(|s| format!("snapshot {} ({})", s.snapshot, s.signed_at))
            .collect();
        writeln!(
            w,
            "line starts: {} (a key vouching for the history as it found it; the journal's signing entries say who and why)",
            starts.join(", ")
        )?;
    }
    if let Some(b) = &k.first_bad {
        writeln!(
            w,
            "checkpoint BROKEN at snapshot {}: {}",
            b.snapshot,
            visible(&b.reason)
        )?;
    }
    if v.tail_fails() {
        writeln!(
            w,
            "unsigned tail: {} recorded after the newest verified signed checkpoint, and --require-signed was given",
            count(k.unsigned_tail, "snapshot is", "snapshots are"),
        )?;
    }
    Ok(())
}

/// `audit verify` as JSON.
pub fn verify_json(v: &VerifyOutcome, w: &mut dyn Write) -> io::Result<()> {
    let c = &v.chain;
    let k = &v.checkpoints;
    write_json(
        w,
        &json!({
            "schema": "tcss-audit/verify/v1",
            "ok": v.ok(),
            "checked": c.checked,
            "configs_checked": c.configs_checked,
            "events_checked": c.events_checked,
            "fields_checked": c.fields_checked,
            "head": c.head,
            "first_break": c.first_break,
            "journal": c.journal,
            "checkpoints": {
                "signed": k.signed,
                "verified": k.verified,
                "pruned": k.pruned,
                "unsigned_tail": k.unsigned_tail,
                "require_signed": v.require_signed,
                "public_key": v.key,
                "newest": k.newest,
                "first_bad": k.first_bad,
                "line_starts": k.line_starts,
            },
            "witnesses": v.witnesses,
        }),
    )
}

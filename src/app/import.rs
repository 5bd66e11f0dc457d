//! Importing saved answers and restoring backups: every saved answer is read and checked before
//! any is recorded; a backup is parsed on one thread while this one records it in batches.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::app::Error;
use crate::app::snapshot::warn_new_fields;
use crate::store::{
    Bulk, EXPORT_SCHEMA, ExportEntry, ExportHeader, ExportLine, ExportRow, NewSnapshot, OpenMode,
    Recorded, Store,
};
use crate::task::fields;
use crate::task::normalize;
use crate::task::source::Source;
use crate::task::text::visible;
use crate::task::when::fmt_utc;
use crate::tencent::model::{self, Answer, AnswerError, MAX_ANSWER_BYTES};
use crate::trust::SigningKey;

/// One saved answer, read and checked.
pub struct SavedAnswer {
    raw: Vec<u8>,
    at: DateTime<Utc>,
    answer: Answer,
}

/// How a file is named in messages: `-` is standard input.
pub fn shown(file: &Path) -> String {
    if file.as_os_str() == "-" {
        "standard input".into()
    } else {
        file.display().to_string()
    }
}

/// Reads and checks every file (`-` is standard input); one bad file fails them all, naming each
/// that is bad. An answer is observed `at`, else at its file's modification time, else `now`.
pub fn read_answers(
    files: &[impl AsRef<Path>],
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<SavedAnswer>, Error> {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let file = file.as_ref();
        match read_answer(file, at, now) {
            Ok(l) => loaded.push(l),
            Err(message) => problems.push(format!("{}: {message}", shown(file))),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Input(format!(
            "nothing was imported; fix these and run again:\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(loaded)
}

/// How far past this machine's "now" an import's time may lie: clocks differ a little, and a file
/// copied from another machine may carry its clock in its modification time.
pub const FUTURE_ALLOWANCE: chrono::Duration = chrono::Duration::minutes(5);

/// Records checked answers for `target`, one transaction each; `recorded` hears of each. An
/// answer whose RequestId is already recorded at another moment is refused: one answer of the
/// API cannot have been observed twice.
pub fn record_answers(
    store: &mut Store,
    target: &str,
    answers: &[SavedAnswer],
    now: DateTime<Utc>,
    mut recorded: impl FnMut(&Recorded) -> Result<(), Error>,
) -> Result<(), Error> {
    // Every answer is checked before any is recorded.
    for (i, l) in answers.iter().enumerate() {
        let Some(rid) = l.answer.request_id() else {
            continue;
        };
        let mut elsewhere: Vec<String> = store
            .with_request_id(target, rid)?
            .into_iter()
            .filter(|m| m.observed_at != l.at)
            .map(|m| format!("#{} at {}", m.id, fmt_utc(m.observed_at)))
            .collect();
        elsewhere.extend(
            answers[..i]
                .iter()
                .filter(|o| o.at != l.at && o.answer.request_id() == Some(rid))
                .map(|o| format!("another file, at {}", fmt_utc(o.at))),
        );
        if !elsewhere.is_empty() {
            return Err(Error::Input(format!(
                "nothing was imported: the answer with RequestId {} for target {} is already observed ({}), and one answer of the API cannot be observed again at {}",
                visible(rid),
                visible(target),
                elsewhere.join(", "),
                fmt_utc(l.at)
            )));
        }
    }
    for l in answers {
        let config = normalize::Prepared::new(normalize::normalize(&l.answer.fields));
        let status = normalize::status_of(&l.answer.fields);
        let r = store.record(&NewSnapshot {
            target,
            observed_at: l.at,
            recorded_at: now,
            source: Source::Import,
            endpoint: None,
            request_id: l.answer.request_id(),
            raw: &l.raw,
            config: &config,
            status: &status,
            identity: None,
        })?;
        warn_new_fields(target, &r);
        recorded(&r)?;
    }
    Ok(())
}

fn read_answer(
    file: &Path,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<SavedAnswer, String> {
    let limit = MAX_ANSWER_BYTES as u64 + 1;
    let (raw, modified) = if file.as_os_str() == "-" {
        let mut raw = Vec::new();
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut raw)
            .map_err(|e| format!("cannot read: {e}"))?;
        (raw, None)
    } else {
        let f = std::fs::File::open(file).map_err(|e| format!("cannot open: {e}"))?;
        let modified = f
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .map(DateTime::<Utc>::from);
        let mut raw = Vec::new();
        f.take(limit)
            .read_to_end(&mut raw)
            .map_err(|e| format!("cannot read: {e}"))?;
        (raw, modified)
    };
    let (_, answer) = model::parse_any(&raw).map_err(|e| match e {
        AnswerError::Api(api) => format!(
            "it holds an error answer ({}: {}), not the task; nothing to record",
            api.code, api.message
        ),
        AnswerError::Malformed(m) => format!("not a saved answer: {m}"),
    })?;
    let missing = fields::missing_always(&answer.fields);
    if !missing.is_empty() {
        return Err(format!(
            "not an answer of DescribeImageRegistryTimingScanTask: it lacks {}, which the API always returns",
            missing.join(", ")
        ));
    }
    let at = at.or(modified).unwrap_or(now);
    if at > now + FUTURE_ALLOWANCE {
        return Err(format!(
            "it would be recorded at {}, after now ({}); give --at the time it was fetched",
            fmt_utc(at),
            fmt_utc(now)
        ));
    }
    Ok(SavedAnswer { raw, at, answer })
}

/// What a restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Rows recorded now.
    pub recorded: u64,
    /// Rows the database already held (same target, moment and answer), left as they were.
    pub present: u64,
}

impl std::ops::AddAssign for Restored {
    fn add_assign(&mut self, other: Restored) {
        self.recorded += other.recorded;
        self.present += other.present;
    }
}

/// Restores a backup into the database at `db`, creating it if need be; a restore that fails
/// before recording anything into a database it created leaves no file behind.
pub fn restore_into(
    db: &Path,
    files: &[impl AsRef<Path>],
    signing: Option<(Arc<SigningKey>, crate::store::LineSettings)>,
) -> Result<Restored, Error> {
    let existed = db.exists();
    let mut store = Store::open(db, OpenMode::Create)?;
    // A backup is not signed again: the signer saw none of it. It carries its own signed
    // checkpoints, which the next signing run links to.
    if signing.is_some() {
        tracing::info!(
            "a backup is restored with the signed checkpoints it carries; the next signing run continues their line"
        );
    }
    match restore(&mut store, files) {
        Ok(done) => {
            store.compact_wal()?;
            crate::app::signature_line(&store)?;
            Ok(done)
        }
        Err(e) => {
            if !existed && store.count().unwrap_or(1) == 0 {
                drop(store);
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut path = db.as_os_str().to_owned();
                    path.push(suffix);
                    let _ = std::fs::remove_file(&path);
                }
            }
            Err(e)
        }
    }
}

/// Restores observations from `audit export --jsonl` files (`-` is standard input), checking each
/// one against the hashes the export carries. Into an empty database the chain comes out
/// identical.
pub fn restore(store: &mut Store, files: &[impl AsRef<Path>]) -> Result<Restored, Error> {
    let reproduce_chain = store.count()? == 0;
    let mut total = Restored::default();
    for file in files {
        let file = file.as_ref();
        let name = shown(file);
        let reader: Box<dyn BufRead + Send> = if file.as_os_str() == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            let f = std::fs::File::open(file).map_err(|source| Error::File {
                path: name.clone().into(),
                action: "open it",
                source,
            })?;
            Box::new(std::io::BufReader::with_capacity(1 << 20, f))
        };
        total += import_one(store, reader, &name, reproduce_chain)?;
    }
    Ok(total)
}

/// One export file: a thread reads, parses and checks its lines while this one records the
/// batches, in order. A bad line stops both; the batches before it are recorded and kept.
fn import_one(
    store: &mut Store,
    reader: Box<dyn BufRead + Send>,
    name: &str,
    reproduce_chain: bool,
) -> Result<Restored, Error> {
    std::thread::scope(|scope| {
        let (send, batches) = std::sync::mpsc::sync_channel::<Result<Batch, Error>>(2);
        scope.spawn(move || parse_lines(reader, name, &send));
        // Recorded batches go to a thread of their own to be freed: freeing a batch's parsed
        // answers costs about as much as parsing them, and the recorder is the busiest thread.
        let (spent, freed) = std::sync::mpsc::channel::<Batch>();
        scope.spawn(move || freed.into_iter().for_each(drop));
        let mut total = Restored::default();
        let mut bulk = store.bulk(BATCH, NIGHTS_PER_COMMIT);
        // The first error ends the loop, which drops the receiver and so stops the reader.
        for batch in batches {
            let done = batch.and_then(|batch| {
                let done = flush(&mut bulk, &batch, reproduce_chain, name);
                let _ = spent.send(batch);
                done
            });
            match done {
                Ok(done) => total += done,
                // A bad line, or a row whose hash does not reproduce: what came before it is
                // a chain that holds, and is kept (the messages say so).
                Err(e @ Error::Input(_)) => {
                    bulk.commit()?;
                    return Err(e);
                }
                // The store failed and rolled back what was open.
                Err(e) => return Err(e),
            }
        }
        bulk.commit()?;
        Ok(total)
    })
}

/// Parses an export's lines into batches for [`import_one`]; after an error, sends the rows
/// before it and then the error.
fn parse_lines(
    reader: Box<dyn BufRead + Send>,
    name: &str,
    send: &std::sync::mpsc::SyncSender<Result<Batch, Error>>,
) {
    let bad = |line: usize, message: String| {
        Error::Input(format!(
            "{name}:{line}: {message} (every snapshot before this line was imported and is kept)"
        ))
    };
    let mut lines = BoundedLines {
        reader,
        limit: MAX_LINE_BYTES,
    }
    .enumerate();
    let header = match lines.next() {
        Some((_, Ok(text))) => serde_json::from_str::<ExportHeader>(&text)
            .map_err(|e| Error::Input(format!("{name}:1: not an export header: {e}")))
            .and_then(|header| {
                if header.schema == EXPORT_SCHEMA {
                    Ok(())
                } else {
                    Err(Error::Input(format!(
                        "{name}:1: schema {:?} is not {EXPORT_SCHEMA}",
                        visible(&header.schema)
                    )))
                }
            }),
        Some((_, Err(source))) => Err(Error::File {
            path: format!("{name}:1").into(),
            action: "read it",
            source,
        }),
        None => Err(Error::Input(format!("{name}: the file is empty"))),
    };
    if let Err(e) = header {
        let _ = send.send(Err(e));
        return;
    }
    let mut pending = Batch::new();
    for (i, line) in lines {
        let n = i + 1;
        let parsed = line
            .map_err(|e| bad(n, format!("cannot read: {e}")))
            .and_then(|text| parse_row(n, &text, &bad));
        match parsed {
            Ok(Some(Item::Snapshot(p))) => pending.rows.push(p),
            Ok(Some(Item::Journal(entry))) => pending.journal.push(Journal {
                before: pending.rows.len(),
                line: n,
                entry,
            }),
            Ok(Some(Item::Checkpoint(c))) => pending.checkpoints.push(*c),
            Ok(None) => {}
            Err(e) => {
                // Keep what came before the bad line, so the message's promise holds.
                if !pending.is_empty() && send.send(Ok(pending)).is_err() {
                    return;
                }
                let _ = send.send(Err(e));
                return;
            }
        }
        if pending.rows.len() >= BATCH {
            let full = std::mem::replace(&mut pending, Batch::new());
            if send.send(Ok(full)).is_err() {
                // The recorder stopped on an error of its own.
                return;
            }
        }
    }
    if !pending.is_empty() {
        let _ = send.send(Ok(pending));
    }
}

/// The longest line an export may have: a row holds one raw answer (at most
/// [`MAX_ANSWER_BYTES`]) as a JSON string, which escaping can make up to six times longer.
const MAX_LINE_BYTES: usize = 6 * MAX_ANSWER_BYTES + 64 * 1024;

/// The lines of a reader, none longer than `limit` bytes: a line past it is an error, read no
/// further, so a file without line breaks (`/dev/zero`) cannot exhaust memory.
struct BoundedLines {
    reader: Box<dyn BufRead + Send>,
    limit: usize,
}

impl Iterator for BoundedLines {
    type Item = std::io::Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        let read = (&mut self.reader)
            .take(self.limit as u64 + 1)
            .read_until(b'\n', &mut buf);
        match read {
            Ok(0) => None,
            Err(e) => Some(Err(e)),
            Ok(_) if buf.len() > self.limit && !buf.ends_with(b"\n") => {
                Some(Err(std::io::Error::other(format!(
                    "the line is longer than {} bytes, more than any export row",
                    self.limit
                ))))
            }
            Ok(_) => {
                if buf.ends_with(b"\n") {
                    buf.pop();
                    if buf.ends_with(b"\r") {
                        buf.pop();
                    }
                }
                Some(
                    String::from_utf8(buf)
                        .map_err(|e| std::io::Error::other(format!("not UTF-8: {e}"))),
                )
            }
        }
    }
}

/// Rows parsed and handed to the recorder together, and the fewest committed together.
const BATCH: usize = 4000;

/// Rows committed together: ten for each target (ten nights of a fleet), and at least a batch. A
/// kill loses at most the rows since the last commit (and importing the file again fills them
/// in, since a row already recorded is skipped); see [`Store::bulk`] for why more than a batch.
const NIGHTS_PER_COMMIT: usize = 10;

/// One parsed line of an export: an observation, or a journal entry. It lives only from the
/// parse to the batch it is moved into, so its size costs nothing; boxing the observation would
/// cost an allocation for every row of a restore.
#[allow(clippy::large_enum_variant)]
enum Item {
    Snapshot(Pending),
    Journal(Box<ExportEntry>),
    Checkpoint(Box<crate::store::StoredCheckpoint>),
}

/// Lines recorded together: the observations, and the journal entries among them (rare), each
/// recorded just before the row it came before in the file.
struct Batch {
    rows: Vec<Pending>,
    journal: Vec<Journal>,
    /// Signed checkpoints (an export writes them last), kept after the rows.
    checkpoints: Vec<crate::store::StoredCheckpoint>,
}

struct Journal {
    /// The index in `rows` of the row after it.
    before: usize,
    line: usize,
    entry: Box<ExportEntry>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            rows: Vec::with_capacity(BATCH),
            journal: Vec::new(),
            checkpoints: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.journal.is_empty() && self.checkpoints.is_empty()
    }
}

/// One parsed export row waiting for its batch.
struct Pending {
    line: usize,
    row: ExportRow,
    observed_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    source: Source,
    config: normalize::Prepared,
    status: normalize::Status,
}

fn flush(
    store: &mut Bulk<'_>,
    batch: &Batch,
    reproduce_chain: bool,
    name: &str,
) -> Result<Restored, Error> {
    let mut total = Restored::default();
    let mut from = 0;
    for j in &batch.journal {
        total += flush_rows(store, &batch.rows[from..j.before], reproduce_chain, name)?;
        from = j.before;
        let (hash, present) = store.import_entry(&j.entry)?;
        if reproduce_chain && !present && hash != j.entry.hash {
            return Err(Error::Input(format!(
                "{name}:{}: journal entry {}'s hash does not reproduce: the export was altered or is out of order",
                j.line, j.entry.id
            )));
        }
    }
    total += flush_rows(store, &batch.rows[from..], reproduce_chain, name)?;
    // A checkpoint names snapshots by their ids in the history it came from, which only a
    // restore into an empty database reproduces.
    if reproduce_chain {
        for c in &batch.checkpoints {
            store.import_checkpoint(c)?;
        }
    }
    Ok(total)
}

fn flush_rows(
    store: &mut Bulk<'_>,
    pending: &[Pending],
    reproduce_chain: bool,
    name: &str,
) -> Result<Restored, Error> {
    if pending.is_empty() {
        return Ok(Restored::default());
    }
    let batch: Vec<NewSnapshot<'_>> = pending
        .iter()
        .map(|p| NewSnapshot {
            target: &p.row.target,
            observed_at: p.observed_at,
            recorded_at: p.recorded_at,
            source: p.source,
            endpoint: p.row.endpoint.as_deref(),
            request_id: p.row.request_id.as_deref(),
            raw: p.row.raw.as_bytes(),
            config: &p.config,
            status: &p.status,
            identity: p.row.identity.as_ref(),
        })
        .collect();
    let recorded = store.record_batch(&batch)?;
    for (p, r) in pending.iter().zip(&recorded) {
        if reproduce_chain && !r.duplicate && r.chain_hash != p.row.chain_hash {
            // The batch is committed and verifies on its own; the mismatch says the export differs.
            return Err(Error::Input(format!(
                "{name}:{}: snapshot {}'s chain hash does not reproduce: the export was altered or is out of order",
                p.line, p.row.id
            )));
        }
    }
    let present = recorded.iter().filter(|r| r.duplicate).count() as u64;
    Ok(Restored {
        recorded: recorded.len() as u64 - present,
        present,
    })
}

/// One line of an export, checked against the hashes it carries; `None` for a blank line.
fn parse_row(
    n: usize,
    text: &str,
    bad: &dyn Fn(usize, String) -> Error,
) -> Result<Option<Item>, Error> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    if ExportLine::is_checkpoint(text) {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Line {
            checkpoint: crate::store::StoredCheckpoint,
        }
        let line: Line = serde_json::from_str(text)
            .map_err(|e| bad(n, format!("not a signed checkpoint: {e}")))?;
        return Ok(Some(Item::Checkpoint(Box::new(line.checkpoint))));
    }
    if ExportLine::is_journal(text) {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Line {
            journal: ExportEntry,
        }
        let line: Line =
            serde_json::from_str(text).map_err(|e| bad(n, format!("not a journal entry: {e}")))?;
        if chrono::DateTime::parse_from_rfc3339(&line.journal.at).is_err() {
            return Err(bad(n, format!("bad time {:?}", visible(&line.journal.at))));
        }
        return Ok(Some(Item::Journal(Box::new(line.journal))));
    }
    let row: ExportRow =
        serde_json::from_str(text).map_err(|e| bad(n, format!("not an export row: {e}")))?;
    let time = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| bad(n, format!("bad time {t:?}: {e}")))
    };
    let source = Source::parse(&row.source)
        .ok_or_else(|| bad(n, format!("unknown source {:?}", row.source)))?;
    let (_, answer) = model::parse_any(row.raw.as_bytes())
        .map_err(|e| bad(n, format!("the raw answer is not valid: {e}")))?;
    let config = normalize::Prepared::new(normalize::normalize(&answer.fields));
    if config.hash() != row.config_hash {
        return Err(bad(
            n,
            format!(
                "snapshot {}'s raw answer does not give the config hash the export records: the file was altered",
                row.id
            ),
        ));
    }
    Ok(Some(Item::Snapshot(Pending {
        line: n,
        observed_at: time(&row.observed_at)?,
        recorded_at: time(&row.recorded_at)?,
        source,
        status: normalize::status_of(&answer.fields),
        row,
        config,
    })))
}

//! The hash chain: each snapshot's chain hash covers its own content and the previous chain hash,
//! so that altering, removing or reordering any recorded row is detectable.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use rusqlite::OptionalExtension;

use serde::Serialize;

use super::derived::{self, Obs};
use super::rawcheck::{self, BaseView};
use super::{Store, StoreError, rawpack};
use crate::task::normalize::{self, Config};
use crate::task::source::Source;
use crate::trust::Head;
use sha2::{Digest, Sha256};

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
    /// Which account it came from: linked only when known, so that the rows recorded before
    /// accounts were (and imported ones) keep the links they were made with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<&'a str>,
    /// The journal's newest entry when it was recorded (its hash): linked only when the
    /// journal has one, so histories without a journal keep their links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<&'a str>,
}

/// `sha256("tcss-audit/chain/v1\n" + prev + "\n" + canonical JSON of the link)`, serializing
/// through `buf` (reused between calls).
pub(crate) fn link_digest(prev: &str, link: &Link<'_>, buf: &mut Vec<u8>) -> [u8; 32] {
    buf.clear();
    link_json(link, buf);
    let mut h = Sha256::new();
    h.update(b"tcss-audit/chain/v1\n");
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(&buf[..]);
    h.finalize().into()
}

/// The link as `serde_json` serializes it, byte for byte (a test holds the two equal), written
/// by hand: verify writes one a row, and serde's way through its field and string machinery
/// took a tenth of a verify. A string with nothing to escape is copied as it is; one with
/// something is written by `serde_json` itself.
fn link_json(link: &Link<'_>, buf: &mut Vec<u8>) {
    fn string(buf: &mut Vec<u8>, s: &str) {
        if needs_escape(s.as_bytes()) {
            serde_json::to_writer(&mut *buf, s).expect("strings serialize");
        } else {
            buf.push(b'"');
            buf.extend_from_slice(s.as_bytes());
            buf.push(b'"');
        }
    }
    fn number(buf: &mut Vec<u8>, n: i64) {
        buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
    fn optional(buf: &mut Vec<u8>, s: Option<&str>) {
        match s {
            Some(s) => string(buf, s),
            None => buf.extend_from_slice(b"null"),
        }
    }
    buf.extend_from_slice(b"{\"id\":");
    number(buf, link.id);
    buf.extend_from_slice(b",\"target\":");
    string(buf, link.target);
    buf.extend_from_slice(b",\"observed_at\":");
    number(buf, link.observed_at);
    buf.extend_from_slice(b",\"recorded_at\":");
    number(buf, link.recorded_at);
    buf.extend_from_slice(b",\"source\":");
    string(buf, link.source);
    buf.extend_from_slice(b",\"endpoint\":");
    optional(buf, link.endpoint);
    buf.extend_from_slice(b",\"request_id\":");
    optional(buf, link.request_id);
    buf.extend_from_slice(b",\"raw_sha256\":");
    string(buf, link.raw_sha256);
    buf.extend_from_slice(b",\"config_hash\":");
    string(buf, link.config_hash);
    buf.extend_from_slice(b",\"last_scan_time\":");
    optional(buf, link.last_scan_time);
    buf.extend_from_slice(b",\"scan_result\":");
    optional(buf, link.scan_result);
    // Linked only when known (see the fields).
    for (name, value) in [
        (&b",\"account\":"[..], link.account),
        (b",\"arn\":", link.arn),
        (b",\"principal_type\":", link.principal_type),
        (b",\"journal\":", link.journal),
    ] {
        if let Some(v) = value {
            buf.extend_from_slice(name);
            string(buf, v);
        }
    }
    buf.push(b'}');
}

/// Whether `s` holds a byte that serde_json escapes: a control character, the quote or the
/// backslash. Sixteen bytes are tested at a time with no early exit, which the compiler turns
/// into vector compares; the plain test byte by byte was most of the link's writing.
fn needs_escape(s: &[u8]) -> bool {
    let escaped = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let mut chunks = s.chunks_exact(16);
    let any = chunks
        .by_ref()
        .any(|c| c.iter().fold(false, |any, &b| any | escaped(b)));
    any || chunks.remainder().iter().any(|&b| escaped(b))
}

/// Lower-case hex of a SHA-256, without allocating.
fn hex32<'a>(bytes: &[u8; 32], out: &'a mut [u8; 64]) -> &'a str {
    hex::encode_to_slice(bytes, out).expect("64 digits for 32 bytes");
    std::str::from_utf8(out).expect("hex is ASCII")
}

/// Where the chain first fails to hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub snapshot: i64,
    pub reason: String,
}

/// The outcome of checking the whole history (its default: nothing checked yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub checked: u64,
    pub configs_checked: u64,
    /// Stored change events and first-seen fields compared with what the snapshots imply.
    pub events_checked: u64,
    pub fields_checked: u64,
    /// The newest snapshot and its chain hash, as stored (none in an empty history).
    pub head: Option<Head>,
    pub first_break: Option<ChainBreak>,
    /// The journal's chain of baselines and restores.
    pub journal: super::JournalReport,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_break.is_none() && self.journal.first_break.is_none()
    }
}

/// Where a field of a row lies in its chunk's buffer.
type Span = std::ops::Range<usize>;

/// A row's raw answer as stored, in its chunk's raw bytes: whole, or packed against its target's
/// base (the one the checker holds for it).
enum StoredRaw {
    Whole(Span),
    Packed(Span),
}

/// One snapshot row as read, for the checking thread: its text fields and its raw answer lie in
/// the buffers of the [`Chunk`] it came in. Text is copied as SQLite holds it, and checked to be
/// UTF-8 by the checker, which also unpacks the raw answer against the base it holds for the
/// target (with the target's other state, in one entry). At 10,000 targets this took a third off
/// the reading thread, which had been the slower of the two, for a tenth more on the checker's.
struct RowRead {
    id: i64,
    target_id: i64,
    observed_at: i64,
    recorded_at: i64,
    source: &'static str,
    endpoint: Option<Span>,
    request_id: Option<Span>,
    /// The raw answer as stored; an error if the base it is packed against cannot be read.
    raw: Result<StoredRaw, String>,
    /// A base the target's answers are packed against from this row on (an index into the
    /// chunk's bases), when it is not the one the checker holds for the target.
    new_base: Option<u32>,
    raw_sha256: [u8; 32],
    config_hash: Span,
    last_scan_time: Option<Span>,
    scan_result: Option<Span>,
    chain_hash: [u8; 32],
    account: Option<Span>,
    arn: Option<Span>,
    principal_type: Option<Span>,
    journal_id: Option<i64>,
}

/// What the reading thread sends: a row, or the id of a row it could not read and why.
type Read = Result<RowRead, (i64, String)>;

/// Rows sent to the checking thread at a time, with the bytes of their fields in two buffers
/// (one for text, one for raw answers) and the bases read for them. The checker sends each chunk
/// back to be filled again, so that reading a row allocates nothing: with a few strings a row,
/// allocating on one thread and freeing on the other took a fifth of a verify.
#[derive(Default)]
struct Chunk {
    rows: Vec<Read>,
    text: Vec<u8>,
    raw: Vec<u8>,
    bases: Vec<Vec<u8>>,
}

impl Chunk {
    fn clear(&mut self) {
        self.rows.clear();
        self.text.clear();
        self.raw.clear();
        self.bases.clear();
    }
}

/// A row's text field as a string, or why it is not one.
fn text_of<'a>(text: &'a [u8], span: &Span) -> Result<&'a str, String> {
    std::str::from_utf8(&text[span.clone()])
        .map_err(|e| format!("the row has a text value that is not UTF-8 ({e})"))
}

fn text_opt<'a>(text: &'a [u8], span: &Option<Span>) -> Result<Option<&'a str>, String> {
    span.as_ref().map(|s| text_of(text, s)).transpose()
}

/// Configs checked at a time by each of the two threads that check them.
const CONFIG_BATCH: usize = 256;

/// Rows sent to the checking thread at a time.
const VERIFY_CHUNK: usize = 1024;

/// The config hashes the chain pass meets, each given the next index. A large fleet's year names
/// tens of thousands, so each is kept once, as its 32 bytes rather than 64 hex digits, and the
/// lookup table holds only indices into them (hashbrown's `HashTable`: a map from digest to index
/// would hold every digest a second time). A name that is not 64 lower-case hex digits, which no
/// stored config can validly have, is kept as it is.
#[derive(Debug, Default)]
struct ConfigIndex {
    /// Indices into `digests`, found by the digest's hash.
    table: hashbrown::HashTable<u32>,
    /// By index; an odd name's entry is unused.
    digests: Vec<[u8; 32]>,
    /// Odd names, by name.
    odd: HashMap<String, u32>,
}

impl ConfigIndex {
    fn digest(hash: &str) -> Option<[u8; 32]> {
        let lower_hex = hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut out = [0u8; 32];
        (lower_hex && hex::decode_to_slice(hash, &mut out).is_ok()).then_some(out)
    }

    fn hash_of(digest: &[u8; 32]) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(digest)
    }

    fn get(&self, hash: &str) -> Option<u32> {
        match Self::digest(hash) {
            Some(d) => self
                .table
                .find(Self::hash_of(&d), |&i| self.digests[i as usize] == d)
                .copied(),
            None => self.odd.get(hash).copied(),
        }
    }

    /// Gives `hash` (not yet in the index) the next index.
    fn insert(&mut self, hash: &str) -> u32 {
        let i = self.digests.len() as u32;
        match Self::digest(hash) {
            Some(d) => {
                self.digests.push(d);
                let digests = &self.digests;
                self.table.insert_unique(Self::hash_of(&d), i, |&j| {
                    Self::hash_of(&digests[j as usize])
                });
            }
            None => {
                self.digests.push([0; 32]);
                self.odd.insert(hash.to_string(), i);
            }
        }
        i
    }

    fn len(&self) -> usize {
        self.digests.len()
    }

    /// The hash given index `i` (an odd one is looked for among the odd, which are few).
    fn name(&self, i: u32) -> String {
        match self.odd.iter().find(|(_, j)| **j == i) {
            Some((name, _)) => name.clone(),
            None => hex::encode(self.digests[i as usize]),
        }
    }
}

/// A target as the chain pass knows it: its name, the config of its latest row (most rows have
/// their target's config of the night before, which is then found without a lookup; the hash is
/// held in place, as a name of 64 digits), and the base its answers are packed against.
struct Known {
    name: String,
    last: Option<(u32, [u8; 64])>,
    base: Vec<u8>,
    /// The base read once, when the first row packed against it is checked.
    view: Option<BaseView>,
}

impl Known {
    fn new(name: String) -> Known {
        Known {
            name,
            last: None,
            base: Vec::new(),
            view: None,
        }
    }

    /// Why the raw answer `raw` of a row naming config `named` does not normalize to it, if it
    /// does not. A packed row that is its base but for volatile values has its base's config.
    fn raw_mismatch(&mut self, raw: &[u8], packed: bool, named: &str) -> Option<String> {
        // Borrowed from the base's view on the common path: a row is checked without
        // allocating.
        let cheap = if packed {
            let base = &self.base;
            self.view
                .get_or_insert_with(|| BaseView::of(base))
                .hash_of(base, raw)
        } else {
            None
        };
        let found: std::borrow::Cow<'_, str> = match cheap {
            Some(hash) => hash.into(),
            None => match rawcheck::config_hash_of(raw) {
                Ok(hash) => hash.into(),
                Err(e) => {
                    return Some(format!(
                        "its raw answer is not an answer any more ({})",
                        crate::task::text::visible(&e)
                    ));
                }
            },
        };
        (found != named).then(|| {
            format!(
                "its raw answer normalizes to config {}, not the {} its row names (the row was pointed at another config)",
                &found[..12.min(found.len())],
                crate::task::text::visible(&named.chars().take(12).collect::<String>())
            )
        })
    }
}

/// The checking side of [`Store::verify`]: every link in order.
struct Checker {
    targets: FxHashMap<i64, Known>,
    /// The previous chain hash, in hex.
    prev: [u8; 64],
    expected_id: i64,
    checked: u64,
    first_break: Option<ChainBreak>,
    /// Each config hash seen, by index, and the snapshot that used it first.
    index: ConfigIndex,
    first_use: Vec<i64>,
    /// The change events and first-seen fields the observations imply, so far.
    derived: derived::Builder,
    buf: Vec<u8>,
    /// A packed raw answer, unpacked.
    unpacked: Vec<u8>,
    /// The hash of every journal entry that holds, by id.
    journal: HashMap<i64, String>,
    /// Every observation checked, when the caller wants them (the signer's check of what is
    /// new since its last signature).
    kept: Option<Vec<Obs>>,
}

impl Checker {
    /// Checks the chunks as they come, giving each back for reuse, until they end or a link
    /// breaks; gives the checker back with what it found.
    fn check_chunks(
        mut self,
        chunks: std::sync::mpsc::Receiver<Chunk>,
        give_back: std::sync::mpsc::Sender<Chunk>,
    ) -> Checker {
        for mut chunk in chunks {
            let mut bases = std::mem::take(&mut chunk.bases);
            let whole = chunk
                .rows
                .iter()
                .all(|item| self.check(item, &chunk, &mut bases));
            if !whole {
                break;
            }
            // The bases taken over leave their slots empty; the list's room is kept.
            bases.clear();
            chunk.bases = bases;
            let _ = give_back.send(chunk);
        }
        self
    }

    /// Checks one row of `chunk` (taking the base it brings from `bases`); `false` once the
    /// chain is broken.
    fn check(&mut self, item: &Read, chunk: &Chunk, bases: &mut [Vec<u8>]) -> bool {
        self.checked += 1;
        let r = match item {
            Ok(r) => r,
            Err((id, reason)) => {
                self.first_break = Some(ChainBreak {
                    snapshot: *id,
                    reason: reason.clone(),
                });
                return false;
            }
        };
        let RowRead {
            id,
            target_id,
            observed_at,
            recorded_at,
            source,
            ref raw,
            new_base,
            raw_sha256,
            ref config_hash,
            chain_hash,
            journal_id,
            ..
        } = *r;
        let text = &chunk.text[..];
        let Checker {
            targets,
            prev,
            journal,
            unpacked,
            buf,
            ..
        } = self;
        let mut config_hash_text = "";
        let reason = (|| {
            if id != self.expected_id {
                return Some(format!(
                    "snapshot {} is missing (the next row is {id})",
                    self.expected_id
                ));
            }
            let Some(known) = targets.get_mut(&target_id) else {
                return Some("its target is missing from the database".into());
            };
            if let Some(b) = new_base {
                known.base = std::mem::take(&mut bases[b as usize]);
                known.view = None;
            }
            let packed = matches!(raw, Ok(StoredRaw::Packed(_)));
            let raw = match rebuild(raw, &chunk.raw, &known.base, unpacked) {
                Ok(raw) => raw,
                Err(e) => return Some(format!("its raw answer cannot be rebuilt ({e})")),
            };
            let raw_digest: [u8; 32] = Sha256::digest(raw).into();
            if raw_sha256 != raw_digest {
                return Some("its raw answer does not match the hash recorded for it".into());
            }
            let journal = match journal_id {
                Some(j) => match journal.get(&j) {
                    Some(hash) => Some(hash.as_str()),
                    None => {
                        return Some(format!(
                            "the journal entry {j} it links is missing or does not hold"
                        ));
                    }
                },
                None => None,
            };
            let link = (|| {
                config_hash_text = text_of(text, config_hash)?;
                let mut raw_hex = [0u8; 64];
                let link = Link {
                    id,
                    target: &known.name,
                    observed_at,
                    recorded_at,
                    source,
                    endpoint: text_opt(text, &r.endpoint)?,
                    request_id: text_opt(text, &r.request_id)?,
                    raw_sha256: hex32(&raw_digest, &mut raw_hex),
                    config_hash: config_hash_text,
                    last_scan_time: text_opt(text, &r.last_scan_time)?,
                    scan_result: text_opt(text, &r.scan_result)?,
                    account: text_opt(text, &r.account)?,
                    arn: text_opt(text, &r.arn)?,
                    principal_type: text_opt(text, &r.principal_type)?,
                    journal,
                };
                let prev = std::str::from_utf8(&prev[..]).expect("hex is ASCII");
                Ok::<_, String>(link_digest(prev, &link, buf))
            })();
            match link {
                Err(e) => Some(e),
                Ok(digest) if digest != chain_hash => Some("its content does not match its chain hash (the row was altered, or a row before it was removed, reordered or altered)".into()),
                Ok(_) => known.raw_mismatch(raw, packed, config_hash_text),
            }
        })();
        if let Some(reason) = reason {
            self.first_break = Some(ChainBreak {
                snapshot: id,
                reason,
            });
            return false;
        }
        self.expected_id = id + 1;
        hex::encode_to_slice(chain_hash, &mut self.prev).expect("64 digits for 32 bytes");
        self.observed(id, target_id, observed_at, config_hash_text);
        true
    }

    /// A row that holds: its observation, its config named by index, for the derived tables.
    fn observed(&mut self, id: i64, target_id: i64, observed_at: i64, config_hash_text: &str) {
        let known = self
            .targets
            .get_mut(&target_id)
            .expect("its target was found above");
        let config = match &known.last {
            Some((i, hash)) if hash[..] == *config_hash_text.as_bytes() => *i,
            _ => {
                let i = self.index.get(config_hash_text).unwrap_or_else(|| {
                    self.first_use.push(id);
                    self.index.insert(config_hash_text)
                });
                known.last = config_hash_text
                    .as_bytes()
                    .try_into()
                    .ok()
                    .map(|hash: [u8; 64]| (i, hash));
                i
            }
        };
        let obs = Obs {
            target: target_id,
            observed_at,
            id,
            config,
        };
        if let Some(kept) = &mut self.kept {
            kept.push(obs);
        }
        self.derived.push(obs);
    }
}

/// A row's raw answer as it was recorded: as stored, or unpacked into `unpacked` against the
/// base the checker holds for its target.
fn rebuild<'a>(
    raw: &Result<StoredRaw, String>,
    stored: &'a [u8],
    base: &[u8],
    unpacked: &'a mut Vec<u8>,
) -> Result<&'a [u8], String> {
    match raw {
        Ok(StoredRaw::Whole(span)) => Ok(&stored[span.clone()]),
        Ok(StoredRaw::Packed(span)) => {
            unpacked.clear();
            rawpack::unpack_into(&stored[span.clone()], base, unpacked)?;
            Ok(&unpacked[..])
        }
        Err(e) => Err(e.clone()),
    }
}

/// Where each column of the chain pass's SELECT lies, found by name once per statement.
struct Columns {
    id: usize,
    target_id: usize,
    observed_at: usize,
    recorded_at: usize,
    source: usize,
    endpoint: usize,
    request_id: usize,
    raw_base: usize,
    raw: usize,
    raw_sha256: usize,
    config_hash: usize,
    last_scan_time: usize,
    scan_result: usize,
    chain_hash: usize,
    account: usize,
    arn: usize,
    principal_type: usize,
    journal_id: usize,
}

impl Columns {
    fn of(stmt: &rusqlite::Statement<'_>) -> rusqlite::Result<Columns> {
        Ok(Columns {
            id: stmt.column_index("id")?,
            target_id: stmt.column_index("target_id")?,
            observed_at: stmt.column_index("observed_at")?,
            recorded_at: stmt.column_index("recorded_at")?,
            source: stmt.column_index("source")?,
            endpoint: stmt.column_index("endpoint")?,
            request_id: stmt.column_index("request_id")?,
            raw_base: stmt.column_index("raw_base")?,
            raw: stmt.column_index("raw")?,
            raw_sha256: stmt.column_index("raw_sha256")?,
            config_hash: stmt.column_index("config_hash")?,
            last_scan_time: stmt.column_index("last_scan_time")?,
            scan_result: stmt.column_index("scan_result")?,
            chain_hash: stmt.column_index("chain_hash")?,
            account: stmt.column_index("account")?,
            arn: stmt.column_index("arn")?,
            principal_type: stmt.column_index("principal_type")?,
            journal_id: stmt.column_index("journal_id")?,
        })
    }
}

/// Reads one snapshot row into `chunk` by its columns' names (the chain pass's SELECT): text
/// fields copied as they are (the checker checks that they are UTF-8), the raw answer as stored,
/// and the base it is packed against when the checker does not hold it (`held`: the base held
/// for each target; `load` reads a base).
fn read_row(
    r: &rusqlite::Row<'_>,
    c: &Columns,
    chunk: &mut Chunk,
    held: &mut FxHashMap<i64, i64>,
    load: impl FnOnce(i64) -> Result<Vec<u8>, String>,
) -> Result<RowRead, String> {
    let Chunk {
        text, raw, bases, ..
    } = chunk;
    let typed = |e: rusqlite::Error| format!("the row has a value of the wrong type ({e})");
    let value = |i: usize| r.get_ref(i).map_err(typed);
    let hash = |i: usize| -> Result<[u8; 32], String> {
        let bytes = value(i)?.as_blob().map_err(|e| typed(e.into()))?;
        bytes
            .try_into()
            .map_err(|_| "a hash in the row is not 32 bytes".to_string())
    };
    let mut field = |i: usize| -> Result<Option<Span>, String> {
        let bytes = match value(i)? {
            rusqlite::types::ValueRef::Null => return Ok(None),
            rusqlite::types::ValueRef::Text(bytes) => bytes,
            other => {
                return Err(typed(rusqlite::Error::InvalidColumnType(
                    i,
                    "a text field".into(),
                    other.data_type(),
                )));
            }
        };
        let start = text.len();
        text.extend_from_slice(bytes);
        Ok(Some(start..text.len()))
    };
    let source = Source::parse(value(c.source)?.as_str().map_err(|e| typed(e.into()))?)
        .ok_or("its source is neither fetch nor import")?
        .as_str();
    let endpoint = field(c.endpoint)?;
    let request_id = field(c.request_id)?;
    let config_hash = field(c.config_hash)?.ok_or_else(|| {
        typed(rusqlite::Error::InvalidColumnType(
            c.config_hash,
            "config_hash".into(),
            rusqlite::types::Type::Null,
        ))
    })?;
    let last_scan_time = field(c.last_scan_time)?;
    let scan_result = field(c.scan_result)?;
    let account = field(c.account)?;
    let arn = field(c.arn)?;
    let principal_type = field(c.principal_type)?;
    let target_id: i64 = r.get(c.target_id).map_err(typed)?;
    let base_id: Option<i64> = r.get(c.raw_base).map_err(typed)?;
    let stored = value(c.raw)?.as_blob().map_err(|e| typed(e.into()))?;
    let start = raw.len();
    raw.extend_from_slice(stored);
    let span = start..raw.len();
    let mut new_base = None;
    let stored = match base_id {
        None => Ok(StoredRaw::Whole(span)),
        Some(b) if held.get(&target_id) == Some(&b) => Ok(StoredRaw::Packed(span)),
        Some(b) => load(b).map(|bytes| {
            held.insert(target_id, b);
            new_base = Some(bases.len() as u32);
            bases.push(bytes);
            StoredRaw::Packed(span)
        }),
    };
    Ok(RowRead {
        id: r.get(c.id).map_err(typed)?,
        target_id,
        observed_at: r.get(c.observed_at).map_err(typed)?,
        recorded_at: r.get(c.recorded_at).map_err(typed)?,
        source,
        endpoint,
        request_id,
        raw: stored,
        new_base,
        raw_sha256: hash(c.raw_sha256)?,
        config_hash,
        last_scan_time,
        scan_result,
        chain_hash: hash(c.chain_hash)?,
        account,
        arn,
        principal_type,
        journal_id: r.get(c.journal_id).map_err(typed)?,
    })
}

impl Store {
    /// Recomputes every link, every raw answer's hash and every stored config's hash.
    ///
    /// This thread reads the rows while another checks them, so a long history takes about
    /// as long as the slower of the two.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.with_small_cache(|| self.verify_all())
    }

    fn verify_all(&self) -> Result<VerifyReport, StoreError> {
        // One read transaction, so that rows recorded meanwhile are not half seen.
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let targets = self.known_targets(&tx, None)?;
        let newest = self.newest_journal_link(&tx)?;
        let (journal_hashes, journal) = self.verify_journal(&tx, newest)?;
        // After pruning, the chain links up from the checkpoint instead of the genesis.
        let start = self.chain_start()?;
        let head = self.newest_head(&tx)?;
        let checker = self.chain_pass(&tx, start, targets, journal_hashes, false)?;
        let Checker {
            checked,
            mut first_break,
            index,
            first_use,
            derived,
            ..
        } = checker;
        let (mut configs_checked, mut events_checked, mut fields_checked) = (0, 0, 0);
        if first_break.is_none() {
            let (n, unknown) = self.verify_configs(&index, &first_use, &mut first_break)?;
            configs_checked = n;
            if first_break.is_none() {
                (events_checked, fields_checked, first_break) =
                    self.verify_derived(&tx, &index, derived, &unknown)?;
            }
        }
        drop(tx);
        Ok(VerifyReport {
            checked,
            configs_checked,
            events_checked,
            fields_checked,
            head,
            first_break,
            journal,
        })
    }

    /// The chain pass after `from` (a head on the chain), in the open transaction: each
    /// observation checked, the config hashes they name and the row that named each first; or
    /// the first break.
    #[allow(clippy::type_complexity)]
    pub(crate) fn chain_since(
        &self,
        conn: &rusqlite::Connection,
        from: (i64, String),
    ) -> Result<Result<(Vec<Obs>, Vec<String>, Vec<i64>), ChainBreak>, StoreError> {
        let targets = self.known_targets(conn, Some(from.0))?;
        let newest = self.newest_journal_link(conn)?;
        let (hashes, journal) = self.verify_journal(conn, newest)?;
        if let Some(b) = journal.first_break {
            return Ok(Err(ChainBreak {
                snapshot: from.0,
                reason: format!("journal entry {}: {}", b.entry, b.reason),
            }));
        }
        let checker = self.chain_pass(conn, Some(from), targets, hashes, true)?;
        if let Some(b) = checker.first_break {
            return Ok(Err(b));
        }
        let names = (0..checker.index.len() as u32)
            .map(|i| checker.index.name(i))
            .collect();
        Ok(Ok((
            checker.kept.unwrap_or_default(),
            names,
            checker.first_use,
        )))
    }

    /// The journal entry the newest snapshot links, if it links one.
    fn newest_journal_link(&self, conn: &rusqlite::Connection) -> Result<Option<i64>, StoreError> {
        conn.query_row(
            "SELECT journal_id FROM snapshots ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| self.err(e))
        .map(Option::flatten)
    }

    /// The targets by id, as the chain pass knows them: every one, or those with a snapshot
    /// after `after`.
    fn known_targets(
        &self,
        conn: &rusqlite::Connection,
        after: Option<i64>,
    ) -> Result<FxHashMap<i64, Known>, StoreError> {
        let sql = match after {
            None => "SELECT id, name FROM targets WHERE ?1 IS NULL",
            Some(_) => {
                "SELECT id, name FROM targets
                 WHERE id IN (SELECT DISTINCT target_id FROM snapshots WHERE id > ?1)"
            }
        };
        let mut stmt = conn.prepare(sql).map_err(|e| self.err(e))?;
        stmt.query_map([after], |r| Ok((r.get(0)?, Known::new(r.get(1)?))))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// The newest snapshot and its chain hash.
    pub(crate) fn newest_head(
        &self,
        conn: &rusqlite::Connection,
    ) -> Result<Option<Head>, StoreError> {
        conn.query_row(
            "SELECT id, lower(hex(chain_hash)) FROM snapshots ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(Head {
                    snapshot: r.get(0)?,
                    chain_hash: r.get(1)?,
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Checks every link after `start` (a snapshot id and its chain hash; none: from the
    /// genesis), each raw answer against its hash and its config: this thread reads the rows
    /// while another checks them, so a long history takes about as long as the slower of the
    /// two.
    fn chain_pass(
        &self,
        conn: &rusqlite::Connection,
        start: Option<(i64, String)>,
        targets: FxHashMap<i64, Known>,
        journal: HashMap<i64, String>,
        keep: bool,
    ) -> Result<Checker, StoreError> {
        let mut checker = Checker {
            targets,
            prev: {
                let start = start.as_ref().map_or(GENESIS, |(_, h)| h.as_str());
                // A checkpoint's hash that is not 64 hex digits matches no link.
                let mut prev = [b'?'; 64];
                if start.len() == 64 {
                    prev.copy_from_slice(start.as_bytes());
                }
                prev
            },
            expected_id: start.as_ref().map_or(1, |(id, _)| id + 1),
            checked: 0,
            first_break: None,
            index: ConfigIndex::default(),
            first_use: Vec::new(),
            derived: derived::Builder::default(),
            buf: Vec::new(),
            unpacked: Vec::new(),
            journal,
            kept: None,
        };
        checker.kept = keep.then(Vec::new);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, target_id, observed_at, recorded_at, source, endpoint, request_id,
                        raw_base, raw, raw_sha256, config_hash, last_scan_time, scan_result,
                        chain_hash, account, arn, principal_type, journal_id
                 FROM snapshots WHERE id > ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let columns = Columns::of(&stmt).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query([start.as_ref().map_or(0, |(id, _)| *id)])
            .map_err(|e| self.err(e))?;
        let shown = self.shown();
        let mut read_all = |send: std::sync::mpsc::SyncSender<Chunk>,
                            back: std::sync::mpsc::Receiver<Chunk>|
         -> Result<(), StoreError> {
            let mut chunk = Chunk::default();
            // The base the checker holds for each target, the one its latest answer was packed
            // against: a pass in recording order meets each target once a night, and its
            // answers are packed against the base of its config of the time, so this reads each
            // base about once and the checker holds one a target (not the store's cache of
            // recent bases, which would hold two nights' worth).
            let mut held: FxHashMap<i64, i64> = FxHashMap::default();
            let load =
                |id: i64, b: i64| super::load_base(conn, &shown, id, b).map_err(|e| e.to_string());
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let id: i64 = r.get(0).unwrap_or(0);
                let item = read_row(r, &columns, &mut chunk, &mut held, |b| load(id, b));
                chunk.rows.push(item.map_err(|reason| (id, reason)));
                if chunk.rows.len() < VERIFY_CHUNK {
                    continue;
                }
                // A chunk the checker is done with, else a new one.
                let mut next = back.try_recv().unwrap_or_default();
                next.clear();
                if send.send(std::mem::replace(&mut chunk, next)).is_err() {
                    // The checker found a break and stopped.
                    return Ok(());
                }
            }
            let _ = send.send(chunk);
            Ok(())
        };
        std::thread::scope(|scope| {
            let (send, chunks) = std::sync::mpsc::sync_channel::<Chunk>(4);
            let (give_back, back) = std::sync::mpsc::channel::<Chunk>();
            let checking = scope.spawn(move || checker.check_chunks(chunks, give_back));
            let read = read_all(send, back);
            let checker = checking.join().expect("the checking thread does not panic");
            read.map(|()| checker)
        })
    }

    /// Compares the change events and first-seen fields stored with those the observations
    /// imply: (events compared, fields compared, the first break).
    fn verify_derived(
        &self,
        tx: &rusqlite::Connection,
        index: &ConfigIndex,
        derived: derived::Builder,
        unknown: &[Vec<String>],
    ) -> Result<(u64, u64, Option<ChainBreak>), StoreError> {
        let mut stmt = tx
            .prepare("SELECT canonical FROM configs WHERE hash = ?1")
            .map_err(|e| self.err(e))?;
        // Each config was just checked against its hash, so one that reads back is it.
        let mut load = |i: u32| -> Option<Config> {
            let text: String = stmt.query_row([index.name(i)], |r| r.get(0)).ok()?;
            Config::from_canonical(&text).ok()
        };
        // The observations of targets recorded out of observed time, read again (in the same
        // transaction: the rows the chain pass checked).
        let reread = |targets: &std::collections::BTreeSet<i64>| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT observed_at, id, config_hash FROM snapshots WHERE target_id = ?1",
                )
                .map_err(|e| self.err(e))?;
            let mut obs = Vec::new();
            for &target in targets {
                let mut rows = stmt.query([target]).map_err(|e| self.err(e))?;
                while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                    let hash = r.get_ref(2).ok().and_then(|v| v.as_str().ok());
                    let config =
                        hash.and_then(|h| index.get(h))
                            .ok_or_else(|| StoreError::Corrupt {
                                path: self.shown(),
                                message: "a snapshot changed while it was verified".into(),
                            })?;
                    obs.push(Obs {
                        target,
                        observed_at: r.get(0).map_err(|e| self.err(e))?,
                        id: r.get(1).map_err(|e| self.err(e))?,
                        config,
                    });
                }
            }
            Ok::<_, StoreError>(obs)
        };
        let pending = derived.finish(unknown, reread)?;
        derived::compare(tx, &pending, &mut load, |e| self.err(e))
    }

    /// Every stored config must hash to its name, and every snapshot's config must be there.
    /// Gives each config's undocumented fields, by the index the chain pass gave its hash.
    ///
    /// The configs are read one at a time (a large fleet's year has tens of thousands), and the
    /// break named is the earliest: an unused config's first, else the one first used earliest.
    fn verify_configs(
        &self,
        index: &ConfigIndex,
        first_use: &[i64],
        first_break: &mut Option<ChainBreak>,
    ) -> Result<(u64, Vec<Vec<String>>), StoreError> {
        let mut tally = ConfigTally {
            index,
            first_use,
            unknown: vec![Vec::new(); index.len()],
            stored: vec![false; index.len()],
            bad: None,
        };
        let mut stmt = self
            .conn
            .prepare("SELECT hash, canonical FROM configs")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut n = 0;
        let mut next = || -> Result<Option<StoredConfig>, StoreError> {
            let Some(r) = rows.next().map_err(|e| self.err(e))? else {
                return Ok(None);
            };
            n += 1;
            let text = |i: usize| r.get_ref(i).ok().and_then(|v| v.as_str().ok());
            Ok(Some((
                text(0).unwrap_or("").to_string(),
                text(1).map(str::to_string),
            )))
        };
        self.judge_configs(&mut next, &mut tally)?;
        if let Some(b) = tally.first_break() {
            *first_break = Some(b);
        }
        Ok((n, tally.unknown))
    }

    /// Judges every config `next` reads, in batches: parsing and hashing each config is most of
    /// the work, so every other batch is judged on a second thread while this one reads and
    /// judges the rest. Results are taken in the table's order, so the same bad config is named
    /// every time.
    fn judge_configs(
        &self,
        next: &mut dyn FnMut() -> Result<Option<StoredConfig>, StoreError>,
        tally: &mut ConfigTally<'_>,
    ) -> Result<(), StoreError> {
        type Batch = Vec<StoredConfig>;
        std::thread::scope(|scope| -> Result<(), StoreError> {
            let (to_worker, work) = std::sync::mpsc::sync_channel::<Batch>(2);
            let (done, judged) = std::sync::mpsc::sync_channel::<(Batch, Vec<_>)>(2);
            scope.spawn(move || judge_batches(work, done));
            let mut sent = 0usize;
            let mut batch: Batch = Vec::with_capacity(CONFIG_BATCH);
            let mut finish = |batch: Batch, sent: &mut usize| -> Result<(), StoreError> {
                let own: Vec<_> = batch.iter().map(judge_config).collect();
                // The worker's batch came before this one.
                for _ in 0..*sent {
                    let (b, r) = judged.recv().map_err(|_| StoreError::Corrupt {
                        path: self.shown(),
                        message: "the thread checking configs stopped".into(),
                    })?;
                    tally.take(b, r);
                }
                *sent = 0;
                tally.take(batch, own);
                Ok(())
            };
            while let Some(config) = next()? {
                batch.push(config);
                if batch.len() < CONFIG_BATCH {
                    continue;
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(CONFIG_BATCH));
                if sent == 0 {
                    to_worker
                        .send(full)
                        .expect("the worker lives while it is sent work");
                    sent = 1;
                } else {
                    finish(full, &mut sent)?;
                }
            }
            finish(batch, &mut sent)?;
            drop(to_worker);
            Ok(())
        })
    }
}

/// A row of the configs table: its hash, and its canonical text when that is text.
type StoredConfig = (String, Option<String>);

/// A batch of configs with each one's undocumented fields, `None` for one that is not whole.
type Judged = (Vec<StoredConfig>, Vec<Option<Vec<String>>>);

/// The second thread of [`Store::judge_configs`]: judges each batch it is sent and sends it back
/// with the results, until the batches end or nobody listens.
fn judge_batches(
    work: std::sync::mpsc::Receiver<Vec<StoredConfig>>,
    done: std::sync::mpsc::SyncSender<Judged>,
) {
    for batch in work {
        let results = batch.iter().map(judge_config).collect();
        if done.send((batch, results)).is_err() {
            return;
        }
    }
}

/// A stored config's undocumented fields, if it is whole: it parses, hashes to its name and is
/// written canonically.
fn judge_config((hash, canonical): &StoredConfig) -> Option<Vec<String>> {
    let canonical = canonical.as_deref()?;
    let config = Config::from_canonical(canonical).ok()?;
    (normalize::config_hash(&config) == *hash
        && crate::task::canonical::canonical_json(&config) == canonical)
        .then(|| normalize::unknown_fields(&config))
}

/// What the configs judged so far show, by the index the chain pass gave each hash.
struct ConfigTally<'a> {
    index: &'a ConfigIndex,
    first_use: &'a [i64],
    unknown: Vec<Vec<String>>,
    stored: Vec<bool>,
    /// The earliest bad config so far: (its first use, none if unused; its short hash).
    bad: Option<(Option<i64>, String)>,
}

impl ConfigTally<'_> {
    fn take(&mut self, batch: Vec<StoredConfig>, judged: Vec<Option<Vec<String>>>) {
        for ((hash, _), fields) in batch.into_iter().zip(judged) {
            let at = self.index.get(&hash);
            let first = at.map(|i| self.first_use[i as usize]);
            match (at, fields) {
                (Some(i), Some(fields)) => {
                    self.stored[i as usize] = true;
                    self.unknown[i as usize] = fields;
                }
                (None, Some(_)) => {}
                (_, None) => {
                    if self
                        .bad
                        .as_ref()
                        .is_none_or(|(earliest, _)| first < *earliest)
                    {
                        self.bad = Some((first, hash.chars().take(12).collect()));
                    }
                }
            }
        }
    }

    /// The earliest bad config's break, else the earliest snapshot whose config is not stored
    /// (from the hashes the chain pass gathered: no second pass over the history).
    fn first_break(&self) -> Option<ChainBreak> {
        if let Some((first, hash)) = &self.bad {
            return Some(ChainBreak {
                snapshot: first.unwrap_or(0),
                reason: format!(
                    "the stored config {} does not match its hash (the configs table was altered)",
                    crate::task::text::visible(hash)
                ),
            });
        }
        let orphan = (0..self.index.len())
            .filter(|i| !self.stored[*i])
            .map(|i| self.first_use[i])
            .min()?;
        Some(ChainBreak {
            snapshot: orphan,
            reason: "its config is missing from the database".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{ConfigIndex, Link, link_json};
    use proptest::prelude::*;

    proptest! {
        /// The hand-written link is serde_json's, byte for byte, whatever its strings hold
        /// (quotes, backslashes, control characters, any Unicode) and whichever are absent.
        #[test]
        fn the_link_is_written_as_serde_json_writes_it(
            strings in proptest::collection::vec("(\\PC|[\"\\\\\u{0}-\u{1f}\u{7f}])*", 12),
            present in proptest::collection::vec(any::<bool>(), 12),
            numbers in proptest::collection::vec(any::<i64>(), 3),
        ) {
            let s = |i: usize| strings[i].as_str();
            let o = |i: usize| present[i].then(|| strings[i].as_str());
            let link = Link {
                id: numbers[0],
                target: s(0),
                observed_at: numbers[1],
                recorded_at: numbers[2],
                source: s(1),
                endpoint: o(2),
                request_id: o(3),
                raw_sha256: s(4),
                config_hash: s(5),
                last_scan_time: o(6),
                scan_result: o(7),
                account: o(8),
                arn: o(9),
                principal_type: o(10),
                journal: o(11),
            };
            let mut ours = Vec::new();
            link_json(&link, &mut ours);
            prop_assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&link).unwrap()
            );
        }
    }

    /// Every ASCII character, and a few beyond, in a string of the link: written as serde_json
    /// writes it.
    #[test]
    fn each_character_is_written_as_serde_json_writes_it() {
        let odd = ['\u{80}', 'é', '\u{2028}', '\u{fffd}', '😀'];
        for c in (0u8..0x80).map(char::from).chain(odd) {
            let text = format!("a{c}b");
            let link = Link {
                id: -1,
                target: &text,
                observed_at: i64::MIN,
                recorded_at: i64::MAX,
                source: "fetch",
                endpoint: Some(&text),
                request_id: None,
                raw_sha256: "",
                config_hash: &text,
                last_scan_time: None,
                scan_result: Some(&text),
                account: None,
                arn: Some(&text),
                principal_type: None,
                journal: Some(&text),
            };
            let mut ours = Vec::new();
            link_json(&link, &mut ours);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&link).unwrap(),
                "{c:?}"
            );
        }
    }

    /// Hashes in lower-case hex are kept as bytes and named again exactly; any other name is
    /// kept as it is and never confused with the hex it spells in another case.
    #[test]
    fn the_config_index_names_each_hash_as_it_was_given() {
        let lower = "ab".repeat(32);
        let upper = "AB".repeat(32);
        let mut index = ConfigIndex::default();
        assert_eq!(index.insert(&lower), 0);
        assert_eq!(index.get(&upper), None);
        assert_eq!(index.insert(&upper), 1);
        assert_eq!(index.insert("short"), 2);
        assert_eq!(
            (index.get(&lower), index.get(&upper), index.get("short")),
            (Some(0), Some(1), Some(2))
        );
        assert_eq!(index.get(&"cd".repeat(32)), None);
        assert_eq!(
            (0..3).map(|i| index.name(i)).collect::<Vec<_>>(),
            [lower, upper, "short".to_string()]
        );
        assert_eq!(index.len(), 3);
        // Enough to make the table grow several times: each still found, and named.
        let many: Vec<String> = (0..5000u32)
            .map(|n| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(n.to_le_bytes())))
            .collect();
        for (n, h) in many.iter().enumerate() {
            assert_eq!(index.insert(h), 3 + n as u32);
        }
        for (n, h) in many.iter().enumerate() {
            assert_eq!(index.get(h), Some(3 + n as u32));
            assert_eq!(&index.name(3 + n as u32), h);
        }
        assert_eq!(index.get("short"), Some(2));
    }

    /// The escape test sixteen bytes at a time finds each byte to escape wherever it lies: in
    /// a whole block, across the blocks' ends or in the tail.
    #[test]
    fn an_escaped_byte_is_found_at_every_position() {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 47] {
            assert!(!super::needs_escape(&vec![b'a'; len]));
            for at in 0..len {
                for bad in [0u8, 0x1f, b'"', b'\\'] {
                    let mut s = vec![b'a'; len];
                    s[at] = bad;
                    assert!(super::needs_escape(&s), "{len} {at} {bad}");
                }
                let mut s = vec![b'a'; len];
                s[at] = 0x7f;
                assert!(!super::needs_escape(&s), "DEL is not escaped");
            }
        }
    }
}

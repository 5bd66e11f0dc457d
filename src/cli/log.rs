//! `audit log`: change events over time, newest first.

use std::io::Write;

use chrono::{DateTime, Utc};

use super::{Context, TargetArgs, TextOrJson, WindowArgs};
use crate::app::{Error, ExitCode};
use crate::report::diff::{LogDoc, LogEvent, log_json, log_text};
use crate::report::{PrettyArray, pretty_element};
use crate::store::{Entry, OpenMode, Store, StoredEvent};
use crate::task::diff::{Change, ShownChange, StoredChange};
use crate::task::fields as catalogue;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Only changes of this field (repeatable; `Images` covers every image)
    #[arg(long = "field", value_name = "FIELD")]
    pub fields: Vec<String>,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// Whether a change path belongs to a field: `ScanType`, `Images[k]`, `Images[k].Force`.
fn under(path: &str, field: &str) -> bool {
    path == field
        || path
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.'))
}

/// Whether the field catalogue documents a field (its top-level name).
fn documented(field: &str) -> bool {
    let top = catalogue::head(field);
    catalogue::readable().any(|d| d.name == top)
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let store = ctx.open_store(OpenMode::Existing)?;
    let _reading = store.reading()?;
    let filtered = !args.fields.is_empty();
    // The journal is small: read once for every target, not once a target.
    let entries = if filtered {
        Vec::new()
    } else {
        store.entries(None, None)?
    };
    let names = ctx.known_target_names(&args.targets, &store)?;
    // A field the catalogue does not know is a typo unless a change in the window was seen
    // under it, which is known only once every event is read: the log is then made whole before
    // any of it is written. Otherwise it is written as it is read, a target at a time.
    let unknown = args.fields.iter().any(|f| !documented(f));
    let mut held = Vec::new();
    let stdout = std::io::stdout();
    // Standard output is line-buffered; a fleet's log is many thousand lines.
    let mut streamed = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut log = Log {
        args,
        store: &store,
        tz: ctx.tz,
        color: ctx.color,
        entries: &entries,
        seen: vec![false; args.fields.len()],
        array: None,
        written: 0,
        w: if unknown { &mut held } else { &mut streamed },
    };
    if args.format == TextOrJson::Json && names.len() > 1 {
        // `--all`: one JSON text, an array of the targets' documents.
        log.array = Some(PrettyArray::open(log.w).map_err(output)?);
    }
    // A window of instants is the same for every target: the fleet's events in one query.
    match args.window.instants(ctx)?.filter(|_| names.len() > 1) {
        Some((since, until)) => {
            let mut pending = names.iter().peekable();
            store.each_target_events(since, until, |name, events| {
                // The targets named before this one had no events in the window.
                while let Some(quiet) = pending.next_if(|n| n.as_str() < name) {
                    log.target(quiet, &[], since, until)?;
                }
                if pending.next_if(|n| n.as_str() == name).is_some() {
                    log.target(name, events, since, until)?;
                }
                Ok::<_, Error>(())
            })?;
            for quiet in pending {
                log.target(quiet, &[], since, until)?;
            }
        }
        None => {
            for name in &names {
                let (since, until) = args.window.resolve(&store, name, ctx)?;
                let events = store.stored_events(name, since, until)?;
                log.target(name, &events, since, until)?;
            }
        }
    }
    if let Some(array) = &log.array {
        array.close(log.w).map_err(output)?;
    }
    for (f, seen) in args.fields.iter().zip(&log.seen) {
        if !documented(f) && !seen {
            let names = catalogue::readable().map(|d| d.name);
            return Err(Error::Usage(format!(
                "--field {}: no such field (did you mean {}?); a field the API added later is \
                 accepted once a change to it is recorded",
                crate::task::text::visible(f),
                crate::task::text::nearest(catalogue::head(f), names)
            )));
        }
    }
    streamed
        .write_all(&held)
        .and_then(|()| streamed.flush())
        .map_err(output)?;
    Ok(ExitCode::Ok)
}

fn output(source: std::io::Error) -> Error {
    Error::Output {
        what: "to stdout".into(),
        source,
    }
}

/// The log as it is written, a target at a time.
struct Log<'a> {
    args: &'a Args,
    store: &'a Store,
    tz: chrono_tz::Tz,
    color: crate::report::Color,
    /// The journal's entries, every target's (empty when fields are asked for).
    entries: &'a [Entry],
    /// Each field asked for: whether a change in the window was seen under it.
    seen: Vec<bool>,
    /// For the JSON of more than one target: the array their documents are written into.
    array: Option<PrettyArray>,
    written: usize,
    w: &'a mut dyn Write,
}

impl Log<'_> {
    /// Writes one target's log: its events in the window (newest first), only the changes of
    /// the fields asked for, with the journal's entries of the window among them. The text
    /// shows each change's values from their stored JSON, without building them; the JSON
    /// document builds them, to write them with their keys sorted.
    fn target(
        &mut self,
        name: &str,
        events: &[StoredEvent],
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), Error> {
        let journal = self
            .entries
            .iter()
            .rev()
            .filter(|e| {
                e.target == name
                    && since.is_none_or(|s| e.at >= s)
                    && until.is_none_or(|u| e.at <= u)
            })
            .cloned()
            .collect();
        let written = match self.args.format {
            TextOrJson::Text => {
                let doc = LogDoc::<StoredChange<'_>> {
                    target: name.to_owned(),
                    events: self.events(events)?,
                    journal,
                };
                // Each target's log begins with its name, after a blank line.
                let w = &mut *self.w;
                (if self.written > 0 {
                    writeln!(w)
                } else {
                    Ok(())
                })
                .and_then(|()| log_text(&doc, self.tz, self.color, w))
            }
            TextOrJson::Json => {
                let doc = LogDoc::<Change> {
                    target: name.to_owned(),
                    events: self.events(events)?,
                    journal,
                };
                self.json(&doc)
            }
        };
        self.written += 1;
        written.map_err(output)
    }

    /// The events with the changes of the fields asked for (all when none are), read from
    /// their stored JSON as `C`; an event left without changes is left out.
    fn events<'e, C>(&mut self, events: &'e [StoredEvent]) -> Result<Vec<LogEvent<C>>, Error>
    where
        C: ShownChange + serde::Deserialize<'e>,
    {
        let fields = &self.args.fields;
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let mut changes: Vec<C> = self.store.changes_of(e)?;
            if !fields.is_empty() {
                changes.retain(|c| wanted(c.path(), fields, &mut self.seen));
            }
            if !changes.is_empty() {
                out.push(LogEvent {
                    at: e.at,
                    from: e.from,
                    to: e.to,
                    changes,
                });
            }
        }
        Ok(out)
    }

    fn json(&mut self, doc: &LogDoc) -> std::io::Result<()> {
        let w = &mut *self.w;
        match &mut self.array {
            Some(array) => {
                // Each document as its own renderer writes it, made an element of the array
                // (keys sorted, as a JSON value holds them).
                let mut text = Vec::new();
                log_json(doc, &mut text)?;
                let value: serde_json::Value = serde_json::from_slice(&text)?;
                array.push(&pretty_element(&value, 1)?, w)
            }
            None => log_json(doc, w),
        }
    }
}

/// Whether a change at `path` is under one of the `fields` asked for; each field it is under is
/// marked `seen`.
fn wanted(path: &str, fields: &[String], seen: &mut [bool]) -> bool {
    let mut wanted = false;
    for (f, seen) in fields.iter().zip(seen.iter_mut()) {
        if under(path, f) {
            *seen = true;
            wanted = true;
        }
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn fields_cover_their_elements_and_images() {
        assert!(under("ScanType", "ScanType"));
        assert!(under("Images[ccr.ccs.tencentyun.com/a:v1]", "Images"));
        assert!(under("Images[x].Force", "Images"));
        assert!(!under("ScanTypeExtra", "ScanType"));
        assert!(!under("Enable", "ScanType"));
    }
}

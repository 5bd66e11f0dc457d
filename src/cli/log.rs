//! `audit log`: change events over time, newest first.

use super::{Context, TargetArgs, TextOrJson, WindowArgs};
use crate::app::{Error, ExitCode};
use crate::report::diff::{LogDoc, LogEvent, log_json, log_text};
use crate::report::write_json_array;
use crate::store::OpenMode;
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

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let store = ctx.open_store(OpenMode::Existing)?;
    let _reading = store.reading()?;
    let mut docs = Vec::new();
    // Fields a change in the window was seen under, for telling a typo from a quiet field.
    let mut seen: Vec<bool> = vec![false; args.fields.len()];
    let filtered = !args.fields.is_empty();
    // The journal is small: read once for every target, not once a target.
    let entries = if filtered {
        Vec::new()
    } else {
        store.entries(None, None)?
    };
    let names = ctx.target_names(&args.targets, &store)?;
    // A window of instants is the same for every target: the fleet's events in one query.
    let shared = args.window.instants(ctx)?.filter(|_| names.len() > 1);
    let mut fleet = match shared {
        Some((since, until)) => Some(store.events_of_all(since, until)?),
        None => None,
    };
    for name in names {
        let (since, until) = match shared {
            Some(bounds) => bounds,
            None => args.window.resolve(&store, &name, ctx)?,
        };
        let events = match &mut fleet {
            Some(all) => all.remove(&name).unwrap_or_default(),
            None => store.events(&name, since, until)?,
        };
        let events = events
            .into_iter()
            .filter_map(|mut e| {
                if filtered {
                    e.changes.retain(|c| {
                        let mut wanted = false;
                        for (f, seen) in args.fields.iter().zip(seen.iter_mut()) {
                            if under(&c.path, f) {
                                *seen = true;
                                wanted = true;
                            }
                        }
                        wanted
                    });
                }
                (!e.changes.is_empty()).then_some(LogEvent {
                    at: e.at,
                    from: e.from,
                    to: e.to,
                    changes: e.changes,
                })
            })
            .collect();
        let journal = entries
            .iter()
            .rev()
            .filter(|e| {
                e.target == name
                    && since.is_none_or(|s| e.at >= s)
                    && until.is_none_or(|u| e.at <= u)
            })
            .cloned()
            .collect();
        docs.push(LogDoc {
            target: name,
            events,
            journal,
        });
    }
    for (f, seen) in args.fields.iter().zip(seen) {
        let top = catalogue::head(f);
        let documented = catalogue::readable().any(|d| d.name == top);
        if !documented && !seen {
            let names = catalogue::readable().map(|d| d.name);
            return Err(Error::Usage(format!(
                "--field {}: no such field (did you mean {}?); a field the API added later is \
                 accepted once a change to it is recorded",
                crate::task::text::visible(f),
                crate::task::text::nearest(top, names)
            )));
        }
    }
    ctx.emit(|w| match args.format {
        TextOrJson::Json if docs.len() == 1 => log_json(&docs[0], w),
        TextOrJson::Json => write_json_array(w, &docs, |d, w| log_json(d, w)),
        TextOrJson::Text => {
            for (i, d) in docs.iter().enumerate() {
                // Each target's log begins with its name.
                if i > 0 {
                    writeln!(w)?;
                }
                log_text(d, ctx.tz, ctx.color, w)?;
            }
            Ok(())
        }
    })?;
    Ok(ExitCode::Ok)
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

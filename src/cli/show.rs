//! `audit show`: the config (or the raw answer) at a moment.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use serde_json::json;

use super::{Context, OneTarget, TextOrJson};
use crate::app::{Error, ExitCode};
use crate::report::{short, write_json};
use crate::store::OpenMode;
use crate::task::when::{When, fmt_time, fmt_utc};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The moment: latest, a snapshot id, a date, an RFC 3339 time, or an age (7d)
    #[arg(default_value = "latest", value_name = "WHEN")]
    pub when: String,
    #[command(flatten)]
    pub targets: OneTarget,
    /// The answer exactly as it was received, byte for byte, to a file or a pipe (on a
    /// terminal, its control characters are shown as escapes)
    #[arg(long, conflicts_with = "format")]
    pub raw: bool,
    #[arg(long, value_enum)]
    pub format: Option<TextOrJson>,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let store = ctx.open_store(OpenMode::Existing)?;
    let target = ctx.one_target_name(&args.targets, &store)?;
    let when = When::parse(&args.when, ctx.now())?;
    let meta = store.resolve(&target, &when, ctx.tz)?;
    let snap = store.snapshot(meta.id)?;
    ctx.emit(|w| {
        if args.raw {
            return write_raw(w, &snap.raw, std::io::stdout().is_terminal());
        }
        match args.format.unwrap_or(TextOrJson::Text) {
            TextOrJson::Text => {
                writeln!(
                    w,
                    "# target {}, snapshot {}, observed {}, config {}{}",
                    crate::task::text::visible(&target),
                    meta.id,
                    fmt_time(meta.observed_at, ctx.tz),
                    short(&meta.config_hash),
                    meta.identity
                        .as_ref()
                        .map(|i| format!(
                            ", account {} ({})",
                            crate::task::text::visible(&i.account),
                            crate::task::text::visible(&i.arn)
                        ))
                        .unwrap_or_default()
                )?;
                // JSON escapes C0 controls in strings, not DEL, C1 controls or bidirectional
                // overrides.
                let text = crate::task::canonical::pretty_json(&snap.config);
                w.write_all(crate::task::text::visible_lines(&text).as_bytes())
            }
            TextOrJson::Json => write_json(
                w,
                &json!({
                    "schema": "tcss-audit/show/v1",
                    "target": target,
                    "snapshot": {
                        "id": meta.id,
                        "at": fmt_utc(meta.observed_at),
                        "request_id": meta.request_id,
                        "config_hash": meta.config_hash,
                        "identity": meta.identity,
                    },
                    "config": snap.config,
                    "status": meta.status,
                }),
            ),
        }
    })?;
    Ok(ExitCode::Ok)
}

/// The raw answer: its exact bytes to a file or a pipe. On a terminal a control character the
/// API sent (a C1 control such as CSI, a bidirectional override; JSON forbids only the C0 ones
/// raw) would act on the terminal, so there each is shown as an escape, and standard error
/// says that what is shown is not the exact bytes.
fn write_raw(w: &mut dyn Write, raw: &[u8], terminal: bool) -> std::io::Result<()> {
    if !terminal {
        return w.write_all(raw);
    }
    let text = String::from_utf8_lossy(raw);
    let shown = crate::task::text::visible_lines(&text);
    if matches!(text, Cow::Owned(_)) || matches!(shown, Cow::Owned(_)) {
        tracing::warn!(
            "standard output is a terminal: the raw answer's control characters are shown as escapes; redirect it to a file or a pipe for its exact bytes"
        );
    }
    w.write_all(shown.as_bytes())?;
    if !shown.ends_with('\n') {
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_go_to_a_pipe_as_they_are_and_to_a_terminal_escaped() {
        let raw = "{\"Response\":{\"Namespace\":\"a\u{9b}2Jb\u{202e}c\"}}".as_bytes();
        let mut piped = Vec::new();
        write_raw(&mut piped, raw, false).unwrap();
        assert_eq!(piped, raw);
        let mut shown = Vec::new();
        write_raw(&mut shown, raw, true).unwrap();
        let shown = String::from_utf8(shown).unwrap();
        assert_eq!(
            shown,
            "{\"Response\":{\"Namespace\":\"a\\u{9b}2Jb\\u{202e}c\"}}\n"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_reach_a_terminal_replaced() {
        let mut shown = Vec::new();
        write_raw(&mut shown, b"{\"a\":\"\xff\x1b[2J\"}\n", true).unwrap();
        assert_eq!(
            String::from_utf8(shown).unwrap(),
            "{\"a\":\"\u{fffd}\\u{1b}[2J\"}\n"
        );
    }
}

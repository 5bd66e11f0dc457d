//! `audit import`: record saved answers.

use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::Context;
use crate::normalize;
use crate::report::history::recorded_line;
use crate::store::{NewSnapshot, OpenMode, Source};
use crate::tencent::model::{self, AnswerError, MAX_ANSWER_BYTES};
use crate::when::parse_instant;
use crate::{Error, ExitCode};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each FILE holds one answer: {\"Response\":{…}} as the API sends it, the bare \
object, or what `tccli tcss DescribeImageRegistryTimingScanTask` prints. The bytes are kept exactly. \
Without --at, an answer is recorded at its file's modification time (standard input: now). \
All files are checked before any is recorded: one bad file records nothing."
)]
pub struct Args {
    /// Saved answers; `-` reads standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The target the answers belong to [default: the config's first target, or `default`]
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// When the answers were observed: an RFC 3339 time, a date (its start), or an age (3d)
    #[arg(long, value_name = "WHEN-TIME")]
    pub at: Option<String>,
}

struct Loaded {
    raw: Vec<u8>,
    at: DateTime<Utc>,
    fields: serde_json::Map<String, serde_json::Value>,
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let target = args
        .target
        .clone()
        .unwrap_or_else(|| ctx.settings.targets[0].name.clone());
    if target.trim().is_empty() {
        return Err(Error::Usage("--target needs a name".into()));
    }
    let at = args
        .at
        .as_deref()
        .map(|t| parse_instant(t, ctx.now(), ctx.tz))
        .transpose()?;
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for file in &args.files {
        match load(file, at, ctx) {
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
    let mut store = ctx.open_store(OpenMode::Create)?;
    for l in loaded {
        let config = normalize::normalize(&l.fields);
        let status = normalize::status_of(&l.fields);
        let request_id = l.fields.get("RequestId").and_then(|v| v.as_str());
        let recorded = store.record(&NewSnapshot {
            target: &target,
            observed_at: l.at,
            recorded_at: ctx.now(),
            source: Source::Import,
            endpoint: None,
            request_id,
            raw: &l.raw,
            config: &config,
            status: &status,
        })?;
        for field in &recorded.new_fields {
            tracing::warn!(
                "target {target}: the answer has a field {field} that this tool does not document; it is kept and compared as plain JSON"
            );
        }
        ctx.emit(|w| recorded_line(&target, &recorded, ctx.tz, w))?;
    }
    Ok(ExitCode::Ok)
}

fn shown(file: &std::path::Path) -> String {
    if file.as_os_str() == "-" {
        "standard input".into()
    } else {
        file.display().to_string()
    }
}

fn load(
    file: &std::path::Path,
    at: Option<DateTime<Utc>>,
    ctx: &Context,
) -> Result<Loaded, String> {
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
    Ok(Loaded {
        raw,
        at: at.or(modified).unwrap_or_else(|| ctx.now()),
        fields: answer.fields,
    })
}

//! `audit verify` as a job: the chain and the derived tables, the signed checkpoints with the
//! public key, and each witness file against the history.

use std::path::{Path, PathBuf};

use crate::app::Error;
use crate::report::history::VerifyOutcome;
use crate::store::Store;
use crate::trust::witness::{WitnessResult, WitnessStatus, head_of};
use crate::trust::{PublicKey, REPORT_NAMESPACE};

/// What to check beyond the chain.
#[derive(Debug, Default)]
pub struct VerifyRequest<'a> {
    /// Report JSON or Markdown, `audit verify` JSON, or `.sig` files beside reports.
    pub witnesses: &'a [PathBuf],
    pub public_key: Option<&'a PublicKey>,
    /// Snapshots after the newest verified signed checkpoint are a failure.
    pub require_signed: bool,
}

/// Checks the history and everything the request names. A witness that cannot be read, or is
/// no witness, is an input error (exit 2) naming the file; one that does not hold is a finding.
pub fn verify(store: &Store, req: &VerifyRequest<'_>) -> Result<VerifyOutcome, Error> {
    // Witnesses are read first: a wrong file name is said before the long chain pass.
    let read: Vec<Witness> = req
        .witnesses
        .iter()
        .map(|p| read_witness(p, req.public_key))
        .collect::<Result<_, _>>()?;
    let chain = store.verify()?;
    let checkpoints = store.verify_checkpoints(req.public_key)?;
    let mut witnesses = Vec::with_capacity(read.len());
    for w in read {
        let status = match (&w.bad_signature, &w.head) {
            (Some(why), _) => WitnessStatus::bad_signature(why.clone()),
            (None, None) => WitnessStatus::empty(),
            (None, Some(head)) => WitnessStatus::Head(store.head_status(head)?),
        };
        witnesses.push(WitnessResult {
            file: w.file,
            snapshot: w.head.as_ref().map(|h| h.snapshot),
            status,
            signature: w.signature_checked.then_some("verified"),
        });
    }
    Ok(VerifyOutcome {
        chain,
        checkpoints,
        key: req.public_key.map(PublicKey::fingerprint),
        require_signed: req.require_signed,
        witnesses,
    })
}

/// One witness file as read.
struct Witness {
    /// The witnessed file (for a `.sig`, the report beside it).
    file: String,
    head: Option<crate::trust::Head>,
    signature_checked: bool,
    bad_signature: Option<String>,
}

fn read_witness(path: &Path, key: Option<&PublicKey>) -> Result<Witness, Error> {
    let shown = |p: &Path| p.display().to_string();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| Error::File {
            path: crate::task::text::visible(&shown(p)).into_owned().into(),
            action: "read the witness",
            source,
        })
    };
    let given_sig = path.extension().is_some_and(|e| e == "sig");
    let (file, sig) = if given_sig {
        (path.with_extension(""), Some(path.to_path_buf()))
    } else {
        let mut beside = path.as_os_str().to_owned();
        beside.push(".sig");
        let beside = PathBuf::from(beside);
        (path.to_path_buf(), beside.is_file().then_some(beside))
    };
    if given_sig && key.is_none() {
        return Err(Error::Usage(format!(
            "witness {}: a signature is checked with the public key: give --public-key FILE.pub",
            crate::task::text::visible(&shown(path))
        )));
    }
    let bytes = read(&file)?;
    let mut witness = Witness {
        file: shown(&file),
        head: None,
        signature_checked: false,
        bad_signature: None,
    };
    if let (Some(sig), Some(key)) = (&sig, key) {
        let armored = String::from_utf8_lossy(&read(sig)?).into_owned();
        match key.verify(REPORT_NAMESPACE, &bytes, &armored) {
            Ok(()) => witness.signature_checked = true,
            Err(why) => {
                witness.bad_signature = Some(format!("{}: {why}", shown(sig)));
                return Ok(witness);
            }
        }
    }
    witness.head = head_of(&bytes).map_err(|why| {
        Error::Input(format!(
            "witness {}: {why}; give a report (JSON or Markdown) or the JSON of `audit verify`",
            crate::task::text::visible(&witness.file)
        ))
    })?;
    Ok(witness)
}

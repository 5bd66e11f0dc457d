//! Fuzzes the answer parser and what runs on its output: normalization, the config hash, the diff.
//!
//! The input is one answer, or two separated by a NUL byte (so the diff sees two configs).
//! Asserts: `parse_any` and `parse_envelope` never panic and agree; on success `normalize` is
//! idempotent, `config_hash` is stable and well-formed, `diff(a, a)` is empty, the canonical JSON
//! of a config is read back as the same config; for two answers, `diff` is empty exactly when the
//! hashes are equal, and has as many changes in either direction.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcss_audit::task::canonical::canonical_json;
use tcss_audit::task::diff::{ChangeKind, diff};
use tcss_audit::task::normalize::{Config, config_hash, normalize};
use tcss_audit::tencent::model::{Shape, parse_any, parse_envelope};

fuzz_target!(|data: &[u8]| {
    let whole = check_one(data);
    if let Some(at) = data.iter().position(|&b| b == 0) {
        let (a, b) = (check_one(&data[..at]), check_one(&data[at + 1..]));
        if let (Some(a), Some(b)) = (a, b) {
            check_pair(&a, &b);
        }
    }
    drop(whole);
});

/// Parses one answer and checks the single-config properties; the normalized config on success.
fn check_one(bytes: &[u8]) -> Option<Config> {
    let any = parse_any(bytes);
    let envelope = parse_envelope(bytes);
    match &any {
        Ok((Shape::Envelope, answer)) => {
            assert_eq!(
                envelope.as_ref().ok(),
                Some(answer),
                "parse_envelope disagrees"
            )
        }
        Ok((Shape::Bare, _)) => assert!(envelope.is_err(), "a bare answer passed as an envelope"),
        Err(e) => {
            assert!(
                envelope.is_err(),
                "parse_envelope accepted what parse_any refused: {e}"
            );
            assert!(!e.to_string().is_empty());
        }
    }
    let (_, answer) = any.ok()?;

    let once = normalize(&answer.fields);
    let twice = normalize(&once);
    assert_eq!(
        canonical_json(&once),
        canonical_json(&twice),
        "normalize is not idempotent"
    );
    let hash = config_hash(&once);
    assert_eq!(hash, config_hash(&twice));
    assert_eq!(hash, config_hash(&once.clone()));
    assert!(hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    assert!(diff(&once, &once).is_empty(), "diff(a, a) is not empty");

    // What `show` prints is read back as the same config by `import`, unless the config itself
    // holds a key that means something to the parser (`Error`, or `Response` alone).
    let special = once.contains_key("Error") || (once.len() == 1 && once.contains_key("Response"));
    if !special {
        let text = canonical_json(&once);
        let (_, back) = parse_any(text.as_bytes())
            .unwrap_or_else(|e| panic!("a config's canonical JSON is refused: {e}\n{text}"));
        assert_eq!(
            config_hash(&normalize(&back.fields)),
            hash,
            "re-import changed the hash"
        );
    }
    Some(once)
}

fn check_pair(a: &Config, b: &Config) {
    let forward = diff(a, b);
    let backward = diff(b, a);
    let same = config_hash(a) == config_hash(b);
    assert_eq!(
        forward.is_empty(),
        same,
        "diff and hash disagree: {forward:?}"
    );
    assert_eq!(forward.len(), backward.len(), "diff is not symmetric");
    let count = |d: &[tcss_audit::task::diff::Change], k| d.iter().filter(|c| c.kind == k).count();
    assert_eq!(
        count(&forward, ChangeKind::Added),
        count(&backward, ChangeKind::Removed)
    );
    assert_eq!(
        count(&forward, ChangeKind::Changed),
        count(&backward, ChangeKind::Changed)
    );
}

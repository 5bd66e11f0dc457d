//! What makes the history trustworthy beyond its hash chain: Ed25519 keys in OpenSSH format,
//! SSH signatures (the format `ssh-keygen -Y sign` writes and `ssh-keygen -Y verify` checks),
//! the signed checkpoint's message, and the heads that filed reports witness.
//!
//! The key formats and the signature format are the `ssh-key` crate's (RustCrypto); nothing of
//! the cryptography is written here.

pub mod key;
pub mod witness;

pub use key::{KeyError, PublicKey, SigningKey};

/// The SSH signature namespace of reports: `ssh-keygen -Y verify -n tcss-audit`.
pub const REPORT_NAMESPACE: &str = "tcss-audit";

/// The SSH signature namespace of stored checkpoints, apart from the reports' so that no
/// signature made for one can be passed off as the other.
pub const CHECKPOINT_NAMESPACE: &str = "tcss-audit-checkpoint";

/// A point of the hash chain: a snapshot id and its chain hash (64 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub snapshot: i64,
    pub chain_hash: String,
}

/// Where a checkpoint stands in its key's signature line: its number from the line's start, and
/// the SHA-256 (hex) of the previous checkpoint's signed message (`None` where a line starts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinePos {
    pub seq: i64,
    pub prev: Option<String>,
}

/// The bytes a chained checkpoint's signature covers: its place in the line, then the head, when
/// it was signed and by which version of the tool. One field a line, in this order.
pub fn checkpoint_message_v2(
    pos: &LinePos,
    head: &Head,
    signed_at_ms: i64,
    tool_version: &str,
) -> Vec<u8> {
    format!(
        "tcss-audit/checkpoint/v2\nseq {}\nprev {}\nsnapshot {}\nchain_hash {}\nsigned_at_ms {}\ntool_version {}\n",
        pos.seq,
        pos.prev.as_deref().unwrap_or("start"),
        head.snapshot,
        head.chain_hash,
        signed_at_ms,
        tool_version
    )
    .into_bytes()
}

/// The SHA-256 of a signed message, in hex: what the next checkpoint links.
pub fn message_digest(message: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(message))
}

/// The bytes a checkpoint made before checkpoints were chained covers: the head, when it was
/// signed and by which version of the tool. One field a line, in this order, so that the
/// message is unambiguous.
pub fn checkpoint_message(head: &Head, signed_at_ms: i64, tool_version: &str) -> Vec<u8> {
    format!(
        "tcss-audit/checkpoint/v1\nsnapshot {}\nchain_hash {}\nsigned_at_ms {}\ntool_version {}\n",
        head.snapshot, head.chain_hash, signed_at_ms, tool_version
    )
    .into_bytes()
}

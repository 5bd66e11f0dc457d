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

/// The bytes a stored checkpoint's signature covers: the head, when it was signed and by which
/// version of the tool. One field a line, in this order, so that the message is unambiguous.
pub fn checkpoint_message(head: &Head, signed_at_ms: i64, tool_version: &str) -> Vec<u8> {
    format!(
        "tcss-audit/checkpoint/v1\nsnapshot {}\nchain_hash {}\nsigned_at_ms {}\ntool_version {}\n",
        head.snapshot, head.chain_hash, signed_at_ms, tool_version
    )
    .into_bytes()
}

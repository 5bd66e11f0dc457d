//! Ed25519 keys in OpenSSH format: the private key that signs checkpoints and reports, and the
//! public key an auditor checks them with.
//!
//! A private key's bytes never leave this module except into the key file itself: `Debug` shows
//! only the public half, and no error quotes the file's content.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha512};
use ssh_key::{Algorithm, HashAlg, LineEnding, SshSig};

/// The comment written into generated keys (`ssh-ed25519 AAAA... tcss-audit`).
pub const KEY_COMMENT: &str = "tcss-audit";

/// What can be wrong with a key file or a signature.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {message}")]
    Unreadable { path: String, message: String },
    #[error(
        "key file {path} can be read by every user of this machine (mode {mode:o}); a signing key must not be: `chmod 600 {path}`, or mount it read-only for this user alone"
    )]
    WorldReadable { path: String, mode: u32 },
    #[error(
        "key file {path} is not an OpenSSH {what}; make one with `audit key generate --out FILE`"
    )]
    NotAKey { path: String, what: &'static str },
    #[error(
        "key file {path} holds a key of kind {found}; tcss-audit signs with Ed25519 keys only (`audit key generate --out FILE`)"
    )]
    WrongKind { path: String, found: String },
    #[error(
        "key file {path} is protected by a passphrase, which a nightly job cannot type; keep the key apart instead (a systemd credential or a Kubernetes secret) and give it without one"
    )]
    Encrypted { path: String },
    #[error(
        "{path} already exists; it was left untouched: choose another --out, or remove it first"
    )]
    Exists { path: String },
    #[error("writing {path}: {message}")]
    Write { path: String, message: String },
}

/// The private key that signs. `Debug` shows its public key alone.
pub struct SigningKey {
    key: ssh_key::PrivateKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public_key().fingerprint())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random Ed25519 key from the operating system's generator.
    pub fn generate() -> SigningKey {
        let mut key = ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, Algorithm::Ed25519)
            .expect("Ed25519 key generation does not fail");
        key.set_comment(KEY_COMMENT);
        SigningKey { key }
    }

    /// Writes the key to `path` (mode 0600) and its public key to `path.pub`; refuses to
    /// overwrite either.
    pub fn write_new(&self, path: &Path) -> Result<PathBuf, KeyError> {
        let public = public_path(path);
        for p in [path, public.as_path()] {
            if std::fs::symlink_metadata(p).is_ok() {
                return Err(KeyError::Exists {
                    path: p.display().to_string(),
                });
            }
        }
        let text = self
            .key
            .to_openssh(LineEnding::LF)
            .expect("an Ed25519 key encodes");
        write_new_file(path, text.as_bytes(), 0o600)?;
        let line = format!("{}\n", self.public_key().openssh());
        write_new_file(&public, line.as_bytes(), 0o644)?;
        Ok(public)
    }

    /// Reads an unencrypted Ed25519 key in OpenSSH format that only its owner (and group) can
    /// read.
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        let shown = path.display().to_string();
        let unreadable = |e: std::io::Error| KeyError::Unreadable {
            path: shown.clone(),
            message: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if !meta.is_file() {
            return Err(KeyError::Unreadable {
                path: shown,
                message: "not a regular file".into(),
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o004 != 0 {
                return Err(KeyError::WorldReadable { path: shown, mode });
            }
        }
        let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(unreadable)?);
        let key = ssh_key::PrivateKey::from_openssh(&bytes[..]).map_err(|e| match e {
            // An OpenSSH key of a kind this build cannot even read (ECDSA, security keys).
            ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
                KeyError::WrongKind {
                    path: shown.clone(),
                    found: "other than Ed25519".into(),
                }
            }
            _ => KeyError::NotAKey {
                path: shown.clone(),
                what: "private key",
            },
        })?;
        if key.is_encrypted() {
            return Err(KeyError::Encrypted { path: shown });
        }
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(KeyError::WrongKind {
                path: shown,
                found: key.algorithm().to_string(),
            });
        }
        Ok(SigningKey { key })
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.public_key().clone(),
        }
    }

    /// An SSH signature of `msg` in `namespace`, armored (`-----BEGIN SSH SIGNATURE-----`), as
    /// `ssh-keygen -Y sign` writes it (SHA-512 of the message).
    pub fn sign(&self, namespace: &str, msg: &[u8]) -> String {
        self.sign_reader(namespace, &mut &msg[..])
            .expect("a slice reads without error")
    }

    /// [`SigningKey::sign`] of what `message` reads, read a piece at a time: an SSH signature
    /// signs the message's SHA-512, so a report of hundreds of MB need not be held to be signed.
    /// Built here because ssh-key makes the signed data only from a whole message in memory;
    /// the bytes are those of PROTOCOL.sshsig (a unit test holds its signatures equal to
    /// ssh-key's).
    pub fn sign_reader(&self, namespace: &str, message: &mut impl Read) -> io::Result<String> {
        let mut hasher = Sha512::new();
        io::copy(message, &mut hasher)?;
        let hash = hasher.finalize();
        // The magic preamble, then the namespace, the reserved field, the hash algorithm and
        // the hash, each an SSH string (a 32-bit big-endian length, then the bytes).
        let mut signed = b"SSHSIG".to_vec();
        for field in [namespace.as_bytes(), b"", b"sha512", hash.as_slice()] {
            signed.extend_from_slice(&(field.len() as u32).to_be_bytes());
            signed.extend_from_slice(field);
        }
        fn sign_with<K: ssh_key::SigningKey>(key: &K, data: &[u8]) -> ssh_key::Signature {
            key.try_sign(data).expect("an Ed25519 key signs")
        }
        let signature = sign_with(&self.key, &signed);
        Ok(SshSig::new(
            self.key.public_key().key_data().clone(),
            namespace,
            HashAlg::Sha512,
            signature,
        )
        .and_then(|sig| sig.to_pem(LineEnding::LF))
        .expect("an Ed25519 signature encodes"))
    }
}

/// A public key to check signatures with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ssh_key::PublicKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl PublicKey {
    /// Reads a public key: the `.pub` file's line (`ssh-ed25519 AAAA... comment`), or a line of
    /// an `allowed_signers` file (a principal, then the key).
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Unreadable {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let not_a_key = || KeyError::NotAKey {
            path: shown.clone(),
            what: "public key",
        };
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(not_a_key)?;
        let key = ssh_key::PublicKey::from_openssh(line)
            .or_else(|e| match line.split_once(char::is_whitespace) {
                Some((_, rest)) => ssh_key::PublicKey::from_openssh(rest.trim_start()),
                None => Err(e),
            })
            .map_err(|_| not_a_key())?;
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(KeyError::WrongKind {
                path: shown,
                found: key.algorithm().to_string(),
            });
        }
        Ok(PublicKey { key })
    }

    /// The key as one OpenSSH line, `ssh-ed25519 AAAA... tcss-audit`.
    pub fn openssh(&self) -> String {
        self.key
            .to_openssh()
            .expect("an Ed25519 public key encodes")
    }

    /// `SHA256:...`, as `ssh-keygen -l` shows it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// Whether `armored` is this key's signature of `msg` in `namespace`; the reason if not.
    pub fn verify(&self, namespace: &str, msg: &[u8], armored: &str) -> Result<(), String> {
        let sig = SshSig::from_pem(armored.trim().as_bytes())
            .map_err(|_| "it is not an SSH signature".to_string())?;
        if sig.public_key() != self.key.key_data() {
            return Err("it was made by another key".into());
        }
        if sig.namespace() != namespace {
            return Err(format!(
                "it was made for another purpose (namespace {:?}, not {namespace:?})",
                sig.namespace()
            ));
        }
        self.key
            .verify(namespace, msg, &sig)
            .map_err(|_| "the signed bytes differ (the file was changed after signing)".into())
    }
}

/// `FILE.pub` beside `FILE`.
pub fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Creates `path` with `mode` (Unix) and writes `bytes`; fails if it exists.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let err = |e: std::io::Error| KeyError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.display().to_string(),
            }
        } else {
            err(e)
        }
    })?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_key_and_with_no_other_or_after_a_change() {
        let key = SigningKey::generate();
        let sig = key.sign("tcss-audit", b"report");
        assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"));
        let public = key.public_key();
        assert_eq!(public.verify("tcss-audit", b"report", &sig), Ok(()));
        assert!(public.verify("tcss-audit", b"reporT", &sig).is_err());
        assert!(public.verify("other", b"report", &sig).is_err());
        let other = SigningKey::generate().public_key();
        assert!(other.verify("tcss-audit", b"report", &sig).is_err());
        assert!(public.verify("tcss-audit", b"report", "garbage").is_err());
    }

    #[test]
    fn a_message_signed_as_it_is_read_has_the_signature_of_the_whole() {
        let key = SigningKey::generate();
        // Ed25519 is deterministic: the same signed data gives the same signature.
        let long: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for message in [&b""[..], b"report", &long] {
            let read = key.sign_reader("tcss-audit", &mut &message[..]).unwrap();
            let whole = key
                .key
                .sign("tcss-audit", HashAlg::Sha512, message)
                .and_then(|sig| sig.to_pem(LineEnding::LF))
                .unwrap();
            assert_eq!(read, whole);
            assert_eq!(key.sign("tcss-audit", message), whole);
            assert_eq!(
                key.public_key().verify("tcss-audit", message, &read),
                Ok(())
            );
        }
        let other = key.sign_reader("other", &mut &b"report"[..]).unwrap();
        assert!(
            key.public_key()
                .verify("tcss-audit", b"report", &other)
                .is_err()
        );
    }

    #[test]
    fn keys_are_written_once_with_owner_only_mode_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = SigningKey::generate();
        let public = key.write_new(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let line = std::fs::read_to_string(&public).unwrap();
        assert!(line.starts_with("ssh-ed25519 AAAA") && line.trim_end().ends_with(" tcss-audit"));
        let back = SigningKey::load(&path).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(PublicKey::load(&public).unwrap(), key.public_key());
        assert!(matches!(
            SigningKey::generate().write_new(&path),
            Err(KeyError::Exists { .. })
        ));
        // Debug shows the public half only.
        let shown = format!("{back:?}");
        assert!(shown.contains("SHA256:"), "{shown}");
        let secret = std::fs::read_to_string(&path).unwrap();
        for line in secret.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line));
        }
    }

    #[test]
    fn a_world_readable_or_public_or_garbage_file_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        SigningKey::generate().write_new(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = SigningKey::load(&path).unwrap_err();
            assert!(matches!(e, KeyError::WorldReadable { .. }), "{e}");
        }
        // A public key given as the signing key, in a file only its owner reads.
        let given = dir.path().join("given");
        write_new_file(&given, &std::fs::read(public_path(&path)).unwrap(), 0o600).unwrap();
        let e = SigningKey::load(&given).unwrap_err();
        assert!(matches!(e, KeyError::NotAKey { .. }), "{e}");
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "not a key\n").unwrap();
        assert!(matches!(
            PublicKey::load(&junk),
            Err(KeyError::NotAKey { .. })
        ));
    }
}

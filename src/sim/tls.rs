//! HTTPS for the stand-in: a certificate authority and a server certificate made at start
//! (rcgen), served with rustls, so that clients are tested over TLS as they meet Tencent.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::SimError;

/// What `--tls` asks for.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Names besides `127.0.0.1`, `::1` and `localhost` the certificate is for.
    pub names: Vec<String>,
    /// Where the CA certificate (PEM) is written; clients trust it with `--ca-file`.
    pub ca_out: PathBuf,
}

/// The server side of TLS.
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
}

fn failed(message: String) -> SimError {
    SimError::Tls { message }
}

/// Makes a CA and a server certificate signed by it, writes the CA's certificate to
/// `opts.ca_out`, and gives the acceptor.
pub fn make(opts: &TlsOptions) -> Result<Tls, SimError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let err = |e: rcgen::Error| failed(format!("cannot make the certificates: {e}"));
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tcss-audit stand-in CA");
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let mut names = vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ];
    names.extend(opts.names.iter().cloned());
    let key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(names).map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "tcss-audit stand-in");
    let leaf_cert = leaf.signed_by(&key, &ca_cert, &ca_key).map_err(err)?;
    let ca_pem = ca_cert.pem();
    std::fs::write(&opts.ca_out, &ca_pem).map_err(|e| {
        failed(format!(
            "cannot write the CA certificate to {}: {e}",
            opts.ca_out.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| failed(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    })
}

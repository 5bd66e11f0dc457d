//! HTTPS for the stand-in: a certificate authority and a server certificate made at start
//! (rcgen), served with rustls, so that clients are tested over TLS as they meet Tencent.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
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
    let err = |e: rcgen::Error| failed(format!("cannot make the certificates: {e}"));
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca_params().self_signed(&ca_key).map_err(err)?;
    let key = KeyPair::generate().map_err(err)?;
    let leaf_cert = server_params(&opts.names)
        .map_err(err)?
        .signed_by(&key, &ca_cert, &ca_key)
        .map_err(err)?;
    std::fs::write(&opts.ca_out, ca_cert.pem()).map_err(|e| {
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

/// A random positive serial number of 16 bytes, its first byte neither 0 nor above 0x7f, so that
/// its DER integer is minimal and positive as strict verifiers demand.
fn random_serial() -> [u8; 16] {
    let mut serial: [u8; 16] = rand::random();
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

/// The CA, with the extensions strict verifiers (OpenSSL's `-x509_strict`, Python 3.13's
/// default `VERIFY_X509_STRICT`) require of one. Its serial is in its name: two stand-ins' CAs in
/// one bundle must not share a subject, or a verifier may pick the wrong one as the issuer.
fn ca_params() -> CertificateParams {
    let serial = random_serial();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("tcss-audit stand-in CA {}", hex::encode(&serial[..8])),
    );
    ca.serial_number = Some(SerialNumber::from_slice(&serial));
    ca
}

/// The server certificate for loopback and `names`. `ExplicitNoCa` is what makes rcgen write
/// the subjectKeyIdentifier (with basicConstraints CA:FALSE); the key is ECDSA, so it signs and
/// never enciphers: digitalSignature alone.
fn server_params(names: &[String]) -> Result<CertificateParams, rcgen::Error> {
    let mut all = vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ];
    all.extend(names.iter().cloned());
    let mut leaf = CertificateParams::new(all)?;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, "tcss-audit stand-in");
    leaf.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    Ok(leaf)
}

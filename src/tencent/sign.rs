//! TC3-HMAC-SHA256 request signing as pure functions, shared by the client and the stand-in.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name that opens the string to sign and the Authorization header.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The last element of every credential scope.
pub const TERMINATOR: &str = "tc3_request";

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp, as used in the credential scope.
pub fn date_of(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// `DATE/SERVICE/tc3_request`.
pub fn credential_scope(date: &str, service: &str) -> String {
    format!("{date}/{service}/{TERMINATOR}")
}

/// The `SignedHeaders` value: lower-cased header names joined by `;`, in the given order.
pub fn signed_headers<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(";")
}

/// The canonical request. `headers` are the signed headers in the order `SignedHeaders` names
/// them; names and values are lower-cased and trimmed here, as Tencent's signer does.
pub fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> String {
    let mut canonical_headers = String::new();
    for (name, value) in headers {
        canonical_headers.push_str(&name.trim().to_ascii_lowercase());
        canonical_headers.push(':');
        canonical_headers.push_str(&value.trim().to_lowercase());
        canonical_headers.push('\n');
    }
    let names = signed_headers(headers.iter().map(|(n, _)| *n));
    format!(
        "{method}\n{uri}\n{query}\n{canonical_headers}\n{names}\n{}",
        sha256_hex(payload)
    )
}

/// The string to sign for a canonical request made at `timestamp` within `scope`.
pub fn string_to_sign(timestamp: i64, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The hex signature of `string_to_sign`, derived from the secret key through date and service.
pub fn signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, TERMINATOR.as_bytes());
    hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

/// The `Authorization` header value.
pub fn authorization(
    secret_id: &str,
    scope: &str,
    signed_headers: &str,
    signature: &str,
) -> String {
    format!(
        "{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// Everything needed to sign one POST request to `/`.
pub struct SignInput<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    pub service: &'a str,
    pub timestamp: i64,
    /// Signed headers in order, e.g. `[("content-type", …), ("host", …)]`.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// Every intermediate of one signature, so that each step can be checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
}

impl std::fmt::Debug for Signed {
    // The signature is derived from the key but does not reveal it; the full header is still
    // left out so a Debug dump cannot be replayed as a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("string_to_sign", &self.string_to_sign)
            .finish_non_exhaustive()
    }
}

/// Signs a `POST /` request with an empty query, as Tencent's SDKs send it.
pub fn sign(input: &SignInput<'_>) -> Signed {
    let date = date_of(input.timestamp);
    let scope = credential_scope(&date, input.service);
    let canonical_request = canonical_request("POST", "/", "", input.headers, input.payload);
    let string_to_sign = string_to_sign(input.timestamp, &scope, &canonical_request);
    let signature = signature(input.secret_key, &date, input.service, &string_to_sign);
    let names = signed_headers(input.headers.iter().map(|(n, _)| *n));
    let authorization = authorization(input.secret_id, &scope, &names, &signature);
    Signed {
        canonical_request,
        string_to_sign,
        signature,
        authorization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        secret_id: String,
        secret_key: String,
        timestamp: i64,
        date: String,
        service: String,
        host: String,
        action: String,
        content_type: String,
        payload: String,
        signed_headers: String,
        canonical_request: String,
        string_to_sign: String,
        signature: String,
        authorization: String,
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!("../../tests/fixtures/tc3/vectors.json");
        serde_json::from_str(text).expect("vectors parse")
    }

    #[test]
    fn every_sdk_vector_reproduces_exactly() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            assert_eq!(date_of(v.timestamp), v.date, "{}", v.name);
            let mut headers: Vec<(&str, &str)> = Vec::new();
            for name in v.signed_headers.split(';') {
                let value = match name {
                    "content-type" => v.content_type.as_str(),
                    "host" => v.host.as_str(),
                    "x-tc-action" => v.action.as_str(),
                    other => panic!("{}: unexpected signed header {other}", v.name),
                };
                headers.push((name, value));
            }
            let signed = sign(&SignInput {
                secret_id: &v.secret_id,
                secret_key: &v.secret_key,
                service: &v.service,
                timestamp: v.timestamp,
                headers: &headers,
                payload: v.payload.as_bytes(),
            });
            assert_eq!(signed.canonical_request, v.canonical_request, "{}", v.name);
            assert_eq!(signed.string_to_sign, v.string_to_sign, "{}", v.name);
            assert_eq!(signed.signature, v.signature, "{}", v.name);
            assert_eq!(signed.authorization, v.authorization, "{}", v.name);
        }
    }

    #[test]
    fn a_different_key_gives_a_different_signature() {
        let v = &vectors()[0];
        let a = signature(&v.secret_key, &v.date, "tcss", &v.string_to_sign);
        let b = signature("another", &v.date, "tcss", &v.string_to_sign);
        assert_ne!(a, b);
        assert_eq!(a, v.signature);
    }

    #[test]
    fn debug_output_hides_the_authorization_header() {
        let signed = sign(&SignInput {
            secret_id: "AKIDX",
            secret_key: "k",
            service: "tcss",
            timestamp: 0,
            headers: &[("content-type", "application/json"), ("host", "h")],
            payload: b"{}",
        });
        let shown = format!("{signed:?}");
        assert!(!shown.contains(&signed.signature));
    }
}

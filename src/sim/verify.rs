//! TC3-HMAC-SHA256 verification of one request, step by step as Tencent's gateway does it.

use axum::http::HeaderMap;

use super::envelope::ApiError;
use crate::tencent::Secret;
use crate::tencent::sign::{self, ALGORITHM, TERMINATOR};

/// How far a request's timestamp may be from the server's clock, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// The parts of a `TC3-HMAC-SHA256` Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    /// Lower-cased header names, in the order the client gave them.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=HEX`.
pub fn parse_authorization(value: &str) -> Result<Authorization, String> {
    let rest = value
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| format!("it does not start with the algorithm {ALGORITHM}"))?;
    if !rest.starts_with(char::is_whitespace) {
        return Err(format!(
            "the algorithm {ALGORITHM} must be followed by a space"
        ));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (key, val) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            other => return Err(format!("unknown element `{other}`")),
        };
        if slot.replace(val.trim()).is_some() {
            return Err(format!("`{}` is given twice", key.trim()));
        }
    }
    let credential = credential.ok_or("Credential is missing")?;
    let signed = signed.ok_or("SignedHeaders is missing")?;
    let signature = signature.ok_or("Signature is missing")?;

    let parts: Vec<&str> = credential.split('/').collect();
    let [secret_id, date, service, terminator] = parts[..] else {
        return Err("Credential must be SECRETID/DATE/SERVICE/tc3_request".into());
    };
    if secret_id.is_empty() || date.is_empty() || service.is_empty() {
        return Err("Credential has an empty element".into());
    }
    if terminator != TERMINATOR {
        return Err(format!("Credential must end with /{TERMINATOR}"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
    if signed_headers.iter().any(|h| h.trim().is_empty()) {
        return Err("SignedHeaders has an empty header name".into());
    }
    if signature.is_empty() {
        return Err("Signature is empty".into());
    }
    Ok(Authorization {
        secret_id: secret_id.to_string(),
        date: date.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_string(),
    })
}

/// One request as it arrived, before anything is trusted.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// What verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    pub secret_id: String,
    pub action: String,
    pub version: String,
}

/// The common header, or `MissingParameter` naming the parameter as Tencent does (without `X-TC-`).
fn required<'h>(headers: &'h HeaderMap, name: &str, param: &str) -> Result<&'h str, ApiError> {
    match headers.get(name).map(|v| v.to_str()) {
        Some(Ok(v)) if !v.trim().is_empty() => Ok(v.trim()),
        Some(_) => Err(ApiError::new(
            "InvalidParameter",
            format!("The value of parameter `{param}` is not valid text."),
        )),
        None => Err(ApiError::missing(param)),
    }
}

/// The SecretId named by the Authorization header, for logging and rate limiting before or
/// without verification. It is not a secret.
pub fn claimed_secret_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    parse_authorization(value).ok().map(|a| a.secret_id)
}

/// The signature method of an old-style (v1/v2) request: no Authorization header, and the
/// signature with its `SignatureMethod` among the query or form parameters. Such a request names
/// its Action there too, so without this check it would be refused for a missing Action, which
/// sends its author looking for the wrong mistake.
fn legacy_signature(req: &Incoming<'_>) -> Option<&'static str> {
    if req.headers.contains_key("authorization") {
        return None;
    }
    let form = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim().starts_with("application/x-www-form-urlencoded"));
    let body: &[u8] = if form { req.body } else { b"" };
    let mut signed = false;
    let mut method = None;
    for (key, value) in
        url::form_urlencoded::parse(req.query.as_bytes()).chain(url::form_urlencoded::parse(body))
    {
        match key.as_ref() {
            "Signature" => signed = true,
            "SignatureMethod" => method = Some(value.into_owned()),
            _ => {}
        }
    }
    // HmacSHA1 is the default of the old scheme when no method is named.
    match method.as_deref() {
        None if signed => Some("HmacSHA1"),
        None => None,
        Some(m) if m.eq_ignore_ascii_case("HmacSHA256") => Some("HmacSHA256"),
        Some(m) if m.eq_ignore_ascii_case("HmacSHA1") => Some("HmacSHA1"),
        // Never echo an unknown value back: it is the caller's text.
        Some(_) => Some("an old-style signature method"),
    }
}

/// Verifies the signature of `req` against the key of its SecretId, at server time `now`.
pub fn verify(
    req: &Incoming<'_>,
    now: i64,
    service: &str,
    key_of: impl Fn(&str) -> Option<Secret>,
) -> Result<Verified, ApiError> {
    if let Some(method) = legacy_signature(req) {
        return Err(ApiError::legacy_signature(method));
    }
    let action = required(req.headers, "x-tc-action", "Action")?;
    let version = required(req.headers, "x-tc-version", "Version")?;
    let timestamp_text = required(req.headers, "x-tc-timestamp", "Timestamp")?;
    let timestamp: i64 = timestamp_text.parse().map_err(|_| {
        ApiError::new(
            "InvalidParameter",
            format!("The value of parameter `Timestamp` ({timestamp_text}) is not a Unix time in seconds."),
        )
    })?;
    let invalid = |why: String| {
        ApiError::new(
            "AuthFailure.InvalidAuthorization",
            format!("The Authorization header does not meet Tencent Cloud's standard: {why}."),
        )
    };
    if req.headers.get_all("authorization").iter().count() > 1 {
        return Err(invalid("it is given more than once".into()));
    }
    let header = match req.headers.get("authorization") {
        None => return Err(invalid("it is missing".into())),
        Some(v) => v.to_str().map_err(|_| invalid("it is not text".into()))?,
    };
    let auth = parse_authorization(header).map_err(invalid)?;
    if auth.service != service {
        return Err(invalid(format!(
            "the credential scope names service `{}`, this action's is `{service}`",
            auth.service
        )));
    }
    for needed in ["content-type", "host"] {
        if !auth.signed_headers.iter().any(|h| h == needed) {
            return Err(invalid(format!("SignedHeaders must include `{needed}`")));
        }
    }
    if (now - timestamp).abs() > MAX_SKEW_SECS {
        return Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            format!(
                "Signature expired. Timestamp {timestamp} is more than {MAX_SKEW_SECS} seconds from server time {now}; check that the local clock is synchronized."
            ),
        ));
    }
    let expected_date = sign::date_of(timestamp);
    if auth.date != expected_date {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            format!(
                "The provided credentials could not be validated: the credential date {} is not the UTC date of the timestamp ({expected_date}).",
                auth.date
            ),
        ));
    }
    let Some(key) = key_of(&auth.secret_id) else {
        return Err(ApiError::new(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
        ));
    };

    let mut values = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let value = match req.headers.get(name.as_str()) {
            Some(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
            None => {
                return Err(invalid(format!(
                    "signed header `{name}` is not in the request"
                )));
            }
        };
        values.push((name.as_str(), value));
    }
    let headers: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    // Tencent's SDKs may sign the literal text instead of the body when asked not to hash it.
    let unsigned = req
        .headers
        .get("x-tc-content-sha256")
        .is_some_and(|v| v.as_bytes() == b"UNSIGNED-PAYLOAD");
    let payload: &[u8] = if unsigned {
        b"UNSIGNED-PAYLOAD"
    } else {
        req.body
    };
    let canonical = sign::canonical_request(req.method, req.path, req.query, &headers, payload);
    let scope = sign::credential_scope(&auth.date, &auth.service);
    let to_sign = sign::string_to_sign(timestamp, &scope, &canonical);
    let expected = sign::signature(key.expose(), &auth.date, &auth.service, &to_sign);
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(ApiError::signature_failure());
    }
    Ok(Verified {
        secret_id: auth.secret_id,
        action: action.to_string(),
        version: version.to_string(),
    })
}

/// Compares without an early exit, so the time taken does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDK_STYLE: &str = "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2025-11-28/tcss/tc3_request, SignedHeaders=content-type;host, Signature=ab6c7fed";

    #[test]
    fn parses_the_header_tencents_sdks_send() {
        let a = parse_authorization(SDK_STYLE).unwrap();
        assert_eq!(a.secret_id, "AKIDEXAMPLE");
        assert_eq!(a.date, "2025-11-28");
        assert_eq!(a.service, "tcss");
        assert_eq!(a.signed_headers, ["content-type", "host"]);
        assert_eq!(a.signature, "ab6c7fed");
    }

    #[test]
    fn tolerates_spacing_and_element_order() {
        let a = parse_authorization(
            "TC3-HMAC-SHA256  Signature=ff,SignedHeaders=content-type;host;x-tc-action ,Credential=ID/2019-02-25/tcss/tc3_request",
        )
        .unwrap();
        assert_eq!(a.signed_headers, ["content-type", "host", "x-tc-action"]);
        assert_eq!(a.signature, "ff");
    }

    #[test]
    fn rejects_malformed_headers_with_a_reason() {
        let cases = [
            (
                "HMAC-SHA256 Credential=a/b/tcss/tc3_request, SignedHeaders=host, Signature=f",
                "algorithm",
            ),
            (
                "TC3-HMAC-SHA256Credential=a/b/tcss/tc3_request",
                "followed by a space",
            ),
            (
                "TC3-HMAC-SHA256 Credential=a/b/tcss/tc3_request, SignedHeaders=host",
                "Signature is missing",
            ),
            (
                "TC3-HMAC-SHA256 SignedHeaders=host, Signature=f",
                "Credential is missing",
            ),
            (
                "TC3-HMAC-SHA256 Credential=a/b/tcss, SignedHeaders=host, Signature=f",
                "SECRETID/DATE",
            ),
            (
                "TC3-HMAC-SHA256 Credential=a/b/tcss/tc2_request, SignedHeaders=host, Signature=f",
                "tc3_request",
            ),
            (
                "TC3-HMAC-SHA256 Credential=/b/tcss/tc3_request, SignedHeaders=host, Signature=f",
                "empty element",
            ),
            (
                "TC3-HMAC-SHA256 Credential=a/b/tcss/tc3_request, SignedHeaders=host;;x, Signature=f",
                "empty header",
            ),
            (
                "TC3-HMAC-SHA256 Credential=a/b/tcss/tc3_request, SignedHeaders=host, Signature=",
                "empty",
            ),
            (
                "TC3-HMAC-SHA256 Credential=a/b/tcss/tc3_request, Credential=a/b/tcss/tc3_request, SignedHeaders=host, Signature=f",
                "twice",
            ),
            (
                "TC3-HMAC-SHA256 Credential=a/b/tcss/tc3_request, Nonce=1, SignedHeaders=host, Signature=f",
                "unknown element",
            ),
            ("TC3-HMAC-SHA256 Credential", "KEY=VALUE"),
        ];
        for (header, why) in cases {
            let err = parse_authorization(header).unwrap_err();
            assert!(err.contains(why), "{header:?}: {err:?} lacks {why:?}");
        }
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

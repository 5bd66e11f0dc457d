//! Tencent's answer envelope: RequestIds, success and error bodies, the `Date` header.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// An error answered in Tencent's envelope (HTTP 200, `Response.Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn missing(name: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The request is missing a required parameter `{name}`."),
        )
    }

    pub fn limit(limit: u32) -> Self {
        Self::new(
            "RequestLimitExceeded",
            format!(
                "Your current request count exceeds the frequency limit of {limit} requests per second for this SecretId. Please reduce the frequency of calls."
            ),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            "InternalError",
            "An internal error has occurred. Retry your request, but if the problem persists, contact us.",
        )
    }

    /// A request signed the old way (v1/v2), which this endpoint does not verify.
    pub fn legacy_signature(method: &str) -> Self {
        Self::new(
            "AuthFailure.SignatureFailure",
            format!(
                "The request is signed with {method} (signature v1/v2, Action in the query or form); this endpoint accepts only TC3-HMAC-SHA256: sign with TC3-HMAC-SHA256 and name the Action in the X-TC-Action header."
            ),
        )
    }

    pub fn signature_failure() -> Self {
        Self::new(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        )
    }
}

/// A fresh RequestId shaped like Tencent's (a random UUID, version 4).
pub fn request_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `{"Response": {...fields, "RequestId"}}`.
pub fn success(fields: &Map<String, Value>) -> Value {
    let mut response = fields.clone();
    response.insert("RequestId".into(), Value::String(request_id()));
    json!({ "Response": response })
}

/// `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`.
pub fn error(e: &ApiError) -> Value {
    json!({
        "Response": {
            "Error": { "Code": e.code, "Message": e.message },
            "RequestId": request_id(),
        }
    })
}

/// An HTTP `Date` header value (IMF-fixdate).
pub fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_v4_uuids_and_differ() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]), "{a}");
    }

    #[test]
    fn http_date_is_imf_fixdate() {
        let at = DateTime::from_timestamp(1764288000, 0).unwrap();
        assert_eq!(http_date(at), "Fri, 28 Nov 2025 00:00:00 GMT");
    }
}

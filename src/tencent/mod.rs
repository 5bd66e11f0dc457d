//! Everything that talks to Tencent Cloud: signing, credentials, the HTTP client, the answer model.

pub mod client;
pub mod credentials;
pub mod identity;
pub mod limiter;
/// The answer model lives with the task's notions (the history checks stored answers with it);
/// it is named here too, where the client parses what the API sends.
pub use crate::task::answer as model;
pub mod secret;
pub mod sign;

pub use client::{Client, ClientOptions, Endpoint, Fetched, Service};
pub use credentials::{CredentialSource, Credentials};
pub use identity::Provider;
pub use model::{Answer, ApiError};
pub use secret::Secret;

/// The service name in the credential scope.
pub const SERVICE: &str = "tcss";
/// The API version of both actions.
pub const VERSION: &str = "2020-11-01";
/// The read action this tool audits.
pub const DESCRIBE: &str = "DescribeImageRegistryTimingScanTask";
/// The write action (used by the stand-in and the demo).
pub const UPDATE: &str = "UpdateImageRegistryTimingScanTask";
/// The endpoint named on the reference page.
pub const DEFAULT_ENDPOINT: &str = "tcss.intl.tencentcloudapi.com";

/// What can go wrong between this tool and the API. Every variant is exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no credentials for target {target:?}: set {id_env} and {key_env} (and {token_env} for temporary credentials), or name a profile of the credentials file ({files})"
    )]
    MissingCredentials {
        target: String,
        id_env: String,
        key_env: String,
        token_env: String,
        files: String,
    },
    #[error("credentials file {path}: {message}")]
    CredentialsFile { path: String, message: String },
    /// Temporary credentials could not be had from where they were to come from.
    #[error("credentials from {origin}: {message}")]
    Credentials { origin: String, message: String },
    /// The issuer's temporary credentials had expired when they arrived: none was used, and the
    /// issuer is not asked again in this process (it would answer the same, request after request).
    #[error(
        "credentials from {origin}: the credentials {issuer} returned had already expired (ExpiredTime {expired}, {} s before now); they were used for no request and are not asked for again: check the clock of this machine and of {issuer}",
        (*now - *expired).num_seconds()
    )]
    AlreadyExpired {
        origin: String,
        issuer: &'static str,
        expired: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    },
    /// A failure whose own message does not say which target it stopped.
    #[error("target \"{target}\": {why}")]
    ForTarget {
        /// The target's name, its control characters made visible.
        target: String,
        why: Box<Error>,
    },
    /// None of the sources gave credentials: each one tried, and why it gave nothing.
    #[error("no credentials for target {target:?}; tried: {tried}")]
    NoSource { target: String, tried: String },
    /// The answers came from another account than the target pins.
    #[error(
        "target {target:?} is pinned to account {expected}, but its credentials belong to account {found} ({arn}); nothing was recorded: fix the target's credentials or its `account`"
    )]
    WrongAccount {
        target: String,
        expected: String,
        found: String,
        arn: String,
    },
    #[error("endpoint {endpoint:?}: {message}")]
    BadEndpoint { endpoint: String, message: String },
    #[error("{endpoint}: {code}: {message} (RequestId {request_id}){hint}")]
    Api {
        endpoint: String,
        code: String,
        message: String,
        request_id: String,
        /// What to do about it, when the code says more than its message (starts with "; ").
        hint: String,
    },
    #[error("{endpoint}: HTTP {status}: {body_start}")]
    Http {
        endpoint: String,
        status: u16,
        body_start: String,
    },
    #[error("{endpoint}: {message}")]
    Network { endpoint: String, message: String },
    /// The server's certificate does not verify: no retry can cure it.
    #[error("{endpoint}: {message}")]
    Certificate { endpoint: String, message: String },
    #[error("{endpoint}: malformed answer: {message}")]
    Malformed { endpoint: String, message: String },
    /// The metadata service named a role that no CAM role can be called: a path segment such as
    /// `..` would make the next request leave the credentials' folder.
    #[error(
        "{endpoint}: the role name the metadata service gave (\"{name}\") is not a valid CAM role name (1 to 128 of letters, digits and +=,.@_-, not . or ..); no credentials were asked for it"
    )]
    BadRoleName {
        endpoint: String,
        /// The name as given, its control characters made visible and its length bounded.
        name: String,
    },
    /// A paged listing that had not ended after the most pages it may take.
    #[error(
        "{endpoint}: {action} had not ended after {pages} pages ({items} items, where its first page announced a Total of {total}); the listing stops at its cap of {pages} pages and nothing listed is used"
    )]
    TooManyPages {
        endpoint: String,
        action: &'static str,
        pages: usize,
        items: usize,
        total: i64,
    },
    /// A page of a listing that held only items already listed (the same page again): asking on
    /// would not end.
    #[error(
        "{endpoint}: {action} at Offset {offset} gave {count} items and no new member (a page already given); the listing stops and nothing listed is used"
    )]
    RepeatedPage {
        endpoint: String,
        action: &'static str,
        offset: i64,
        count: usize,
    },
    /// The last of several tries failed: how many there were, and over how long.
    #[error("{last} (after {tries} tries over {:.1} s)", over.as_secs_f64())]
    Retried {
        tries: u32,
        over: std::time::Duration,
        last: Box<Error>,
    },
}

impl Error {
    /// A request that could not be sent: a refused certificate apart, since a second try
    /// cannot cure it.
    pub fn unsent(endpoint: String, e: &reqwest::Error) -> Error {
        let message = crate::net::describe(e);
        if crate::net::is_certificate_error(e) {
            Error::Certificate { endpoint, message }
        } else {
            Error::Network { endpoint, message }
        }
    }

    /// `self`, naming `target` when its message names none: credentials shared by several
    /// targets (one role assumed once) are refused without knowing whose requests they were for.
    pub fn for_target(self, target: &str) -> Error {
        match self {
            Error::AlreadyExpired { .. } => Error::ForTarget {
                target: crate::task::text::visible(target).into_owned(),
                why: Box::new(self),
            },
            other => other,
        }
    }

    /// Whether the same request may succeed if sent again: network faults, HTTP 5xx and the
    /// rate-limit codes, as Tencent's SDKs judge it.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Retried { last, .. } => last.is_transient(),
            Error::Network { .. } => true,
            Error::Http { status, .. } => *status >= 500,
            Error::Api { code, .. } => {
                code.starts_with("RequestLimitExceeded") || code == "InternalError"
            }
            _ => false,
        }
    }
}

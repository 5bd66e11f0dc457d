//! Credentials that change: roles assumed through STS, the CVM instance role from the metadata
//! service, the TKE pod identity (OIDC); and which account a credential belongs to
//! (`sts:GetCallerIdentity`).
//!
//! Temporary credentials are cached for the whole process, per (base credentials, role), and
//! renewed when less than five minutes remain, so a long run never signs with an expired token.
//! Each credential's identity is asked once per process.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::client::{Client, ClientOptions, Endpoint, STS};
use super::{Credentials, Error, Secret};
use crate::task::clock::Clock;
use crate::task::source::Identity;

/// Renewed when less than this remains.
pub const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// The role session duration when none is set, and the most STS allows.
pub const DEFAULT_ROLE_DURATION: u32 = 7200;
pub const MAX_ROLE_DURATION: u32 = 43200;

/// Where a request's credentials come from.
#[derive(Clone)]
pub enum Provider {
    /// Fixed credentials (long-term keys, or a token given by hand).
    Static(Credentials),
    /// Temporary credentials, fetched and renewed as they expire.
    Temporary(Arc<Renewing>),
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::Static(c) => f.debug_tuple("Static").field(c).finish(),
            Provider::Temporary(r) => f.debug_tuple("Temporary").field(&r.origin).finish(),
        }
    }
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<Credentials, Error>> + Send + 'a>>;

impl Provider {
    /// The credentials to sign with now.
    pub fn current(&self) -> Pending<'_> {
        Box::pin(async move {
            match self {
                Provider::Static(c) => Ok(c.clone()),
                Provider::Temporary(r) => r.current().await,
            }
        })
    }

    /// What this provider is, for caches and messages (never a key).
    pub fn key(&self) -> String {
        match self {
            Provider::Static(c) => format!("id:{}", c.secret_id),
            Provider::Temporary(r) => r.key.clone(),
        }
    }

    /// Where the credentials came from, for messages.
    pub fn origin(&self) -> String {
        match self {
            Provider::Static(c) => c.origin.clone(),
            Provider::Temporary(r) => r.origin.clone(),
        }
    }
}

/// A role to assume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    pub arn: String,
    pub session_name: String,
    pub duration: u32,
    pub external_id: Option<String>,
}

/// How temporary credentials are had.
enum Renew {
    AssumeRole {
        base: Provider,
        role: RoleSpec,
        sts: Endpoint,
    },
    Metadata {
        url: reqwest::Url,
    },
    WebIdentity {
        provider_id: String,
        token_file: PathBuf,
        role: RoleSpec,
        region: String,
        sts: Endpoint,
    },
}

/// Temporary credentials and when they expire.
pub struct Renewing {
    key: String,
    origin: String,
    how: Renew,
    clock: Arc<dyn Clock>,
    options: ClientOptions,
    cached: tokio::sync::Mutex<Option<Held>>,
}

/// What the issuer last gave.
enum Held {
    /// Credentials and when they expire.
    Usable(Credentials, DateTime<Utc>),
    /// Credentials that had expired when they came (their `ExpiredTime`, and when they came):
    /// kept as a refusal, so that no request signs with them and the issuer is not asked again.
    Expired(DateTime<Utc>, DateTime<Utc>),
}

impl Renewing {
    async fn current(&self) -> Result<Credentials, Error> {
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        match &*cached {
            Some(Held::Usable(c, expires))
                if *expires - now > chrono::Duration::from_std(RENEW_BEFORE).expect("small") =>
            {
                return Ok(c.clone());
            }
            Some(Held::Expired(expired, at)) => return Err(self.expired(*expired, *at)),
            _ => {}
        }
        let (fresh, expires) = self.fetch().await?;
        // Judged when they arrive: the answer may have been slow.
        let arrived = self.clock.now();
        if expires <= arrived {
            *cached = Some(Held::Expired(expires, arrived));
            return Err(self.expired(expires, arrived));
        }
        tracing::debug!(origin = %self.origin, expires = %expires, "temporary credentials");
        *cached = Some(Held::Usable(fresh.clone(), expires));
        Ok(fresh)
    }

    fn expired(&self, expired: DateTime<Utc>, now: DateTime<Utc>) -> Error {
        Error::AlreadyExpired {
            origin: self.origin.clone(),
            issuer: match self.how {
                Renew::Metadata { .. } => "the metadata service",
                Renew::AssumeRole { .. } | Renew::WebIdentity { .. } => "STS",
            },
            expired,
            now,
        }
    }

    async fn fetch(&self) -> Result<(Credentials, DateTime<Utc>), Error> {
        match &self.how {
            Renew::AssumeRole { base, role, sts } => {
                let client = Client::with(
                    sts.clone(),
                    base.clone(),
                    STS,
                    self.clock.clone(),
                    sts_options(&self.options),
                )?;
                let mut params = json!({
                    "RoleArn": role.arn,
                    "RoleSessionName": role.session_name,
                    "DurationSeconds": role.duration,
                });
                if let Some(id) = &role.external_id {
                    params["ExternalId"] = json!(id);
                }
                let answer = client
                    .request("AssumeRole", &params)
                    .await
                    .map_err(|e| self.failed(e))?;
                self.temporary(&answer)
            }
            Renew::WebIdentity {
                provider_id,
                token_file,
                role,
                region,
                sts,
            } => {
                let token =
                    std::fs::read_to_string(token_file).map_err(|e| Error::CredentialsFile {
                        path: token_file.display().to_string(),
                        message: format!("the pod's web identity token cannot be read: {e}"),
                    })?;
                let params = json!({
                    "ProviderId": provider_id,
                    "WebIdentityToken": token.trim(),
                    "RoleArn": role.arn,
                    "RoleSessionName": role.session_name,
                    "DurationSeconds": role.duration,
                });
                let answer = web_identity(sts, region, &params, &self.options, &*self.clock)
                    .await
                    .map_err(|e| self.failed(e))?;
                self.temporary(&answer)
            }
            Renew::Metadata { url } => {
                let answer = metadata_credentials(url, &self.options)
                    .await
                    .map_err(|e| self.failed(e))?;
                self.temporary(&answer)
            }
        }
    }

    fn failed(&self, e: Error) -> Error {
        Error::Credentials {
            origin: self.origin.clone(),
            message: e.to_string(),
        }
    }

    /// Reads STS's (or the metadata service's) answer: `Credentials` (or the fields flat) and
    /// `ExpiredTime`.
    fn temporary(
        &self,
        answer: &serde_json::Map<String, Value>,
    ) -> Result<(Credentials, DateTime<Utc>), Error> {
        let creds = answer
            .get("Credentials")
            .and_then(Value::as_object)
            .unwrap_or(answer);
        let text = |k: &str| {
            creds
                .get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Error::Credentials {
                    origin: self.origin.clone(),
                    message: format!("the answer has no {k}"),
                })
        };
        let expires = answer
            .get("ExpiredTime")
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .ok_or_else(|| Error::Credentials {
                origin: self.origin.clone(),
                message: "the answer has no ExpiredTime".into(),
            })?;
        Ok((
            Credentials {
                secret_id: text("TmpSecretId")?.to_string(),
                secret_key: Secret::new(text("TmpSecretKey")?),
                token: Some(Secret::new(text("Token")?)),
                origin: self.origin.clone(),
            },
            expires,
        ))
    }
}

/// STS requests carry a region; the SDKs send ap-guangzhou when none is set.
fn sts_options(options: &ClientOptions) -> ClientOptions {
    let mut o = options.clone();
    if o.region.is_none() {
        o.region = Some("ap-guangzhou".into());
    }
    o
}

/// The process's temporary credential providers, by what they are.
fn registry() -> &'static Mutex<HashMap<String, Arc<Renewing>>> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Renewing>>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
}

fn shared(
    key: String,
    make: impl FnOnce() -> (String, Renew),
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
) -> Provider {
    let mut all = registry().lock().unwrap_or_else(|e| e.into_inner());
    let r = all
        .entry(key.clone())
        .or_insert_with(|| {
            let (origin, how) = make();
            Arc::new(Renewing {
                key,
                origin,
                how,
                clock,
                options: options.clone(),
                cached: tokio::sync::Mutex::new(None),
            })
        })
        .clone();
    Provider::Temporary(r)
}

/// `role` assumed with `base`, through STS at `sts`.
pub fn assume_role(
    base: Provider,
    role: RoleSpec,
    sts: Endpoint,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
) -> Provider {
    let key = format!(
        "role:{}|{}|{}|{}|{}",
        base.key(),
        role.arn,
        role.session_name,
        role.external_id.as_deref().map(hash).unwrap_or_default(),
        sts
    );
    shared(
        key,
        || {
            (
                format!("role {} assumed with {}", role.arn, base.origin()),
                Renew::AssumeRole { base, role, sts },
            )
        },
        clock,
        options,
    )
}

/// The CVM instance role `role` from the metadata service at `base`.
pub fn instance_role(
    base: &reqwest::Url,
    role: &str,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
) -> Result<Provider, Error> {
    role_name(base, role)?;
    let url = base
        .join(&format!("{METADATA_PATH}{role}"))
        .map_err(|e| Error::BadEndpoint {
            endpoint: base.to_string(),
            message: e.to_string(),
        })?;
    Ok(shared(
        format!("cvm:{url}"),
        || {
            (
                format!("the CVM instance role {role} (metadata service {base})"),
                Renew::Metadata { url },
            )
        },
        clock,
        options,
    ))
}

/// The TKE pod identity: `AssumeRoleWithWebIdentity` with the token in `token_file`.
pub fn web_identity_role(
    provider_id: String,
    token_file: PathBuf,
    role: RoleSpec,
    region: String,
    sts: Endpoint,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
) -> Provider {
    let key = format!(
        "oidc:{provider_id}|{}|{}|{sts}",
        token_file.display(),
        role.arn
    );
    shared(
        key,
        || {
            (
                format!(
                    "the pod identity (provider {provider_id}, role {})",
                    role.arn
                ),
                Renew::WebIdentity {
                    provider_id,
                    token_file,
                    role,
                    region,
                    sts,
                },
            )
        },
        clock,
        options,
    )
}

fn hash(s: &str) -> String {
    super::sign::sha256_hex(s.as_bytes())[..16].to_string()
}

/// The metadata service's path of CAM role credentials.
pub const METADATA_PATH: &str = "latest/meta-data/cam/security-credentials/";

/// The role bound to this CVM: `Ok(None)` when the metadata service says none is (404).
pub async fn instance_role_name(
    base: &reqwest::Url,
    options: &ClientOptions,
) -> Result<Option<String>, Error> {
    let url = base.join(METADATA_PATH).map_err(|e| Error::BadEndpoint {
        endpoint: base.to_string(),
        message: e.to_string(),
    })?;
    let (status, body) = metadata_get(&url, options).await?;
    if status == 404 {
        return Ok(None);
    }
    if status != 200 {
        return Err(Error::Http {
            endpoint: url.to_string(),
            status,
            body_start: crate::net::excerpt(&body, 120),
        });
    }
    let name = String::from_utf8_lossy(&body).trim().to_string();
    role_name(&url, &name)?;
    Ok(Some(name))
}

/// Refuses `name` unless it can be a CAM role name: 1 to 128 of `[\w+=,.@-]`, and not `.` or
/// `..`, which are of those characters but which a URL resolves as a step up its path.
fn role_name(endpoint: &reqwest::Url, name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        return Ok(());
    }
    let shown: String = name.chars().take(64).collect();
    Err(Error::BadRoleName {
        endpoint: endpoint.to_string(),
        name: crate::task::text::visible(&shown).into_owned(),
    })
}

/// A plain GET of the metadata service (it is HTTP on a link-local address by design), with a
/// short timeout: off a CVM it is not there, and the credential chain must move on quickly.
async fn metadata_get(
    url: &reqwest::Url,
    options: &ClientOptions,
) -> Result<(u16, Vec<u8>), Error> {
    let mut quick = options.clone();
    quick.net.connect_timeout = Duration::from_secs(1);
    quick.net.timeout = Duration::from_secs(2).min(options.net.timeout);
    let http = super::client::http_client_direct(&quick).map_err(|e| Error::Network {
        endpoint: url.to_string(),
        message: e.to_string(),
    })?;
    let resp = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| Error::Network {
            endpoint: url.to_string(),
            message: format!(
                "the metadata service is not reachable (not on a CVM?): {}",
                crate::net::describe(&e)
            ),
        })?;
    let status = resp.status().as_u16();
    // The credentials document is a few hundred bytes; a larger answer is not the service's.
    let body = crate::net::read_bounded(resp, crate::net::BOT_ANSWER_LIMIT)
        .await
        .map_err(|e| Error::Malformed {
            endpoint: url.to_string(),
            message: format!("the metadata service's answer: {e}"),
        })?;
    Ok((status, body))
}

async fn metadata_credentials(
    url: &reqwest::Url,
    options: &ClientOptions,
) -> Result<serde_json::Map<String, Value>, Error> {
    let (status, body) = metadata_get(url, options).await?;
    if status != 200 {
        return Err(Error::Http {
            endpoint: url.to_string(),
            status,
            body_start: crate::net::excerpt(&body, 120),
        });
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map))
            if map
                .get("Code")
                .and_then(Value::as_str)
                .is_none_or(|c| c == "Success") =>
        {
            Ok(map)
        }
        _ => Err(Error::Malformed {
            endpoint: url.to_string(),
            message: "the metadata service's credentials are not the JSON expected".into(),
        }),
    }
}

/// `AssumeRoleWithWebIdentity`, which the SDKs send unsigned (`Authorization: SKIP`).
async fn web_identity(
    sts: &Endpoint,
    region: &str,
    params: &Value,
    options: &ClientOptions,
    clock: &dyn Clock,
) -> Result<serde_json::Map<String, Value>, Error> {
    let http = match &options.http {
        Some(h) => h.clone(),
        None => super::client::http_client(options).map_err(|e| Error::Network {
            endpoint: sts.to_string(),
            message: e.to_string(),
        })?,
    };
    let body = serde_json::to_vec(params).expect("JSON values serialize");
    let resp = http
        .post(sts.url().clone())
        .header("Content-Type", "application/json")
        .header("Host", sts.host())
        .header("X-TC-Action", "AssumeRoleWithWebIdentity")
        .header("X-TC-Version", STS.version)
        .header("X-TC-Timestamp", clock.now().timestamp().to_string())
        .header("X-TC-Region", region)
        .header("Authorization", "SKIP")
        .body(body)
        .send()
        .await
        .map_err(|e| Error::unsent(sts.to_string(), &e))?;
    let bytes = crate::net::read_bounded(resp, crate::net::API_ANSWER_LIMIT)
        .await
        .map_err(|e| Error::Malformed {
            endpoint: sts.to_string(),
            message: e.to_string(),
        })?;
    super::model::parse_envelope(&bytes)
        .map(|a| a.fields)
        .map_err(|e| match e {
            super::model::AnswerError::Api(api) => Error::Api {
                endpoint: sts.to_string(),
                code: api.code,
                message: api.message,
                request_id: api.request_id,
                hint: String::new(),
            },
            super::model::AnswerError::Malformed(message) => Error::Malformed {
                endpoint: sts.to_string(),
                message,
            },
        })
}

/// Which account `provider`'s credentials belong to, asked of STS once per process.
pub async fn caller_identity(
    provider: &Provider,
    sts: &Endpoint,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
) -> Result<Identity, Error> {
    static KNOWN: OnceLock<Mutex<HashMap<String, Identity>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    let key = format!("{}|{sts}", provider.key());
    if let Some(id) = known.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(id.clone());
    }
    let client = Client::with(
        sts.clone(),
        provider.clone(),
        STS,
        clock,
        sts_options(options),
    )?;
    let answer = client.request("GetCallerIdentity", &json!({})).await?;
    let text = |k: &str| {
        answer
            .get(k)
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
    };
    let account = text("AccountId").ok_or_else(|| Error::Malformed {
        endpoint: sts.to_string(),
        message: "GetCallerIdentity gave no AccountId".into(),
    })?;
    let identity = Identity {
        account,
        arn: text("Arn").unwrap_or_default(),
        principal_type: text("Type").unwrap_or_default(),
    };
    known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, identity.clone());
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_that_a_url_would_resolve_as_a_path_are_refused() {
        let at = reqwest::Url::parse("http://169.254.0.23/").unwrap();
        for good in ["cvm-audit", "a.b", "...", "x@y,z=1+2_3"] {
            assert!(role_name(&at, good).is_ok(), "{good}");
        }
        let long = "r".repeat(129);
        for bad in [".", "..", "a/b", "", long.as_str(), "role\u{1b}[2J"] {
            let e = role_name(&at, bad).unwrap_err().to_string();
            assert!(
                e.contains("http://169.254.0.23/") && e.contains("not a valid CAM role name"),
                "{e}"
            );
            assert!(!e.contains('\u{1b}'), "{e}");
        }
    }
}

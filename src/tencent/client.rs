//! The HTTP client for the TCSS API: one reqwest client with timeouts, signed POSTs, bounded
//! answers, and retries of what Tencent's SDKs also retry.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::Url;

use super::identity::Provider;
use super::model::{self, Answer, AnswerError, MAX_ANSWER_BYTES};
use super::sign::{self, SignInput};
use super::{Credentials, Error, SERVICE, VERSION};
use crate::net::{Roots, Route};
use crate::task::clock::Clock;
use crate::task::text::visible;

/// Where requests go: `https://HOST` for a host name, or a URL. Plain `http://` is allowed only to
/// a loopback address, so credentials-signed requests never cross a network unencrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
    host: String,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, Error> {
        let bad = |message: &str| Error::BadEndpoint {
            endpoint: text.to_string(),
            message: message.to_string(),
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(bad("it is empty"));
        }
        let url = if t.contains("://") {
            Url::parse(t).map_err(|e| bad(&format!("not a URL: {e}")))?
        } else {
            Url::parse(&format!("https://{t}"))
                .map_err(|e| bad(&format!("not a host name: {e}")))?
        };
        crate::net::allowed(&url).map_err(|e| bad(&e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("credentials do not belong in the endpoint URL"));
        }
        if url.path() != "/" || url.query().is_some() {
            return Err(bad(
                "the API is served at the root path; give only the scheme, host and port",
            ));
        }
        let host_name = url.host_str().ok_or_else(|| bad("it has no host"))?;
        // The signed Host value must be exactly the Host header the request carries.
        let host = match url.port() {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name.to_string(),
        };
        Ok(Endpoint { url, host })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// On this machine: 127.0.0.1, [::1] or localhost (where the stand-in listens).
    pub fn is_loopback(&self) -> bool {
        crate::net::is_loopback(&self.url)
    }

    /// The Host header value that is signed and sent.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.url.scheme() == "https" && self.url.port().is_none() {
            f.write_str(&self.host)
        } else {
            write!(f, "{}://{}", self.url.scheme(), self.host)
        }
    }
}

/// How requests are made and retried.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How it connects: timeouts, the CA file and the proxy, which the network layer owns.
    pub net: crate::net::Settings,
    pub region: Option<String>,
    pub language: Option<String>,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff; it doubles each attempt, with jitter.
    pub backoff: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub max_retry_time: Duration,
    /// An HTTP client to share between targets (its TLS setup and its connections); `None`
    /// builds one for each [`Client`]. Made with [`http_client`], so it has these timeouts.
    pub http: Option<reqwest::Client>,
}

/// The HTTP client a [`Client`] with `options` uses (see [`crate::net::client`]).
pub fn http_client(options: &ClientOptions) -> Result<reqwest::Client, crate::net::Error> {
    crate::net::client(&options.net, Route::Proxied, Roots::Platform)
}

/// As [`http_client`], but never through a proxy (the CVM metadata service is link-local).
pub fn http_client_direct(options: &ClientOptions) -> Result<reqwest::Client, crate::net::Error> {
    crate::net::client(&options.net, Route::Direct, Roots::Platform)
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            net: crate::net::Settings::default(),
            region: None,
            language: None,
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            max_retry_time: Duration::from_secs(60),
            http: None,
        }
    }
}

/// One answer of `DescribeImageRegistryTimingScanTask`, with the bytes as they came.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub raw: Vec<u8>,
    pub answer: Answer,
    /// When the answer arrived, by the client's clock.
    pub at: DateTime<Utc>,
    /// How many tries it took (1: the first one answered).
    pub tries: u32,
}

/// A Tencent Cloud API: the service name in the credential scope and the version it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    pub version: &'static str,
}

/// The scan task's API.
pub const TCSS: Service = Service {
    name: SERVICE,
    version: VERSION,
};
/// Security Token Service: roles and the caller's identity.
pub const STS: Service = Service {
    name: "sts",
    version: "2018-08-13",
};
/// Organization: the member accounts.
pub const ORGANIZATION: Service = Service {
    name: "organization",
    version: "2021-03-31",
};

/// A signed client for one endpoint of one service, with one source of credentials.
pub struct Client {
    http: reqwest::Client,
    endpoint: Endpoint,
    provider: Provider,
    service: Service,
    clock: Arc<dyn Clock>,
    options: ClientOptions,
}

impl Client {
    /// A TCSS client with fixed credentials.
    pub fn new(
        endpoint: Endpoint,
        credentials: Credentials,
        clock: Arc<dyn Clock>,
        options: ClientOptions,
    ) -> Result<Client, Error> {
        Self::with(
            endpoint,
            Provider::Static(credentials),
            TCSS,
            clock,
            options,
        )
    }

    /// A client of `service` whose credentials come from `provider` (renewed as they expire).
    pub fn with(
        endpoint: Endpoint,
        provider: Provider,
        service: Service,
        clock: Arc<dyn Clock>,
        options: ClientOptions,
    ) -> Result<Client, Error> {
        let http = match &options.http {
            Some(shared) => shared.clone(),
            // Plain http (only ever to loopback) has no certificate to verify: reading the
            // platform's root store would cost a nightly snapshot more than the rest of it.
            None => {
                let roots = if endpoint.url().scheme() == "https" {
                    Roots::Platform
                } else {
                    Roots::None
                };
                crate::net::client(&options.net, Route::Proxied, roots).map_err(|e| {
                    Error::Network {
                        endpoint: endpoint.to_string(),
                        message: e.to_string(),
                    }
                })?
            }
        };
        Ok(Client {
            http,
            endpoint,
            provider,
            service,
            clock,
            options,
        })
    }

    /// Sends `action` with `params` and gives the answer's inner object (an error envelope is an
    /// [`Error::Api`]); transient failures are retried as for the task.
    pub async fn request(
        &self,
        action: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
        let body = serde_json::to_vec(params).expect("JSON values serialize");
        let (_, answer, _) = self.call(action, &body).await?;
        Ok(answer.fields)
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Reads the task. Returns the raw answer and its parsed model.
    pub async fn describe(&self) -> Result<Fetched, Error> {
        let (raw, answer, tries) = self.call(super::DESCRIBE, b"{}").await?;
        Ok(Fetched {
            raw,
            answer,
            at: self.clock.now(),
            tries,
        })
    }

    /// Updates the task (the stand-in and the demo use this). Returns the RequestId.
    pub async fn update(&self, params: &serde_json::Value) -> Result<String, Error> {
        let body = serde_json::to_vec(params).expect("JSON values serialize");
        let (_, answer, _) = self.call(super::UPDATE, &body).await?;
        Ok(answer.request_id().unwrap_or_default().to_string())
    }

    fn parse(
        &self,
        action: &str,
        body: &[u8],
        server_date: Option<String>,
    ) -> Result<Answer, Error> {
        model::parse_envelope(body).map_err(|e| match e {
            AnswerError::Api(api) => Error::Api {
                endpoint: self.endpoint.to_string(),
                hint: hint_for(&api.code, action, server_date.as_deref(), self.clock.now()),
                code: api.code,
                message: api.message,
                request_id: api.request_id,
            },
            AnswerError::Malformed(message) => Error::Malformed {
                endpoint: self.endpoint.to_string(),
                message,
            },
        })
    }

    /// Logs an answer that took more than one try.
    fn note_tries(&self, action: &str, attempt: u32, started: std::time::Instant) {
        if attempt > 1 {
            tracing::info!(
                endpoint = %self.endpoint,
                action,
                "answered on try {attempt} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }

    /// Sends one signed action, retrying transient failures with exponential backoff and jitter.
    /// Returns the answer's bytes and its parse; an error envelope is an [`Error::Api`], so the
    /// rate-limit codes are retried by the same rule as network faults. Also returns how many
    /// tries it took; an error after several says how many, and over how long.
    async fn call(&self, action: &str, payload: &[u8]) -> Result<(Vec<u8>, Answer, u32), Error> {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.call_once(action, payload).await.and_then(|raw| {
                let answer = self.parse(action, &raw.body, raw.server_date)?;
                Ok((raw.body, answer))
            });
            let retry = matches!(&result, Err(e) if e.is_transient());
            if !retry
                || attempt >= self.options.max_attempts
                || started.elapsed() >= self.options.max_retry_time
            {
                return match result {
                    Ok((body, answer)) => {
                        self.note_tries(action, attempt, started);
                        Ok((body, answer, attempt))
                    }
                    Err(e) if attempt > 1 => Err(Error::Retried {
                        tries: attempt,
                        over: started.elapsed(),
                        last: Box::new(e),
                    }),
                    Err(e) => Err(e),
                };
            }
            let base = self
                .options
                .backoff
                .saturating_mul(1 << (attempt - 1).min(16));
            let jitter = rand::thread_rng().gen_range(0.5..1.0);
            let wait = base.mul_f64(jitter);
            if let Err(e) = &result {
                tracing::info!(
                    endpoint = %self.endpoint,
                    action,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "transient failure, retrying: {}",
                    visible(&e.to_string())
                );
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn call_once(&self, action: &str, payload: &[u8]) -> Result<RawAnswer, Error> {
        let credentials = self.provider.current().await?;
        super::limiter::for_secret_id(&credentials.secret_id)
            .acquire()
            .await;
        let endpoint = self.endpoint.to_string();
        let timestamp = self.clock.now().timestamp();
        let content_type = "application/json";
        let signed = sign::sign(&SignInput {
            secret_id: &credentials.secret_id,
            secret_key: credentials.secret_key.expose(),
            service: self.service.name,
            timestamp,
            headers: &[
                ("content-type", content_type),
                ("host", self.endpoint.host()),
            ],
            payload,
        });
        let mut request = self
            .http
            .post(self.endpoint.url().clone())
            .header("Content-Type", content_type)
            .header("Host", self.endpoint.host())
            .header("X-TC-Action", action)
            .header("X-TC-Version", self.service.version)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("Authorization", signed.authorization)
            .body(payload.to_vec());
        if let Some(region) = &self.options.region {
            request = request.header("X-TC-Region", region);
        }
        if let Some(language) = &self.options.language {
            request = request.header("X-TC-Language", language);
        }
        if let Some(token) = &credentials.token {
            request = request.header("X-TC-Token", token.expose());
        }
        tracing::debug!(%endpoint, action, secret_id = %credentials.secret_id, "sending");
        let response = request
            .send()
            .await
            .map_err(|e| Error::unsent(endpoint.clone(), &e))?;
        let status = response.status();
        let server_date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = crate::net::read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                crate::net::ReadError::Cut { .. } => Error::Network {
                    endpoint: endpoint.clone(),
                    message: e.to_string(),
                },
                _ => Error::Malformed {
                    endpoint: endpoint.clone(),
                    message: e.to_string(),
                },
            })?;
        if !status.is_success() {
            return Err(Error::Http {
                endpoint,
                status: status.as_u16(),
                body_start: crate::net::excerpt(&body, 120),
            });
        }
        Ok(RawAnswer { body, server_date })
    }
}

/// Advice for the codes whose cure is on this side; `action` is the call that was refused.
fn hint_for(code: &str, action: &str, server_date: Option<&str>, now: DateTime<Utc>) -> String {
    match code {
        "AuthFailure.SignatureExpire" => {
            let skew = server_date
                .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                .map(|server| (now - server.with_timezone(&Utc)).num_seconds());
            match skew {
                Some(s) if s > 0 => format!(
                    "; this machine's clock is probably off: it is {s} s ahead of the server's (requests must be within 300 s); sync it with NTP"
                ),
                Some(s) => format!(
                    "; this machine's clock is probably off: it is {} s behind the server's (requests must be within 300 s); sync it with NTP",
                    -s
                ),
                None => {
                    "; this machine's clock is probably off by more than 300 s; sync it with NTP"
                        .into()
                }
            }
        }
        "AuthFailure.SignatureFailure" => {
            "; the SecretKey does not match the SecretId: check the credentials".into()
        }
        "AuthFailure.SecretIdNotFound" => {
            "; the SecretId is unknown or disabled: check the credentials".into()
        }
        c if c.starts_with("AuthFailure.UnauthorizedOperation") || c == "UnauthorizedOperation" => {
            if action == super::UPDATE {
                format!("; grant the key tcss:{action} (changing the task needs it; reading does not)")
            } else {
                format!("; grant the key tcss:{action} (read-only is enough)")
            }
        }
        // Said while retrying too, so it claims nothing about the retries: the error that ends
        // them says how many there were.
        c if c.starts_with("RequestLimitExceeded") => {
            "; the API's rate limit (20 requests a second for a SecretId) was exceeded; if it lasts, let fewer targets share a key".into()
        }
        _ => String::new(),
    }
}

struct RawAnswer {
    body: Vec<u8>,
    server_date: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_signature_says_how_far_the_clock_is_off() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let d = crate::tencent::DESCRIBE;
        let h = hint_for(
            "AuthFailure.SignatureExpire",
            d,
            Some("Sat, 28 Nov 2026 12:00:00 GMT"),
            now,
        );
        assert!(h.contains("600 s ahead"), "{h}");
        let h = hint_for(
            "AuthFailure.SignatureExpire",
            d,
            Some("Sat, 28 Nov 2026 12:20:00 GMT"),
            now,
        );
        assert!(h.contains("600 s behind"), "{h}");
        assert!(hint_for("AuthFailure.SignatureExpire", d, None, now).contains("300 s"));
        assert_eq!(hint_for("InvalidParameter", d, None, now), "");
    }

    /// A refused call names the permission that call needs: an Update is refused for want of
    /// the Update's, not the Describe's; a rate limit's advice claims nothing about retries.
    #[test]
    fn a_refused_call_names_the_permission_it_needs() {
        let now = Utc::now();
        let update = hint_for("UnauthorizedOperation", crate::tencent::UPDATE, None, now);
        assert!(
            update.contains("tcss:UpdateImageRegistryTimingScanTask")
                && !update.contains("Describe"),
            "{update}"
        );
        let read = hint_for(
            "AuthFailure.UnauthorizedOperation",
            crate::tencent::DESCRIBE,
            None,
            now,
        );
        assert!(
            read.contains("tcss:DescribeImageRegistryTimingScanTask") && read.contains("read-only")
        );
        let limit = hint_for("RequestLimitExceeded", crate::tencent::DESCRIBE, None, now);
        assert!(
            !limit.contains("after retries") && limit.contains("rate limit"),
            "{limit}"
        );
    }

    #[test]
    fn hosts_and_urls_become_endpoints() {
        let e = Endpoint::parse("tcss.tencentcloudapi.com").unwrap();
        assert_eq!(e.url().as_str(), "https://tcss.tencentcloudapi.com/");
        assert_eq!(e.host(), "tcss.tencentcloudapi.com");
        assert_eq!(e.to_string(), "tcss.tencentcloudapi.com");
        let e = Endpoint::parse("http://127.0.0.1:8443").unwrap();
        assert_eq!(e.host(), "127.0.0.1:8443");
        assert_eq!(e.to_string(), "http://127.0.0.1:8443");
        assert!(Endpoint::parse("http://localhost:9").is_ok());
        assert!(Endpoint::parse("http://[::1]:9").is_ok());
        assert!(Endpoint::parse("https://example.com:8443/").is_ok());
    }

    #[test]
    fn plain_http_off_loopback_and_odd_urls_are_refused() {
        for bad in [
            "http://tcss.tencentcloudapi.com",
            "http://10.0.0.1:80",
            "ftp://x",
            "https://u:p@host",
            "https://host/path",
            "",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let e = Endpoint::parse("http://192.0.2.1").unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
    }
}

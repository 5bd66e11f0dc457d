//! The stand-in for the TCSS endpoint: real HTTP on loopback, TC3 verification, faults.
//!
//! Choices where Tencent's documentation is silent, kept here so the CLI help and tests agree:
//! - `UpdateImageRegistryTimingScanTask` merges: the fields it is given replace the task's, the
//!   others are kept (a client restoring a baseline should send every field). `null` is "not given".
//! - With a state file, every accepted Update is written back to it (temporary file + rename) in
//!   the shape it was read; the in-memory task changes only if the write succeeded.
//! - A version other than `2020-11-01` is answered with `NoSuchVersion`, Tencent's common code
//!   for it; an unknown action with `InvalidAction`. Both are checked after authentication.
//! - One address serves every service: TCSS, STS (`AssumeRole`, `AssumeRoleWithWebIdentity`,
//!   `GetCallerIdentity`), Organization (`DescribeOrganizationMembers`) and, on plain GET paths
//!   under `/latest/meta-data/`, the CVM metadata service. Each action's credential scope must
//!   name its own service (`tcss`, `sts`, `organization`) and its own version.
//! - A temporary SecretId is accepted only with its `X-TC-Token`, and refused once expired
//!   (`AuthFailure.TokenFailure`); a TCSS request reads the task of the caller's account (see
//!   `accounts`).
//! - The rate limit counts real elapsed time (not the injected clock, which may stand still).
//! - A request signed the old way (v1/v2: `Signature` and `SignatureMethod` in the query or
//!   form, no Authorization header) is answered with `AuthFailure.SignatureFailure` saying that
//!   only TC3-HMAC-SHA256 is accepted: the real gateway verifies those, the stand-in does not.
//! - Describe answers the optional fields the task has no value for as `null`, as the real API
//!   does; they are not written into the state.

mod accounts;
mod credentials;
mod envelope;
mod faults;
mod limiter;
mod state;
mod tls;
mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value};
use tokio::sync::watch;

pub use credentials::parse_credentials_file;
pub use envelope::ApiError;
pub use faults::{Fault, parse_faults};
pub use tls::TlsOptions;
pub use verify::{Authorization, parse_authorization};

use crate::task::clock::Clock;
use crate::tencent::{DESCRIBE, Secret, UPDATE, VERSION};

const ASSUME_ROLE: &str = "AssumeRole";
const ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "AssumeRoleWithWebIdentity";
const GET_CALLER_IDENTITY: &str = "GetCallerIdentity";
const DESCRIBE_ORGANIZATION_MEMBERS: &str = "DescribeOrganizationMembers";

/// The service (credential scope) and API version of an action.
fn service_of(action: &str) -> (&'static str, &'static str) {
    match action {
        ASSUME_ROLE | ASSUME_ROLE_WITH_WEB_IDENTITY | GET_CALLER_IDENTITY => ("sts", "2018-08-13"),
        DESCRIBE_ORGANIZATION_MEMBERS => ("organization", "2021-03-31"),
        _ => ("tcss", VERSION),
    }
}

fn check_version(req: &verify::Incoming<'_>, version: &str) -> Result<(), ApiError> {
    let given = req
        .headers
        .get("x-tc-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if given != version {
        return Err(ApiError::new(
            "NoSuchVersion",
            format!("The API version `{given}` does not exist; use {version}."),
        ));
    }
    Ok(())
}

/// The per-SecretId limit Tencent documents for this action.
pub const DEFAULT_RATE_LIMIT: u32 = 20;

/// How the stand-in is set up.
pub struct SimOptions {
    pub listen: SocketAddr,
    /// A task to serve instead of the reference example; Updates are written back to it.
    pub state_file: Option<PathBuf>,
    pub credentials: Vec<(String, Secret)>,
    /// Added before every answer.
    pub latency: Duration,
    /// Consumed one per request, in order of arrival.
    pub faults: Vec<Fault>,
    /// Accepted requests per SecretId per second; 0 means no limit.
    pub rate_limit: u32,
    /// The server's "now": the 300 s signature rule and the `Date` header.
    pub clock: Arc<dyn Clock>,
    /// Accounts, roles, the metadata role, OIDC providers and members (see `accounts`).
    pub accounts_file: Option<PathBuf>,
    /// No temporary credential lives longer than this (seconds), for renewal tests.
    pub temp_lifetime: Option<i64>,
    /// Serve HTTPS with a certificate made at start.
    pub tls: Option<TlsOptions>,
}

/// Why the stand-in could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {}: {message}", path.display())]
    State { path: PathBuf, message: String },
    #[error("credentials file {}: {message}", path.display())]
    Credentials { path: PathBuf, message: String },
    #[error("no credentials to accept: give at least one SecretId and SecretKey")]
    NoCredentials,
    #[error("TLS: {message}")]
    Tls { message: String },
}

/// What the stand-in has seen so far, for tests and the shutdown summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every request that reached the handler.
    pub requests: u64,
    /// Answered with a success envelope.
    pub ok: u64,
    /// Answered with an error envelope (including scripted ones).
    pub api_errors: u64,
    /// Error envelopes whose code is `AuthFailure.*` (including scripted ones).
    pub auth_failures: u64,
    /// Refused by the rate limit (not scripted `limit` faults).
    pub rate_limited: u64,
    /// Requests that met a scripted fault other than `ok`.
    pub faults_injected: u64,
}

#[derive(Default)]
struct AtomicCounters {
    requests: AtomicU64,
    ok: AtomicU64,
    api_errors: AtomicU64,
    auth_failures: AtomicU64,
    rate_limited: AtomicU64,
    faults_injected: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

struct Shared {
    accounts: accounts::Accounts,
    latency: Duration,
    script: faults::Script,
    limiter: limiter::Limiter,
    clock: Arc<dyn Clock>,
    counters: AtomicCounters,
    stopping: watch::Receiver<bool>,
}

/// A stand-in serving in the background of the current tokio runtime.
pub struct RunningSim {
    pub addr: SocketAddr,
    /// Serving HTTPS.
    pub tls: bool,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// How long shutdown waits for open connections before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl RunningSim {
    /// `http://ADDR` (`https://` with TLS), the endpoint to give a client.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, releases hanging requests, and waits for the server to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }

    /// The task as Describe would answer it now, without a RequestId.
    pub fn state(&self) -> Map<String, Value> {
        self.shared.accounts.main_task()
    }

    /// The task of account `uin` (none: the stand-in has no such account).
    pub fn state_of(&self, uin: &str) -> Option<Map<String, Value>> {
        self.shared.accounts.task_of(uin)
    }

    pub fn counters(&self) -> Counters {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            requests: get(&c.requests),
            ok: get(&c.ok),
            api_errors: get(&c.api_errors),
            auth_failures: get(&c.auth_failures),
            rate_limited: get(&c.rate_limited),
            faults_injected: get(&c.faults_injected),
        }
    }

    /// Scripted faults not yet used.
    pub fn faults_remaining(&self) -> usize {
        self.shared.script.remaining()
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Binds, loads the state, and serves in the background until [`RunningSim::shutdown`].
pub async fn start(opts: SimOptions) -> Result<RunningSim, SimError> {
    if opts.credentials.is_empty() {
        return Err(SimError::NoCredentials);
    }
    let (task, state_file) = match &opts.state_file {
        Some(path) => {
            let (task, file) = state::load(path)?;
            (task, Some(file))
        }
        None => (state::seed(), None),
    };
    let accounts = accounts::Accounts::load(
        opts.accounts_file.as_deref(),
        opts.credentials,
        accounts::MainState {
            task,
            file: state_file,
        },
        opts.temp_lifetime,
    )?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: opts.listen,
        source,
    })?;
    let (stop, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        accounts,
        latency: opts.latency,
        script: faults::Script::new(opts.faults),
        limiter: limiter::Limiter::new(opts.rate_limit),
        clock: opts.clock,
        counters: AtomicCounters::default(),
        stopping: stopping.clone(),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    let mut until = stopping;
    let tls = opts.tls.as_ref().map(tls::make).transpose()?;
    let secure = tls.is_some();
    let task = match tls {
        None => tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = until.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("stand-in server stopped: {e}");
            }
        }),
        // axum serves plain TCP only; over TLS each connection is accepted, handshaken and
        // served with hyper here.
        Some(tls) => tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = until.wait_for(|s| *s) => break,
                };
                let Ok((tcp, _)) = accepted else { continue };
                let acceptor = tls.acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        }),
    };
    tracing::info!(%addr, tls = secure, "stand-in listening");
    Ok(RunningSim {
        addr,
        tls: secure,
        shared,
        stop,
        task: Some(task),
    })
}

impl Shared {
    /// Resolves when shutdown begins (or the handle is gone).
    async fn stopped(&self) {
        let mut rx = self.stopping.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn json_response(&self, status: StatusCode, body: Vec<u8>) -> Response {
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(date) = HeaderValue::from_str(&envelope::http_date(self.clock.now())) {
            headers.insert(header::DATE, date);
        }
        resp
    }

    /// An HTML error page, as the gateway in front of the API sends for HTTP errors.
    fn page(&self, status: StatusCode, html: &'static str) -> Response {
        let mut resp = self.json_response(status, html.as_bytes().to_vec());
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        resp
    }

    fn error_body(&self, e: &ApiError) -> Vec<u8> {
        bump(&self.counters.api_errors);
        if e.code.starts_with("AuthFailure") {
            bump(&self.counters.auth_failures);
        }
        envelope::error(e).to_string().into_bytes()
    }

    /// The answer a faithful endpoint gives: verification, limit, action, parameters, state.
    fn answer(
        &self,
        req: &verify::Incoming<'_>,
        apply: bool,
    ) -> (Result<(), ApiError>, Vec<u8>, String) {
        let now = self.clock.now().timestamp();
        let result = self.process(req, now, apply);
        let action = req
            .headers
            .get("x-tc-action")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        match result {
            Ok(fields) => {
                bump(&self.counters.ok);
                (
                    Ok(()),
                    envelope::success(&fields).to_string().into_bytes(),
                    action,
                )
            }
            Err(e) => {
                let body = self.error_body(&e);
                (Err(e), body, action)
            }
        }
    }

    /// Answers one request; with `apply` false an accepted Update changes nothing.
    fn process(
        &self,
        req: &verify::Incoming<'_>,
        now: i64,
        apply: bool,
    ) -> Result<Map<String, Value>, ApiError> {
        if req.method != "POST" && req.method != "GET" {
            return Err(ApiError::new(
                "UnsupportedProtocol",
                format!(
                    "HTTP method {} is not supported; use POST or GET.",
                    req.method
                ),
            ));
        }
        let action = req
            .headers
            .get("x-tc-action")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim();
        let (service, version) = service_of(action);
        if action == ASSUME_ROLE_WITH_WEB_IDENTITY {
            // Not signed: the web identity token is the proof.
            check_version(req, version)?;
            let params = self.params(req)?;
            return self.accounts.assume_role_with_web_identity(&params, now);
        }
        let who = verify::verify(req, now, service, |id| self.accounts.key_of(id))?;
        let token = req
            .headers
            .get("x-tc-token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let caller = self.accounts.caller(&who.secret_id, token, now)?;
        if !self.limiter.admit(&who.secret_id, Instant::now()) {
            bump(&self.counters.rate_limited);
            return Err(ApiError::limit(self.limiter.limit()));
        }
        let known = [
            DESCRIBE,
            UPDATE,
            ASSUME_ROLE,
            GET_CALLER_IDENTITY,
            DESCRIBE_ORGANIZATION_MEMBERS,
        ];
        if !known.contains(&who.action.as_str()) {
            return Err(ApiError::new(
                "InvalidAction",
                format!(
                    "The action `{}` does not exist or is not supported by this endpoint.",
                    who.action
                ),
            ));
        }
        if who.version != version {
            return Err(ApiError::new(
                "NoSuchVersion",
                format!(
                    "The API version `{}` does not exist; use {version}.",
                    who.version
                ),
            ));
        }
        let params = self.params(req)?;
        match who.action.as_str() {
            GET_CALLER_IDENTITY => return Ok(self.accounts.identity(&caller)),
            ASSUME_ROLE => return self.accounts.assume_role(&caller, &params, now),
            DESCRIBE_ORGANIZATION_MEMBERS => return self.accounts.members(&caller, &params),
            _ => {}
        }
        let at = self.clock.now();
        if who.action == DESCRIBE {
            state::check_no_params(&params)?;
            return Ok(self
                .accounts
                .with_task(&caller, |task, scans, _| scans.answer(task, at)));
        }
        let set = state::check_update(&params)?;
        if !apply {
            return Ok(Map::new());
        }
        self.accounts.with_task(&caller, |task, scans, file| {
            let mut next = task.clone();
            next.extend(set);
            if let Some(file) = file
                && let Err(e) = file.save(&next)
            {
                tracing::error!(path = %file.path.display(), "cannot write the state back: {e}");
                return Err(ApiError::internal());
            }
            scans.updated(task, &next, at);
            *task = next;
            Ok(Map::new())
        })
    }

    fn params(&self, req: &verify::Incoming<'_>) -> Result<Map<String, Value>, ApiError> {
        if req.method == "GET" {
            let uri: Uri = format!("/?{}", req.query)
                .parse()
                .map_err(|_| ApiError::new("InvalidParameter", "The query string is malformed."))?;
            let pairs =
                axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).map_err(|e| {
                    ApiError::new(
                        "InvalidParameter",
                        format!("The query string is malformed: {e}."),
                    )
                })?;
            return state::params_from_query(&pairs.0);
        }
        let content_type = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(ApiError::new(
                "InvalidParameter",
                format!(
                    "Content-Type `{content_type}` is not supported for this action with TC3-HMAC-SHA256; use application/json."
                ),
            ));
        }
        if req.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(req.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::new(
                "InvalidParameter",
                "The request body must be a JSON object.",
            )),
            Err(e) => Err(ApiError::new(
                "InvalidParameter",
                format!("The request body is not valid JSON: {e}."),
            )),
        }
    }
}

const HTTP404_BODY: &str = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n</body>\r\n</html>\r\n";
const HTTP500_BODY: &str = "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n";
const HTTP503_BODY: &str = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n";
/// Neither JSON nor valid UTF-8, as a confused proxy might send.
const GARBAGE_BODY: &[u8] = b"\x00\xff\xfeHTTP/1.1 200 OK <html>gateway \xc3\x28 says hi";

async fn handle(
    State(sim): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The CVM metadata service: plain GETs, no signature, no faults.
    if method == Method::GET && uri.path().starts_with("/latest/meta-data/") {
        let now = sim.clock.now().timestamp();
        return match sim.accounts.metadata(uri.path(), now) {
            Some(text) => {
                let mut resp = sim.json_response(StatusCode::OK, text.into_bytes());
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                resp
            }
            None => sim.page(StatusCode::NOT_FOUND, HTTP404_BODY),
        };
    }
    bump(&sim.counters.requests);
    // Only the SecretId is ever logged: never the key, the signature or the Authorization header.
    let secret_id = verify::claimed_secret_id(&headers).unwrap_or_else(|| "-".into());
    let action = headers
        .get("x-tc-action")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    // Scripted faults are the task's: STS and Organization requests are answered as they come.
    let fault = if service_of(&action).0 == "tcss" {
        sim.script.next()
    } else {
        Fault::Ok
    };
    if fault != Fault::Ok {
        bump(&sim.counters.faults_injected);
    }

    if fault == Fault::Hang {
        tracing::info!(%action, %secret_id, outcome = "fault hang", "request");
        sim.stopped().await;
        return sim.page(StatusCode::SERVICE_UNAVAILABLE, HTTP503_BODY);
    }
    if !sim.latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(sim.latency) => {}
            () = sim.stopped() => {}
        }
    }
    let scripted = |e: ApiError| {
        tracing::info!(%action, %secret_id, outcome = %format!("fault {fault}: {}", e.code), "request");
        let body = sim.error_body(&e);
        sim.json_response(StatusCode::OK, body)
    };
    match fault {
        Fault::Http500 | Fault::Http503 => {
            tracing::info!(%action, %secret_id, outcome = %format!("fault {fault}"), "request");
            if fault == Fault::Http500 {
                sim.page(StatusCode::INTERNAL_SERVER_ERROR, HTTP500_BODY)
            } else {
                sim.page(StatusCode::SERVICE_UNAVAILABLE, HTTP503_BODY)
            }
        }
        Fault::Garbage => {
            tracing::info!(%action, %secret_id, outcome = "fault garbage", "request");
            sim.json_response(StatusCode::OK, GARBAGE_BODY.to_vec())
        }
        Fault::Limit => scripted(ApiError::limit(sim.limiter.limit().max(1))),
        Fault::Internal => scripted(ApiError::internal()),
        Fault::Auth => scripted(ApiError::signature_failure()),
        Fault::Refuse => scripted(ApiError::new(
            "UnauthorizedOperation",
            "The caller is not authorized to perform this operation; check its CAM policy.",
        )),
        Fault::Ok | Fault::Truncate | Fault::Hang | Fault::NoTake => {
            let req = verify::Incoming {
                method: method.as_str(),
                path: uri.path(),
                query: uri.query().unwrap_or(""),
                headers: &headers,
                body: &body,
            };
            let (result, mut bytes, action) = sim.answer(&req, fault != Fault::NoTake);
            let outcome = match &result {
                Ok(()) => "ok".to_string(),
                Err(e) => e.code.to_string(),
            };
            if fault == Fault::Truncate {
                bytes.truncate(bytes.len() / 2);
                tracing::info!(%action, %secret_id, outcome = %format!("{outcome}, fault truncate"), "request");
            } else {
                tracing::info!(%action, %secret_id, %outcome, "request");
            }
            sim.json_response(StatusCode::OK, bytes)
        }
    }
}

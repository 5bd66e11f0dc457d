//! `audit sim`: run the stand-in endpoint.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::Context;
use crate::app::{Error, ExitCode};
use crate::sim::{self, Fault, SimOptions};
use crate::tencent::Secret;

const ID_ENV: &str = "TENCENTCLOUD_SECRET_ID";
const KEY_ENV: &str = "TENCENTCLOUD_SECRET_KEY";

/// What `audit sim --help` adds after the options: the behaviour a client can rely on.
const NOTES: &str = "\
The stand-in verifies TC3-HMAC-SHA256 as Tencent does (the SignedHeaders the request names, which
must include content-type and host; the 300 s clock rule) and answers
DescribeImageRegistryTimingScanTask and UpdateImageRegistryTimingScanTask (version 2020-11-01) in
Tencent's envelope, errors included. It prints the URL it listens on as one line on stdout, then
serves until Ctrl-C or SIGTERM. With -v it logs one line per request on stderr (action, SecretId,
outcome; never a key or a signature).

Update replaces the fields it is given and keeps the others, and the last scan's LastScanTime
and ScanResult; with --state, each accepted Update is written back to that file. Optional fields
without a value are answered as null. Only TC3-HMAC-SHA256 is accepted: a request signed the old
way (SignatureMethod HmacSHA1 or HmacSHA256) gets AuthFailure.SignatureFailure saying so. A wrong X-TC-Version is answered with NoSuchVersion, an unknown action
with InvalidAction.

The same address serves STS (AssumeRole, AssumeRoleWithWebIdentity, GetCallerIdentity; version
2018-08-13, service sts), Organization (DescribeOrganizationMembers; 2021-03-31, organization)
and the CVM metadata service (GET /latest/meta-data/cam/security-credentials/[ROLE]). Temporary
credentials are accepted only with their X-TC-Token and refused once expired
(AuthFailure.TokenFailure). A TCSS request reads the task of the caller's account.

Without --accounts every key belongs to account 100000000001, with no roles and no members.
An accounts file:

  uin = \"100000000001\"            # the account of the keys (the organization's manager)
  name = \"management\"
  metadata_role = \"cvm-audit\"     # optional: the role the metadata service gives
  roles = [{ name = \"cvm-audit\", trust = [\"100000000001\"] }]
  [[oidc]]                        # optional: a TKE OIDC provider and its token
  provider_id = \"tke-oidc\"
  token_file = \"token\"            # relative to the accounts file
  [[member]]
  uin = \"100000000002\"
  name = \"shop\"
  state = \"shop.json\"             # optional: its task (default: the reference example)
  roles = [{ name = \"OrganizationAccessControlRole\", trust = [\"100000000001\"], external_id = \"x\" }]

A role trusts account UINs, or \"oidc:PROVIDER\" for AssumeRoleWithWebIdentity.";

#[derive(Debug, clap::Args)]
#[command(after_long_help = NOTES)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Allow listening on an address other than loopback
    #[arg(long)]
    pub allow_remote: bool,
    /// Serve this task (`{"Response":{...}}` or the bare object) instead of the reference example;
    /// accepted Updates are written back to it
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// SecretId to accept [default: $TENCENTCLOUD_SECRET_ID]
    #[arg(long, value_name = "ID", requires = "secret_key")]
    pub secret_id: Option<String>,
    /// SecretKey of --secret-id [default: $TENCENTCLOUD_SECRET_KEY]. A key on the command line is
    /// visible to anyone who can list processes (`ps`): this flag is for tests; otherwise set
    /// the environment variable or use --credentials-file
    #[arg(
        long,
        value_name = "KEY",
        requires = "secret_id",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// More credentials to accept, besides --secret-id or the environment's: one
    /// `SECRET_ID SECRET_KEY` or `SECRET_ID=SECRET_KEY` a line (blank lines and `#` comments are
    /// skipped)
    #[arg(long, value_name = "FILE")]
    pub credentials_file: Option<PathBuf>,
    /// Delay added before every answer, e.g. 50ms
    #[arg(long, value_name = "D", value_parser = humantime::parse_duration, default_value = "0s")]
    pub latency: Duration,
    /// Faults for consecutive requests, used one per request in order; then answers are normal.
    /// A comma-separated list of NAME or NAME*N (N repeats), e.g. `http503*2,hang,ok,limit`.
    /// Names: ok (no fault), http500, http503 (an HTML error page), hang (no answer until the
    /// stand-in stops), garbage (HTTP 200, not JSON), truncate (the real answer, its second half
    /// cut off), limit (RequestLimitExceeded), internal (InternalError),
    /// auth (AuthFailure.SignatureFailure), refuse (UnauthorizedOperation), notake (an Update
    /// answered with success that changes nothing). Faults meet the TCSS actions only; STS and
    /// Organization requests are answered normally
    #[arg(long, value_name = "LIST", value_parser = parse_fault_list)]
    pub faults: Option<FaultList>,
    /// Requests accepted per SecretId per second; 0 disables the limit
    #[arg(long, value_name = "N", default_value_t = sim::DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// Accounts (TOML): the keys' own account, member accounts with tasks of their own, the roles
    /// callers may assume, the CVM metadata role, OIDC providers (see below)
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// No temporary credential STS issues lives longer than this, e.g. 90s (for renewal tests)
    #[arg(long, value_name = "D", value_parser = humantime::parse_duration)]
    pub temp_lifetime: Option<Duration>,
    /// Serve HTTPS, with a CA and a server certificate (for 127.0.0.1, ::1, localhost and each
    /// --tls-name) made at start
    #[arg(long)]
    pub tls: bool,
    /// Another name the server certificate is for (repeatable)
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub tls_name: Vec<String>,
    /// Where to write the CA certificate (PEM) [default: a file in the temporary folder, named
    /// on stderr]
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_ca_out: Option<PathBuf>,
}

/// A parsed `--faults` value.
#[derive(Debug, Clone)]
pub struct FaultList(pub Vec<Fault>);

fn parse_fault_list(spec: &str) -> Result<FaultList, String> {
    sim::parse_faults(spec).map(FaultList)
}

fn listen_addr(text: &str, allow_remote: bool) -> Result<SocketAddr, Error> {
    let addr = match text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => text
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--listen {text:?}: expected HOST:PORT such as 127.0.0.1:0"
                ))
            })?,
    };
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(Error::Usage(format!(
            "--listen {text}: {} is not a loopback address; the stand-in accepts any request signed with its test keys, so add --allow-remote if others on the network should reach it",
            addr.ip()
        )));
    }
    Ok(addr)
}

/// The keys to accept: `--secret-id`/`--secret-key`, else the environment's pair (as Tencent's
/// tools read it), and in both cases every pair of `--credentials-file`. The file adds keys: it
/// is how a second account or a rotated key is tested next to the usual one, so it must not
/// silently drop the key everyone else is set up with. A SecretId given twice keeps the key
/// given last (the file's).
fn credentials(args: &Args) -> Result<Vec<(String, Secret)>, Error> {
    let mut creds = Vec::new();
    match (&args.secret_id, &args.secret_key) {
        (Some(id), Some(key)) => creds.push((id.clone(), Secret::new(key.clone()))),
        _ => creds.extend(environment_credentials()),
    }
    if let Some(path) = &args.credentials_file {
        creds.extend(sim::parse_credentials_file(path).map_err(Error::Sim)?);
    }
    if creds.is_empty() {
        return Err(Error::Usage(format!(
            "audit sim needs credentials to accept: give --secret-id and --secret-key, or --credentials-file, or set {ID_ENV} and {KEY_ENV}"
        )));
    }
    Ok(creds)
}

/// `TENCENTCLOUD_SECRET_ID` and `TENCENTCLOUD_SECRET_KEY`, when both are set.
fn environment_credentials() -> Option<(String, Secret)> {
    let id = std::env::var(ID_ENV).unwrap_or_default();
    let key = std::env::var(KEY_ENV).unwrap_or_default();
    (!id.trim().is_empty() && !key.is_empty()).then(|| (id.trim().to_string(), Secret::new(key)))
}

pub fn run(args: &Args, ctx: &Context) -> Result<ExitCode, Error> {
    let listen = listen_addr(&args.listen, args.allow_remote)?;
    let opts = SimOptions {
        listen,
        state_file: args.state.clone(),
        credentials: credentials(args)?,
        latency: args.latency,
        faults: args.faults.clone().map(|f| f.0).unwrap_or_default(),
        rate_limit: args.rate_limit,
        clock: ctx.clock.clone(),
        accounts_file: args.accounts.clone(),
        temp_lifetime: args.temp_lifetime.map(|d| d.as_secs().max(1) as i64),
        tls: if args.tls {
            Some(sim::TlsOptions {
                names: args.tls_name.clone(),
                ca_out: match &args.tls_ca_out {
                    Some(p) => p.clone(),
                    None => std::env::temp_dir()
                        .join(format!("tcss-audit-sim-ca-{}.pem", std::process::id())),
                },
            })
        } else {
            None
        },
    };
    if let Some(t) = &opts.tls {
        eprintln!(
            "audit sim: the CA certificate is in {} (give it to clients with --ca-file)",
            t.ca_out.display()
        );
    }
    let runtime = crate::app::runtime::runtime(crate::app::runtime::Threads::PerCore)?;
    runtime.block_on(async {
        let running = sim::start(opts).await.map_err(Error::Sim)?;
        // Listen for the stop signals before saying where we are: whoever reads the URL may
        // send SIGTERM at once.
        let stop = stop_signal();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", running.url())
            .and_then(|()| out.flush())
            .map_err(|source| Error::Output {
                what: "the stand-in's URL".into(),
                source,
            })?;
        drop(out);
        stop.await;
        let c = running.counters();
        tracing::info!(
            requests = c.requests,
            ok = c.ok,
            errors = c.api_errors,
            rate_limited = c.rate_limited,
            faults = c.faults_injected,
            "stand-in stopping"
        );
        running.shutdown().await;
        Ok(ExitCode::Ok)
    })
}

/// Ctrl-C, or SIGTERM where there is one (how test harnesses and service managers stop it).
/// The handlers are installed when this is called, not when the future is first polled.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_without_allow_remote() {
        assert!(listen_addr("127.0.0.1:0", false).is_ok());
        assert!(listen_addr("[::1]:0", false).is_ok());
        let err = listen_addr("0.0.0.0:8080", false).unwrap_err().to_string();
        assert!(err.contains("--allow-remote"), "{err}");
        assert!(listen_addr("0.0.0.0:8080", true).is_ok());
        assert!(listen_addr("nonsense", false).is_err());
    }
}

//! The network below every client (the Tencent APIs, the chat bots and webhooks): whom to trust,
//! which proxy to go through, where plain HTTP may go, and how much of an answer is read. One
//! place owns these, so a destination added later cannot forget one of them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::task::text::visible;

/// The most read of an answer from a Tencent API (the task's answer is far smaller).
pub const API_ANSWER_LIMIT: usize = crate::task::fields::MAX_ANSWER_BYTES;
/// The most read of an answer from a chat bot or webhook, which says "ok" or an error code.
pub const BOT_ANSWER_LIMIT: usize = 64 * 1024;

/// How every client connects: its timeouts, the CA certificates it trusts besides the
/// platform's store and the bundled web roots, and its proxy.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connect_timeout: Duration,
    /// The whole request, answer included.
    pub timeout: Duration,
    /// More CA certificates to trust (PEM): a TLS-inspecting proxy, a private endpoint.
    pub ca_file: Option<PathBuf>,
    /// A proxy for every request; without it `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` decide.
    pub proxy: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            ca_file: None,
            proxy: None,
        }
    }
}

/// Whether requests may go through a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The configured proxy, else the environment's.
    Proxied,
    /// Never a proxy: the CVM metadata service is link-local.
    Direct,
}

/// Which certificate authorities a client trusts besides the `ca_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The platform's store and the bundled web roots.
    Platform,
    /// None: for plain HTTP to loopback, where reading the platform's store would cost a
    /// snapshot more than the rest of it and there is no certificate to check.
    None,
}

/// A setting that cannot make a client, or an answer that was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the CA file {} cannot be read: {source}", path.display())]
    CaFileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {} holds no PEM certificate", path.display())]
    CaFileEmpty { path: PathBuf },
    #[error("the proxy setting is not a URL (http://HOST:PORT)")]
    BadProxy,
    #[error("cannot build the HTTP client: {message}")]
    Build { message: String },
}

/// The HTTP client for `settings`: rustls trusting `roots` and the `ca_file`, the timeouts, the
/// proxy of `route`, no redirects. There is no way to turn certificate verification off.
pub fn client(settings: &Settings, route: Route, roots: Roots) -> Result<reqwest::Client, Error> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        .user_agent(concat!("tcss-audit/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(roots == Roots::Platform);
    if let Some(path) = &settings.ca_file {
        for c in ca_certificates(path)? {
            b = b.add_root_certificate(c);
        }
    }
    match (route, &settings.proxy) {
        (Route::Direct, _) => b = b.no_proxy(),
        (Route::Proxied, Some(p)) => {
            let proxy = reqwest::Proxy::all(p)
                .map_err(|_| Error::BadProxy)?
                .no_proxy(reqwest::NoProxy::from_env());
            b = b.proxy(proxy);
        }
        (Route::Proxied, None) => {}
    }
    b.build().map_err(|e| Error::Build {
        message: e.without_url().to_string(),
    })
}

/// Whether `text` can be a proxy's URL (`http://HOST:PORT`), for a config file checked before
/// any request.
pub fn check_proxy(text: &str) -> Result<(), Error> {
    reqwest::Proxy::all(text)
        .map(|_| ())
        .map_err(|_| Error::BadProxy)
}

fn ca_certificates(path: &PathBuf) -> Result<Vec<reqwest::Certificate>, Error> {
    let pem = std::fs::read(path).map_err(|source| Error::CaFileUnreadable {
        path: path.clone(),
        source,
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(Error::CaFileEmpty { path: path.clone() }),
    }
}

/// On this machine: 127.0.0.1 (any of 127/8), [::1] or localhost.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Why a URL may not be sent to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error(
        "plain http:// is only allowed to a loopback address (127.0.0.1, [::1], localhost); use https://"
    )]
    PlainHttpRemote,
    #[error("the scheme {scheme}:// is not supported; use https://")]
    Scheme { scheme: String },
}

/// The rule for every destination: `https://`, or plain `http://` to a loopback address only,
/// so that what is signed or secret never crosses a network unencrypted.
pub fn allowed(url: &Url) -> Result<(), UrlRefused> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(UrlRefused::PlainHttpRemote),
        other => Err(UrlRefused::Scheme {
            scheme: visible(other).into_owned(),
        }),
    }
}

/// An answer that could not be read whole within its bound.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the answer announces {announced} bytes, more than the {limit} accepted")]
    Announced { announced: u64, limit: usize },
    #[error("the answer is larger than the {limit} bytes accepted")]
    TooLarge { limit: usize },
    #[error("the answer was cut off: {message}")]
    Cut { message: String },
}

/// Reads `response`'s body, refusing it as soon as it passes `limit` bytes (announced or read):
/// a hostile or broken server cannot make the process hold more than that.
pub async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    if let Some(announced) = response.content_length()
        && announced > limit as u64
    {
        return Err(ReadError::Announced { announced, limit });
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(ReadError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(ReadError::Cut {
                    message: describe(&e),
                });
            }
        }
    }
}

/// reqwest's errors nest their cause; show the chain, which names timeouts, refusals and
/// certificate failures plainly, never the URL (a webhook's URL is its secret).
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let mut text = visible(&text).into_owned();
    if is_certificate_error(e) {
        text.push_str(
            "; the server's certificate does not verify: if it is signed by your own CA (a TLS-inspecting proxy, a private endpoint), give that CA's certificate with --ca-file (or ca_file, TCSS_AUDIT_CA_FILE, SSL_CERT_FILE)",
        );
    }
    text
}

/// Whether `e` is a refused certificate, which no retry can cure. The TLS error reaches here
/// wrapped by hyper and by `io::Error`, whose `source` skips what it wraps; rustls names every
/// certificate failure "invalid peer certificate" or "no certificates presented", so the chain's
/// text is what is read.
pub fn is_certificate_error(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if text.contains("invalid peer certificate") || text.contains("no certificates presented") {
            return true;
        }
        source = s.source();
    }
    false
}

/// What an error page says, on one line for a person: markup dropped, white space and control
/// characters folded into single spaces, and cut at a word boundary within `max` characters.
/// Written by hand: pulling in an HTML parser for a one-line excerpt would be out of proportion.
pub fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(BOT_ANSWER_LIMIT)]);
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if in_tag => {}
            c if c.is_whitespace() || c.is_control() => plain.push(' '),
            c => plain.push(c),
        }
    }
    let mut out = String::new();
    for w in plain.split_whitespace() {
        let extra = if out.is_empty() { 0 } else { 1 } + w.chars().count();
        if out.chars().count() + extra > max {
            if out.is_empty() {
                out.extend(w.chars().take(max));
            }
            out.push('…');
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    if out.is_empty() {
        "(no text)".into()
    } else {
        visible(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_goes_only_to_loopback() {
        let ok = |u: &str| allowed(&Url::parse(u).unwrap());
        assert_eq!(ok("https://example.com/hook"), Ok(()));
        assert_eq!(ok("http://127.0.0.1:8080/x"), Ok(()));
        assert_eq!(ok("http://127.8.9.10/x"), Ok(()));
        assert_eq!(ok("http://[::1]:9/x"), Ok(()));
        assert_eq!(ok("http://LocalHost/x"), Ok(()));
        assert_eq!(
            ok("http://example.com/hook"),
            Err(UrlRefused::PlainHttpRemote)
        );
        assert_eq!(
            ok("http://localhost.example.com/"),
            Err(UrlRefused::PlainHttpRemote)
        );
        assert_eq!(ok("http://10.0.0.1/"), Err(UrlRefused::PlainHttpRemote));
        assert!(matches!(
            ok("ftp://example.com/"),
            Err(UrlRefused::Scheme { .. })
        ));
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = Settings {
            ca_file: Some(path.clone()),
            ..Settings::default()
        };
        let e = client(&settings, Route::Proxied, Roots::None).unwrap_err();
        assert!(
            matches!(&e, Error::CaFileEmpty { path: p } if *p == path),
            "{e}"
        );
        let missing = Settings {
            ca_file: Some(dir.path().join("absent.pem")),
            ..Settings::default()
        };
        let e = client(&missing, Route::Proxied, Roots::None).unwrap_err();
        assert!(e.to_string().contains("absent.pem"), "{e}");
    }

    #[test]
    fn a_proxy_that_is_not_a_url_is_refused() {
        let settings = Settings {
            proxy: Some("::not a url::".into()),
            ..Settings::default()
        };
        assert!(matches!(
            client(&settings, Route::Proxied, Roots::None),
            Err(Error::BadProxy)
        ));
        // The metadata route never takes a proxy, so a bad one does not stop it.
        assert!(client(&settings, Route::Direct, Roots::None).is_ok());
    }

    #[test]
    fn an_error_page_becomes_one_clean_line_cut_at_a_word() {
        let page = b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
        assert_eq!(
            excerpt(page, 60),
            "503 Service Temporarily Unavailable 503 Service Temporarily…"
        );
        assert_eq!(excerpt(b"", 60), "(no text)");
        assert_eq!(
            excerpt(b"<p>\x1b[2Jgone</p>", 60),
            "[2Jgone",
            "control characters go"
        );
        assert_eq!(
            excerpt("x".repeat(200).as_bytes(), 10),
            format!("{}…", "x".repeat(10))
        );
    }
}

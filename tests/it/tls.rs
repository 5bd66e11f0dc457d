//! HTTPS end to end: the stand-in over TLS with a CA made at start, the client trusting it only
//! when told, and a CONNECT proxy in between.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::support::{Env, Sim};

/// The stand-in over TLS, and the file holding its CA certificate.
fn tls_sim(env: &Env, extra: &[&str]) -> (Sim, std::path::PathBuf) {
    tls_sim_with_ca(env, "sim-ca.pem", extra)
}

/// The same, its CA written to `ca_name` in the test's folder.
fn tls_sim_with_ca(env: &Env, ca_name: &str, extra: &[&str]) -> (Sim, std::path::PathBuf) {
    let ca = env.path(ca_name);
    let mut args = vec!["--tls", "--tls-ca-out", ca.to_str().unwrap()];
    args.extend_from_slice(extra);
    let sim = Sim::start(&args);
    assert!(sim.url.starts_with("https://"), "{}", sim.url);
    (sim, ca)
}

#[test]
fn a_snapshot_over_tls_trusts_the_ca_it_is_given_and_nothing_else() {
    let env = Env::new();
    let (sim, ca) = tls_sim(&env, &[]);
    let ok = env
        .run_signed(&[
            "snapshot",
            "--endpoint",
            &sim.url,
            "--ca-file",
            ca.to_str().unwrap(),
        ])
        .ok();
    assert!(
        ok.stdout.contains("first") && ok.stdout.contains("account 100000000001"),
        "{}",
        ok.stdout
    );
    // The same through TCSS_AUDIT_CA_FILE.
    env.run_with(&["snapshot", "--endpoint", &sim.url], |c| {
        c.env("TENCENTCLOUD_SECRET_ID", crate::support::SIM_ID)
            .env("TENCENTCLOUD_SECRET_KEY", crate::support::SIM_KEY)
            .env("TCSS_AUDIT_CA_FILE", &ca);
    })
    .ok();
    // Without it the certificate does not verify: exit 3, the reason and what to do, no retries.
    let refused = env
        .run_signed(&["snapshot", "--endpoint", &sim.url])
        .code(3);
    assert!(
        refused.stderr.contains("UnknownIssuer") && refused.stderr.contains("--ca-file"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("tries"),
        "not retried: {}",
        refused.stderr
    );
    assert_eq!(env.rows("snapshots"), 2);
}

#[test]
fn retries_and_the_rate_limit_work_over_tls_as_over_plain_http() {
    let env = Env::new();
    let (sim, ca) = tls_sim(&env, &["--faults", "http503,limit,internal"]);
    let out = env
        .run_signed(&[
            "snapshot",
            "--endpoint",
            &sim.url,
            "--ca-file",
            ca.to_str().unwrap(),
        ])
        .ok();
    assert!(out.stdout.contains("first"), "{}", out.stdout);
    // A shared credential over the stand-in's limit: the client paces itself, nothing refused.
    let (limited, ca2) = tls_sim(&env, &["--rate-limit", "3"]);
    // A top-level key comes before the targets.
    let mut cfg = format!("ca_file = \"{}\"\n\n", ca2.display());
    for i in 0..6 {
        cfg.push_str(&format!(
            "[[target]]\nname = \"t{i}\"\nendpoint = \"{}\"\n\n",
            limited.url
        ));
    }
    let cfg = env.write("config.toml", &cfg);
    let run = env.run_signed(&["--config", cfg.to_str().unwrap(), "snapshot", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 6, "{}", run.stdout);
}

/// A CONNECT proxy on loopback that remembers what it was asked to connect to.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                }
                log.lock().unwrap().push(first.trim().to_string());
                let Some(target) = first
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split_whitespace().next())
                else {
                    let mut c = client;
                    let _ = c.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                    return;
                };
                let upstream = TcpStream::connect(target).unwrap();
                let mut c = client;
                c.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .unwrap();
                let (mut up_r, mut up_w) = (upstream.try_clone().unwrap(), upstream);
                let mut c_w = c.try_clone().unwrap();
                let buffered = reader.buffer().to_vec();
                up_w.write_all(&buffered).unwrap();
                let mut c_r = reader.into_inner();
                let t = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_r, &mut up_w);
                    let _ = up_w.shutdown(std::net::Shutdown::Write);
                });
                let mut buf = [0u8; 16384];
                while let Ok(n) = up_r.read(&mut buf) {
                    if n == 0 || c_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_w.shutdown(std::net::Shutdown::Write);
                let _ = t.join();
            });
        }
    });
    (url, seen)
}

#[test]
fn https_proxy_and_the_config_proxy_carry_the_requests_through_connect() {
    let env = Env::new();
    let (sim, ca) = tls_sim(&env, &[]);
    let (proxy, seen) = connect_proxy();
    let port = sim.url.rsplit(':').next().unwrap().to_string();
    env.run_with(
        &[
            "snapshot",
            "--endpoint",
            &sim.url,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
        |c| {
            c.env("TENCENTCLOUD_SECRET_ID", crate::support::SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", crate::support::SIM_KEY)
                .env("HTTPS_PROXY", &proxy)
                .env_remove("NO_PROXY")
                .env_remove("no_proxy");
        },
    )
    .ok();
    let asked = seen.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|l| l == &format!("CONNECT 127.0.0.1:{port} HTTP/1.1")),
        "{asked:?}"
    );
    // The config file's proxy does the same; NO_PROXY naming the host goes around it.
    seen.lock().unwrap().clear();
    let cfg = env.write(
        "config.toml",
        &format!(
            "proxy = \"{proxy}\"\nca_file = \"{}\"\n\n[[target]]\nname = \"p\"\nendpoint = \"{}\"\n",
            ca.display(),
            sim.url
        ),
    );
    env.run_signed(&["--config", cfg.to_str().unwrap(), "snapshot"])
        .ok();
    assert!(
        !seen.lock().unwrap().is_empty(),
        "the config's proxy was used"
    );
    seen.lock().unwrap().clear();
    env.run_with(&["--config", cfg.to_str().unwrap(), "snapshot"], |c| {
        c.env("TENCENTCLOUD_SECRET_ID", crate::support::SIM_ID)
            .env("TENCENTCLOUD_SECRET_KEY", crate::support::SIM_KEY)
            .env("NO_PROXY", "127.0.0.1");
    })
    .ok();
    assert!(seen.lock().unwrap().is_empty(), "NO_PROXY went around it");
}

/// `tool` when it runs here, or `None` when it is missing (in CI it must be there: the tests
/// that need it would otherwise pass without checking anything).
fn tool(tool: &'static str, probe: &[&str], package: &str) -> Option<&'static str> {
    let found = std::process::Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing; CI installs {package}"
        );
        eprintln!("skipped: {tool} ({package}) is not installed");
        return None;
    }
    Some(tool)
}

/// `HOST:PORT` of a stand-in's URL.
fn host_port(sim: &Sim) -> String {
    sim.url.trim_start_matches("https://").to_string()
}

/// The certificate the running stand-in serves, as `openssl s_client -showcerts` shows it.
fn served_certificate(openssl: &str, sim: &Sim, out: &std::path::Path) {
    let shown = std::process::Command::new(openssl)
        .args(["s_client", "-connect", &host_port(sim), "-showcerts"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .unwrap_or_else(|| panic!("no certificate shown:\n{text}"));
    let end_marker = "-----END CERTIFICATE-----";
    let end = begin + text[begin..].find(end_marker).unwrap() + end_marker.len();
    std::fs::write(out, format!("{}\n", &text[begin..end])).unwrap();
}

/// `openssl verify -x509_strict` of `cert` against `ca`: whether it passed, and what it said.
fn strict_verify(openssl: &str, ca: &std::path::Path, cert: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(openssl)
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(ca)
        .arg(cert)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn openssl_x509_strict_accepts_the_ca_and_the_served_certificate() {
    let Some(openssl) = tool("openssl", &["version"], "openssl") else {
        return;
    };
    let env = Env::new();
    let (sim, ca) = tls_sim(&env, &[]);
    let server = env.path("server.pem");
    served_certificate(openssl, &sim, &server);
    let (ok, said) = strict_verify(openssl, &ca, &server);
    assert!(ok && said.contains(": OK"), "{said}");
}

/// Connects with an SSLContext as Python 3.13 makes by default (VERIFY_X509_STRICT and
/// VERIFY_X509_PARTIAL_CHAIN), trusting only the given CA, and checks the host name.
const PYTHON_STRICT: &str = r#"
import socket, ssl, sys
ca, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
ctx.verify_flags |= ssl.VERIFY_X509_STRICT | getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
with socket.create_connection((host, port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=host) as tls:
        print("verified", tls.version())
"#;

#[test]
fn python_with_verify_x509_strict_connects() {
    let Some(python) = tool("python3", &["--version"], "python3") else {
        return;
    };
    let env = Env::new();
    let (sim, ca) = tls_sim(&env, &[]);
    let hp = host_port(&sim);
    let (host, port) = hp.rsplit_once(':').unwrap();
    let out = std::process::Command::new(python)
        .args(["-c", PYTHON_STRICT])
        .arg(&ca)
        .args([host, port])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("verified"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_stand_ins_have_cas_of_their_own_names_that_share_a_bundle() {
    let Some(openssl) = tool("openssl", &["version"], "openssl") else {
        return;
    };
    let env = Env::new();
    let subject = |ca: &std::path::Path| {
        let out = std::process::Command::new(openssl)
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(ca)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (a, ca_a) = tls_sim_with_ca(&env, "a.pem", &[]);
    let (b, ca_b) = tls_sim_with_ca(&env, "b.pem", &[]);
    assert_ne!(ca_a, ca_b);
    let (sa, sb) = (subject(&ca_a), subject(&ca_b));
    assert!(sa.contains("tcss-audit stand-in CA"), "{sa}");
    assert_ne!(sa, sb, "two stand-ins' CAs share a subject");
    // One bundle holding both: each server's certificate still finds its own issuer.
    let bundle = env.path("bundle.pem");
    let both = std::fs::read_to_string(&ca_a).unwrap() + &std::fs::read_to_string(&ca_b).unwrap();
    std::fs::write(&bundle, both).unwrap();
    for (sim, name) in [(&a, "a-server.pem"), (&b, "b-server.pem")] {
        let server = env.path(name);
        served_certificate(openssl, sim, &server);
        let (ok, said) = strict_verify(openssl, &bundle, &server);
        assert!(ok, "{name}: {said}");
    }
}

/// The chat bots and webhooks go through the same network layer as the API: they trust the CA
/// file they are given, go through the config's proxy, and a certificate that does not verify is
/// said plainly once, not hidden behind retries.
#[test]
fn notifications_trust_the_ca_file_and_go_through_the_config_proxy() {
    let env = Env::new();
    // The stand-in answers any POST with HTTP 200: a webhook destination over TLS.
    let (sim, ca) = tls_sim(&env, &[]);
    let (proxy, seen) = connect_proxy();
    let hook = format!("{}/hook", sim.url);
    let cfg = env.write(
        "config.toml",
        &format!("proxy = \"{proxy}\"\n\n[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\n"),
    );
    let cfg = cfg.to_str().unwrap();
    let clean = |c: &mut std::process::Command| {
        c.env("HOOK_URL", &hook)
            .env_remove("TCSS_AUDIT_CA_FILE")
            .env_remove("SSL_CERT_FILE")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
    };
    let refused = env
        .run_with(&["--config", cfg, "notify", "test"], |c| clean(c))
        .code(3);
    assert!(
        refused.stdout.contains("certificate")
            && refused.stdout.contains("--ca-file")
            && !refused.stdout.contains("tries"),
        "a certificate error, said once: {}",
        refused.stdout
    );
    assert!(!refused.stdout.contains("/hook"), "{}", refused.stdout);
    seen.lock().unwrap().clear();
    let ok = env
        .run_with(&["--config", cfg, "notify", "test"], |c| {
            clean(c);
            c.env("TCSS_AUDIT_CA_FILE", &ca);
        })
        .ok();
    assert!(
        ok.stdout.contains("webhook:HOOK_URL: delivered"),
        "{}",
        ok.stdout
    );
    let port = sim.url.rsplit(':').next().unwrap().to_string();
    let asked = seen.lock().unwrap().clone();
    assert!(
        asked.contains(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1")),
        "the config's proxy carried the message: {asked:?}"
    );

    // The nightly job: the config's ca_file (a bundle of two stand-ins' CAs) and proxy serve the
    // API (one stand-in) and the destination (the other) alike.
    let (api, api_ca) = tls_sim_with_ca(&env, "api-ca.pem", &[]);
    let bundle = env.write(
        "bundle.pem",
        &(std::fs::read_to_string(&api_ca).unwrap() + &std::fs::read_to_string(&ca).unwrap()),
    );
    seen.lock().unwrap().clear();
    let cfg = env.write(
        "run.toml",
        &format!(
            "proxy = \"{proxy}\"\nca_file = \"{}\"\n\n[[target]]\nname = \"p\"\nendpoint = \"{}\"\n\n[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK_URL\"\non = [\"always\"]\n",
            bundle.display(),
            api.url
        ),
    );
    let out_dir = env.path("reports");
    let run = env.run_with(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
        |c| {
            clean(c);
            c.env("TENCENTCLOUD_SECRET_ID", crate::support::SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", crate::support::SIM_KEY);
        },
    );
    assert!(
        run.stderr.contains("p: #1 first") && run.stderr.contains("notify webhook:HOOK_URL: told"),
        "{}",
        run.stderr
    );
    let asked = seen.lock().unwrap().clone();
    assert!(
        asked.contains(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1")),
        "the message went through the config's proxy: {asked:?}"
    );
}

//! HTTPS end to end: the stand-in over TLS with a CA made at start, the client trusting it only
//! when told, and a CONNECT proxy in between.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::support::{Env, Sim};

/// The stand-in over TLS, and the file holding its CA certificate.
fn tls_sim(env: &Env, extra: &[&str]) -> (Sim, std::path::PathBuf) {
    let ca = env.path("sim-ca.pem");
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

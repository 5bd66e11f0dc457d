//! The fault matrix: `audit run` against the stand-in with each scripted fault, the exit code and
//! what the database holds afterwards; the client's pacing under the rate limit; and no secret in
//! anything written under any fault.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tcss_audit::sim::{self, SimOptions};
use tcss_audit::task::clock::SystemClock;
use tcss_audit::tencent::{ClientOptions, Secret};

use crate::support::{Env, SIM_ID, SIM_KEY, Sim, sim_client};

#[test]
fn a_retried_hang_that_then_answers_says_so() {
    let sim = Sim::start(&["--faults", "hang,ok"]);
    let env = Env::new();
    let run = env
        .run_signed(&[
            "-v",
            "run",
            "--endpoint",
            &sim.url,
            "--fail-on",
            "critical",
            "--timeout",
            "1",
            "--out-dir",
            env.path("reports").to_str().unwrap(),
        ])
        .ok();
    assert!(run.stderr.contains("(answered on try 2)"), "{}", run.stderr);
    assert!(
        run.stderr.contains("answered on try 2 after"),
        "-v: {}",
        run.stderr
    );
}

#[test]
fn every_fault_has_its_exit_code_and_leaves_the_database_right() {
    // (faults, exit code, snapshots recorded, a word the message must carry)
    let matrix: [(&str, i32, i64, &str); 11] = [
        ("ok", 0, 1, ""),
        ("http500", 0, 1, ""),
        ("http503*10", 3, 0, "HTTP 503"),
        ("hang*10", 3, 0, "timed out"),
        ("garbage", 3, 0, "malformed answer"),
        ("truncate", 3, 0, "malformed answer"),
        ("limit*2", 0, 1, ""),
        ("limit*10", 3, 0, "RequestLimitExceeded"),
        ("internal", 0, 1, ""),
        ("internal*10", 3, 0, "InternalError"),
        ("auth", 3, 0, "AuthFailure.SignatureFailure"),
    ];
    let mut everything = String::new();
    for (faults, code, stored, word) in matrix {
        let sim = Sim::start(&["--faults", faults]);
        let env = Env::new();
        let out = env.path("reports");
        let run = env
            .run_signed(&[
                "run",
                "--endpoint",
                &sim.url,
                "--out-dir",
                out.to_str().unwrap(),
                "--fail-on",
                "critical",
                "--retries",
                "2",
                "--timeout",
                "1",
            ])
            .code(code);
        assert_eq!(env.rows("snapshots"), stored, "{faults}: {}", run.stderr);
        assert!(
            run.stderr.contains(word),
            "{faults}: expected {word:?} in {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{faults}: {}", run.stderr);
        if code == 3 && faults.ends_with("*10") {
            // Retried faults say how often and for how long; an error page is one clean line.
            assert!(
                run.stderr.contains("after 3 tries over"),
                "{faults}: {}",
                run.stderr
            );
        }
        if faults == "http503*10" {
            assert!(
                !run.stderr.contains('\r')
                    && !run.stderr.contains("<html")
                    && !run.stderr.contains('<'),
                "{:?}",
                run.stderr
            );
        }
        // Every fault still gives the night's reports, naming the failure where there was one.
        let reports: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(reports.len(), 3, "{faults}: Markdown, JSON and HTML");
        if stored == 1 {
            env.run(&["verify"]).ok();
        }
        everything.push_str(&run.stdout);
        everything.push_str(&run.stderr);
        for p in reports
            .iter()
            .chain(std::iter::once(&env.db()))
            .filter(|p| p.exists())
        {
            everything.push_str(&String::from_utf8_lossy(&std::fs::read(p).unwrap()));
        }
    }
    assert!(
        !everything.contains(SIM_KEY),
        "the secret key was written somewhere"
    );
}

#[test]
fn two_hundred_requests_on_one_credential_are_paced_not_refused() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = sim::start(SimOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            state_file: None,
            credentials: vec![(SIM_ID.to_string(), Secret::new(SIM_KEY))],
            latency: Duration::ZERO,
            faults: Vec::new(),
            rate_limit: sim::DEFAULT_RATE_LIMIT,
            clock: Arc::new(SystemClock),
            accounts_file: None,
            temp_lifetime: None,
            tls: None,
        })
        .await
        .unwrap();
        let client = Arc::new(
            // No retries: a refusal would show as an error here and as a count in the stand-in.
            sim_client(
                &sim.url(),
                ClientOptions {
                    max_attempts: 1,
                    ..ClientOptions::default()
                },
            ),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let c = client.clone();
            tasks.spawn(async move { c.describe().await.map(|_| ()) });
        }
        let mut ok = 0;
        while let Some(r) = tasks.join_next().await {
            r.unwrap().unwrap();
            ok += 1;
        }
        let counters = sim.counters();
        assert_eq!(ok, 200);
        assert_eq!(counters.rate_limited, 0);
        assert_eq!(counters.ok, 200);
        sim.shutdown().await;
    });
}

//! Fetching from the real stand-in over loopback and recording into a real SQLite file.

use crate::support::{Env, SIM_ID, SIM_KEY, Sim, update};

#[test]
fn unchanged_twice_is_two_snapshots_of_one_config_and_an_update_makes_a_second() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let first = env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    assert!(
        first.stdout.starts_with("default  #1  ") && first.stdout.contains("  first  "),
        "{}",
        first.stdout
    );
    let second = env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    assert!(
        second.stdout.contains("#2") && second.stdout.contains("unchanged"),
        "{}",
        second.stdout
    );
    assert_eq!((env.rows("snapshots"), env.rows("configs")), (2, 1));

    update(
        &sim.url,
        serde_json::json!({"Enable": true, "ScanPeriod": 1, "ScanTime": "03:00:00", "ScanType": ["risk"]}),
    );
    let third = env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    assert!(
        third.stdout.contains("#3") && third.stdout.contains("  changed"),
        "{}",
        third.stdout
    );
    assert_eq!((env.rows("snapshots"), env.rows("configs")), (3, 2));

    env.run(&["verify"]).ok();
    {
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        conn.execute(
            "UPDATE snapshots SET request_id = 'forged' WHERE id = 2",
            [],
        )
        .unwrap();
    }
    let broken = env.run(&["verify"]).code(1);
    assert!(broken.stdout.contains("snapshot 2"), "{}", broken.stdout);
}

#[test]
fn a_wrong_key_is_refused_and_nothing_is_stored() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let run = env.run_with(&["snapshot", "--endpoint", &sim.url], |c| {
        c.env("TENCENTCLOUD_SECRET_ID", SIM_ID)
            .env("TENCENTCLOUD_SECRET_KEY", "NotTheRightKeyAtAll0000");
    });
    let run = run.code(3);
    assert!(
        run.stderr.contains("AuthFailure.SignatureFailure"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("NotTheRightKeyAtAll0000"));
    assert_eq!(env.rows("snapshots"), 0);
}

#[test]
fn garbage_and_truncated_answers_are_remote_errors_and_store_nothing() {
    for fault in ["garbage*5", "truncate*5"] {
        let sim = Sim::start(&["--faults", fault]);
        let env = Env::new();
        let run = env
            .run_signed(&["snapshot", "--endpoint", &sim.url, "--retries", "1"])
            .code(3);
        assert!(
            run.stderr.contains(&sim.url),
            "{fault}: the message names the endpoint: {}",
            run.stderr
        );
        assert_eq!(env.rows("snapshots"), 0, "{fault}");
    }
}

#[test]
fn a_transient_failure_is_retried_then_recorded() {
    let sim = Sim::start(&["--faults", "http503,limit"]);
    let env = Env::new();
    env.run_signed(&["snapshot", "--endpoint", &sim.url]).ok();
    assert_eq!(env.rows("snapshots"), 1);
}

#[test]
fn missing_credentials_name_the_variables() {
    let env = Env::new();
    let run = env
        .run(&["snapshot", "--endpoint", "http://127.0.0.1:9"])
        .code(3);
    assert!(
        run.stderr.contains("TENCENTCLOUD_SECRET_ID")
            && run.stderr.contains("TENCENTCLOUD_SECRET_KEY"),
        "{}",
        run.stderr
    );
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let env = Env::new();
    let run = env
        .run_signed(&["snapshot", "--endpoint", "http://tcss.tencentcloudapi.com"])
        .code(3);
    assert!(run.stderr.contains("loopback"), "{}", run.stderr);
}

#[test]
fn the_secret_key_appears_nowhere() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let mut outputs = Vec::new();
    for args in [
        vec!["-vv", "snapshot", "--endpoint", sim.url.as_str()],
        vec![
            "-vv",
            "snapshot",
            "--endpoint",
            sim.url.as_str(),
            "--format",
            "json",
        ],
        vec!["-vv", "history", "--format", "json"],
        vec!["-vv", "show", "--format", "json"],
        vec!["-vv", "verify"],
    ] {
        let run = env.run_with(&args, |c| {
            c.env("TENCENTCLOUD_SECRET_ID", SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", SIM_KEY)
                .env("TENCENTCLOUD_TOKEN", "TemporaryTokenThatMustNotLeak42")
                .env("TCSS_AUDIT_LOG", "trace");
        });
        outputs.push(run.stdout);
        outputs.push(run.stderr);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(env.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
        }
    }
    assert!(!files.is_empty(), "the database was written");
    for text in outputs.iter().chain(&files) {
        assert!(!text.contains(SIM_KEY), "the secret key leaked: {text}");
        assert!(
            !text.contains("TemporaryTokenThatMustNotLeak42"),
            "the token leaked"
        );
    }
}

#[test]
fn a_named_profile_of_the_credentials_file_is_used() {
    let sim = Sim::start(&[]);
    let env = Env::new();
    let dir = env.path(".tencentcloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("credentials"), format!("[default]\nsecret_id = AKIDnope\nsecret_key = nope\n\n[audit]\nsecret_id = {SIM_ID}\nsecret_key = {SIM_KEY}\n")).unwrap();
    env.run(&["snapshot", "--endpoint", &sim.url, "--profile", "audit"])
        .ok();
    let wrong = env.run(&["snapshot", "--endpoint", &sim.url]).code(3);
    assert!(
        wrong.stderr.contains("AuthFailure.SecretIdNotFound"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn a_clock_far_off_is_named_as_the_cause() {
    let sim = Sim::start(&[]);
    let mut env = Env::new();
    let behind = chrono::Utc::now() - chrono::Duration::minutes(10);
    env.now = Some(behind.to_rfc3339());
    let run = env
        .run_signed(&["snapshot", "--endpoint", &sim.url])
        .code(3);
    assert!(
        run.stderr.contains("AuthFailure.SignatureExpire"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("s behind the server's"),
        "{}",
        run.stderr
    );
    assert_eq!(env.rows("snapshots"), 0);
}

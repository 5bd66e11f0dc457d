//! The deployment files do what they say: the Kubernetes ConfigMap's config keeps the shipped
//! policies and adds its example, and the Dockerfile the CronJob's image comes from is sound.

use std::path::Path;

use crate::support::{Env, SEED};

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text of a `key: |` block of the ConfigMap: its lines, less their four-space indent.
fn block(yaml: &str, key: &str) -> String {
    let start = format!("  {key}: |");
    let mut lines = yaml.lines().skip_while(|l| *l != start).skip(1);
    let mut out = String::new();
    for line in lines.by_ref() {
        if !line.is_empty() && !line.starts_with("    ") {
            break;
        }
        out.push_str(line.strip_prefix("    ").unwrap_or(line));
        out.push('\n');
    }
    assert!(!out.trim().is_empty(), "no {key} in the ConfigMap");
    out
}

#[test]
fn the_configmap_keeps_the_shipped_policies_and_adds_its_example() {
    let yaml = repo("deploy/kubernetes/cronjob.yaml");
    let env = Env::new();
    std::fs::create_dir_all(env.path("etc/policies")).unwrap();
    let config = env.write("etc/config.toml", &block(&yaml, "config.toml"));
    env.write(
        "etc/policies/example-policy.toml",
        &block(&yaml, "example-policy.toml"),
    );
    // The example's own tests pass, alongside the shipped ones.
    let tested = env
        .run(&[
            "policy",
            "test",
            "@builtin",
            env.path("etc/policies").to_str().unwrap(),
        ])
        .ok();
    assert!(
        tested.stdout.contains("example-policy.toml"),
        "{}",
        tested.stdout
    );
    let file = env.write("seed.json", SEED);
    env.run(&[
        "import",
        file.to_str().unwrap(),
        "--at",
        "2026-11-01T03:00:00Z",
        "--target",
        "prod",
    ])
    .ok();
    let builtin = tcss_audit::policy::builtin().set.rules().len();
    let check = env.run(&[
        "--config",
        config.to_str().unwrap(),
        "check",
        "--format",
        "json",
    ]);
    let doc = check.json();
    let rules: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules.len(), builtin + 2, "{rules:?}");
    assert!(
        rules.contains(&"TCSS-SCAN-001") && rules.contains(&"EXAMPLE-002"),
        "{rules:?}"
    );
}

#[test]
fn the_dockerfile_builds_in_two_stages_and_runs_as_the_cronjobs_user() {
    let text = repo("Dockerfile");
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a run stage: {froms:?}");
    assert!(froms[0].contains(" AS build"), "{froms:?}");
    assert!(
        text.contains("COPY --from=build"),
        "the run stage takes only the binary"
    );
    assert!(text.contains("--locked"), "the build uses Cargo.lock");
    let user = text.lines().rfind(|l| l.starts_with("USER ")).unwrap();
    assert_eq!(user, "USER 10001:10001");
    let yaml = repo("deploy/kubernetes/cronjob.yaml");
    assert!(yaml.contains("runAsUser: 10001") && yaml.contains("runAsGroup: 10001"));
    assert!(text.contains("/usr/local/bin/audit"));
}

#[test]
fn the_dockerfile_passes_a_linter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let linters: [(&str, &[&str]); 2] = [("hadolint", &[]), ("dockerfile-utils", &["lint"])];
    let Some((name, args)) = linters.iter().find(|(name, _)| {
        std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install a Dockerfile linter (.ci/run installs dockerfile-utils)"
        );
        eprintln!("skipped: no Dockerfile linter (hadolint or dockerfile-utils) is installed");
        return;
    };
    let out = std::process::Command::new(name)
        .args(*args)
        .arg(root.join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{name}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped deploy config fails the job when the scan's scope is narrowed (chosen images
/// only, images excluded: medium rules), and passes a compliant task.
#[test]
fn the_deploy_config_fails_a_narrowed_scope() {
    let env = Env::new();
    let text = repo("deploy/config.example.toml").replace(
        "db = \"/var/lib/tcss-audit/audit.db\"",
        &format!("db = \"{}\"", env.db().display()),
    );
    assert!(text.contains("fail_on = \"medium\""), "{text}");
    std::fs::create_dir_all(env.path("etc/policies")).unwrap();
    for name in ["tcss-baseline.toml", "change-control.toml", "baseline.toml"] {
        std::fs::write(
            env.path(&format!("etc/policies/{name}")),
            repo(&format!("policies/{name}")),
        )
        .unwrap();
    }
    let config = env.write("etc/config.toml", &text);
    let task = |narrowed: bool| {
        let mut seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
        let r = &mut seed["Response"];
        r["Enable"] = true.into();
        r["RequestId"] = format!("req-{narrowed}").into();
        r["ScanType"] = serde_json::json!(["vul", "risk", "virus"]);
        r["ScanPeriod"] = 1.into();
        r["ScanTime"] = "03:00:00".into();
        r["All"] = (!narrowed).into();
        r["ScanScope"] = if narrowed { 1 } else { 0 }.into();
        r["Latest"] = false.into();
        r["ContainerRunning"] = false.into();
        r["LastScanTime"] = "2026-11-01 03:10:00".into();
        r["ScanResult"] = "Success".into();
        r["ExcludeImageAssetIds"] = if narrowed {
            serde_json::json!([1201, 1202])
        } else {
            serde_json::json!([])
        };
        seed.to_string()
    };
    let check = |name: &str, narrowed: bool, at: &str| {
        let file = env.write(name, &task(narrowed));
        env.run(&[
            "import",
            file.to_str().unwrap(),
            "--target",
            "prod",
            "--at",
            at,
        ])
        .ok();
        env.run_with(
            &[
                "--config",
                config.to_str().unwrap(),
                "check",
                "--target",
                "prod",
            ],
            |c| {
                c.env("TCSS_AUDIT_NOW", "2026-11-01T20:00:00Z");
            },
        )
    };
    let compliant = check("compliant.json", false, "2026-11-01T19:00:00Z");
    assert_eq!(
        compliant.code, 0,
        "{}{}",
        compliant.stdout, compliant.stderr
    );
    let narrowed = check("narrowed.json", true, "2026-11-01T19:30:00Z");
    assert_eq!(narrowed.code, 1, "{}{}", narrowed.stdout, narrowed.stderr);
    assert!(
        narrowed.stdout.contains("TCSS-SCAN-010") && narrowed.stdout.contains("TCSS-SCAN-007"),
        "{}",
        narrowed.stdout
    );
}

//! Credentials as organisations deploy them, against the real stand-in's STS, metadata service
//! and organization: roles per target, every source of base credentials, the account each
//! observation came from, and every member account.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::support::{Env, Heard, Hostile, Run, SEED, SIM_ID, SIM_KEY, Sim};

const MAIN: &str = "100000000001";
const SHOP: &str = "100000000002";
const ADS: &str = "100000000003";
const ROLE: &str = "OrganizationAccessControlRole";
const OIDC_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.pod-identity-token-that-must-never-be-printed";

/// The stand-in with an accounts file, logging each request (never a key) to a file.
struct World {
    _sim: Sim,
    url: String,
    log: PathBuf,
}

impl World {
    fn start(env: &Env, accounts: &str, extra: &[&str]) -> World {
        let file = env.write("accounts.toml", accounts);
        let log = env.path("sim.log");
        let mut args = vec!["--accounts", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let sim = Sim::start_logged(&args, &log);
        World {
            url: sim.url.clone(),
            _sim: sim,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// The management account, a CVM role in it, an OIDC provider, and the member `shop` whose task
/// is switched off (so that reading it shows whose task was read).
fn accounts(env: &Env, members: &[(&str, &str)]) -> String {
    let mut off: Value = serde_json::from_str(SEED).unwrap();
    off["Response"]["Enable"] = Value::Bool(false);
    env.write("shop.json", &off.to_string());
    env.write("oidc-token", OIDC_TOKEN);
    let mut text = format!(
        r#"uin = "{MAIN}"
name = "management"
metadata_role = "cvm-audit"
roles = [{{ name = "cvm-audit", trust = ["{MAIN}"] }}]

[[oidc]]
provider_id = "tke-oidc"
token_file = "oidc-token"
"#
    );
    for (uin, name) in members {
        let state = if *name == "shop" {
            "state = \"shop.json\"\n"
        } else {
            ""
        };
        text.push_str(&format!(
            r#"
[[member]]
uin = "{uin}"
name = "{name}"
{state}roles = [
  {{ name = "{ROLE}", trust = ["{MAIN}"] }},
  {{ name = "external", trust = ["{MAIN}"], external_id = "ext-1" }},
  {{ name = "pod", trust = ["oidc:tke-oidc"] }},
]
"#
        ));
    }
    text
}

fn arn(uin: &str, role: &str) -> String {
    format!("qcs::cam::uin/{uin}:roleName/{role}")
}

/// Runs with the management account's long-term key in the environment.
fn as_manager(env: &Env, args: &[&str]) -> Run {
    env.run_with(args, |c| {
        c.env("TENCENTCLOUD_SECRET_ID", SIM_ID)
            .env("TENCENTCLOUD_SECRET_KEY", SIM_KEY);
    })
}

fn show(env: &Env, cfg: &Path, target: &str) -> Value {
    env.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "show",
        "--target",
        target,
        "--format",
        "json",
    ])
    .ok()
    .json()
}

#[test]
fn a_role_in_a_member_account_is_assumed_and_its_task_read_with_the_temporary_key() {
    let env = Env::new();
    let world = World::start(&env, &accounts(&env, &[(SHOP, "shop")]), &[]);
    let cfg = env.write(
        "config.toml",
        &format!(
            r#"
[[target]]
name = "shop"
endpoint = "{url}"
role_arn = "{role}"
external_id = "ext-1"
account = "{SHOP}"

[[target]]
name = "wrong-id"
endpoint = "{url}"
role_arn = "{role}"
external_id = "not-it"

[[target]]
name = "pinned-elsewhere"
endpoint = "{url}"
account = "{ADS}"
"#,
            url = world.url,
            role = arn(SHOP, "external"),
        ),
    );
    let c = cfg.to_str().unwrap();
    let out = as_manager(&env, &["--config", c, "snapshot", "--target", "shop"]).ok();
    assert!(
        out.stdout.contains(&format!("account {SHOP}")),
        "{}",
        out.stdout
    );
    let shown = show(&env, &cfg, "shop");
    assert_eq!(shown["config"]["Enable"], false, "the member's own task");
    assert_eq!(shown["snapshot"]["identity"]["account"], SHOP);
    assert_eq!(
        shown["snapshot"]["identity"]["principal_type"],
        "AssumedRole"
    );
    // The stand-in accepts a temporary SecretId only with its token: the Describe it logged
    // under a temporary id was signed with the temporary key and carried the token.
    let log = world.log();
    assert!(log.contains("AssumeRole"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("DescribeImageRegistryTimingScanTask")
                && l.contains("AKIDtmp")
                && l.contains("outcome=ok")),
        "{log}"
    );

    // A wrong external id: the role is refused, exit 3, nothing recorded for it.
    let refused = as_manager(&env, &["--config", c, "snapshot", "--target", "wrong-id"]).code(3);
    assert!(
        refused.stderr.contains("UnauthorizedOperation")
            && refused.stderr.contains(&arn(SHOP, "external")),
        "{}",
        refused.stderr
    );
    // Pinned to another account than its credentials reach: exit 3, both accounts named.
    let pinned = as_manager(
        &env,
        &["--config", c, "snapshot", "--target", "pinned-elsewhere"],
    )
    .code(3);
    assert!(
        pinned.stderr.contains(ADS) && pinned.stderr.contains(MAIN),
        "{}",
        pinned.stderr
    );
    assert_eq!(
        env.rows("snapshots"),
        1,
        "only the shop's answer is recorded"
    );
    let history = env
        .run(&["--config", c, "history", "--target", "shop"])
        .ok();
    assert!(history.stdout.contains(SHOP), "{}", history.stdout);
}

#[test]
fn a_run_longer_than_the_temporary_credentials_life_renews_them() {
    let env = Env::new();
    let world = World::start(
        &env,
        &accounts(&env, &[(SHOP, "shop")]),
        &[
            "--temp-lifetime",
            "2s",
            "--latency",
            "250ms",
            "--rate-limit",
            "0",
        ],
    );
    let mut cfg = format!(
        r#"
[defaults]
endpoint = "{}"
role_arn = "{}"
role_session_name = "nightly"
"#,
        world.url,
        arn(SHOP, ROLE)
    );
    for i in 0..14 {
        cfg.push_str(&format!("\n[[target]]\nname = \"t{i:02}\"\n"));
    }
    let cfg = env.write("config.toml", &cfg);
    let out_dir = env.path("reports");
    let run = as_manager(
        &env,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--concurrency",
            "1",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
    );
    // 14 targets one at a time at 250 ms each outlast the 2 s credentials several times over.
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    assert!(!run.stderr.contains("TokenFailure"), "{}", run.stderr);
    assert_eq!(env.rows("snapshots"), 14);
    let log = world.log();
    assert!(!log.contains("TokenFailure"), "{log}");
    let assumed = log
        .lines()
        .filter(|l| l.contains("action=AssumeRole") && l.contains("outcome=ok"))
        .count();
    assert!(assumed >= 2, "renewed: {assumed} AssumeRole calls\n{log}");
}

#[test]
fn base_credentials_come_from_each_source_tencents_tools_use() {
    let env = Env::new();
    let world = World::start(&env, &accounts(&env, &[(SHOP, "shop")]), &[]);
    let target = |name: &str, extra: &str| {
        format!(
            "\n[[target]]\nname = \"{name}\"\nendpoint = \"{}\"\n{extra}\n",
            world.url
        )
    };
    let cfg = env.write(
        "config.toml",
        &[
            target("env-role", "credentials = \"env\""),
            target("tccli", "credentials = \"tccli\""),
            target("cvm", "credentials = \"cvm-role\""),
            target("pod", "credentials = \"oidc\""),
            target("chain", ""),
        ]
        .concat(),
    );
    let c = cfg.to_str().unwrap();
    let account_of = |t: &str| show(&env, &cfg, t)["snapshot"]["identity"].clone();

    // The environment, with tccli's role variables.
    env.run_with(
        &["--config", c, "snapshot", "--target", "env-role"],
        |cmd| {
            cmd.env("TENCENTCLOUD_SECRET_ID", SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", SIM_KEY)
                .env("TENCENTCLOUD_ROLE_ARN", arn(SHOP, ROLE))
                .env("TENCENTCLOUD_ROLE_SESSION_NAME", "from-env");
        },
    )
    .ok();
    let id = account_of("env-role");
    assert_eq!(
        (id["account"].as_str(), id["principal_type"].as_str()),
        (Some(SHOP), Some("AssumedRole"))
    );
    assert!(id["arn"].as_str().unwrap().ends_with("/from-env"), "{id}");

    // tccli's own file, with a role in it.
    let tccli = env.path(".tccli");
    std::fs::create_dir_all(&tccli).unwrap();
    std::fs::write(
        tccli.join("default.credential"),
        serde_json::json!({
            "secretId": SIM_ID, "secretKey": SIM_KEY,
            "role-arn": arn(SHOP, ROLE), "role-session-name": "from-tccli"
        })
        .to_string(),
    )
    .unwrap();
    env.run(&["--config", c, "snapshot", "--target", "tccli"])
        .ok();
    assert!(
        account_of("tccli")["arn"]
            .as_str()
            .unwrap()
            .ends_with("/from-tccli")
    );

    // The CVM instance role, from the metadata service (no key anywhere).
    env.run(&["--config", c, "snapshot", "--target", "cvm"])
        .ok();
    let id = account_of("cvm");
    assert_eq!(id["account"], MAIN);
    assert!(id["arn"].as_str().unwrap().contains("assumed-role"), "{id}");

    // The TKE pod identity.
    let token = env.path("oidc-token");
    env.run_with(&["--config", c, "snapshot", "--target", "pod"], |cmd| {
        cmd.env("TKE_REGION", "ap-guangzhou")
            .env("TKE_PROVIDER_ID", "tke-oidc")
            .env("TKE_WEB_IDENTITY_TOKEN_FILE", &token)
            .env("TKE_ROLE_ARN", arn(SHOP, "pod"));
    })
    .ok();
    assert_eq!(account_of("pod")["account"], SHOP);

    // The chain finds the tccli file (after the environment and profile gave nothing).
    env.run(&["--config", c, "snapshot", "--target", "chain"])
        .ok();
    assert!(
        account_of("chain")["arn"]
            .as_str()
            .unwrap()
            .ends_with("/from-tccli")
    );

    // Nothing anywhere: every source says why it gave nothing.
    std::fs::remove_file(tccli.join("default.credential")).unwrap();
    let nothing = World::start(&env, &format!("uin = \"{MAIN}\"\n"), &[]);
    let bare = env.write(
        "bare.toml",
        &format!("[[target]]\nname = \"x\"\nendpoint = \"{}\"\n", nothing.url),
    );
    let e = env
        .run(&["--config", bare.to_str().unwrap(), "snapshot"])
        .code(3);
    for source in ["env:", "profile:", "tccli:", "cvm-role:", "oidc:"] {
        assert!(e.stderr.contains(source), "{source}: {}", e.stderr);
    }
    assert!(e.stderr.contains("no CAM role is bound"), "{}", e.stderr);
}

#[test]
fn an_organization_is_audited_member_by_member_and_new_and_departed_ones_are_named() {
    let env = Env::new();
    let cfg = |url: &str| {
        env.write(
            "config.toml",
            &format!(
                "[organization]\nendpoint = \"{url}\"\nname = \"org-{{uin}}\"\nexclude = [\"excluded\"]\n"
            ),
        )
    };
    let out_dir = env.path("reports");
    let run = |url: &str| {
        let c = cfg(url);
        let r = as_manager(
            &env,
            &[
                "--config",
                c.to_str().unwrap(),
                "run",
                "--out-dir",
                out_dir.to_str().unwrap(),
            ],
        );
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
        let json = r
            .stdout
            .lines()
            .find(|l| l.ends_with(".json"))
            .unwrap()
            .to_string();
        let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        (r, report)
    };
    let membership = |report: &Value, target: &str| {
        report["run"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == target)
            .map(|t| t["membership"].clone())
    };
    {
        let world = World::start(
            &env,
            &accounts(&env, &[(SHOP, "shop"), ("100000000009", "excluded")]),
            &[],
        );
        let (r, report) = run(&world.url);
        assert!(r.stderr.contains(&format!("org-{SHOP}")), "{}", r.stderr);
        assert_eq!(
            membership(&report, &format!("org-{SHOP}")),
            Some(Value::from("new"))
        );
        assert_eq!(membership(&report, "org-100000000009"), None, "excluded");
    }
    // A member joins.
    {
        let world = World::start(&env, &accounts(&env, &[(SHOP, "shop"), (ADS, "ads")]), &[]);
        let (_, report) = run(&world.url);
        assert_eq!(
            membership(&report, &format!("org-{SHOP}")),
            Some(Value::Null)
        );
        assert_eq!(
            membership(&report, &format!("org-{ADS}")),
            Some(Value::from("new"))
        );
        let names: Vec<&str> = report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&format!("org-{ADS}").as_str()), "{names:?}");
    }
    // And the first one leaves: named as gone, its history kept.
    {
        let world = World::start(&env, &accounts(&env, &[(ADS, "ads")]), &[]);
        let (r, report) = run(&world.url);
        assert_eq!(
            membership(&report, &format!("org-{SHOP}")),
            Some(Value::from("gone"))
        );
        let history = env
            .run(&["history", "--target", &format!("org-{SHOP}")])
            .ok();
        assert_eq!(history.stdout.lines().count(), 1 + 2, "{}", history.stdout);
        let md = r
            .stdout
            .lines()
            .find(|l| l.ends_with(".md"))
            .unwrap()
            .to_string();
        let md = std::fs::read_to_string(md).unwrap();
        assert!(
            md.contains("no longer a member of the organization"),
            "{md}"
        );
        // Said on stderr too, where the run's other lines are.
        assert!(
            r.stderr.contains(&format!(
                "org-{SHOP}: no longer a member of the organization"
            )),
            "{}",
            r.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_temporary_key_token_or_oidc_token_reaches_any_output_or_the_database() {
    use tcss_audit::task::clock::SystemClock;
    use tcss_audit::tencent::identity::{RoleSpec, assume_role};
    use tcss_audit::tencent::{ClientOptions, Credentials, Endpoint, Provider, Secret};
    let env = Env::new();
    let world = World::start(&env, &accounts(&env, &[(SHOP, "shop")]), &[]);
    // Temporary credentials, had here from the stand-in's STS as any tool would.
    let temp = assume_role(
        Provider::Static(Credentials {
            secret_id: SIM_ID.into(),
            secret_key: Secret::new(SIM_KEY),
            token: None,
            origin: "test".into(),
        }),
        RoleSpec {
            arn: arn(SHOP, ROLE),
            session_name: "leak-check".into(),
            duration: 7200,
            external_id: None,
        },
        Endpoint::parse(&world.url).unwrap(),
        Arc::new(SystemClock),
        &ClientOptions::default(),
    )
    .current()
    .await
    .unwrap();
    let key = temp.secret_key.expose().to_string();
    let token = temp.token.as_ref().unwrap().expose().to_string();
    let cfg = env.write(
        "config.toml",
        &format!(
            "[[target]]\nname = \"shop\"\nendpoint = \"{}\"\n\n[[target]]\nname = \"pod\"\nendpoint = \"{}\"\ncredentials = \"oidc\"\n",
            world.url, world.url
        ),
    );
    let c = cfg.to_str().unwrap().to_string();
    let token_file = env.path("oidc-token");
    let out_dir = env.path("reports");
    let mut printed = String::new();
    let mut runs: Vec<Vec<String>> = vec![
        vec!["-vv".into(), "snapshot".into(), "--all".into()],
        vec![
            "-vv".into(),
            "run".into(),
            "--out-dir".into(),
            out_dir.display().to_string(),
        ],
        vec![
            "history".into(),
            "--all".into(),
            "--format".into(),
            "json".into(),
        ],
        vec!["export".into()],
    ];
    for args in runs.iter_mut() {
        let mut full = vec!["--config".to_string(), c.clone()];
        full.append(args);
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let r = env.run_with(&full, |cmd| {
            cmd.env("TENCENTCLOUD_SECRET_ID", &temp.secret_id)
                .env("TENCENTCLOUD_SECRET_KEY", &key)
                .env("TENCENTCLOUD_TOKEN", &token)
                .env("TKE_REGION", "ap-guangzhou")
                .env("TKE_PROVIDER_ID", "tke-oidc")
                .env("TKE_WEB_IDENTITY_TOKEN_FILE", &token_file)
                .env("TKE_ROLE_ARN", arn(SHOP, "pod"));
        });
        assert!(r.code <= 1, "{full:?}: {}", r.stderr);
        printed.push_str(&r.stdout);
        printed.push_str(&r.stderr);
    }
    assert!(printed.contains("account 100000000002"), "{printed}");
    let files = crate::support::files_under(env.dir.path());
    for secret in [key.as_str(), token.as_str(), OIDC_TOKEN] {
        assert!(!printed.contains(secret), "a secret was printed");
        for f in files.iter().filter(|f| !f.ends_with("oidc-token")) {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !crate::support::holds(&bytes, secret.as_bytes()),
                "a secret is in {}",
                f.display()
            );
        }
    }
    assert!(files.iter().any(|f| f.ends_with("audit.db")));
}

#[test]
fn a_target_whose_account_changes_between_runs_is_flagged_in_the_report() {
    let env = Env::new();
    let world = World::start(&env, &accounts(&env, &[(SHOP, "shop"), (ADS, "ads")]), &[]);
    for member in [SHOP, ADS] {
        let cfg = env.write(
            "config.toml",
            &format!(
                "[[target]]\nname = \"moving\"\nendpoint = \"{}\"\nrole_arn = \"{}\"\n",
                world.url,
                arn(member, ROLE)
            ),
        );
        as_manager(&env, &["--config", cfg.to_str().unwrap(), "snapshot"]).ok();
    }
    let report = env
        .run(&["report", "--target", "moving", "--format", "json"])
        .ok()
        .json();
    let changes = &report["targets"][0]["account_changes"];
    assert_eq!(changes.as_array().map(Vec::len), Some(1), "{changes}");
    assert_eq!(
        (changes[0]["from"].as_str(), changes[0]["to"].as_str()),
        (Some(SHOP), Some(ADS))
    );
    let md = env
        .run(&["report", "--target", "moving", "--format", "markdown"])
        .ok()
        .stdout;
    assert!(
        md.contains("**The account changed** at snapshot #2"),
        "{md}"
    );
}

// What a hostile STS, organization or metadata service can make the tool do: each one a small
// server on loopback answering what Tencent's would not.

/// An STS answer of the documented shape whose credentials expire at `expired` (Unix seconds).
fn sts_credentials(expired: i64) -> String {
    serde_json::json!({"Response": {
        "Credentials": {
            "TmpSecretId": "AKIDhostileTEMP",
            "TmpSecretKey": "hostile-temporary-key-never-printed",
            "Token": "hostile-token-never-printed"
        },
        "ExpiredTime": expired,
        "Expiration": "2001-01-01T00:00:00Z",
        "RequestId": "req-sts"
    }})
    .to_string()
}

fn caller(account: &str) -> String {
    serde_json::json!({"Response": {
        "AccountId": account, "Arn": arn(account, ROLE), "Type": "AssumedRole",
        "RequestId": "req-caller"
    }})
    .to_string()
}

#[test]
fn credentials_sts_gives_already_expired_are_refused_unused_and_not_asked_for_again() {
    let env = Env::new();
    let expired = chrono::Utc::now().timestamp() - 3600;
    let server = Hostile::start(move |h| match h.action.as_str() {
        "AssumeRole" => (200, sts_credentials(expired)),
        "GetCallerIdentity" => (200, caller(SHOP)),
        _ => (200, SEED.to_string()),
    });
    let cfg = env.write(
        "config.toml",
        &format!(
            "sts_endpoint = \"{url}\"\n\n[[target]]\nname = \"stale-role\"\nendpoint = \"{url}\"\nrole_arn = \"{}\"\n",
            arn(SHOP, ROLE),
            url = server.url,
        ),
    );
    let r = as_manager(&env, &["--config", cfg.to_str().unwrap(), "snapshot"]).code(3);
    assert!(
        r.stderr.contains("stale-role") && r.stderr.contains("already expired"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("never-printed"), "{}", r.stderr);
    let heard = server.heard();
    assert!(
        heard.iter().all(|h| h.action == "AssumeRole"),
        "the expired credentials signed a request: {heard:?}"
    );
    assert_eq!(server.count("AssumeRole"), 1, "{heard:?}");
    assert!(
        heard[0].path == "/" && heard[0].body.contains(&arn(SHOP, ROLE)),
        "{heard:?}"
    );
    assert_eq!(env.rows("snapshots"), 0);
}

/// A page of `DescribeOrganizationMembers`: `count` members from UIN `first` on, and `Total`.
fn members_page(first: u64, count: u64, total: u64) -> String {
    let items: Vec<Value> = (first..first + count)
        .map(|uin| serde_json::json!({"MemberUin": uin, "Name": format!("m{uin}")}))
        .collect();
    serde_json::json!({"Response": {"Items": items, "Total": total, "RequestId": "req-org"}})
        .to_string()
}

/// The request's `Offset`.
fn offset_of(h: &Heard) -> u64 {
    serde_json::from_str::<Value>(&h.body).unwrap()["Offset"]
        .as_u64()
        .unwrap()
}

/// Lists the members from `server` and asks for a target no member makes: the listing's own
/// outcome is all the run does.
fn list_members(env: &Env, server: &Hostile) -> Run {
    let cfg = env.write(
        "config.toml",
        &format!(
            "organization_endpoint = \"{url}\"\n\n[organization]\nendpoint = \"{url}\"\n",
            url = server.url
        ),
    );
    let out_dir = env.path("reports");
    as_manager(
        env,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--target",
            "no-such-member",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
    )
}

/// Gives up after 300 pages of 50 new members (15,000), as the hostile server of the issue did.
const GIVES_UP_AFTER: u64 = 300 * 50;

#[test]
fn the_member_listing_stops_at_the_first_pages_total() {
    let env = Env::new();
    // The first page says 60; every later one says 15,000 and has 50 new members.
    let server = Hostile::start(|h| {
        let offset = offset_of(h);
        let total = if offset == 0 { 60 } else { GIVES_UP_AFTER };
        let count = if offset >= GIVES_UP_AFTER { 0 } else { 50 };
        (200, members_page(200_000_000_000 + offset, count, total))
    });
    let r = list_members(&env, &server).code(2);
    assert!(r.stderr.contains("no-such-member"), "{}", r.stderr);
    assert_eq!(server.count("DescribeOrganizationMembers"), 2);
}

#[test]
fn the_member_listing_stops_at_its_cap_of_pages_with_an_error_naming_the_endpoint() {
    let env = Env::new();
    let server = Hostile::start(|h| {
        let offset = offset_of(h);
        let count = if offset >= GIVES_UP_AFTER { 0 } else { 50 };
        (
            200,
            members_page(200_000_000_000 + offset, count, GIVES_UP_AFTER),
        )
    });
    let r = list_members(&env, &server).code(3);
    assert!(
        r.stderr.contains("200 pages") && r.stderr.contains(&server.url),
        "{}",
        r.stderr
    );
    assert_eq!(server.count("DescribeOrganizationMembers"), 200);
}

#[test]
fn a_repeated_page_of_members_is_an_error_naming_the_endpoint() {
    let env = Env::new();
    // Whatever the offset, the same fifty members of a hundred.
    let server = Hostile::start(|_| (200, members_page(200_000_000_000, 50, 100)));
    let r = list_members(&env, &server).code(3);
    assert!(
        r.stderr.contains("no new member") && r.stderr.contains(&server.url),
        "{}",
        r.stderr
    );
    assert_eq!(server.count("DescribeOrganizationMembers"), 2);
}

#[test]
fn a_member_listing_that_ends_before_its_total_says_so() {
    let env = Env::new();
    // Fifty members of the hundred announced, then nothing.
    let server = Hostile::start(|h| {
        let count = if offset_of(h) == 0 { 50 } else { 0 };
        (200, members_page(200_000_000_000, count, 100))
    });
    let r = list_members(&env, &server).code(2);
    assert!(
        r.stderr
            .contains("empty page at Offset 50 of the Total 100")
            && r.stderr.contains("50 members"),
        "{}",
        r.stderr
    );
    assert_eq!(server.count("DescribeOrganizationMembers"), 2);
}

#[test]
fn a_metadata_role_name_that_is_a_path_is_refused_and_nothing_above_it_is_asked() {
    for name in ["..", ".", "audit/../../x"] {
        let env = Env::new();
        let future = chrono::Utc::now().timestamp() + 7200;
        let listed = name.to_string();
        let server = Hostile::start(move |h| match (h.path.as_str(), h.action.as_str()) {
            ("/latest/meta-data/cam/security-credentials/", _) => (200, listed.clone()),
            (_, "GetCallerIdentity") => (200, caller(MAIN)),
            // Any other GET: the credentials of whatever role the path names.
            (_, "") => {
                let answer: Value = serde_json::from_str(&sts_credentials(future)).unwrap();
                let mut c = answer["Response"]["Credentials"].clone();
                c["ExpiredTime"] = future.into();
                c["Code"] = "Success".into();
                (200, c.to_string())
            }
            _ => (200, SEED.to_string()),
        });
        let cfg = env.write(
            "config.toml",
            &format!(
                "metadata_endpoint = \"{url}\"\n\n[[target]]\nname = \"cvm\"\nendpoint = \"{url}\"\ncredentials = \"cvm-role\"\n",
                url = server.url
            ),
        );
        let r = env
            .run(&["--config", cfg.to_str().unwrap(), "snapshot"])
            .code(3);
        assert!(
            r.stderr.contains(&server.url) && r.stderr.contains("not a valid CAM role name"),
            "{name}: {}",
            r.stderr
        );
        let heard = server.heard();
        assert_eq!(heard.len(), 1, "{name}: {heard:?}");
    }
}

#[test]
fn members_whose_names_collide_are_refused_by_name_and_the_others_are_audited() {
    let env = Env::new();
    // With the template `{name}`, one member is named as the configured target, and two share
    // a name (with a control character in it); `shop` and `ads` have names of their own.
    const PROD_MEMBER: &str = "100000000004";
    const TWINS: [&str; 2] = ["100000000005", "100000000006"];
    let world = World::start(
        &env,
        &accounts(
            &env,
            &[
                (SHOP, "shop"),
                (ADS, "ads"),
                (PROD_MEMBER, "prod"),
                (TWINS[0], "twin\\u001b[2J"),
                (TWINS[1], "twin\\u001b[2J"),
            ],
        ),
        &[],
    );
    let cfg = env.write(
        "config.toml",
        &format!(
            "[[target]]\nname = \"prod\"\nendpoint = \"{url}\"\n\n[organization]\nendpoint = \"{url}\"\nname = \"{{name}}\"\n",
            url = world.url
        ),
    );
    let out = env.path("reports");
    let r = as_manager(
        &env,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--out-dir",
            out.to_str().unwrap(),
        ],
    )
    .code(2);
    assert!(
        r.stderr.contains(&format!(
            "error: target name \"prod\" is given twice: by a target of the config file and by organization member {PROD_MEMBER} (named \"prod\")"
        )) && r.stderr.contains("the member is not audited"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "error: target name \"twin\\u{{1b}}[2J\" is given twice: by organization member {} (named \"twin\\u{{1b}}[2J\") and by organization member {} (named \"twin\\u{{1b}}[2J\")",
            TWINS[0], TWINS[1]
        )) && r.stderr.contains("neither member is audited"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains('\u{1b}'), "escaped: {}", r.stderr);
    // The errors come last, after every target's line.
    let last = r.stderr.lines().last().unwrap();
    assert!(last.starts_with("error: target name"), "{}", r.stderr);

    // The configured prod was audited as configured (the management account's task); the
    // others were audited through their roles; the colliding members were not.
    let db = rusqlite::Connection::open(env.db()).unwrap();
    let accounts: Vec<(String, String)> = db
        .prepare(
            "SELECT t.name, s.account FROM snapshots s JOIN targets t ON t.id = s.target_id
             ORDER BY t.name",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        accounts,
        [
            ("ads".to_string(), ADS.to_string()),
            ("prod".to_string(), MAIN.to_string()),
            ("shop".to_string(), SHOP.to_string())
        ]
    );
    assert!(!world.log().contains(PROD_MEMBER), "{}", world.log());
    for twin in TWINS {
        assert!(!world.log().contains(twin), "{}", world.log());
    }

    // The reports were written, and the configured prod is no new member.
    let json = r.stdout.lines().find(|l| l.ends_with(".json")).unwrap();
    assert!(r.stdout.lines().any(|l| l.ends_with(".md")), "{}", r.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let membership: Vec<(String, Value)> = report["run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["membership"].clone(),
            )
        })
        .collect();
    assert_eq!(
        membership,
        [
            ("ads".to_string(), Value::from("new")),
            ("prod".to_string(), Value::Null),
            ("shop".to_string(), Value::from("new"))
        ]
    );
    let md =
        std::fs::read_to_string(r.stdout.lines().find(|l| l.ends_with(".md")).unwrap()).unwrap();
    assert!(!md.contains("`prod`: new member"), "{md}");
}

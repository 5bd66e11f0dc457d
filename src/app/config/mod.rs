//! The config file: targets (name, endpoint, region, where credentials come from) and defaults
//! for the database, policies, `--fail-on`, the display zone and the API's time offset.

use std::path::{Path, PathBuf};

use crate::tencent::{CredentialSource, DEFAULT_ENDPOINT};
use chrono::FixedOffset;

mod parse;
mod raw;

/// A config file that cannot be used: every problem found in it, each at its place.
#[derive(Debug)]
pub struct ConfigError {
    pub path: String,
    /// At least one.
    pub problems: Vec<Problem>,
}

/// One problem of a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, when the problem has a place (an unreadable file has none).
    pub line_col: Option<(usize, usize)>,
    pub message: String,
}

impl ConfigError {
    /// A problem of the whole file (it cannot be read).
    fn whole(path: &Path, message: String) -> ConfigError {
        ConfigError {
            path: path.display().to_string(),
            problems: vec![Problem {
                line_col: None,
                message,
            }],
        }
    }

    /// The first problem, by place in the file.
    pub fn first(&self) -> &Problem {
        &self.problems[0]
    }
}

impl std::fmt::Display for ConfigError {
    /// A line a problem: `config file PATH:LINE:COL: MESSAGE`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "config file {}", self.path)?;
            if let Some((l, c)) = p.line_col {
                write!(f, ":{l}:{c}")?;
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// One account's scan task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub name: String,
    pub endpoint: String,
    pub region: Option<String>,
    pub credentials: CredentialSource,
    /// The account (UIN) the answers must come from.
    pub account: Option<String>,
}

impl TargetSpec {
    /// The target used when no config file names any.
    pub fn default_target() -> Self {
        Self {
            name: "default".into(),
            endpoint: DEFAULT_ENDPOINT.into(),
            region: None,
            credentials: CredentialSource::default(),
            account: None,
        }
    }
}

/// The `[organization]` section: every member account, reached through a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationSpec {
    /// The management account's base credentials.
    pub credentials: CredentialSource,
    /// The TCSS endpoint of the members' targets.
    pub endpoint: String,
    pub region: Option<String>,
    pub role_name: String,
    pub external_id: Option<String>,
    pub role_duration: u32,
    /// Member UINs or names; empty: every member.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Target names: `{uin}` and `{name}` are replaced.
    pub name: String,
}

/// `OrganizationAccessControlRole`: the preset identity through which a management account
/// reaches its members.
pub const ORG_ROLE: &str = "OrganizationAccessControlRole";

/// A role session name from a target name: `tcss-audit-NAME`, with characters STS does not take
/// (it takes letters, digits and `+=,.@_-`, 2 to 128 of them) made `-`.
pub fn session_name_for(target: &str) -> String {
    let mut s: String = format!("tcss-audit-{target}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(128);
    s
}

/// Everything the config file decides, with defaults for what it leaves out.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file these came from, if any.
    pub file: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub policies: Vec<PathBuf>,
    pub fail_on: Option<String>,
    /// `audit run` exits 1 when a target's config drifted, as `diff --exit-code` does.
    pub fail_on_drift: bool,
    pub timezone: Option<String>,
    /// The private key that signs checkpoints and reports (`signing_key`).
    pub signing_key: Option<PathBuf>,
    /// Where the signer keeps the place and head of its last signature, outside the database
    /// (`signer_state`).
    pub signer_state: Option<PathBuf>,
    /// How the API's offset-less times (`LastScanTime`) are read: UTC+8 unless set.
    pub api_offset: FixedOffset,
    pub targets: Vec<TargetSpec>,
    /// The config file names its targets (else `targets` holds the one default target).
    pub targets_given: bool,
    /// Request timeouts and retries; flags override them.
    pub client: ClientSettings,
    /// STS, Organization and the CVM metadata service, where set (hosts or URLs).
    pub sts_endpoint: Option<String>,
    pub organization_endpoint: Option<String>,
    pub metadata_endpoint: Option<String>,
    pub organization: Option<OrganizationSpec>,
    /// Where notifications go (`[[notify]]`).
    pub notify: Vec<crate::app::notify::NotifySpec>,
    /// Where `audit run` writes its Prometheus metrics.
    pub metrics_file: Option<PathBuf>,
}

/// How requests are made, as the config file sets it (`None`: the built-in default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSettings {
    pub timeout: Option<u64>,
    pub retries: Option<u32>,
    pub retry_max_time: Option<u64>,
    /// More CA certificates to trust (PEM).
    pub ca_file: Option<PathBuf>,
    /// A proxy URL for every request.
    pub proxy: Option<String>,
}

impl ClientSettings {
    /// The network settings the file gives, the CA file of a flag (`ca_file`) before its own.
    pub fn net(&self, ca_file: Option<PathBuf>) -> crate::net::Settings {
        crate::net::Settings {
            ca_file: ca_file.or_else(|| self.ca_file.clone()),
            proxy: self.proxy.clone(),
            ..crate::net::Settings::default()
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            file: None,
            db: None,
            policies: Vec::new(),
            fail_on: None,
            fail_on_drift: false,
            timezone: None,
            signing_key: None,
            signer_state: None,
            api_offset: beijing(),
            targets: vec![TargetSpec::default_target()],
            targets_given: false,
            client: ClientSettings::default(),
            sts_endpoint: None,
            organization_endpoint: None,
            metadata_endpoint: None,
            organization: None,
            notify: Vec::new(),
            metrics_file: None,
        }
    }
}

/// UTC+8, the offset Tencent Cloud's APIs mean by times written without one.
pub fn beijing() -> FixedOffset {
    crate::policy::default_api_offset()
}

impl Settings {
    /// Reads a config file. Relative paths in it are relative to the file's folder.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole(path, format!("cannot read it: {e}")))?;
        Self::parse(&text, path)
    }

    /// Reads a config file's text: every problem of the file at once, each at its place.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        parse::settings(text, path)
    }

    pub fn target(&self, name: &str) -> Option<&TargetSpec> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses_with_paths_relative_to_it() {
        let text = r#"
db = "audit.db"
policies = ["policies", "/etc/tcss/extra.toml"]
fail_on = "high"
timezone = "Asia/Shanghai"
timeout = 20
retries = 5

[[target]]
name = "prod"
endpoint = "tcss.tencentcloudapi.com"
region = "ap-guangzhou"
secret_id_env = "PROD_SECRET_ID"
secret_key_env = "PROD_SECRET_KEY"
token_env = "PROD_TOKEN"

[[target]]
name = "staging"
profile = "staging"
"#;
        let s = Settings::parse(text, Path::new("/srv/tcss/audit.toml")).unwrap();
        assert_eq!(s.db.as_deref(), Some(Path::new("/srv/tcss/audit.db")));
        assert_eq!(s.policies[0], PathBuf::from("/srv/tcss/policies"));
        assert_eq!(s.policies[1], PathBuf::from("/etc/tcss/extra.toml"));
        assert_eq!(s.targets.len(), 2);
        let prod = s.target("prod").unwrap();
        assert_eq!(prod.credentials.secret_id_env, "PROD_SECRET_ID");
        assert_eq!(prod.region.as_deref(), Some("ap-guangzhou"));
        let staging = s.target("staging").unwrap();
        assert_eq!(staging.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(staging.credentials.profile.as_deref(), Some("staging"));
        assert_eq!(staging.credentials.secret_id_env, "TENCENTCLOUD_SECRET_ID");
        assert_eq!(s.api_offset, beijing());
        assert_eq!(
            s.client,
            ClientSettings {
                timeout: Some(20),
                retries: Some(5),
                retry_max_time: None,
                ca_file: None,
                proxy: None,
            }
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let text = "db = \"a.db\"\n[[target]]\nname = \"x\"\nendpont = \"h\"\n";
        let e = Settings::parse(text, Path::new("c.toml")).unwrap_err();
        assert_eq!(e.first().line_col.map(|(l, _)| l), Some(4), "{e}");
        assert!(e.to_string().starts_with("config file c.toml:4:"), "{e}");
        assert!(e.first().message.contains("endpont"), "{e}");

        let e = Settings::parse("fail_on = \"severe\"\n", Path::new("c.toml")).unwrap_err();
        assert!(
            e.to_string().contains("c.toml:1:1") && e.first().message.contains("critical"),
            "{e}"
        );

        let e = Settings::parse(
            "[[target]]\nname = \"a\"\nendpoint = \"http://10.1.1.1\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(e.first().message.contains("loopback"), "{e}");
        assert_eq!(e.first().line_col.map(|(l, _)| l), Some(3));
    }

    #[test]
    fn a_control_character_in_a_target_name_is_named_with_its_place() {
        let text = "[[target]]\nname = \"ok\"\n\n[[target]]\nname = \"pr\\u0007od\"\n";
        let e = Settings::parse(text, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().starts_with("config file c.toml:5:8:"), "{e}");
        assert!(
            e.first().message.contains("U+0007") && e.first().message.contains("pr\\u{7}od"),
            "{e}"
        );
        assert!(!e.to_string().contains('\u{7}'), "{e}");
        let e = Settings::parse("[[target]]\nname = \" \"\n", Path::new("c.toml")).unwrap_err();
        assert!(
            e.to_string().contains("c.toml:2:8") && e.first().message.contains("needs a name"),
            "{e}"
        );
        let e = Settings::parse(
            "[[target]]\nname = \"a\"\n[[target]]\nname = \"a\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("c.toml:4:8") && e.first().message.contains("twice"),
            "{e}"
        );
    }

    /// Every problem of the file at once, each at the place of its value (the second `on`, not
    /// the first key `on` of the file), in the file's order.
    #[test]
    fn every_problem_is_reported_at_once_at_its_value() {
        let text = r#"fail_on = "severe"

[[notify]]
kind = "slack"
url_env = "A"
on = ["drift"]

[[notify]]
kind = "webhook"
url_env = "B"
on = ["drift", "drfit"]
stale_after = "soon"

[[target]]
name = "a"
account = "12x"
role_duration = 0
"#;
        let e = Settings::parse(text, Path::new("c.toml")).unwrap_err();
        let at: Vec<(usize, usize)> = e.problems.iter().filter_map(|p| p.line_col).collect();
        assert_eq!(
            at,
            vec![(1, 11), (11, 16), (12, 15), (16, 11), (17, 17)],
            "{e}"
        );
        assert!(e.problems[1].message.contains("\"drfit\""), "{e}");
        let shown = e.to_string();
        assert_eq!(shown.lines().count(), 5, "{shown}");
        assert!(
            shown.lines().all(|l| l.starts_with("config file c.toml:")),
            "{shown}"
        );
    }

    /// A value of `[defaults]` that every target takes is one problem, at its place.
    #[test]
    fn a_bad_default_is_said_once() {
        let text = "[defaults]\nrole_duration = 99999999\n\n[[target]]\nname = \"a\"\n\n[[target]]\nname = \"b\"\n";
        let e = Settings::parse(text, Path::new("c.toml")).unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        assert_eq!(e.first().line_col, Some((2, 17)), "{e}");
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse::parse_offset("+08:00"), Some(beijing()));
        assert_eq!(
            parse::parse_offset("-05:30").unwrap().local_minus_utc(),
            -(5 * 3600 + 30 * 60)
        );
        assert_eq!(parse::parse_offset("UTC").unwrap().local_minus_utc(), 0);
        assert!(parse::parse_offset("8").is_none() && parse::parse_offset("+25:00").is_none());
    }
}

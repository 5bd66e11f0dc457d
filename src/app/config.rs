//! The config file: targets (name, endpoint, region, where credentials come from) and defaults
//! for the database, policies, `--fail-on`, the display zone and the API's time offset.

use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use serde::Deserialize;

use crate::tencent::credentials::SourceKind;
use crate::tencent::identity::RoleSpec;
use crate::tencent::{CredentialSource, DEFAULT_ENDPOINT};

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config file {path}{}: {message}", .line_col.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ConfigError {
    pub path: String,
    pub line_col: Option<(usize, usize)>,
    pub message: String,
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    db: Option<String>,
    #[serde(default)]
    policies: Vec<String>,
    fail_on: Option<String>,
    #[serde(default)]
    fail_on_drift: bool,
    timezone: Option<String>,
    signing_key: Option<String>,
    signer_state: Option<String>,
    api_offset: Option<String>,
    timeout: Option<u64>,
    retries: Option<u32>,
    retry_max_time: Option<u64>,
    ca_file: Option<String>,
    proxy: Option<String>,
    sts_endpoint: Option<String>,
    organization_endpoint: Option<String>,
    metadata_endpoint: Option<String>,
    #[serde(default)]
    defaults: RawIdentity,
    organization: Option<RawOrganization>,
    #[serde(default)]
    notify: Vec<RawNotify>,
    metrics_file: Option<String>,
    #[serde(default)]
    target: Vec<RawTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    kind: String,
    url_env: String,
    secret_env: Option<String>,
    on: Option<Vec<String>>,
    #[serde(default)]
    targets: Vec<String>,
    language: Option<String>,
    stale_after: Option<String>,
}

/// A `[[target]]`: its name and what [`RawIdentity`] holds, written out again because serde's
/// `flatten` cannot be combined with `deny_unknown_fields`, and a misspelt key must be an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: toml::Spanned<String>,
    endpoint: Option<String>,
    region: Option<String>,
    secret_id_env: Option<String>,
    secret_key_env: Option<String>,
    token_env: Option<String>,
    profile: Option<String>,
    credentials_file: Option<String>,
    credentials: Option<String>,
    role_arn: Option<String>,
    role_session_name: Option<String>,
    role_duration: Option<u32>,
    external_id: Option<String>,
    account: Option<String>,
}

/// What a target may say about its credentials, also as `[defaults]` for every target.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    endpoint: Option<String>,
    region: Option<String>,
    secret_id_env: Option<String>,
    secret_key_env: Option<String>,
    token_env: Option<String>,
    profile: Option<String>,
    credentials_file: Option<String>,
    credentials: Option<String>,
    role_arn: Option<String>,
    role_session_name: Option<String>,
    role_duration: Option<u32>,
    external_id: Option<String>,
    account: Option<String>,
}

impl RawTarget {
    /// The target's own identity settings, each falling back to `[defaults]`.
    fn identity(&self, d: &RawIdentity) -> RawIdentity {
        let or = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        RawIdentity {
            endpoint: or(&self.endpoint, &d.endpoint),
            region: or(&self.region, &d.region),
            secret_id_env: or(&self.secret_id_env, &d.secret_id_env),
            secret_key_env: or(&self.secret_key_env, &d.secret_key_env),
            token_env: or(&self.token_env, &d.token_env),
            profile: or(&self.profile, &d.profile),
            credentials_file: or(&self.credentials_file, &d.credentials_file),
            credentials: or(&self.credentials, &d.credentials),
            role_arn: or(&self.role_arn, &d.role_arn),
            role_session_name: or(&self.role_session_name, &d.role_session_name),
            role_duration: self.role_duration.or(d.role_duration),
            external_id: or(&self.external_id, &d.external_id),
            account: or(&self.account, &d.account),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganization {
    endpoint: Option<String>,
    region: Option<String>,
    secret_id_env: Option<String>,
    secret_key_env: Option<String>,
    token_env: Option<String>,
    profile: Option<String>,
    credentials_file: Option<String>,
    credentials: Option<String>,
    role_name: Option<String>,
    role_duration: Option<u32>,
    external_id: Option<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    name: Option<String>,
}

impl Settings {
    /// Reads a config file. Relative paths in it are relative to the file's folder.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: shown.clone(),
            line_col: None,
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let shown = path.display().to_string();
        let fail = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
            path: shown.clone(),
            line_col: span.map(|s| line_col(text, s.start)),
            message,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| fail(e.span(), e.message().to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let find = |needle: &str| text.find(needle).map(|i| i..i + needle.len());
        if let Some(f) = &raw.fail_on
            && !["info", "low", "medium", "high", "critical"].contains(&f.as_str())
        {
            return Err(fail(
                find("fail_on"),
                format!("fail_on = {f:?}: use one of info, low, medium, high, critical"),
            ));
        }
        if let Some(tz) = &raw.timezone {
            crate::task::when::parse_zone(tz).map_err(|m| fail(find("timezone"), m))?;
        }
        let api_offset = match &raw.api_offset {
            Some(o) => parse_offset(o).ok_or_else(|| {
                fail(
                    find("api_offset"),
                    format!("api_offset = {o:?}: write an offset such as \"+08:00\""),
                )
            })?,
            None => beijing(),
        };
        let mut targets = Vec::new();
        let mut names = std::collections::HashSet::new();
        for t in raw.target {
            let span = t.name.span();
            let name = t.name.get_ref().clone();
            if name.trim().is_empty() {
                return Err(fail(Some(span), "a target needs a name".into()));
            }
            if let Some(c) = name.chars().find(|c| c.is_control()) {
                return Err(fail(
                    Some(span),
                    format!(
                        "target name \"{}\" holds the control character U+{:04X}; a name is shown in reports, logs and terminals: use letters, digits, `-`, `_` and `.`",
                        crate::task::text::visible(&name),
                        c as u32
                    ),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(fail(
                    Some(span),
                    format!(
                        "target \"{}\" is named twice",
                        crate::task::text::visible(&name)
                    ),
                ));
            }
            let id = t.identity(&raw.defaults);
            let endpoint = id
                .endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
            crate::tencent::Endpoint::parse(&endpoint)
                .map_err(|e| fail(find(&endpoint), e.to_string()))?;
            if let Some(a) = &id.account
                && (a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(fail(
                    find("account"),
                    format!(
                        "account = {:?}: give the account's UIN, its digits only",
                        crate::task::text::visible(a)
                    ),
                ));
            }
            let credentials = credential_source(
                &id,
                &name,
                id.role_arn.clone(),
                &resolve,
                &|needle: &str| find(needle),
            )
            .map_err(|(span, m)| fail(span, m))?;
            targets.push(TargetSpec {
                name,
                endpoint,
                region: id.region.clone(),
                credentials,
                account: id.account.clone(),
            });
        }
        for (key, value) in [
            ("sts_endpoint", &raw.sts_endpoint),
            ("organization_endpoint", &raw.organization_endpoint),
        ] {
            if let Some(v) = value {
                crate::tencent::Endpoint::parse(v)
                    .map_err(|e| fail(find(key), format!("{key}: {e}")))?;
            }
        }
        if let Some(m) = &raw.metadata_endpoint {
            crate::tencent::credentials::metadata_url(m)
                .map_err(|e| fail(find("metadata_endpoint"), format!("metadata_endpoint: {e}")))?;
        }
        let mut notify = Vec::new();
        for n in raw.notify {
            use crate::app::notify::{DEFAULT_ON, NotifyKind, NotifySpec};
            use crate::report::notify::{EventKind, Language};
            let at = |key: &str| find(key);
            let kind = NotifyKind::parse(&n.kind).ok_or_else(|| {
                fail(
                    at("kind"),
                    format!(
                        "[[notify]] kind = {:?}: use one of {}",
                        crate::task::text::visible(&n.kind),
                        NotifyKind::ALL.map(NotifyKind::as_str).join(", ")
                    ),
                )
            })?;
            if n.url_env.trim().is_empty() || n.url_env.contains("://") {
                return Err(fail(
                    at("url_env"),
                    "[[notify]] url_env names the environment variable that holds the webhook URL (the URL is a secret and does not belong in this file)".into(),
                ));
            }
            if n.secret_env.is_some() && matches!(kind, NotifyKind::Wecom | NotifyKind::Slack) {
                return Err(fail(
                    at("secret_env"),
                    format!(
                        "[[notify]] kind = \"{}\" takes no secret_env: its URL is its secret",
                        kind.as_str()
                    ),
                ));
            }
            let (mut on, mut always) = (Vec::new(), false);
            match &n.on {
                None => on.extend(DEFAULT_ON),
                Some(list) => {
                    for word in list {
                        if word == "always" {
                            always = true;
                        } else {
                            on.push(EventKind::parse(word).ok_or_else(|| {
                                fail(
                                    at("on"),
                                    format!(
                                        "[[notify]] on = {:?}: use drift, new-failure, error, recovered, stale or always",
                                        crate::task::text::visible(word)
                                    ),
                                )
                            })?);
                        }
                    }
                }
            }
            let targets = n
                .targets
                .iter()
                .map(|g| {
                    glob::Pattern::new(g).map_err(|e| {
                        fail(
                            at("targets"),
                            format!("[[notify]] targets: {g:?} is not a glob: {e}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let language = match n.language.as_deref() {
                None => Language::En,
                Some(l) => Language::parse(l).ok_or_else(|| {
                    fail(
                        at("language"),
                        format!("[[notify]] language = {l:?}: use en or zh"),
                    )
                })?,
            };
            let stale_after = match n.stale_after.as_deref() {
                None => chrono::Duration::hours(26),
                Some(s) => humantime::parse_duration(s)
                    .ok()
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .filter(|d| *d > chrono::Duration::zero())
                    .ok_or_else(|| {
                        fail(
                            at("stale_after"),
                            format!(
                                "[[notify]] stale_after = {s:?}: give a duration such as \"26h\""
                            ),
                        )
                    })?,
            };
            notify.push(NotifySpec {
                kind,
                url_env: n.url_env,
                secret_env: n.secret_env,
                on,
                always,
                targets,
                language,
                stale_after,
            });
        }
        let organization = match raw.organization {
            None => None,
            Some(o) => {
                let endpoint = o
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
                crate::tencent::Endpoint::parse(&endpoint)
                    .map_err(|e| fail(find("[organization]"), e.to_string()))?;
                let id = RawIdentity {
                    endpoint: None,
                    region: o.region.clone(),
                    secret_id_env: o.secret_id_env.clone(),
                    secret_key_env: o.secret_key_env.clone(),
                    token_env: o.token_env.clone(),
                    profile: o.profile.clone(),
                    credentials_file: o.credentials_file.clone(),
                    credentials: o.credentials.clone(),
                    role_arn: None,
                    role_session_name: None,
                    role_duration: o.role_duration,
                    external_id: None,
                    account: None,
                };
                let credentials =
                    credential_source(&id, "organization", None, &resolve, &|needle: &str| {
                        find(needle)
                    })
                    .map_err(|(span, m)| fail(span, m))?;
                let name = o.name.unwrap_or_else(|| "org-{uin}".into());
                if !name.contains("{uin}") && !name.contains("{name}") {
                    return Err(fail(
                        find("[organization]"),
                        format!(
                            "[organization] name = {name:?}: it must hold {{uin}} or {{name}}, so that each member's target has a name of its own"
                        ),
                    ));
                }
                Some(OrganizationSpec {
                    credentials,
                    endpoint,
                    region: o.region,
                    role_name: o.role_name.unwrap_or_else(|| ORG_ROLE.into()),
                    external_id: o.external_id,
                    role_duration: o
                        .role_duration
                        .unwrap_or(crate::tencent::identity::DEFAULT_ROLE_DURATION),
                    include: o.include,
                    exclude: o.exclude,
                    name,
                })
            }
        };
        let targets_given = !targets.is_empty();
        if targets.is_empty() {
            targets.push(TargetSpec::default_target());
        }
        Ok(Settings {
            file: Some(path.to_path_buf()),
            db: raw.db.as_deref().map(resolve),
            policies: raw
                .policies
                .iter()
                .map(|p| match p.as_str() {
                    crate::policy::BUILTIN_NAME => PathBuf::from(p),
                    p => resolve(p),
                })
                .collect(),
            fail_on: raw.fail_on,
            fail_on_drift: raw.fail_on_drift,
            signing_key: raw.signing_key.as_deref().map(resolve),
            signer_state: raw.signer_state.as_deref().map(resolve),
            timezone: raw.timezone,
            api_offset,
            targets,
            targets_given,
            client: ClientSettings {
                timeout: raw.timeout,
                retries: raw.retries,
                retry_max_time: raw.retry_max_time,
                ca_file: raw.ca_file.as_deref().map(resolve),
                proxy: raw.proxy.clone(),
            },
            sts_endpoint: raw.sts_endpoint,
            organization_endpoint: raw.organization_endpoint,
            metadata_endpoint: raw.metadata_endpoint,
            organization,
            notify,
            metrics_file: raw.metrics_file.as_deref().map(resolve),
        })
    }

    pub fn target(&self, name: &str) -> Option<&TargetSpec> {
        self.targets.iter().find(|t| t.name == name)
    }
}

type Span = Option<std::ops::Range<usize>>;

/// The credential source a target's (or the organization's) settings describe.
fn credential_source(
    id: &RawIdentity,
    target: &str,
    role_arn: Option<String>,
    resolve: &dyn Fn(&str) -> PathBuf,
    find: &dyn Fn(&str) -> Span,
) -> Result<CredentialSource, (Span, String)> {
    let defaults = CredentialSource::default();
    let kind = match &id.credentials {
        None => None,
        Some(k) => Some(SourceKind::parse(k).ok_or_else(|| {
            (
                find("credentials"),
                format!(
                    "credentials = {:?}: use one of {}",
                    crate::task::text::visible(k),
                    SourceKind::ALL.map(SourceKind::as_str).join(", ")
                ),
            )
        })?),
    };
    let duration = id
        .role_duration
        .unwrap_or(crate::tencent::identity::DEFAULT_ROLE_DURATION);
    if duration == 0 || duration > crate::tencent::identity::MAX_ROLE_DURATION {
        return Err((
            find("role_duration"),
            format!(
                "role_duration = {duration}: give seconds, at most {}",
                crate::tencent::identity::MAX_ROLE_DURATION
            ),
        ));
    }
    let role = role_arn.map(|arn| RoleSpec {
        arn,
        session_name: id
            .role_session_name
            .clone()
            .unwrap_or_else(|| session_name_for(target)),
        duration,
        external_id: id.external_id.clone(),
    });
    Ok(CredentialSource {
        secret_id_env: id.secret_id_env.clone().unwrap_or(defaults.secret_id_env),
        secret_key_env: id.secret_key_env.clone().unwrap_or(defaults.secret_key_env),
        token_env: id.token_env.clone().unwrap_or(defaults.token_env),
        profile: id.profile.clone(),
        file: id.credentials_file.as_deref().map(resolve),
        kind,
        role,
    })
}

fn parse_offset(text: &str) -> Option<FixedOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("Z") || t.eq_ignore_ascii_case("UTC") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
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
        assert_eq!(e.line_col.map(|(l, _)| l), Some(4), "{e}");
        assert!(e.to_string().starts_with("config file c.toml:4:"), "{e}");
        assert!(e.message.contains("endpont"), "{e}");

        let e = Settings::parse("fail_on = \"severe\"\n", Path::new("c.toml")).unwrap_err();
        assert!(
            e.to_string().contains("c.toml:1:1") && e.message.contains("critical"),
            "{e}"
        );

        let e = Settings::parse(
            "[[target]]\nname = \"a\"\nendpoint = \"http://10.1.1.1\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(e.message.contains("loopback"), "{e}");
        assert_eq!(e.line_col.map(|(l, _)| l), Some(3));
    }

    #[test]
    fn a_control_character_in_a_target_name_is_named_with_its_place() {
        let text = "[[target]]\nname = \"ok\"\n\n[[target]]\nname = \"pr\\u0007od\"\n";
        let e = Settings::parse(text, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().starts_with("config file c.toml:5:8:"), "{e}");
        assert!(
            e.message.contains("U+0007") && e.message.contains("pr\\u{7}od"),
            "{e}"
        );
        assert!(!e.to_string().contains('\u{7}'), "{e}");
        let e = Settings::parse("[[target]]\nname = \" \"\n", Path::new("c.toml")).unwrap_err();
        assert!(
            e.to_string().contains("c.toml:2:8") && e.message.contains("needs a name"),
            "{e}"
        );
        let e = Settings::parse(
            "[[target]]\nname = \"a\"\n[[target]]\nname = \"a\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("c.toml:4:8") && e.message.contains("twice"),
            "{e}"
        );
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("+08:00"), Some(beijing()));
        assert_eq!(
            parse_offset("-05:30").unwrap().local_minus_utc(),
            -(5 * 3600 + 30 * 60)
        );
        assert_eq!(parse_offset("UTC").unwrap().local_minus_utc(), 0);
        assert!(parse_offset("8").is_none() && parse_offset("+25:00").is_none());
    }
}

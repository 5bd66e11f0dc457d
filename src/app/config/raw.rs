//! The config file as TOML gives it: every key the file may hold, the values that are checked
//! afterwards kept with their place (`Spanned`), so that each problem is reported where it is.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub db: Option<String>,
    #[serde(default)]
    pub policies: Vec<String>,
    pub fail_on: Option<Spanned<String>>,
    #[serde(default)]
    pub fail_on_drift: bool,
    pub timezone: Option<Spanned<String>>,
    pub signing_key: Option<String>,
    pub signer_state: Option<String>,
    pub api_offset: Option<Spanned<String>>,
    pub timeout: Option<u64>,
    pub retries: Option<u32>,
    pub retry_max_time: Option<u64>,
    pub ca_file: Option<String>,
    pub proxy: Option<Spanned<String>>,
    pub sts_endpoint: Option<Spanned<String>>,
    pub organization_endpoint: Option<Spanned<String>>,
    pub metadata_endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub defaults: RawIdentity,
    pub organization: Option<Spanned<RawOrganization>>,
    #[serde(default)]
    pub notify: Vec<Spanned<RawNotify>>,
    pub metrics_file: Option<String>,
    #[serde(default)]
    pub target: Vec<RawTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub kind: Spanned<String>,
    pub url_env: Spanned<String>,
    pub secret_env: Option<Spanned<String>>,
    pub on: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    pub language: Option<Spanned<String>>,
    pub stale_after: Option<Spanned<String>>,
}

/// A `[[target]]`: its name and what [`RawIdentity`] holds, written out again because serde's
/// `flatten` cannot be combined with `deny_unknown_fields`, and a misspelt key must be an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub name: Spanned<String>,
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<String>,
    pub secret_id_env: Option<String>,
    pub secret_key_env: Option<String>,
    pub token_env: Option<String>,
    pub profile: Option<String>,
    pub credentials_file: Option<String>,
    pub credentials: Option<Spanned<String>>,
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub role_duration: Option<Spanned<u32>>,
    pub external_id: Option<String>,
    pub account: Option<Spanned<String>>,
}

/// What a target may say about its credentials, also as `[defaults]` for every target.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<String>,
    pub secret_id_env: Option<String>,
    pub secret_key_env: Option<String>,
    pub token_env: Option<String>,
    pub profile: Option<String>,
    pub credentials_file: Option<String>,
    pub credentials: Option<Spanned<String>>,
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub role_duration: Option<Spanned<u32>>,
    pub external_id: Option<String>,
    pub account: Option<Spanned<String>>,
}

impl RawTarget {
    /// The target's own identity settings, each falling back to `[defaults]` (whose place is
    /// then the one reported).
    pub fn identity(&self, d: &RawIdentity) -> RawIdentity {
        fn or<T: Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
            a.clone().or_else(|| b.clone())
        }
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
            role_duration: or(&self.role_duration, &d.role_duration),
            external_id: or(&self.external_id, &d.external_id),
            account: or(&self.account, &d.account),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrganization {
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<String>,
    pub secret_id_env: Option<String>,
    pub secret_key_env: Option<String>,
    pub token_env: Option<String>,
    pub profile: Option<String>,
    pub credentials_file: Option<String>,
    pub credentials: Option<Spanned<String>>,
    pub role_name: Option<String>,
    pub role_duration: Option<Spanned<u32>>,
    pub external_id: Option<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub name: Option<Spanned<String>>,
}

impl RawOrganization {
    /// The management account's own credentials, as a target's would be given.
    pub fn identity(&self) -> RawIdentity {
        RawIdentity {
            endpoint: None,
            region: self.region.clone(),
            secret_id_env: self.secret_id_env.clone(),
            secret_key_env: self.secret_key_env.clone(),
            token_env: self.token_env.clone(),
            profile: self.profile.clone(),
            credentials_file: self.credentials_file.clone(),
            credentials: self.credentials.clone(),
            role_arn: None,
            role_session_name: None,
            role_duration: self.role_duration.clone(),
            external_id: None,
            account: None,
        }
    }
}

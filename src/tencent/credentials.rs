//! Credentials, looked for as Tencent's own tools do: environment variables, then a profile of
//! the INI credentials file (`~/.tencentcloud/credentials`, else `/etc/tencentcloud/credentials`).

use std::fmt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::client::ClientOptions;
use super::identity::{self, Provider, RoleSpec};
use super::{Error, Secret};
use crate::task::clock::Clock;

/// A SecretId, a SecretKey and, for temporary credentials, a session token.
#[derive(Clone)]
pub struct Credentials {
    pub secret_id: String,
    pub secret_key: Secret,
    pub token: Option<Secret>,
    /// Where they came from, for messages: "environment (TENCENTCLOUD_SECRET_ID)" or a profile.
    pub origin: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &self.secret_key)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("origin", &self.origin)
            .finish()
    }
}

/// Where a target's credentials are to be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSource {
    pub secret_id_env: String,
    pub secret_key_env: String,
    pub token_env: String,
    /// A profile of the credentials file to use instead of the environment.
    pub profile: Option<String>,
    /// The credentials file; default: the user's, then the system's.
    pub file: Option<PathBuf>,
    /// One source by name; `None`: the chain, in the order Tencent's tools use.
    pub kind: Option<SourceKind>,
    /// A role to assume with the base credentials.
    pub role: Option<RoleSpec>,
}

/// The sources of base credentials, in the chain's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The environment variables (and `TENCENTCLOUD_ROLE_ARN` with
    /// `TENCENTCLOUD_ROLE_SESSION_NAME`, as tccli reads them).
    Env,
    /// A profile of the INI credentials file.
    Profile,
    /// tccli's own `~/.tccli/PROFILE.credential`.
    Tccli,
    /// The CVM instance role, from the metadata service.
    CvmRole,
    /// The TKE pod identity (`TKE_*` variables, `AssumeRoleWithWebIdentity`).
    Oidc,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Env,
        SourceKind::Profile,
        SourceKind::Tccli,
        SourceKind::CvmRole,
        SourceKind::Oidc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Env => "env",
            SourceKind::Profile => "profile",
            SourceKind::Tccli => "tccli",
            SourceKind::CvmRole => "cvm-role",
            SourceKind::Oidc => "oidc",
        }
    }

    pub fn parse(text: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// The metadata service's default address (plain HTTP, reachable only from inside a CVM).
pub const DEFAULT_METADATA: &str = "http://metadata.tencentyun.com";

/// The metadata service at `text`: a URL (plain HTTP allowed: that is how it is served) or a
/// host name.
pub fn metadata_url(text: &str) -> Result<reqwest::Url, String> {
    let t = text.trim();
    let full = if t.contains("://") {
        t.to_string()
    } else {
        format!("http://{t}")
    };
    let mut url = reqwest::Url::parse(&full).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("give http://HOST[:PORT]".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Where the credential sources that need the network reach it.
#[derive(Debug, Clone)]
pub struct SourceEndpoints {
    pub sts: super::Endpoint,
    /// The CVM metadata service (plain HTTP by design).
    pub metadata: reqwest::Url,
}

impl Default for CredentialSource {
    fn default() -> Self {
        Self {
            secret_id_env: "TENCENTCLOUD_SECRET_ID".into(),
            secret_key_env: "TENCENTCLOUD_SECRET_KEY".into(),
            token_env: "TENCENTCLOUD_TOKEN".into(),
            profile: None,
            file: None,
            kind: None,
            role: None,
        }
    }
}

/// The credentials files Tencent's tools read, in order.
pub fn default_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(home) = dirs::home_dir() {
        files.push(home.join(".tencentcloud").join("credentials"));
    }
    files.push(PathBuf::from("/etc/tencentcloud/credentials"));
    files
}

/// What one source gave: credentials, or why it gave none (`Err(Some)`: an error to stop at,
/// such as a file that cannot be read; `Err(None)`-like absence is `Ok(None)` with a reason).
type Found = Result<Result<Provider, String>, Error>;

impl CredentialSource {
    /// The credentials for `target`: the named source or the chain, then the role to assume,
    /// if any. Each source that gave nothing says why, in the error.
    pub async fn provider(
        &self,
        target: &str,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        endpoints: &SourceEndpoints,
        clock: Arc<dyn Clock>,
        options: &ClientOptions,
    ) -> Result<Provider, Error> {
        let kinds: Vec<SourceKind> = match (self.kind, &self.profile) {
            (Some(k), _) => vec![k],
            // A profile named by hand wins over the environment.
            (None, Some(_)) => vec![SourceKind::Profile],
            (None, None) => SourceKind::ALL.to_vec(),
        };
        let mut tried = Vec::new();
        let mut base = None;
        for kind in kinds {
            match self
                .try_source(kind, target, env, endpoints, clock.clone(), options)
                .await?
            {
                Ok(p) => {
                    base = Some(p);
                    break;
                }
                Err(why) => tried.push(format!("{}: {why}", kind.as_str())),
            }
        }
        let Some(base) = base else {
            return Err(Error::NoSource {
                target: target.to_string(),
                tried: tried.join("; "),
            });
        };
        Ok(match &self.role {
            Some(role) => {
                identity::assume_role(base, role.clone(), endpoints.sts.clone(), clock, options)
            }
            None => base,
        })
    }

    async fn try_source(
        &self,
        kind: SourceKind,
        target: &str,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        endpoints: &SourceEndpoints,
        clock: Arc<dyn Clock>,
        options: &ClientOptions,
    ) -> Found {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        match kind {
            SourceKind::Env => self.env_key(target, &get, endpoints, clock, options),
            SourceKind::Profile => self.profile_key(),
            SourceKind::Tccli => {
                let profile = self
                    .profile
                    .clone()
                    .or_else(|| get("TCCLI_PROFILE"))
                    .unwrap_or_else(|| "default".into());
                let Some(home) = get("HOME").map(PathBuf::from).or_else(dirs::home_dir) else {
                    return Ok(Err("no home folder to find ~/.tccli in".into()));
                };
                let path = home.join(".tccli").join(format!("{profile}.credential"));
                tccli(&path, endpoints, clock, options).await
            }
            SourceKind::CvmRole => cvm_role(endpoints, clock, options).await,
            SourceKind::Oidc => oidc(&get, endpoints, clock, options),
        }
    }

    /// The key in the environment's variables, and a role to assume with it where tccli's
    /// variables name one.
    fn env_key(
        &self,
        target: &str,
        get: &dyn Fn(&str) -> Option<String>,
        endpoints: &SourceEndpoints,
        clock: Arc<dyn Clock>,
        options: &ClientOptions,
    ) -> Found {
        let (id, key) = (get(&self.secret_id_env), get(&self.secret_key_env));
        let creds = match (id, key) {
            (Some(id), Some(key)) => Credentials {
                secret_id: id.trim().to_string(),
                secret_key: Secret::new(key.trim()),
                token: get(&self.token_env).map(|t| Secret::new(t.trim())),
                origin: format!("environment ({})", self.secret_id_env),
            },
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::CredentialsFile {
                    path: "environment".into(),
                    message: format!(
                        "only one of {} and {} is set for target {target:?}; set both",
                        self.secret_id_env, self.secret_key_env
                    ),
                });
            }
            (None, None) => {
                return Ok(Err(format!(
                    "{} and {} are not set",
                    self.secret_id_env, self.secret_key_env
                )));
            }
        };
        let base = Provider::Static(creds);
        // tccli's variables: a role to assume with the environment's key.
        let (Some(arn), Some(session), None) = (
            get("TENCENTCLOUD_ROLE_ARN"),
            get("TENCENTCLOUD_ROLE_SESSION_NAME"),
            &self.role,
        ) else {
            return Ok(Ok(base));
        };
        Ok(Ok(identity::assume_role(
            base,
            RoleSpec {
                arn: arn.trim().to_string(),
                session_name: session.trim().to_string(),
                duration: identity::DEFAULT_ROLE_DURATION,
                external_id: None,
            },
            endpoints.sts.clone(),
            clock,
            options,
        )))
    }

    /// A profile of the credentials file.
    fn profile_key(&self) -> Found {
        let files = match &self.file {
            Some(f) => vec![f.clone()],
            None => default_files(),
        };
        let profile = self.profile.as_deref().unwrap_or("default");
        let shown_files = files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ");
        Ok(from_files(&files, profile)?
            .map(Provider::Static)
            .ok_or_else(|| format!("no profile [{profile}] with both keys in {shown_files}")))
    }

    /// Resolves the credentials for `target`, reading variables through `env`.
    pub fn resolve(
        &self,
        target: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Credentials, Error> {
        let files = match &self.file {
            Some(f) => vec![f.clone()],
            None => default_files(),
        };
        if let Some(profile) = &self.profile {
            // An explicit profile wins over the environment: the user named it.
            return from_files(&files, profile)?.ok_or_else(|| self.missing(target, &files));
        }
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        match (get(&self.secret_id_env), get(&self.secret_key_env)) {
            (Some(id), Some(key)) => Ok(Credentials {
                secret_id: id.trim().to_string(),
                secret_key: Secret::new(key.trim()),
                token: get(&self.token_env).map(|t| Secret::new(t.trim())),
                origin: format!("environment ({})", self.secret_id_env),
            }),
            (Some(_), None) | (None, Some(_)) => Err(Error::CredentialsFile {
                path: "environment".into(),
                message: format!(
                    "only one of {} and {} is set for target {target:?}; set both",
                    self.secret_id_env, self.secret_key_env
                ),
            }),
            (None, None) => {
                from_files(&files, "default")?.ok_or_else(|| self.missing(target, &files))
            }
        }
    }

    fn missing(&self, target: &str, files: &[PathBuf]) -> Error {
        Error::MissingCredentials {
            target: target.to_string(),
            id_env: self.secret_id_env.clone(),
            key_env: self.secret_key_env.clone(),
            token_env: self.token_env.clone(),
            files: match &self.profile {
                Some(p) => format!(
                    "profile [{p}] in {}",
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                None => files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            },
        }
    }
}

/// The first file that exists and has `profile` with both keys.
fn from_files(files: &[PathBuf], profile: &str) -> Result<Option<Credentials>, Error> {
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => {
                if let Some(c) = from_ini(file, &text, profile)? {
                    return Ok(Some(c));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::CredentialsFile {
                    path: file.display().to_string(),
                    message: format!("cannot read it: {e}"),
                });
            }
        }
    }
    Ok(None)
}

/// Reads `profile` from the text of an INI credentials file.
pub fn from_ini(path: &Path, text: &str, profile: &str) -> Result<Option<Credentials>, Error> {
    let ini = ini::Ini::load_from_str(text).map_err(|e| Error::CredentialsFile {
        path: path.display().to_string(),
        // The parser's message quotes positions, not values, so no key can leak through it.
        message: format!("not a valid INI file: line {}, column {}", e.line, e.col),
    })?;
    let Some(section) = ini.section(Some(profile)) else {
        return Ok(None);
    };
    let get = |k: &str| section.get(k).map(str::trim).filter(|v| !v.is_empty());
    match (get("secret_id"), get("secret_key")) {
        (Some(id), Some(key)) => Ok(Some(Credentials {
            secret_id: id.to_string(),
            secret_key: Secret::new(key),
            token: get("token").map(Secret::new),
            origin: format!("profile [{profile}] of {}", path.display()),
        })),
        _ => Err(Error::CredentialsFile {
            path: path.display().to_string(),
            message: format!("profile [{profile}] needs both secret_id and secret_key"),
        }),
    }
}

/// The CAM role bound to this CVM, from the metadata service.
async fn cvm_role(
    endpoints: &SourceEndpoints,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
) -> Found {
    match identity::instance_role_name(&endpoints.metadata, options).await {
        Ok(Some(role)) => Ok(Ok(identity::instance_role(
            &endpoints.metadata,
            &role,
            clock,
            options,
        )?)),
        Ok(None) => Ok(Err(format!(
            "the metadata service ({}) says no CAM role is bound to this instance",
            endpoints.metadata
        ))),
        // A service that answers with a path for a name is not one that is absent: the chain
        // stops rather than go on past it.
        Err(e @ Error::BadRoleName { .. }) => Err(e),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// A TKE pod's OIDC identity: the role its service account may assume with its token.
fn oidc(
    get: &dyn Fn(&str) -> Option<String>,
    endpoints: &SourceEndpoints,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
) -> Found {
    let vars = [
        "TKE_REGION",
        "TKE_PROVIDER_ID",
        "TKE_WEB_IDENTITY_TOKEN_FILE",
        "TKE_ROLE_ARN",
    ];
    let values: Vec<Option<String>> = vars.iter().map(|v| get(v)).collect();
    let missing: Vec<&str> = vars
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Ok(Err(format!("{} not set", missing.join(", "))));
    }
    let [region, provider_id, token_file, arn] =
        <[Option<String>; 4]>::try_from(values).expect("four values");
    Ok(Ok(identity::web_identity_role(
        provider_id.expect("checked"),
        PathBuf::from(token_file.expect("checked")),
        RoleSpec {
            arn: arn.expect("checked"),
            session_name: format!("tcss-audit-{}", clock.now().timestamp()),
            duration: identity::DEFAULT_ROLE_DURATION,
            external_id: None,
        },
        region.expect("checked"),
        endpoints.sts.clone(),
        clock,
        options,
    )))
}

/// tccli's credential file: `secretId`, `secretKey`, `token`, `role-arn`, `role-session-name`,
/// `type` (`cvm-role`: the instance role instead of keys).
async fn tccli(
    path: &Path,
    endpoints: &SourceEndpoints,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
) -> Found {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err(format!("no {}", path.display())));
        }
        Err(e) => {
            return Err(Error::CredentialsFile {
                path: path.display().to_string(),
                message: format!("cannot read it: {e}"),
            });
        }
    };
    let bad = |message: &str| Error::CredentialsFile {
        path: path.display().to_string(),
        message: message.to_string(),
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| bad("not a tccli credential file (not JSON)"))?;
    let get = |k: &str| {
        doc.get(k)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let base = if get("type") == Some("cvm-role") {
        match identity::instance_role_name(&endpoints.metadata, options).await {
            Ok(Some(role)) => {
                identity::instance_role(&endpoints.metadata, &role, clock.clone(), options)?
            }
            Ok(None) => {
                return Ok(Err(format!(
                    "{} names the CVM role, but none is bound to this instance",
                    path.display()
                )));
            }
            Err(e @ Error::BadRoleName { .. }) => return Err(e),
            Err(e) => return Ok(Err(format!("{} names the CVM role: {e}", path.display()))),
        }
    } else {
        match (get("secretId"), get("secretKey")) {
            (Some(id), Some(key)) => Provider::Static(Credentials {
                secret_id: id.to_string(),
                secret_key: Secret::new(key),
                token: get("token").map(Secret::new),
                origin: format!("tccli's {}", path.display()),
            }),
            _ => return Err(bad("it needs both secretId and secretKey")),
        }
    };
    Ok(Ok(match (get("role-arn"), get("role-session-name")) {
        (Some(arn), Some(session)) => identity::assume_role(
            base,
            RoleSpec {
                arn: arn.to_string(),
                session_name: session.to_string(),
                duration: identity::DEFAULT_ROLE_DURATION,
                external_id: None,
            },
            endpoints.sts.clone(),
            clock,
            options,
        ),
        _ => base,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn nowhere() -> CredentialSource {
        CredentialSource {
            file: Some(PathBuf::from("/nonexistent/tcss-audit/credentials")),
            ..Default::default()
        }
    }

    #[test]
    fn the_environment_comes_first() {
        let c = nowhere()
            .resolve(
                "default",
                &env(&[
                    ("TENCENTCLOUD_SECRET_ID", "AKIDabc"),
                    ("TENCENTCLOUD_SECRET_KEY", "k3yVALUE9"),
                    ("TENCENTCLOUD_TOKEN", "t0kenVALUE7"),
                ]),
            )
            .unwrap();
        assert_eq!(c.secret_id, "AKIDabc");
        assert_eq!(c.secret_key.expose(), "k3yVALUE9");
        assert_eq!(c.token.as_ref().unwrap().expose(), "t0kenVALUE7");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("k3yVALUE9") && !shown.contains("t0kenVALUE7"),
            "{shown}"
        );
    }

    #[test]
    fn missing_credentials_name_both_variables_and_the_files() {
        let e = nowhere()
            .resolve("prod", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("TENCENTCLOUD_SECRET_ID") && e.contains("TENCENTCLOUD_SECRET_KEY"),
            "{e}"
        );
        assert!(
            e.contains("/nonexistent/tcss-audit/credentials") && e.contains("prod"),
            "{e}"
        );
    }

    #[test]
    fn half_set_environment_is_an_error_without_the_value() {
        let e = nowhere()
            .resolve("default", &env(&[("TENCENTCLOUD_SECRET_KEY", "s3cr3t")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("set both") && !e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn profiles_are_read_from_the_ini_file() {
        let text = "[default]\nsecret_id = AKIDdef\nsecret_key = defkey\n\n[prod]\nsecret_id=AKIDprod\nsecret_key=prodkey\ntoken=t\n";
        let p = Path::new("credentials");
        let c = from_ini(p, text, "prod").unwrap().unwrap();
        assert_eq!(
            (c.secret_id.as_str(), c.secret_key.expose()),
            ("AKIDprod", "prodkey")
        );
        assert!(c.token.is_some());
        assert!(from_ini(p, text, "staging").unwrap().is_none());
        let e = from_ini(p, "[x]\nsecret_id=a\n", "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("secret_key"), "{e}");
    }

    #[test]
    fn the_default_profile_is_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(&file, "[default]\nsecret_id=AKIDfile\nsecret_key=filekey\n").unwrap();
        let source = CredentialSource {
            file: Some(file),
            ..Default::default()
        };
        let c = source.resolve("default", &env(&[])).unwrap();
        assert_eq!(c.secret_id, "AKIDfile");
        assert!(c.origin.contains("profile [default]"));
    }
}

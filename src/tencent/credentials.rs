//! Credentials, looked for as Tencent's own tools do: environment variables, then a profile of
//! the INI credentials file (`~/.tencentcloud/credentials`, else `/etc/tencentcloud/credentials`).

use std::fmt;
use std::path::{Path, PathBuf};

use super::{Error, Secret};

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
}

impl Default for CredentialSource {
    fn default() -> Self {
        Self {
            secret_id_env: "TENCENTCLOUD_SECRET_ID".into(),
            secret_key_env: "TENCENTCLOUD_SECRET_KEY".into(),
            token_env: "TENCENTCLOUD_TOKEN".into(),
            profile: None,
            file: None,
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

impl CredentialSource {
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

//! From the file's text to [`Settings`], as the policy loader reads policies: TOML first (a
//! syntax error or a misspelt key stops there, the parser cannot go on past it), then every value
//! checked, each problem kept with the place the parser gave its value, and all of them reported
//! at once, in the file's order.

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use toml::Spanned;

use super::raw::{RawFile, RawIdentity, RawNotify, RawOrganization, RawTarget};
use super::{
    ClientSettings, ConfigError, ORG_ROLE, OrganizationSpec, Problem, Settings, TargetSpec,
    beijing, line_col, session_name_for,
};
use crate::app::notify::{DEFAULT_ON, NotifySpec};
use crate::notify::Kind;
use crate::report::notify::{EventKind, Language};
use crate::task::text::visible;
use crate::tencent::credentials::SourceKind;
use crate::tencent::identity::RoleSpec;
use crate::tencent::{CredentialSource, DEFAULT_ENDPOINT};

/// The problems found so far, each with the byte range of the value it is about.
#[derive(Default)]
struct Problems {
    found: Vec<(Option<Range<usize>>, String)>,
}

impl Problems {
    fn at(&mut self, span: Range<usize>, message: String) {
        self.found.push((Some(span), message));
    }

    /// `value` checked by `check`: its result, or the problem recorded at the value's place.
    fn check<T, U>(
        &mut self,
        value: &Spanned<T>,
        check: impl FnOnce(&T) -> Result<U, String>,
    ) -> Option<U> {
        match check(value.get_ref()) {
            Ok(u) => Some(u),
            Err(message) => {
                self.at(value.span(), message);
                None
            }
        }
    }

    fn into_error(mut self, text: &str, path: &Path) -> ConfigError {
        self.found
            .sort_by_key(|(span, _)| span.as_ref().map_or(0, |s| s.start));
        // A `[defaults]` value is checked for every target that takes it: said once.
        self.found.dedup();
        ConfigError {
            path: path.display().to_string(),
            problems: self
                .found
                .into_iter()
                .map(|(span, message)| Problem {
                    line_col: span.map(|s| line_col(text, s.start)),
                    message,
                })
                .collect(),
        }
    }
}

pub(super) fn settings(text: &str, path: &Path) -> Result<Settings, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let mut p = Problems::default();
        p.found.push((e.span(), e.message().trim_end().to_string()));
        p.into_error(text, path)
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let mut problems = Problems::default();
    let api_offset = top_level(&raw, &mut problems);
    let targets = targets(&raw, &resolve, &mut problems);
    let notify: Vec<NotifySpec> = raw
        .notify
        .iter()
        .filter_map(|n| notify_spec(n.get_ref(), &mut problems))
        .collect();
    let organization = raw
        .organization
        .as_ref()
        .and_then(|o| organization(o, &resolve, &mut problems));
    if !problems.found.is_empty() {
        return Err(problems.into_error(text, path));
    }
    let targets_given = !targets.is_empty();
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
        fail_on: raw.fail_on.map(Spanned::into_inner),
        fail_on_drift: raw.fail_on_drift,
        signing_key: raw.signing_key.as_deref().map(resolve),
        signer_state: raw.signer_state.as_deref().map(resolve),
        timezone: raw.timezone.map(Spanned::into_inner),
        api_offset,
        targets: if targets_given {
            targets
        } else {
            vec![TargetSpec::default_target()]
        },
        targets_given,
        client: ClientSettings {
            timeout: raw.timeout,
            retries: raw.retries,
            retry_max_time: raw.retry_max_time,
            ca_file: raw.ca_file.as_deref().map(resolve),
            proxy: raw.proxy.map(Spanned::into_inner),
        },
        sts_endpoint: raw.sts_endpoint.map(Spanned::into_inner),
        organization_endpoint: raw.organization_endpoint.map(Spanned::into_inner),
        metadata_endpoint: raw.metadata_endpoint.map(Spanned::into_inner),
        organization,
        notify,
        metrics_file: raw.metrics_file.as_deref().map(resolve),
    })
}

/// The file's own keys; gives the API's offset.
fn top_level(raw: &RawFile, p: &mut Problems) -> FixedOffset {
    if let Some(f) = &raw.fail_on {
        p.check(f, |f| {
            if ["info", "low", "medium", "high", "critical"].contains(&f.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "fail_on = {:?}: use one of info, low, medium, high, critical",
                    visible(f)
                ))
            }
        });
    }
    if let Some(tz) = &raw.timezone {
        p.check(tz, |tz| crate::task::when::parse_zone(tz).map(|_| ()));
    }
    if let Some(proxy) = &raw.proxy {
        p.check(proxy, |text| {
            crate::net::check_proxy(text).map_err(|e| format!("proxy: {e}"))
        });
    }
    for (key, value) in [
        ("sts_endpoint", &raw.sts_endpoint),
        ("organization_endpoint", &raw.organization_endpoint),
    ] {
        if let Some(v) = value {
            p.check(v, |v| {
                crate::tencent::Endpoint::parse(v)
                    .map(|_| ())
                    .map_err(|e| format!("{key}: {e}"))
            });
        }
    }
    if let Some(m) = &raw.metadata_endpoint {
        p.check(m, |m| {
            crate::tencent::credentials::metadata_url(m)
                .map(|_| ())
                .map_err(|e| format!("metadata_endpoint: {e}"))
        });
    }
    raw.api_offset
        .as_ref()
        .and_then(|o| {
            p.check(o, |o| {
                parse_offset(o).ok_or_else(|| {
                    format!(
                        "api_offset = {:?}: write an offset such as \"+08:00\"",
                        visible(o)
                    )
                })
            })
        })
        .unwrap_or_else(beijing)
}

/// The `[[target]]`s, each with `[defaults]` under it.
fn targets(raw: &RawFile, resolve: &dyn Fn(&str) -> PathBuf, p: &mut Problems) -> Vec<TargetSpec> {
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for t in &raw.target {
        target_name(t, &mut names, p);
        let name = t.name.get_ref().clone();
        let id = t.identity(&raw.defaults);
        let endpoint = id
            .endpoint
            .as_ref()
            .map_or_else(|| DEFAULT_ENDPOINT.to_string(), |e| e.get_ref().clone());
        if let Some(e) = &id.endpoint {
            p.check(e, |e| {
                crate::tencent::Endpoint::parse(e)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        }
        if let Some(a) = &id.account {
            p.check(a, |a| {
                if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err(format!(
                        "account = {:?}: give the account's UIN, its digits only",
                        visible(a)
                    ))
                }
            });
        }
        let credentials = credential_source(&id, &name, id.role_arn.clone(), resolve, p);
        out.push(TargetSpec {
            name,
            endpoint,
            region: id.region.clone(),
            credentials,
            account: id.account.as_ref().map(|a| a.get_ref().clone()),
        });
    }
    out
}

/// A target's name: not empty, no control character, given once.
fn target_name(t: &RawTarget, names: &mut std::collections::HashSet<String>, p: &mut Problems) {
    p.check(&t.name, |name| {
        if name.trim().is_empty() {
            return Err("a target needs a name".into());
        }
        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(format!(
                "target name \"{}\" holds the control character U+{:04X}; a name is shown in reports, logs and terminals: use letters, digits, `-`, `_` and `.`",
                visible(name),
                c as u32
            ));
        }
        if !names.insert(name.clone()) {
            return Err(format!("target \"{}\" is named twice", visible(name)));
        }
        Ok(())
    });
}

/// A `[[notify]]` destination, or `None` when it has a problem (recorded).
fn notify_spec(n: &RawNotify, p: &mut Problems) -> Option<NotifySpec> {
    let before = p.found.len();
    let kind = p.check(&n.kind, |k| {
        Kind::parse(k).ok_or_else(|| {
            format!(
                "[[notify]] kind = {:?}: use one of {}",
                visible(k),
                Kind::names()
            )
        })
    });
    p.check(&n.url_env, |u| {
        if u.trim().is_empty() || u.contains("://") {
            Err("[[notify]] url_env names the environment variable that holds the webhook URL (the URL is a secret and does not belong in this file)".to_string())
        } else {
            Ok(())
        }
    });
    if let (Some(secret), Some(kind)) = (&n.secret_env, kind)
        && !kind.takes_secret()
    {
        p.at(
            secret.span(),
            format!(
                "[[notify]] kind = \"{}\" takes no secret_env: its URL is its secret",
                kind.name()
            ),
        );
    }
    let (on, always) = notify_on(n, p);
    let targets: Vec<glob::Pattern> = n
        .targets
        .iter()
        .filter_map(|g| {
            p.check(g, |g| {
                glob::Pattern::new(g)
                    .map_err(|e| format!("[[notify]] targets: {:?} is not a glob: {e}", visible(g)))
            })
        })
        .collect();
    let language = n.language.as_ref().map_or(Some(Language::En), |l| {
        p.check(l, |l| {
            Language::parse(l)
                .ok_or_else(|| format!("[[notify]] language = {:?}: use en or zh", visible(l)))
        })
    });
    let stale_after = n
        .stale_after
        .as_ref()
        .map_or(Some(chrono::Duration::hours(26)), |s| {
            p.check(s, |s| {
                humantime::parse_duration(s)
                    .ok()
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .filter(|d| *d > chrono::Duration::zero())
                    .ok_or_else(|| {
                        format!(
                            "[[notify]] stale_after = {:?}: give a duration such as \"26h\"",
                            visible(s)
                        )
                    })
            })
        });
    if p.found.len() > before {
        return None;
    }
    Some(NotifySpec {
        kind: kind?,
        url_env: n.url_env.get_ref().clone(),
        secret_env: n.secret_env.as_ref().map(|s| s.get_ref().clone()),
        on,
        always,
        targets,
        language: language?,
        stale_after: stale_after?,
    })
}

/// A destination's `on`: the kinds of event it is sent, and whether it is sent every run.
fn notify_on(n: &RawNotify, p: &mut Problems) -> (Vec<EventKind>, bool) {
    let Some(list) = &n.on else {
        return (DEFAULT_ON.to_vec(), false);
    };
    let (mut on, mut always) = (Vec::new(), false);
    for word in list {
        if word.get_ref() == "always" {
            always = true;
            continue;
        }
        on.extend(p.check(word, |w| {
            EventKind::parse(w).ok_or_else(|| {
                format!(
                    "[[notify]] on = {:?}: use drift, new-failure, error, recovered, stale or always",
                    visible(w)
                )
            })
        }));
    }
    (on, always)
}

/// The `[organization]` section, or `None` when it has a problem (recorded).
fn organization(
    o: &Spanned<RawOrganization>,
    resolve: &dyn Fn(&str) -> PathBuf,
    p: &mut Problems,
) -> Option<OrganizationSpec> {
    let before = p.found.len();
    let raw = o.get_ref();
    let endpoint = raw
        .endpoint
        .as_ref()
        .map_or_else(|| DEFAULT_ENDPOINT.to_string(), |e| e.get_ref().clone());
    if let Some(e) = &raw.endpoint {
        p.check(e, |e| {
            crate::tencent::Endpoint::parse(e)
                .map(|_| ())
                .map_err(|e| format!("[organization] endpoint: {e}"))
        });
    }
    let credentials = credential_source(&raw.identity(), "organization", None, resolve, p);
    let name = match &raw.name {
        Some(name) => p.check(name, |name| {
            if name.contains("{uin}") || name.contains("{name}") {
                Ok(name.clone())
            } else {
                Err(format!(
                    "[organization] name = {:?}: it must hold {{uin}} or {{name}}, so that each member's target has a name of its own",
                    visible(name)
                ))
            }
        }),
        None => Some("org-{uin}".to_string()),
    };
    if p.found.len() > before {
        return None;
    }
    Some(OrganizationSpec {
        credentials,
        endpoint,
        region: raw.region.clone(),
        role_name: raw.role_name.clone().unwrap_or_else(|| ORG_ROLE.into()),
        external_id: raw.external_id.clone(),
        role_duration: raw
            .role_duration
            .as_ref()
            .map_or(crate::tencent::identity::DEFAULT_ROLE_DURATION, |d| {
                *d.get_ref()
            }),
        include: raw.include.clone(),
        exclude: raw.exclude.clone(),
        name: name?,
    })
}

/// The credential source a target's (or the organization's) settings describe; a problem is
/// recorded and the default put in its place.
fn credential_source(
    id: &RawIdentity,
    target: &str,
    role_arn: Option<String>,
    resolve: &dyn Fn(&str) -> PathBuf,
    p: &mut Problems,
) -> CredentialSource {
    let defaults = CredentialSource::default();
    let kind = id.credentials.as_ref().and_then(|k| {
        p.check(k, |k| {
            SourceKind::parse(k).ok_or_else(|| {
                format!(
                    "credentials = {:?}: use one of {}",
                    visible(k),
                    SourceKind::ALL.map(SourceKind::as_str).join(", ")
                )
            })
        })
    });
    let max = crate::tencent::identity::MAX_ROLE_DURATION;
    let duration = id
        .role_duration
        .as_ref()
        .and_then(|d| {
            p.check(d, |d| {
                if *d == 0 || *d > max {
                    Err(format!("role_duration = {d}: give seconds, at most {max}"))
                } else {
                    Ok(*d)
                }
            })
        })
        .unwrap_or(crate::tencent::identity::DEFAULT_ROLE_DURATION);
    let role = role_arn.map(|arn| RoleSpec {
        arn,
        session_name: id
            .role_session_name
            .clone()
            .unwrap_or_else(|| session_name_for(target)),
        duration,
        external_id: id.external_id.clone(),
    });
    CredentialSource {
        secret_id_env: id.secret_id_env.clone().unwrap_or(defaults.secret_id_env),
        secret_key_env: id.secret_key_env.clone().unwrap_or(defaults.secret_key_env),
        token_env: id.token_env.clone().unwrap_or(defaults.token_env),
        profile: id.profile.clone(),
        file: id.credentials_file.as_deref().map(resolve),
        kind,
        role,
    }
}

pub(super) fn parse_offset(text: &str) -> Option<FixedOffset> {
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

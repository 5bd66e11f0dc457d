//! The stand-in's accounts: whose task a request reads, the roles a caller may assume, the
//! temporary credentials STS issues (accepted only with their token, refused once expired), the
//! CVM metadata service, and the organization's members.
//!
//! Without `--accounts FILE` there is one account, `100000000001`, owning every key the stand-in
//! accepts, with no roles and no members: the stand-in of the earlier releases. The file:
//!
//! ```toml
//! uin = "100000000001"          # the account of the --secret-id keys (the organization's manager)
//! name = "management"
//! temp_lifetime = 7200          # optional: no temporary credential lives longer (seconds)
//! metadata_role = "cvm-audit"   # optional: the CVM instance role the metadata service gives
//! roles = [{ name = "cvm-audit", trust = ["100000000001"] }]
//!
//! [[oidc]]                      # optional: a TKE OIDC provider and the token it accepts
//! provider_id = "tke-oidc"
//! token_file = "token"          # relative to this file
//!
//! [[member]]                    # member accounts, each with a task of its own
//! uin = "100000000002"
//! name = "shop"
//! state = "shop.json"           # optional: its task; default the reference example
//! roles = [{ name = "OrganizationAccessControlRole", trust = ["100000000001"], external_id = "x" }]
//! ```
//!
//! A role trusts account UINs, or `oidc:PROVIDER` for AssumeRoleWithWebIdentity.
//!
//! Where Tencent's documentation is silent, these are the stand-in's choices: an unknown role is
//! `InvalidParameter.RoleNotExist`; a role that does not trust the caller, or a wrong external
//! id, is `AuthFailure.UnauthorizedOperation`; a wrong web identity token is
//! `InvalidParameter.WebIdentityTokenError`; the organization's members are listed in the order
//! of the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::SimError;
use super::envelope::ApiError;
use super::state::{self, ScanSimulation, StateFile};
use crate::tencent::Secret;

/// The account every key belongs to when no accounts file is given.
pub const DEFAULT_UIN: &str = "100000000001";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorldFile {
    #[serde(default = "default_uin")]
    uin: String,
    #[serde(default = "default_name")]
    name: String,
    temp_lifetime: Option<i64>,
    metadata_role: Option<String>,
    #[serde(default)]
    roles: Vec<RoleSpec>,
    #[serde(default)]
    oidc: Vec<OidcSpec>,
    #[serde(default)]
    member: Vec<MemberSpec>,
}

fn default_uin() -> String {
    DEFAULT_UIN.into()
}

fn default_name() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    name: String,
    #[serde(default)]
    trust: Vec<String>,
    external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OidcSpec {
    provider_id: String,
    token_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberSpec {
    uin: String,
    name: String,
    state: Option<PathBuf>,
    #[serde(default)]
    roles: Vec<RoleSpec>,
}

/// One account: its task, and the roles in it.
struct Account {
    name: String,
    task: Mutex<Map<String, Value>>,
    scans: Mutex<ScanSimulation>,
    state_file: Option<StateFile>,
    roles: Vec<RoleSpec>,
    /// When it was "created", for the member list.
    created: &'static str,
}

/// A temporary credential STS issued.
struct Temporary {
    key: Secret,
    token: Secret,
    uin: String,
    role: String,
    session: String,
    expires: i64,
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uin: String,
    pub arn: String,
    pub kind: &'static str,
    pub user_id: String,
}

/// Every account the stand-in serves, and what STS issued.
pub struct Accounts {
    main: String,
    by_uin: HashMap<String, Account>,
    /// The members, in the file's order.
    members: Vec<String>,
    keys: HashMap<String, Secret>,
    temps: Mutex<HashMap<String, Temporary>>,
    temp_lifetime: Option<i64>,
    metadata_role: Option<String>,
    oidc: Vec<(String, Secret)>,
}

/// Where the main account's task comes from: `--state FILE`, or the reference example.
pub struct MainState {
    pub task: Map<String, Value>,
    pub file: Option<StateFile>,
}

impl Accounts {
    /// The accounts of `file` (or the one default account); the main one owns `keys` and serves
    /// `main`. `temp_lifetime` (seconds) overrides the file's.
    pub fn load(
        file: Option<&Path>,
        keys: Vec<(String, Secret)>,
        main: MainState,
        temp_lifetime: Option<i64>,
    ) -> Result<Accounts, SimError> {
        let world = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SimError::State {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                toml::from_str::<WorldFile>(&text).map_err(|e| SimError::State {
                    path: path.to_path_buf(),
                    message: format!("not an accounts file: {}", e.message()),
                })?
            }
            None => WorldFile {
                uin: default_uin(),
                name: default_name(),
                temp_lifetime: None,
                metadata_role: None,
                roles: Vec::new(),
                oidc: Vec::new(),
                member: Vec::new(),
            },
        };
        let base = file
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut by_uin = HashMap::new();
        by_uin.insert(
            world.uin.clone(),
            Account {
                name: world.name.clone(),
                task: Mutex::new(main.task),
                scans: Mutex::new(ScanSimulation::default()),
                state_file: main.file,
                roles: world.roles.clone(),
                created: "2020-01-01 00:00:00",
            },
        );
        let mut members = Vec::new();
        for m in world.member {
            let (task, state_file) = match &m.state {
                Some(p) => {
                    let (task, f) = state::load(&base.join(p))?;
                    (task, Some(f))
                }
                None => (state::seed(), None),
            };
            if by_uin.contains_key(&m.uin) {
                return Err(SimError::State {
                    path: file.map(Path::to_path_buf).unwrap_or_default(),
                    message: format!("account {} is given twice", m.uin),
                });
            }
            members.push(m.uin.clone());
            by_uin.insert(
                m.uin,
                Account {
                    name: m.name,
                    task: Mutex::new(task),
                    scans: Mutex::new(ScanSimulation::default()),
                    state_file,
                    roles: m.roles,
                    created: "2024-06-01 00:00:00",
                },
            );
        }
        let mut oidc = Vec::new();
        for o in world.oidc {
            let path = base.join(&o.token_file);
            let token = std::fs::read_to_string(&path).map_err(|e| SimError::State {
                path: path.clone(),
                message: format!("the OIDC token file cannot be read: {e}"),
            })?;
            oidc.push((o.provider_id, Secret::new(token.trim())));
        }
        Ok(Accounts {
            main: world.uin,
            by_uin,
            members,
            keys: keys.into_iter().collect(),
            temps: Mutex::new(HashMap::new()),
            temp_lifetime: temp_lifetime.or(world.temp_lifetime),
            metadata_role: world.metadata_role,
            oidc,
        })
    }

    /// The key of a SecretId, long-term or temporary (expired ones too: the token check says so).
    pub fn key_of(&self, id: &str) -> Option<Secret> {
        if let Some(k) = self.keys.get(id) {
            return Some(k.clone());
        }
        let temps = self.temps.lock().unwrap_or_else(|e| e.into_inner());
        temps.get(id).map(|t| t.key.clone())
    }

    /// Who a verified SecretId is, checking a temporary credential's token and expiry.
    pub fn caller(&self, id: &str, token: Option<&str>, now: i64) -> Result<Caller, ApiError> {
        if self.keys.contains_key(id) {
            return Ok(Caller {
                uin: self.main.clone(),
                arn: format!("qcs::cam::uin/{0}:uin/{0}", self.main),
                kind: "RootAccount",
                user_id: self.main.clone(),
            });
        }
        let temps = self.temps.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = temps.get(id) else {
            return Err(ApiError::new(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure that your SecretId is correct.",
            ));
        };
        let token_ok = token.is_some_and(|given| {
            let want = t.token.expose().as_bytes();
            given.len() == want.len()
                && given
                    .as_bytes()
                    .iter()
                    .zip(want)
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !token_ok {
            return Err(ApiError::new(
                "AuthFailure.TokenFailure",
                "The token is missing or does not belong to this temporary SecretId.",
            ));
        }
        if now >= t.expires {
            return Err(ApiError::new(
                "AuthFailure.TokenFailure",
                "The token has expired; ask STS for new temporary credentials.",
            ));
        }
        Ok(Caller {
            uin: t.uin.clone(),
            arn: format!(
                "qcs::sts:{}:assumed-role/{}/{}",
                t.uin,
                role_id(&t.uin, &t.role),
                t.session
            ),
            kind: "AssumedRole",
            user_id: format!("{}:{}", role_id(&t.uin, &t.role), t.session),
        })
    }

    /// `GetCallerIdentity`.
    pub fn identity(&self, caller: &Caller) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("Arn".into(), json!(caller.arn));
        out.insert("AccountId".into(), json!(caller.uin));
        out.insert("UserId".into(), json!(caller.user_id));
        out.insert("PrincipalId".into(), json!(caller.uin));
        out.insert("Type".into(), json!(caller.kind));
        out
    }

    /// `AssumeRole` for a signed caller.
    pub fn assume_role(
        &self,
        caller: &Caller,
        params: &Map<String, Value>,
        now: i64,
    ) -> Result<Map<String, Value>, ApiError> {
        let (uin, role) = self.role_of(params)?;
        let trusted = role.trust.contains(&caller.uin);
        let external = params.get("ExternalId").and_then(Value::as_str);
        let external_ok = match &role.external_id {
            Some(want) => external == Some(want.as_str()),
            None => true,
        };
        if !trusted || !external_ok {
            return Err(ApiError::new(
                "AuthFailure.UnauthorizedOperation",
                format!(
                    "The caller (account {}) may not assume this role{}.",
                    caller.uin,
                    if trusted {
                        ": the ExternalId does not match"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let name = role.name.clone();
        self.issue(&uin, &name, params, now)
    }

    /// `AssumeRoleWithWebIdentity`, which is not signed: the token is the proof.
    pub fn assume_role_with_web_identity(
        &self,
        params: &Map<String, Value>,
        now: i64,
    ) -> Result<Map<String, Value>, ApiError> {
        let text = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::missing(k))
        };
        let provider = text("ProviderId")?;
        let token = text("WebIdentityToken")?;
        let known = self
            .oidc
            .iter()
            .any(|(p, t)| p == provider && t.expose() == token);
        if !known {
            return Err(ApiError::new(
                "InvalidParameter.WebIdentityTokenError",
                "The web identity token is not valid for this provider.",
            ));
        }
        let (uin, role) = self.role_of(params)?;
        if !role.trust.iter().any(|t| *t == format!("oidc:{provider}")) {
            return Err(ApiError::new(
                "AuthFailure.UnauthorizedOperation",
                format!("The role does not trust the OIDC provider {provider}."),
            ));
        }
        let name = role.name.clone();
        self.issue(&uin, &name, params, now)
    }

    /// The metadata service's answers: the role name at `.../security-credentials/`, and its
    /// credentials at `.../security-credentials/ROLE`. `None`: 404.
    pub fn metadata(&self, path: &str, now: i64) -> Option<String> {
        const PREFIX: &str = "/latest/meta-data/cam/security-credentials/";
        let rest = path.strip_prefix(PREFIX)?;
        let role = self.metadata_role.as_ref()?;
        if rest.is_empty() {
            return Some(role.clone());
        }
        if rest != role {
            return None;
        }
        let mut params = Map::new();
        params.insert("RoleSessionName".into(), json!("cvm-instance"));
        let issued = self.issue(&self.main.clone(), role, &params, now).ok()?;
        let c = issued.get("Credentials")?;
        Some(
            json!({
                "TmpSecretId": c["TmpSecretId"],
                "TmpSecretKey": c["TmpSecretKey"],
                "Token": c["Token"],
                "ExpiredTime": issued["ExpiredTime"],
                "Expiration": issued["Expiration"],
                "Code": "Success",
            })
            .to_string(),
        )
    }

    /// `DescribeOrganizationMembers`, for the management account only.
    pub fn members(
        &self,
        caller: &Caller,
        params: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ApiError> {
        if caller.uin != self.main {
            return Err(ApiError::new(
                "FailedOperation.OrganizationPermissionIllegal",
                "Only the management account of the organization may list its members.",
            ));
        }
        let int = |k: &str, default: i64| -> Result<i64, ApiError> {
            match params.get(k) {
                None => Ok(default),
                Some(v) => v.as_i64().ok_or_else(|| {
                    ApiError::new(
                        "InvalidParameter",
                        format!("The value of parameter `{k}` is not an integer."),
                    )
                }),
            }
        };
        let offset = int("Offset", 0)?;
        let limit = int("Limit", 10)?;
        if !(1..=50).contains(&limit) || offset < 0 {
            return Err(ApiError::new(
                "InvalidParameter",
                "`Limit` must be between 1 and 50, and `Offset` not negative.",
            ));
        }
        let items: Vec<Value> = self
            .members
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|uin| {
                let a = &self.by_uin[uin];
                json!({
                    "MemberUin": uin.parse::<i64>().unwrap_or(0),
                    "Name": a.name,
                    "MemberType": "Create",
                    "NodeId": 1,
                    "NodeName": "root",
                    "PermissionStatus": "Confirmed",
                    "OrgIdentity": [{"IdentityId": 1, "IdentityAliasName": "OrganizationAccessControlRole"}],
                    "CreateTime": a.created,
                })
            })
            .collect();
        let mut out = Map::new();
        out.insert("Items".into(), Value::Array(items));
        out.insert("Total".into(), json!(self.members.len()));
        Ok(out)
    }

    /// Runs `f` on the caller's account's task, its scan simulation and state file.
    pub fn with_task<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&mut Map<String, Value>, &mut ScanSimulation, Option<&StateFile>) -> T,
    ) -> T {
        let account = &self.by_uin[&caller.uin];
        let mut task = account.task.lock().unwrap_or_else(|e| e.into_inner());
        let mut scans = account.scans.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut task, &mut scans, account.state_file.as_ref())
    }

    /// The main account's task.
    pub fn main_task(&self) -> Map<String, Value> {
        self.by_uin[&self.main]
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The task of account `uin`, if there is one.
    pub fn task_of(&self, uin: &str) -> Option<Map<String, Value>> {
        self.by_uin
            .get(uin)
            .map(|a| a.task.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// The account and role a `RoleArn` names: `qcs::cam::uin/UIN:roleName/NAME`.
    fn role_of(&self, params: &Map<String, Value>) -> Result<(String, &RoleSpec), ApiError> {
        let arn = params
            .get("RoleArn")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing("RoleArn"))?;
        let not_found = || {
            ApiError::new(
                "InvalidParameter.RoleNotExist",
                "The role named by `RoleArn` does not exist.",
            )
        };
        let (uin, name) = arn
            .strip_prefix("qcs::cam::uin/")
            .and_then(|r| r.split_once(":roleName/"))
            .ok_or_else(|| {
                ApiError::new(
                    "InvalidParameter.ParamError",
                    "`RoleArn` must be qcs::cam::uin/UIN:roleName/NAME.",
                )
            })?;
        let account = self.by_uin.get(uin).ok_or_else(not_found)?;
        let role = account
            .roles
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(not_found)?;
        Ok((uin.to_string(), role))
    }

    /// Issues temporary credentials for `role` of account `uin`.
    fn issue(
        &self,
        uin: &str,
        role: &str,
        params: &Map<String, Value>,
        now: i64,
    ) -> Result<Map<String, Value>, ApiError> {
        let session = params
            .get("RoleSessionName")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing("RoleSessionName"))?;
        let valid_session = (2..=128).contains(&session.len())
            && session
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !valid_session {
            return Err(ApiError::new(
                "InvalidParameter.ParamError",
                "`RoleSessionName` must be 2 to 128 characters of letters, digits and +=,.@_-.",
            ));
        }
        let duration = match params.get("DurationSeconds") {
            None => 7200,
            Some(v) => v.as_i64().ok_or_else(|| {
                ApiError::new(
                    "InvalidParameter.ParamError",
                    "`DurationSeconds` is not an integer.",
                )
            })?,
        };
        if !(1..=43200).contains(&duration) {
            return Err(ApiError::new(
                "InvalidParameter.OverTimeError",
                "`DurationSeconds` must be at most 43200.",
            ));
        }
        let life = self.temp_lifetime.map_or(duration, |cap| duration.min(cap));
        let expires = now + life;
        let id = format!("AKIDtmp{}", hex::encode(rand::random::<[u8; 12]>()));
        let key = hex::encode(rand::random::<[u8; 16]>());
        let token = hex::encode(rand::random::<[u8; 32]>());
        self.temps.lock().unwrap_or_else(|e| e.into_inner()).insert(
            id.clone(),
            Temporary {
                key: Secret::new(key.clone()),
                token: Secret::new(token.clone()),
                uin: uin.to_string(),
                role: role.to_string(),
                session: session.to_string(),
                expires,
            },
        );
        let expiration = chrono::DateTime::from_timestamp(expires, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let mut out = Map::new();
        out.insert(
            "Credentials".into(),
            json!({"Token": token, "TmpSecretId": id, "TmpSecretKey": key}),
        );
        out.insert("ExpiredTime".into(), json!(expires));
        out.insert("Expiration".into(), json!(expiration));
        Ok(out)
    }
}

/// A role's id, stable for its account and name (Tencent's are numbers).
fn role_id(uin: &str, role: &str) -> String {
    let digest = crate::tencent::sign::sha256_hex(format!("{uin}/{role}").as_bytes());
    let n = u64::from_str_radix(&digest[..12], 16).unwrap_or(0);
    format!("4611686018{:09}", n % 1_000_000_000)
}

//! Every member account of an organization as a target: the members listed with
//! `DescribeOrganizationMembers` (50 at a time), each reached through its role
//! `qcs::cam::uin/UIN:roleName/ROLE` and pinned to its own account.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::app::Error;
use crate::app::config::{OrganizationSpec, TargetSpec, session_name_for};
use crate::app::snapshot::{EnvLookup, ServiceSettings};
use crate::task::clock::Clock;
use crate::task::text::visible;
use crate::tencent::client::ORGANIZATION;
use crate::tencent::identity::RoleSpec;
use crate::tencent::{self, Client, ClientOptions, Endpoint};

/// One member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub uin: String,
    pub name: String,
}

/// Members asked for at a time: the most the API gives.
const PAGE: i64 = 50;

/// The organization's members, as the management account's credentials list them.
pub async fn members(
    spec: &OrganizationSpec,
    settings: &ServiceSettings,
    endpoint_override: Option<&str>,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
    env: &EnvLookup,
) -> Result<Vec<Member>, Error> {
    let tcss = Endpoint::parse(endpoint_override.unwrap_or(&spec.endpoint))?;
    let services = settings.resolve(&tcss)?;
    let provider = spec
        .credentials
        .provider(
            "organization",
            env.as_ref(),
            &services.sources,
            clock.clone(),
            options,
        )
        .await?;
    let mut o = options.clone();
    if o.region.is_none() {
        o.region = spec.region.clone();
    }
    let client = Client::with(services.organization, provider, ORGANIZATION, clock, o)?;
    list(&client).await
}

const ACTION: &str = "DescribeOrganizationMembers";

/// The most pages asked for (10,000 members at 50 a page): a listing still going past it is a
/// server that does not stop, and the run must not follow it for ever.
pub const MAX_PAGES: usize = 200;

/// Every member, page by page, until the first page's `Total` is reached or a page is empty;
/// a page with nothing new, or more pages than [`MAX_PAGES`], is an error.
async fn list(client: &Client) -> Result<Vec<Member>, Error> {
    let mut listing = Listing::default();
    for _ in 0..MAX_PAGES {
        let page = client
            .request(ACTION, &json!({"Offset": listing.offset, "Limit": PAGE}))
            .await?;
        let items = page_members(client, &page)?;
        let total = page.get("Total").and_then(Value::as_i64).unwrap_or(0);
        if listing.add(client, total, items)? == Next::Done {
            return Ok(listing.members);
        }
    }
    Err(tencent::Error::TooManyPages {
        endpoint: client.endpoint().to_string(),
        action: ACTION,
        pages: MAX_PAGES,
        items: listing.members.len(),
        total: listing.total.unwrap_or(0),
    }
    .into())
}

/// The members listed so far, the next page's offset, and the `Total` of the first page (the
/// one the listing keeps to: later pages' may grow for ever).
#[derive(Default)]
struct Listing {
    members: Vec<Member>,
    seen: std::collections::HashSet<String>,
    offset: i64,
    total: Option<i64>,
}

#[derive(Debug, PartialEq, Eq)]
enum Next {
    More,
    Done,
}

impl Listing {
    fn add(&mut self, client: &Client, total: i64, items: Vec<Member>) -> Result<Next, Error> {
        let total = *self.total.get_or_insert(total);
        let count = items.len();
        if count == 0 {
            if self.offset < total {
                tracing::warn!(
                    "{}: {ACTION} gave an empty page at Offset {} of the Total {total} its first page announced; the organization is taken to have {} members",
                    client.endpoint(),
                    self.offset,
                    self.members.len()
                );
            }
            return Ok(Next::Done);
        }
        let before = self.members.len();
        for m in items {
            if self.seen.insert(m.uin.clone()) {
                self.members.push(m);
            }
        }
        if self.members.len() == before {
            return Err(tencent::Error::RepeatedPage {
                endpoint: client.endpoint().to_string(),
                action: ACTION,
                offset: self.offset,
                count,
            }
            .into());
        }
        self.offset += count as i64;
        Ok(if self.offset >= total {
            Next::Done
        } else {
            Next::More
        })
    }
}

/// The members of one page; an item without a UIN is a malformed answer.
fn page_members(
    client: &Client,
    page: &serde_json::Map<String, Value>,
) -> Result<Vec<Member>, Error> {
    let malformed = |message: &str| {
        Error::from(tencent::Error::Malformed {
            endpoint: client.endpoint().to_string(),
            message: message.to_string(),
        })
    };
    let items = page
        .get("Items")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("DescribeOrganizationMembers gave no Items"))?;
    items
        .iter()
        .map(|item| {
            let uin = match item.get("MemberUin") {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s.clone(),
                _ => return Err(malformed("a member has no MemberUin")),
            };
            if uin.is_empty() || !uin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed("a member's MemberUin is not a UIN"));
            }
            let name = item.get("Name").and_then(Value::as_str).unwrap_or("");
            Ok(Member {
                uin,
                name: name.to_string(),
            })
        })
        .collect()
}

/// The targets of the members `spec` selects: each through its role, pinned to its account.
pub fn member_targets(spec: &OrganizationSpec, members: &[Member]) -> Vec<TargetSpec> {
    selected(spec, members)
        .map(|m| member_target(spec, m))
        .collect()
}

/// The members `spec` selects, in the listing's order.
fn selected<'m>(
    spec: &OrganizationSpec,
    members: &'m [Member],
) -> impl Iterator<Item = &'m Member> {
    members.iter().filter(|m| {
        let named = |list: &[String]| list.iter().any(|x| *x == m.uin || *x == m.name);
        (spec.include.is_empty() || named(&spec.include)) && !named(&spec.exclude)
    })
}

/// A member's target: through its role, pinned to its account.
fn member_target(spec: &OrganizationSpec, m: &Member) -> TargetSpec {
    let name = target_name(&spec.name, m);
    let mut credentials = spec.credentials.clone();
    credentials.role = Some(RoleSpec {
        arn: format!("qcs::cam::uin/{}:roleName/{}", m.uin, spec.role_name),
        session_name: session_name_for(&name),
        duration: spec.role_duration,
        external_id: spec.external_id.clone(),
    });
    TargetSpec {
        name,
        endpoint: spec.endpoint.clone(),
        region: spec.region.clone(),
        credentials,
        account: Some(m.uin.clone()),
    }
}

/// What gives a run a target name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameSource {
    /// A target of the config file.
    Configured,
    /// A member of the organization, through the name template.
    Member(Member),
}

impl std::fmt::Display for NameSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameSource::Configured => write!(f, "a target of the config file"),
            // Debug quoting escapes control characters as `visible` does.
            NameSource::Member(m) => write!(
                f,
                "organization member {} (named {:?})",
                visible(&m.uin),
                m.name
            ),
        }
    }
}

/// Two sources that give the same target name. A member that collides is not audited (a
/// configured target still is): which account the name's history belongs to would be a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "target name \"{name}\" is given twice: by {first} and by {second} (the template {template:?} of [organization] `name`); {} audited: make every member's name its own with {{uin}} in the template (such as \"org-{{uin}}\"){}",
    if matches!(first, NameSource::Configured) { "the member is not" } else { "neither member is" },
    if matches!(first, NameSource::Configured) { ", or rename the configured target" } else { "" }
)]
pub struct Collision {
    /// The target name, as [`target_name`] made it (control characters already escaped).
    pub name: String,
    pub first: NameSource,
    pub second: NameSource,
    pub template: String,
}

/// The members' targets whose names are their own, and the collisions of the others.
#[derive(Debug, Default)]
pub struct MemberTargets {
    pub targets: Vec<TargetSpec>,
    pub collisions: Vec<Collision>,
}

/// Names the selected members' targets and sets apart those whose name is not their own: the
/// name of a target of `configured` (their names), or another member's. `wanted` keeps only
/// the members a run asked for by name, and only their collisions.
pub fn name_members(
    spec: &OrganizationSpec,
    members: &[Member],
    configured: &[String],
    wanted: impl Fn(&str) -> bool,
) -> MemberTargets {
    use std::collections::HashMap;
    let mut by_name: HashMap<String, Vec<&Member>> = HashMap::new();
    let mut order = Vec::new();
    for m in selected(spec, members) {
        let name = target_name(&spec.name, m);
        if !wanted(&name) {
            continue;
        }
        let same = by_name.entry(name.clone()).or_default();
        if same.is_empty() {
            order.push(name);
        }
        same.push(m);
    }
    let mut out = MemberTargets::default();
    for name in order {
        let same = &by_name[&name];
        let first = match configured.contains(&name) {
            true => NameSource::Configured,
            false if same.len() == 1 => {
                out.targets.push(member_target(spec, same[0]));
                continue;
            }
            false => NameSource::Member(same[0].clone()),
        };
        let others = match first {
            NameSource::Configured => &same[..],
            NameSource::Member(_) => &same[1..],
        };
        out.collisions.extend(others.iter().map(|m| Collision {
            name: name.clone(),
            first: first.clone(),
            second: NameSource::Member((*m).clone()),
            template: spec.name.clone(),
        }));
    }
    out
}

/// A member's target name from the template: `{uin}` and `{name}` replaced, with the characters
/// a name may not hold (control characters) made visible.
pub fn target_name(template: &str, m: &Member) -> String {
    let name = template.replace("{uin}", &m.uin).replace("{name}", &m.name);
    visible(&name).into_owned()
}

/// Which names the template makes (for members that have left: targets in the history that
/// the organization made and that are members no longer). The pattern is built once.
pub fn made_by(template: &str) -> impl Fn(&str) -> bool {
    let mut pattern = String::from("^");
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{uin}") {
            pattern.push_str("[0-9]+");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{name}") {
            pattern.push_str(".+");
            rest = r;
        } else {
            let c = rest.chars().next().expect("not empty");
            pattern.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    pattern.push('$');
    let re = regex::Regex::new(&pattern).ok();
    move |name| re.as_ref().is_some_and(|re| re.is_match(name))
}

/// Lists the members (their targets: [`name_members`]); an error names what to check.
pub fn resolve_members(
    spec: &OrganizationSpec,
    settings: &ServiceSettings,
    endpoint_override: Option<&str>,
    clock: Arc<dyn Clock>,
    options: &ClientOptions,
    env: &EnvLookup,
) -> Result<Vec<Member>, Error> {
    let runtime = crate::app::runtime::runtime(crate::app::runtime::Threads::Current)?;
    let members = runtime
        .block_on(members(
            spec,
            settings,
            endpoint_override,
            clock,
            options,
            env,
        ))
        .map_err(|e| match e {
            Error::Remote(r) => Error::Remote(Box::new(tencent::Error::Credentials {
                origin: "the organization's management account".into(),
                message: format!("listing the members (DescribeOrganizationMembers): {r}"),
            })),
            other => other,
        })?;
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_targets_and_recognise_their_own() {
        let m = Member {
            uin: "100000000002".into(),
            name: "shop".into(),
        };
        assert_eq!(target_name("org-{uin}", &m), "org-100000000002");
        assert_eq!(target_name("{name}-{uin}", &m), "shop-100000000002");
        assert!(made_by("org-{uin}")("org-100000000002"));
        assert!(!made_by("org-{uin}")("org-shop"));
        assert!(!made_by("org-{uin}")("prod"));
        assert!(made_by("acct.{name}")("acct.shop"));
        assert!(!made_by("acct.{name}")("acctXshop"));
    }

    fn spec(template: &str) -> OrganizationSpec {
        OrganizationSpec {
            credentials: Default::default(),
            endpoint: "127.0.0.1:1".into(),
            region: None,
            role_name: crate::app::config::ORG_ROLE.into(),
            external_id: None,
            role_duration: crate::tencent::identity::DEFAULT_ROLE_DURATION,
            include: Vec::new(),
            exclude: Vec::new(),
            name: template.into(),
        }
    }

    fn member(uin: &str, name: &str) -> Member {
        Member {
            uin: uin.into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_name_given_twice_audits_none_of_the_members_that_share_it() {
        let members = [
            member("1", "web"),
            member("2", "prod"),
            member("3", "twin"),
            member("4", "twin"),
            member("5", "twin"),
        ];
        let named = name_members(&spec("{name}"), &members, &["prod".into()], |_| true);
        let audited: Vec<&str> = named.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(audited, ["web"]);
        let pairs: Vec<(&str, String, String)> = named
            .collisions
            .iter()
            .map(|c| (c.name.as_str(), c.first.to_string(), c.second.to_string()))
            .collect();
        let m = |uin: &str, name: &str| NameSource::Member(member(uin, name)).to_string();
        assert_eq!(
            pairs,
            [
                ("prod", NameSource::Configured.to_string(), m("2", "prod")),
                ("twin", m("3", "twin"), m("4", "twin")),
                ("twin", m("3", "twin"), m("5", "twin")),
            ]
        );
        // With {uin} every name is its own; a run for one target hears only of its own.
        let named = name_members(&spec("org-{uin}"), &members, &["prod".into()], |_| true);
        assert_eq!((named.targets.len(), named.collisions.len()), (5, 0));
        let named = name_members(&spec("{name}"), &members, &["prod".into()], |n| n == "web");
        assert_eq!((named.targets.len(), named.collisions.len()), (1, 0));
    }
}

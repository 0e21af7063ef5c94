//! Who a client is and what it may do: identities, `[[policy]]` rules, and the decisions made
//! from them.
//!
//! Everything here is pure: the proxy establishes an [`Identity`] from the connection (the user
//! behind a unix socket or a loopback TCP connection, a verified client certificate, a loopback
//! address), [`Policy::grant`] turns it into a [`Grant`], and the composer asks the grant before
//! every registry read and write, and [`Policy::sees`] before showing a list.
//!
//! Everything fails closed: a [`Grant`] nobody decided ([`Grant::default`]) allows nothing, and
//! the grant that allows everything is the named [`Grant::unrestricted`], which only a policy
//! without rules hands out.
//!
//! The rules, in the order an operator reads them:
//! * No `[[policy]]` at all: every identity may pull and push everywhere (a single-user
//!   manifold), and every list is visible to every client. Owners are still recorded, so a
//!   policy added later applies to lists created before it. manifold's configured registry
//!   credentials, though, serve only root (`uid:0`) and the user manifold runs as: every other
//!   client reaches registries with its own credentials or none, so a shared machine's users do
//!   not borrow the operator's.
//! * Otherwise the **first** rule whose `identity` matches applies, and only that rule: put the
//!   specific rules (`uid:1000`, `cert:CN=runner`) before the general ones (`gid:100`, `*`).
//! * An identity no rule matches may do nothing at all (403 on every call).
//! * `pull` and `push` are prefixes of `registry/repository` (the normalised reference, without
//!   tag or digest). A prefix matches whole path components: `reg:5000/team-a` matches
//!   `reg:5000/team-a` and `reg:5000/team-a/app` but not `reg:5000/team-ab`; a trailing `/`
//!   changes nothing; a trailing `*` matches any text (`reg:5000/team-*`); `*` alone matches
//!   everything.
//! * A list belongs to the identity that created it. Another identity sees it only when the
//!   owner's rule (the first rule matching the owner) names it in `share_lists_with`. Lists with
//!   no recorded owner (created by a manifold older than ownership) are visible to everyone.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who a client is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A user of this machine, as the kernel knows it: the peer of a unix socket
    /// (`SO_PEERCRED`), or the owner of the client socket of a loopback TCP connection.
    Unix {
        /// The user ID.
        uid: u32,
        /// The group ID: the peer process's group on a unix socket, the user's primary group
        /// over loopback TCP; `None` when not known (a record that lacks it, a user the user
        /// database does not list).
        gid: Option<u32>,
    },
    /// A TLS client, by the subject of its verified client certificate (`CN=runner`).
    Cert(String),
    /// A client connected over TCP from a loopback address, without a client certificate,
    /// whose user the kernel could not tell.
    Local,
    /// Anyone else: a remote TCP client without a client certificate.
    Anonymous,
}

impl Default for Identity {
    /// The least trusted identity: what a client is when nothing says otherwise.
    fn default() -> Self {
        Identity::Anonymous
    }
}

impl Identity {
    /// The principal: the part of the identity that owns lists and appears in messages
    /// (`uid:1000`, `cert:CN=runner`, `local`, `anonymous`). The group of a unix peer is not part
    /// of it: a user whose primary group changes still owns its lists.
    pub fn principal(&self) -> String {
        self.to_string()
    }

    /// The group ID of a unix peer.
    pub fn gid(&self) -> Option<u32> {
        match self {
            Identity::Unix { gid, .. } => *gid,
            _ => None,
        }
    }

    /// Rebuilds an identity from its principal text and group (as a list record stores them).
    /// `None` for text that is no principal.
    pub fn from_principal(principal: &str, gid: Option<u32>) -> Option<Identity> {
        match principal {
            "local" => Some(Identity::Local),
            "anonymous" => Some(Identity::Anonymous),
            _ => {
                if let Some(uid) = principal.strip_prefix("uid:") {
                    let uid = parse_id(uid)?;
                    Some(Identity::Unix { uid, gid })
                } else {
                    let subject = principal.strip_prefix("cert:")?;
                    (!subject.is_empty()).then(|| Identity::Cert(subject.to_string()))
                }
            }
        }
    }

    /// True when both are the same principal (for unix peers: the same uid, whatever the group).
    pub fn same_principal(&self, other: &Identity) -> bool {
        match (self, other) {
            (Identity::Unix { uid: a, .. }, Identity::Unix { uid: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Unix { uid, .. } => write!(f, "uid:{uid}"),
            Identity::Cert(subject) => write!(f, "cert:{subject}"),
            Identity::Local => f.write_str("local"),
            Identity::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// A decimal user or group ID (no sign, no leading `+`).
fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Which identities a rule (or a `share_lists_with` entry) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityPattern {
    /// `uid:N`: the local user with this user ID (unix socket or loopback TCP).
    Uid(u32),
    /// `gid:N`: local users whose group ID is N (see [`Identity::Unix`]).
    Gid(u32),
    /// `cert:SUBJECT`: TLS clients whose verified certificate has this subject (`CN=runner`).
    Cert(String),
    /// `local`: loopback TCP clients without a client certificate whose user is not known.
    Local,
    /// `anonymous`: every other client.
    Anonymous,
    /// `*`: everyone.
    Any,
}

impl IdentityPattern {
    /// Parses `uid:N`, `gid:N`, `cert:CN=NAME`, `local`, `anonymous` or `*`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not an identity: write uid:N, gid:N, cert:CN=NAME, local, anonymous or *"
            )
        };
        match s {
            "*" => return Ok(IdentityPattern::Any),
            "local" => return Ok(IdentityPattern::Local),
            "anonymous" => return Ok(IdentityPattern::Anonymous),
            _ => {}
        }
        if let Some(n) = s.strip_prefix("uid:") {
            return parse_id(n).map(IdentityPattern::Uid).ok_or_else(bad);
        }
        if let Some(n) = s.strip_prefix("gid:") {
            return parse_id(n).map(IdentityPattern::Gid).ok_or_else(bad);
        }
        if let Some(subject) = s.strip_prefix("cert:") {
            if subject.trim().is_empty() || subject != subject.trim() {
                return Err(bad());
            }
            return Ok(IdentityPattern::Cert(subject.to_string()));
        }
        Err(bad())
    }

    /// True when `identity` is one of the identities this pattern names.
    pub fn matches(&self, identity: &Identity) -> bool {
        match (self, identity) {
            (IdentityPattern::Any, _) => true,
            (IdentityPattern::Uid(u), Identity::Unix { uid, .. }) => u == uid,
            (IdentityPattern::Gid(g), Identity::Unix { gid, .. }) => *gid == Some(*g),
            (IdentityPattern::Cert(s), Identity::Cert(subject)) => s == subject,
            (IdentityPattern::Local, Identity::Local) => true,
            (IdentityPattern::Anonymous, Identity::Anonymous) => true,
            _ => false,
        }
    }
}

impl fmt::Display for IdentityPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityPattern::Uid(u) => write!(f, "uid:{u}"),
            IdentityPattern::Gid(g) => write!(f, "gid:{g}"),
            IdentityPattern::Cert(s) => write!(f, "cert:{s}"),
            IdentityPattern::Local => f.write_str("local"),
            IdentityPattern::Anonymous => f.write_str("anonymous"),
            IdentityPattern::Any => f.write_str("*"),
        }
    }
}

/// A `registry/repository` prefix of a `pull` or `push` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    /// As written (for messages).
    text: String,
    kind: PrefixKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PrefixKind {
    /// `*`.
    Everything,
    /// `text*`: any name that starts with `text`.
    Raw(String),
    /// `reg/ns` (or `reg/ns/`): `reg/ns` itself and everything below it.
    Components(String),
}

impl Prefix {
    /// Parses a prefix: `*`, `host[:port][/path][/]`, or one of those ending in `*`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let text = s.to_string();
        if s == "*" {
            return Ok(Prefix {
                text,
                kind: PrefixKind::Everything,
            });
        }
        let bad = |why: &str| format!("{s:?} is not a registry/repository prefix: {why}");
        if s.is_empty() {
            return Err(bad("it is empty; write \"*\" for every repository"));
        }
        if s.contains("://") {
            return Err(bad(
                "write it without a scheme, as in \"127.0.0.1:5001/team-a/\"",
            ));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains white space"));
        }
        if s.contains('@') {
            return Err(bad("prefixes name repositories, not digests"));
        }
        let (body, raw) = match s.strip_suffix('*') {
            Some(b) => (b, true),
            None => (s, false),
        };
        if body.contains('*') {
            return Err(bad("`*` may only end a prefix"));
        }
        if body.starts_with('/') {
            return Err(bad("it must start with the registry host"));
        }
        // A colon after the host is a tag, which a prefix of repositories cannot have.
        if let Some((_, path)) = body.split_once('/') {
            if path.contains(':') {
                return Err(bad("prefixes name repositories, without a tag"));
            }
        }
        let kind = if raw {
            PrefixKind::Raw(body.to_string())
        } else {
            PrefixKind::Components(body.trim_end_matches('/').to_string())
        };
        Ok(Prefix { text, kind })
    }

    /// True when `name` (`registry/repository`) is under this prefix.
    pub fn matches(&self, name: &str) -> bool {
        match &self.kind {
            PrefixKind::Everything => true,
            PrefixKind::Raw(p) => name.starts_with(p.as_str()),
            // The rule registry entries' locations follow: whole path components.
            PrefixKind::Components(p) => {
                let (registry, repository) = name.split_once('/').unwrap_or((name, ""));
                crate::registries::location_covers(p, registry, repository)
            }
        }
    }

    /// The prefix as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One `[[policy]]` table as written in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// Whom the rule is for: `uid:N`, `gid:N`, `cert:CN=NAME`, `local`, `anonymous` or `*`.
    pub identity: String,
    /// `registry/repository` prefixes the identity may read from.
    #[serde(default)]
    pub pull: Vec<String>,
    /// `registry/repository` prefixes the identity may push to.
    #[serde(default)]
    pub push: Vec<String>,
    /// Whether the registry credentials in the configuration are used for this identity's
    /// registry requests (when its request carries none of its own).
    #[serde(default)]
    pub use_configured_credentials: bool,
    /// Whether a credential the client sends (`X-Registry-Auth`) is used for a registry that
    /// has configured credentials too. `false` keeps the configured ones in charge there: the
    /// client's own credentials then only serve registries the configuration has none for.
    #[serde(default = "yes")]
    pub prefer_client_credentials: bool,
    /// Identities that see the lists of the identities this rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub share_lists_with: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its position among the `[[policy]]` tables (for messages: `policy[0]`).
    pub index: usize,
    /// Whom it applies to.
    pub identity: IdentityPattern,
    /// Where they may read.
    pub pull: Vec<Prefix>,
    /// Where they may push.
    pub push: Vec<Prefix>,
    /// Whether configured registry credentials serve them.
    pub use_configured_credentials: bool,
    /// Whether their own credentials win over configured ones.
    pub prefer_client_credentials: bool,
    /// Who else sees their lists.
    pub share_lists_with: Vec<IdentityPattern>,
}

/// The validated `[[policy]]` rules, in order.
///
/// There is no default: a policy without rules opens pull and push to everyone, so it is only
/// ever built on purpose, by [`Policy::from_rules`] of the `[[policy]]` tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
    written: Vec<PolicyRule>,
    /// manifold's effective user ID, which configured credentials serve when there are no rules.
    own_uid: Option<u32>,
}

/// A refusal: the message says who may not do what, and which rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The whole explanation, fit for the client.
    pub message: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Denial {}

/// A configuration problem in `[[policy]]`: the key (`policy[1].push[0]`) and what is wrong.
pub type PolicyError = (String, String);

impl Policy {
    /// Validates the rules as written. `own_uid` is manifold's effective user ID (`None`: not
    /// known): without rules, configured registry credentials serve it and root only.
    pub fn from_rules(written: &[PolicyRule], own_uid: Option<u32>) -> Result<Policy, PolicyError> {
        let mut rules = Vec::with_capacity(written.len());
        for (index, w) in written.iter().enumerate() {
            let key = |field: &str| format!("policy[{index}].{field}");
            let identity = IdentityPattern::parse(&w.identity).map_err(|p| (key("identity"), p))?;
            let prefixes = |list: &[String], field: &str| {
                list.iter()
                    .enumerate()
                    .map(|(i, p)| Prefix::parse(p).map_err(|e| (key(&format!("{field}[{i}]")), e)))
                    .collect::<Result<Vec<_>, _>>()
            };
            let pull = prefixes(&w.pull, "pull")?;
            let push = prefixes(&w.push, "push")?;
            let share_lists_with = w
                .share_lists_with
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    IdentityPattern::parse(s)
                        .map_err(|e| (key(&format!("share_lists_with[{i}]")), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(Rule {
                index,
                identity,
                pull,
                push,
                use_configured_credentials: w.use_configured_credentials,
                prefer_client_credentials: w.prefer_client_credentials,
                share_lists_with,
            });
        }
        Ok(Policy {
            rules,
            written: written.to_vec(),
            own_uid,
        })
    }

    /// True when there are no rules: everyone may pull and push everywhere.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules as the configuration wrote them.
    pub fn written(&self) -> &[PolicyRule] {
        &self.written
    }

    /// The validated rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule that applies to `identity`: the first that matches.
    pub fn rule_for(&self, identity: &Identity) -> Option<&Rule> {
        self.rules.iter().find(|r| r.identity.matches(identity))
    }

    /// What `identity` may do, or the refusal when no rule applies to it. Without rules:
    /// everything, and the configured registry credentials only for root and manifold's own
    /// user.
    pub fn grant(&self, identity: &Identity) -> Result<Grant, Denial> {
        if self.is_empty() {
            let lend = self.owner_or_root(identity);
            return Ok(Grant::unrestricted(identity.clone(), lend));
        }
        match self.rule_for(identity) {
            Some(rule) => Ok(Grant {
                identity: identity.clone(),
                scope: Scope::Rule {
                    index: rule.index,
                    pull: rule.pull.clone(),
                    push: rule.push.clone(),
                },
                use_configured_credentials: rule.use_configured_credentials,
                prefer_client_credentials: rule.prefer_client_credentials,
            }),
            None => Err(Denial {
                message: format!(
                    "identity {identity} matches no [[policy]] rule of this manifold, so it may do nothing here; ask the operator for a rule"
                ),
            }),
        }
    }

    /// True when `identity` is root or the user manifold runs as: whom configured registry
    /// credentials serve when there are no rules. Only the kernel's word counts (a unix-socket
    /// peer, the owner of a loopback TCP client socket); `local` is not manifold's user.
    fn owner_or_root(&self, identity: &Identity) -> bool {
        matches!(identity, Identity::Unix { uid, .. } if *uid == 0 || Some(*uid) == self.own_uid)
    }

    /// Whom the configured registry credentials serve, for the start-up log: without rules
    /// root and manifold's own user (`uid:0, uid:1000 (manifold's own user); other clients use
    /// their own credentials`), otherwise the rules that set `use_configured_credentials`.
    pub fn configured_credentials_serve(&self) -> String {
        if self.is_empty() {
            let users = match self.own_uid {
                Some(0) => "uid:0 (manifold's own user)".to_string(),
                Some(uid) => format!("uid:0, uid:{uid} (manifold's own user)"),
                None => "uid:0".to_string(),
            };
            return format!("{users}; other clients use their own credentials");
        }
        let rules: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.use_configured_credentials)
            .map(|r| format!("policy[{}] ({})", r.index, r.identity))
            .collect();
        if rules.is_empty() {
            return "nobody: no [[policy]] rule sets use_configured_credentials; clients use their own credentials".to_string();
        }
        format!(
            "{}; other identities use their own credentials",
            rules.join(", ")
        )
    }

    /// True when `viewer` may see a list owned by `owner` (`None`: a list with no recorded
    /// owner). Without rules everyone sees everything.
    pub fn sees(&self, viewer: &Identity, owner: Option<&Identity>) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(owner) = owner else {
            return true;
        };
        if owner.same_principal(viewer) {
            return true;
        }
        self.rule_for(owner)
            .is_some_and(|r| r.share_lists_with.iter().any(|p| p.matches(viewer)))
    }
}

/// Where a grant's limits come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Nothing is allowed: a grant no policy decided.
    Nothing,
    /// No policy: everything is allowed.
    Unrestricted,
    /// The rule at `index`, with its prefixes.
    Rule {
        index: usize,
        pull: Vec<Prefix>,
        push: Vec<Prefix>,
    },
}

/// What one identity may do, resolved from the policy for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    identity: Identity,
    scope: Scope,
    /// Whether the configured registry credentials may serve this identity's requests.
    pub use_configured_credentials: bool,
    /// Whether a credential the client sends wins over a configured one.
    pub prefer_client_credentials: bool,
}

impl Default for Grant {
    /// [`Grant::nothing`] for an anonymous caller: a grant that no policy decided allows no
    /// pull, no push and no configured credentials, so a field left to its default never opens
    /// access.
    fn default() -> Self {
        Grant::nothing(Identity::Anonymous)
    }
}

impl Grant {
    /// No pull, no push, no configured credentials: for calls that reach no registry (ping,
    /// version) from an identity the policy refuses.
    pub fn nothing(identity: Identity) -> Grant {
        Grant {
            identity,
            scope: Scope::Nothing,
            use_configured_credentials: false,
            prefer_client_credentials: true,
        }
    }

    /// Every pull and push, as a manifold without `[[policy]]` allows; the configured registry
    /// credentials only when `use_configured_credentials` (root and manifold's own user, see
    /// [`Policy::grant`]).
    pub fn unrestricted(identity: Identity, use_configured_credentials: bool) -> Grant {
        Grant {
            identity,
            scope: Scope::Unrestricted,
            use_configured_credentials,
            prefer_client_credentials: true,
        }
    }

    /// Whom this grant is for.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The index of the rule that decided, `None` without one.
    pub fn rule(&self) -> Option<usize> {
        match &self.scope {
            Scope::Nothing | Scope::Unrestricted => None,
            Scope::Rule { index, .. } => Some(*index),
        }
    }

    /// True when the identity may read `name` (`registry/repository`).
    pub fn may_pull(&self, name: &str) -> bool {
        self.check_pull(name).is_ok()
    }

    /// True when the identity may push to `name` (`registry/repository`).
    pub fn may_push(&self, name: &str) -> bool {
        self.check_push(name).is_ok()
    }

    /// Allows a read of `name` (`registry/repository`), or says why not.
    pub fn check_pull(&self, name: &str) -> Result<(), Denial> {
        self.check(name, Action::Pull)
    }

    /// Allows a push to `name` (`registry/repository`), or says why not.
    pub fn check_push(&self, name: &str) -> Result<(), Denial> {
        self.check(name, Action::Push)
    }

    fn check(&self, name: &str, action: Action) -> Result<(), Denial> {
        let (verb, preposition) = match action {
            Action::Pull => ("pull", "from"),
            Action::Push => ("push", "to"),
        };
        let (index, pull, push) = match &self.scope {
            Scope::Unrestricted => return Ok(()),
            Scope::Nothing => {
                return Err(Denial {
                    message: format!(
                    "identity {} may not {verb} {preposition} {name} (nothing was granted to it)",
                    self.identity
                ),
                })
            }
            Scope::Rule { index, pull, push } => (index, pull, push),
        };
        let prefixes = match action {
            Action::Pull => pull,
            Action::Push => push,
        };
        if prefixes.iter().any(|p| p.matches(name)) {
            return Ok(());
        }
        let allowed = if prefixes.is_empty() {
            format!("policy[{index}] allows no {verb}")
        } else {
            let list: Vec<&str> = prefixes.iter().map(Prefix::as_str).collect();
            format!(
                "policy[{index}] allows {verb} {preposition} {}",
                list.join(", ")
            )
        };
        Err(Denial {
            message: format!(
                "identity {} may not {verb} {preposition} {name} ({allowed})",
                self.identity
            ),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Pull,
    Push,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(uid: u32, gid: u32) -> Identity {
        Identity::Unix {
            uid,
            gid: Some(gid),
        }
    }

    fn cert(cn: &str) -> Identity {
        Identity::Cert(format!("CN={cn}"))
    }

    fn rule(identity: &str, pull: &[&str], push: &[&str]) -> PolicyRule {
        PolicyRule {
            identity: identity.into(),
            pull: pull.iter().map(|s| s.to_string()).collect(),
            push: push.iter().map(|s| s.to_string()).collect(),
            use_configured_credentials: false,
            prefer_client_credentials: true,
            share_lists_with: Vec::new(),
        }
    }

    /// manifold's own user in these tests.
    const OWN_UID: u32 = 1000;

    fn policy(rules: &[PolicyRule]) -> Policy {
        Policy::from_rules(rules, Some(OWN_UID)).expect("valid rules")
    }

    #[test]
    fn identities_print_as_principals() {
        assert_eq!(unix(1000, 100).to_string(), "uid:1000");
        assert_eq!(cert("runner").to_string(), "cert:CN=runner");
        assert_eq!(Identity::Local.to_string(), "local");
        assert_eq!(Identity::Anonymous.to_string(), "anonymous");
        assert_eq!(unix(7, 8).gid(), Some(8));
        assert_eq!(Identity::Local.gid(), None);
    }

    #[test]
    fn identities_round_trip_through_records() {
        for id in [
            unix(1000, 100),
            cert("runner"),
            Identity::Local,
            Identity::Anonymous,
        ] {
            assert_eq!(
                Identity::from_principal(&id.principal(), id.gid()),
                Some(id.clone()),
                "{id}"
            );
        }
        assert_eq!(
            Identity::from_principal("uid:5", None),
            Some(Identity::Unix { uid: 5, gid: None })
        );
        for bad in [
            "", "uid:", "uid:x", "uid:-1", "uid:+1", "cert:", "root", "gid:1", "*",
        ] {
            assert_eq!(Identity::from_principal(bad, None), None, "{bad:?}");
        }
    }

    #[test]
    fn same_principal_ignores_the_group() {
        assert!(unix(1, 2).same_principal(&unix(1, 3)));
        assert!(!unix(1, 2).same_principal(&unix(2, 2)));
        assert!(cert("a").same_principal(&cert("a")));
        assert!(!cert("a").same_principal(&cert("b")));
        assert!(Identity::Local.same_principal(&Identity::Local));
        assert!(!Identity::Local.same_principal(&Identity::Anonymous));
        assert!(!unix(0, 0).same_principal(&Identity::Local));
    }

    #[test]
    fn patterns_parse_and_print() {
        for text in [
            "uid:0",
            "uid:65534",
            "gid:100",
            "cert:CN=runner",
            "local",
            "anonymous",
            "*",
        ] {
            let p = IdentityPattern::parse(text).expect(text);
            assert_eq!(p.to_string(), text);
        }
        for bad in [
            "",
            "uid:",
            "uid:a",
            "uid:1.5",
            "uid:99999999999",
            "gid:-3",
            "cert:",
            "cert: CN=x",
            "CN=runner",
            "user:root",
            "Local",
            "**",
        ] {
            let e = IdentityPattern::parse(bad).expect_err(bad);
            assert!(e.contains("is not an identity"), "{e}");
        }
    }

    #[test]
    fn patterns_match_identities() {
        let cases: &[(&str, Identity, bool)] = &[
            ("uid:1000", unix(1000, 5), true),
            ("uid:1000", unix(1001, 5), false),
            ("uid:1000", Identity::Local, false),
            ("gid:5", unix(1000, 5), true),
            ("gid:5", unix(1000, 6), false),
            ("gid:5", Identity::Unix { uid: 1, gid: None }, false),
            ("gid:5", cert("x"), false),
            ("cert:CN=runner", cert("runner"), true),
            ("cert:CN=runner", cert("runner2"), false),
            ("cert:CN=runner", Identity::Local, false),
            ("local", Identity::Local, true),
            ("local", unix(0, 0), false),
            ("local", Identity::Anonymous, false),
            ("anonymous", Identity::Anonymous, true),
            ("anonymous", Identity::Local, false),
            ("*", Identity::Anonymous, true),
            ("*", unix(3, 3), true),
            ("*", cert("x"), true),
        ];
        for (pattern, identity, want) in cases {
            let p = IdentityPattern::parse(pattern).expect(pattern);
            assert_eq!(p.matches(identity), *want, "{pattern} vs {identity}");
        }
    }

    #[test]
    fn prefixes_match_whole_components() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "docker.io/library/alpine", true),
            ("127.0.0.1:5001/team-a/", "127.0.0.1:5001/team-a/app", true),
            ("127.0.0.1:5001/team-a/", "127.0.0.1:5001/team-a/x/y", true),
            ("127.0.0.1:5001/team-a/", "127.0.0.1:5001/team-a", true),
            (
                "127.0.0.1:5001/team-a/",
                "127.0.0.1:5001/team-ab/app",
                false,
            ),
            ("127.0.0.1:5001/team-a/", "127.0.0.1:5001/team-b/app", false),
            ("127.0.0.1:5001/team-a", "127.0.0.1:5001/team-a/app", true),
            ("127.0.0.1:5001/team-a", "127.0.0.1:5001/team-ab", false),
            ("127.0.0.1:5001", "127.0.0.1:5001/anything", true),
            ("127.0.0.1:5001", "127.0.0.1:50011/anything", false),
            ("127.0.0.1:5001", "127.0.0.2:5001/anything", false),
            ("127.0.0.1:5001/team-*", "127.0.0.1:5001/team-ab/app", true),
            ("127.0.0.1:5001/team-*", "127.0.0.1:5001/other/app", false),
            ("docker.io/library/", "docker.io/library/alpine", true),
            ("docker.io/library/", "docker.io/libraryx/alpine", false),
        ];
        for (prefix, name, want) in cases {
            let p = Prefix::parse(prefix).expect(prefix);
            assert_eq!(p.matches(name), *want, "{prefix} vs {name}");
            assert_eq!(p.as_str(), *prefix);
        }
    }

    #[test]
    fn bad_prefixes_are_explained() {
        for (bad, why) in [
            ("", "empty"),
            ("https://reg/x", "scheme"),
            ("reg/a b", "white space"),
            ("reg/app@sha256:00", "digests"),
            ("reg/*/x", "may only end"),
            ("/x", "registry host"),
            ("reg:5000/app:v1", "tag"),
        ] {
            let e = Prefix::parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(e.contains("is not a registry/repository prefix"), "{e}");
        }
    }

    #[test]
    fn rule_errors_name_the_key() {
        let mut bad = rule("uid:x", &[], &[]);
        assert_eq!(
            Policy::from_rules(&[rule("*", &[], &[]), bad.clone()], None)
                .expect_err("bad identity")
                .0,
            "policy[1].identity"
        );
        bad.identity = "local".into();
        bad.push = vec!["*".into(), "https://x".into()];
        assert_eq!(
            Policy::from_rules(&[bad.clone()], None)
                .expect_err("bad push")
                .0,
            "policy[0].push[1]"
        );
        bad.push.clear();
        bad.pull = vec!["".into()];
        assert_eq!(
            Policy::from_rules(&[bad.clone()], None)
                .expect_err("bad pull")
                .0,
            "policy[0].pull[0]"
        );
        bad.pull.clear();
        bad.share_lists_with = vec!["uid:1".into(), "nobody".into()];
        assert_eq!(
            Policy::from_rules(&[bad], None).expect_err("bad share").0,
            "policy[0].share_lists_with[1]"
        );
    }

    #[test]
    fn without_rules_everything_is_allowed() {
        let p = policy(&[]);
        assert!(p.is_empty());
        let g = p.grant(&Identity::Anonymous).expect("allowed");
        assert_eq!(g.rule(), None);
        assert!(g.may_pull("any/thing"));
        assert!(g.may_push("any/thing"));
        assert!(p.sees(&Identity::Anonymous, Some(&unix(1, 1))));
        assert_eq!(g, Grant::unrestricted(Identity::Anonymous, false));
    }

    #[test]
    fn without_rules_configured_credentials_serve_only_root_and_manifolds_user() {
        let p = policy(&[]);
        let lent = |identity: &Identity| {
            p.grant(identity)
                .expect("allowed")
                .use_configured_credentials
        };
        assert!(lent(&unix(0, 0)), "root");
        assert!(lent(&unix(OWN_UID, 100)), "manifold's own user");
        assert!(lent(&Identity::Unix {
            uid: OWN_UID,
            gid: None
        }));
        for other in [
            unix(1001, 100),
            unix(65534, 65534),
            Identity::Local,
            Identity::Anonymous,
            cert("runner"),
        ] {
            assert!(!lent(&other), "{other}");
        }
        // Not knowing manifold's user leaves them to root.
        let unknown = Policy::from_rules(&[], None).expect("no rules");
        assert!(
            unknown
                .grant(&unix(0, 0))
                .expect("allowed")
                .use_configured_credentials
        );
        assert!(
            !unknown
                .grant(&unix(OWN_UID, 1))
                .expect("allowed")
                .use_configured_credentials
        );
    }

    #[test]
    fn the_default_grant_denies_everything() {
        let g = Grant::default();
        assert_eq!(g.identity(), &Identity::Anonymous);
        assert_eq!(g.rule(), None);
        assert!(!g.use_configured_credentials);
        assert!(!g.may_pull("docker.io/library/alpine"));
        assert!(!g.may_push("127.0.0.1:5001/app"));
        assert_eq!(
            g.check_push("127.0.0.1:5001/app")
                .expect_err("nothing")
                .message,
            "identity anonymous may not push to 127.0.0.1:5001/app (nothing was granted to it)"
        );
    }

    #[test]
    fn the_start_up_log_says_whom_configured_credentials_serve() {
        assert_eq!(
            policy(&[]).configured_credentials_serve(),
            "uid:0, uid:1000 (manifold's own user); other clients use their own credentials"
        );
        assert_eq!(
            Policy::from_rules(&[], Some(0))
                .expect("no rules")
                .configured_credentials_serve(),
            "uid:0 (manifold's own user); other clients use their own credentials"
        );
        assert_eq!(
            Policy::from_rules(&[], None)
                .expect("no rules")
                .configured_credentials_serve(),
            "uid:0; other clients use their own credentials"
        );
        let mut ci = rule("cert:CN=ci", &["*"], &[]);
        ci.use_configured_credentials = true;
        let mut team = rule("gid:100", &["*"], &[]);
        team.use_configured_credentials = true;
        assert_eq!(
            policy(&[ci, rule("uid:1000", &["*"], &["*"]), team]).configured_credentials_serve(),
            "policy[0] (cert:CN=ci), policy[2] (gid:100); other identities use their own credentials"
        );
        assert_eq!(
            policy(&[rule("*", &["*"], &[])]).configured_credentials_serve(),
            "nobody: no [[policy]] rule sets use_configured_credentials; clients use their own credentials"
        );
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let mut a = rule("uid:1000", &["*"], &["127.0.0.1:5001/team-a/"]);
        a.use_configured_credentials = true;
        a.prefer_client_credentials = false;
        let p = policy(&[
            a,
            rule("gid:100", &["127.0.0.1:5001/"], &["127.0.0.1:5001/shared/"]),
            rule("*", &["docker.io/library/"], &[]),
        ]);
        // uid 1000 is also in gid 100, but the first rule wins.
        let g = p.grant(&unix(1000, 100)).expect("rule 0");
        assert_eq!(g.rule(), Some(0));
        assert!(g.use_configured_credentials);
        assert!(!g.prefer_client_credentials);
        assert!(g.may_push("127.0.0.1:5001/team-a/app"));
        assert!(!g.may_push("127.0.0.1:5001/shared/app"));
        assert!(g.may_pull("quay.io/x/y"));

        let g = p.grant(&unix(1001, 100)).expect("rule 1");
        assert_eq!(g.rule(), Some(1));
        assert!(!g.use_configured_credentials);
        assert!(g.prefer_client_credentials, "defaults to true");
        assert!(g.may_push("127.0.0.1:5001/shared/app"));
        assert!(!g.may_pull("quay.io/x/y"));

        let g = p.grant(&Identity::Anonymous).expect("rule 2");
        assert_eq!(g.rule(), Some(2));
        assert!(g.may_pull("docker.io/library/alpine"));
        assert!(!g.may_push("docker.io/library/alpine"));
        assert_eq!(g.identity(), &Identity::Anonymous);
    }

    #[test]
    fn unmatched_identities_are_denied_everything() {
        let p = policy(&[rule("uid:1000", &["*"], &["*"])]);
        let e = p.grant(&unix(1001, 1001)).expect_err("no rule");
        assert_eq!(
            e.message,
            "identity uid:1001 matches no [[policy]] rule of this manifold, so it may do nothing here; ask the operator for a rule"
        );
        assert!(p.grant(&Identity::Local).is_err());
        assert!(p.grant(&cert("x")).is_err());
    }

    #[test]
    fn denials_name_the_rule_and_its_prefixes() {
        let p = policy(&[
            rule(
                "uid:1000",
                &["127.0.0.1:5001/"],
                &["127.0.0.1:5001/team-a/"],
            ),
            rule("cert:CN=ci", &[], &["r/a", "r/b"]),
        ]);
        let g = p.grant(&unix(1000, 1000)).expect("rule 0");
        assert_eq!(
            g.check_push("127.0.0.1:5001/team-b/app")
                .expect_err("outside")
                .message,
            "identity uid:1000 may not push to 127.0.0.1:5001/team-b/app (policy[0] allows push to 127.0.0.1:5001/team-a/)"
        );
        assert_eq!(
            g.check_pull("docker.io/library/alpine")
                .expect_err("outside")
                .to_string(),
            "identity uid:1000 may not pull from docker.io/library/alpine (policy[0] allows pull from 127.0.0.1:5001/)"
        );
        g.check_pull("127.0.0.1:5001/anything").expect("inside");
        let g = p.grant(&cert("ci")).expect("rule 1");
        assert_eq!(
            g.check_pull("r/a").expect_err("no pull").message,
            "identity cert:CN=ci may not pull from r/a (policy[1] allows no pull)"
        );
        assert_eq!(
            g.check_push("r/c").expect_err("outside").message,
            "identity cert:CN=ci may not push to r/c (policy[1] allows push to r/a, r/b)"
        );
    }

    #[test]
    fn lists_are_seen_by_their_owner_and_those_they_are_shared_with() {
        let mut team = rule("gid:100", &["*"], &["*"]);
        team.share_lists_with = vec!["gid:100".into(), "cert:CN=auditor".into()];
        let p = policy(&[rule("uid:0", &["*"], &["*"]), team, rule("*", &["*"], &[])]);
        let alice = unix(1000, 100);
        let bob = unix(1001, 100);
        let root = unix(0, 0);
        let eve = unix(2000, 200);
        let auditor = cert("auditor");
        // Own lists, whatever the group is now.
        assert!(p.sees(&alice, Some(&unix(1000, 999))));
        assert!(p.sees(&root, Some(&root)));
        // Team lists are shared within the team and with the auditor.
        assert!(p.sees(&bob, Some(&alice)));
        assert!(p.sees(&auditor, Some(&alice)));
        assert!(!p.sees(&eve, Some(&alice)));
        // root's rule shares nothing; rule order applies to owners too.
        assert!(!p.sees(&alice, Some(&root)));
        assert!(!p.sees(&root, Some(&alice)));
        // An owner recorded without its group is matched by uid rules only.
        assert!(!p.sees(
            &bob,
            Some(&Identity::Unix {
                uid: 1000,
                gid: None
            })
        ));
        // Lists from before ownership are everyone's.
        assert!(p.sees(&eve, None));
        assert!(!p.sees(&Identity::Local, Some(&Identity::Anonymous)));
        assert!(p.sees(&Identity::Local, Some(&Identity::Local)));
    }

    #[test]
    fn written_rules_are_kept_for_printing() {
        let rules = vec![rule("local", &["*"], &[])];
        let p = policy(&rules);
        assert_eq!(p.written(), rules.as_slice());
        assert_eq!(p.rules().len(), 1);
        assert_eq!(p.rules()[0].identity, IdentityPattern::Local);
    }
}

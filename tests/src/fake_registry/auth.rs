//! Who may do what at the fake registry: anonymous, Basic or Bearer authentication, the token
//! endpoint of Bearer mode, and the tokens it issued.
//!
//! Decisions follow distribution's: a request without acceptable credentials gets `401` with a
//! `WWW-Authenticate` challenge (`Basic realm=…`, or `Bearer realm=…,service=…,scope=…` plus
//! `error="invalid_token"` for a token that is unknown or expired and
//! `error="insufficient_scope"` for one that does not grant the request); a Basic user who may
//! not touch a repository gets `403 DENIED`. Tokens are opaque strings, not JWTs: only this
//! registry reads them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::token_server::{
    basic_credentials, parse_query, service_and_scopes, split_scope, TokenRequest,
};

/// The `service` of the token endpoint's challenges.
pub(crate) const SERVICE: &str = "fake-registry";

/// How clients authenticate to a fake registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Anyone may read and write.
    #[default]
    Anonymous,
    /// HTTP Basic with the registry's accounts.
    Basic,
    /// Bearer tokens from the registry's own token endpoint (`/token`), which takes the accounts'
    /// Basic credentials (`GET`) or an OAuth2 form (`POST`, `grant_type=password` or
    /// `refresh_token` with an account's identity token).
    Bearer,
}

/// A user of a fake registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
    /// An identity token (OAuth2 refresh token) that also identifies this user (Bearer mode).
    pub identity_token: Option<String>,
    /// Repository prefixes this user may neither pull from nor push to (`private/`).
    pub denied: Vec<String>,
}

impl Account {
    /// `user` with `password`, allowed everywhere.
    pub fn new(user: &str, password: &str) -> Account {
        Account {
            user: user.to_string(),
            password: password.to_string(),
            identity_token: None,
            denied: Vec::new(),
        }
    }

    /// The same account, also identified by `token` (an OAuth2 refresh token).
    #[must_use]
    pub fn with_identity_token(mut self, token: &str) -> Account {
        self.identity_token = Some(token.to_string());
        self
    }

    /// The same account, kept out of repositories starting with `prefix`.
    #[must_use]
    pub fn denied(mut self, prefix: &str) -> Account {
        self.denied.push(prefix.to_string());
        self
    }

    fn may(&self, repo: &str) -> bool {
        !self.denied.iter().any(|p| repo.starts_with(p.as_str()))
    }
}

/// An action on a repository, as token scopes name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Pull,
    Push,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
        }
    }
}

/// What a request needs: an action on a repository.
pub(crate) type Need = (String, Action);

/// A refused request: status, `WWW-Authenticate` (if any), registry error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub challenge: Option<String>,
    pub code: &'static str,
    pub message: &'static str,
}

/// A token the endpoint issued.
#[derive(Debug)]
struct Token {
    /// What it grants: repository -> actions.
    access: HashMap<String, Vec<Action>>,
    /// When the registry stops accepting it (`None`: never).
    dies_at: Option<Instant>,
}

/// The authentication settings and state of one fake registry.
#[derive(Debug)]
pub(crate) struct Gate {
    mode: AuthMode,
    accounts: Vec<Account>,
    anonymous_pull: bool,
    /// The `expires_in` the endpoint tells clients (`None`: not sent).
    expires_in: Option<u64>,
    /// How long the registry accepts tokens issued from now on (`None`: until expired by hand).
    lifetime: Option<Duration>,
    tokens: HashMap<String, Token>,
    requests: Vec<TokenRequest>,
}

/// The answer of the token endpoint: status and JSON body.
pub(crate) type TokenAnswer = (u16, String);

impl Gate {
    pub(crate) fn new(
        mode: AuthMode,
        accounts: Vec<Account>,
        anonymous_pull: bool,
        expires_in: Option<u64>,
    ) -> Gate {
        Gate {
            mode,
            accounts,
            anonymous_pull,
            expires_in,
            lifetime: None,
            tokens: HashMap::new(),
            requests: Vec::new(),
        }
    }

    /// Whether `account` (`None`: anonymous) may do `action` on `repo`.
    fn may(&self, account: Option<&Account>, repo: &str, action: Action) -> bool {
        match account {
            Some(a) => a.may(repo),
            None => self.anonymous_pull && action == Action::Pull,
        }
    }

    fn account(&self, user: &str, password: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.user == user && a.password == password)
    }

    /// Decides a registry request carrying `authorization` and needing `needs`; `realm` is the
    /// token endpoint's URL.
    pub(crate) fn check(
        &self,
        authorization: Option<&str>,
        needs: &[Need],
        realm: &str,
    ) -> Result<(), Refusal> {
        match self.mode {
            AuthMode::Anonymous => Ok(()),
            AuthMode::Basic => self.check_basic(authorization, needs),
            AuthMode::Bearer => self.check_bearer(authorization, needs, realm),
        }
    }

    fn check_basic(&self, authorization: Option<&str>, needs: &[Need]) -> Result<(), Refusal> {
        let account = basic_credentials(authorization).and_then(|(u, p)| self.account(&u, &p));
        let anonymous_ok = authorization.is_none()
            && !needs.is_empty()
            && needs.iter().all(|(r, a)| self.may(None, r, *a));
        if account.is_none() && !anonymous_ok {
            return Err(Refusal {
                status: 401,
                challenge: Some(format!("Basic realm=\"{SERVICE}\"")),
                code: "UNAUTHORIZED",
                message: "authentication required",
            });
        }
        if needs.iter().all(|(r, a)| self.may(account, r, *a)) {
            Ok(())
        } else {
            Err(denied())
        }
    }

    fn check_bearer(
        &self,
        authorization: Option<&str>,
        needs: &[Need],
        realm: &str,
    ) -> Result<(), Refusal> {
        let presented = authorization.and_then(|a| a.strip_prefix("Bearer "));
        let challenge = |error: Option<&str>| {
            let mut c = format!("Bearer realm=\"{realm}\",service=\"{SERVICE}\"");
            if !needs.is_empty() {
                c.push_str(&format!(",scope=\"{}\"", scope_text(needs)));
            }
            if let Some(e) = error {
                c.push_str(&format!(",error=\"{e}\""));
            }
            c
        };
        let unauthorized = |error| Refusal {
            status: 401,
            challenge: Some(challenge(error)),
            code: "UNAUTHORIZED",
            message: "authentication required",
        };
        let Some(presented) = presented else {
            return Err(unauthorized(None));
        };
        let now = Instant::now();
        let token = self
            .tokens
            .get(presented)
            .filter(|t| t.dies_at.is_none_or(|d| now < d))
            .ok_or_else(|| unauthorized(Some("invalid_token")))?;
        let granted = |(repo, action): &Need| {
            token
                .access
                .get(repo)
                .is_some_and(|actions| actions.contains(action))
        };
        if needs.iter().all(granted) {
            Ok(())
        } else {
            Err(Refusal {
                status: 401,
                challenge: Some(challenge(Some("insufficient_scope"))),
                code: "DENIED",
                message: "requested access to the resource is denied",
            })
        }
    }

    /// Makes the bearer token in `authorization` (if any) unacceptable from now on.
    pub(crate) fn expire(&mut self, authorization: Option<&str>) {
        let presented = authorization.and_then(|a| a.strip_prefix("Bearer "));
        if let Some(token) = presented.and_then(|t| self.tokens.get_mut(t)) {
            token.dies_at = Some(Instant::now());
        }
    }

    /// Makes every token issued so far unacceptable from now on.
    pub(crate) fn expire_all(&mut self) {
        let now = Instant::now();
        for token in self.tokens.values_mut() {
            token.dies_at = Some(now);
        }
    }

    /// Tokens issued from now on are refused `lifetime` after they were issued (`None`: kept).
    pub(crate) fn set_lifetime(&mut self, lifetime: Option<Duration>) {
        self.lifetime = lifetime;
    }

    /// Every token request answered so far.
    pub(crate) fn requests(&self) -> Vec<TokenRequest> {
        self.requests.clone()
    }

    /// Answers a request to the token endpoint: `GET ?service=&scope=` with the account's Basic
    /// credentials or none (anonymous), or `POST` with an OAuth2 form.
    pub(crate) fn token_endpoint(
        &mut self,
        method: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        query: &str,
        body: &[u8],
    ) -> TokenAnswer {
        let mut params = parse_query(query);
        // Who asks: `Ok(None)` anonymous, `Err(())` credentials that are wrong.
        let who: Result<Option<Account>, ()> = match method {
            "GET" => match basic_credentials(authorization) {
                None => Ok(None),
                Some((u, p)) => self.account(&u, &p).cloned().map(Some).ok_or(()),
            },
            "POST" if content_type == Some("application/x-www-form-urlencoded") => {
                let form = parse_query(&String::from_utf8_lossy(body));
                let field = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v);
                let found = match field("grant_type").map(String::as_str) {
                    Some("password") => field("username")
                        .zip(field("password"))
                        .and_then(|(u, p)| self.account(u, p)),
                    Some("refresh_token") => field("refresh_token").and_then(|t| {
                        self.accounts
                            .iter()
                            .find(|a| a.identity_token.as_ref() == Some(t))
                    }),
                    _ => None,
                };
                let found = found.cloned().map(Some).ok_or(());
                params.extend(form);
                found
            }
            _ => {
                return (
                    400,
                    r#"{"details":"unsupported token request"}"#.to_string(),
                )
            }
        };
        let (service, scopes) = service_and_scopes(&params);
        self.requests.push(TokenRequest {
            method: method.to_string(),
            user: who
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .map(|a| a.user.clone()),
            refused: who.is_err(),
            service,
            scopes: scopes.clone(),
        });
        let Ok(account) = who else {
            return (
                401,
                r#"{"details":"incorrect username or password"}"#.to_string(),
            );
        };
        let token = format!("fake-{:032x}", rand::random::<u128>());
        let access = self.grant(account.as_ref(), &scopes);
        let dies_at = self.lifetime.map(|l| Instant::now() + l);
        self.tokens.insert(token.clone(), Token { access, dies_at });
        let mut body = serde_json::json!({"token": token, "access_token": token});
        if let Some(e) = self.expires_in {
            body["expires_in"] = e.into();
        }
        (200, body.to_string())
    }

    /// What `account` gets of the `repository:NAME:ACTIONS` scopes it asked for.
    fn grant(&self, account: Option<&Account>, scopes: &[String]) -> HashMap<String, Vec<Action>> {
        let mut access: HashMap<String, Vec<Action>> = HashMap::new();
        for scope in scopes {
            let Some(("repository", repo, actions)) = split_scope(scope) else {
                continue;
            };
            for name in actions.split(',') {
                let action = match name {
                    "pull" => Action::Pull,
                    "push" => Action::Push,
                    _ => continue,
                };
                if self.may(account, repo, action) {
                    access.entry(repo.to_string()).or_default().push(action);
                }
            }
        }
        access
    }
}

fn denied() -> Refusal {
    Refusal {
        status: 403,
        challenge: None,
        code: "DENIED",
        message: "requested access to the resource is denied",
    }
}

/// `repository:a:pull repository:b:pull,push`: what a challenge asks for.
fn scope_text(needs: &[Need]) -> String {
    let mut by_repo: Vec<(&str, Vec<&str>)> = Vec::new();
    for (repo, action) in needs {
        match by_repo.iter_mut().find(|(r, _)| r == repo) {
            Some((_, actions)) => actions.push(action.name()),
            None => by_repo.push((repo, vec![action.name()])),
        }
    }
    by_repo
        .iter()
        .map(|(repo, actions)| format!("repository:{repo}:{}", actions.join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const REALM: &str = "http://127.0.0.1:1/token";

    fn basic(user: &str, password: &str) -> String {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}")
    }

    fn pull(repo: &str) -> Need {
        (repo.to_string(), Action::Pull)
    }

    fn push(repo: &str) -> Need {
        (repo.to_string(), Action::Push)
    }

    #[test]
    fn basic_mode_wants_an_account_that_may() {
        let gate = Gate::new(
            AuthMode::Basic,
            vec![Account::new("ci", "pw").denied("private/")],
            false,
            None,
        );
        let refused = gate
            .check(None, &[pull("app")], REALM)
            .expect_err("anonymous");
        assert_eq!(
            refused.challenge.as_deref(),
            Some("Basic realm=\"fake-registry\"")
        );
        assert!(gate.check(Some(&basic("ci", "no")), &[], REALM).is_err());
        assert_eq!(gate.check(Some(&basic("ci", "pw")), &[], REALM), Ok(()));
        let ci = basic("ci", "pw");
        assert_eq!(gate.check(Some(&ci), &[push("app")], REALM), Ok(()));
        let e = gate
            .check(Some(&ci), &[pull("private/x")], REALM)
            .expect_err("denied");
        assert_eq!((e.status, e.code), (403, "DENIED"));
    }

    #[test]
    fn tokens_grant_what_the_account_may_and_die_when_told() {
        let mut gate = Gate::new(
            AuthMode::Bearer,
            vec![Account::new("writer", "pw").denied("private/")],
            false,
            Some(300),
        );
        let e = gate
            .check(None, &[pull("app")], REALM)
            .expect_err("no token");
        assert_eq!(
            e.challenge.as_deref(),
            Some(
                r#"Bearer realm="http://127.0.0.1:1/token",service="fake-registry",scope="repository:app:pull""#
            )
        );
        let query = "service=fake-registry&scope=repository%3Aprivate%2Fapp%3Apull&scope=repository%3Apublic%3Apull%2Cpush";
        let (status, body) =
            gate.token_endpoint("GET", Some(&basic("writer", "pw")), None, query, b"");
        assert_eq!(status, 200);
        let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(answer["expires_in"], 300);
        let bearer = format!("Bearer {}", answer["token"].as_str().expect("token"));
        assert_eq!(gate.check(Some(&bearer), &[push("public")], REALM), Ok(()));
        let e = gate
            .check(Some(&bearer), &[pull("private/app"), push("public")], REALM)
            .expect_err("not granted");
        assert!(e.challenge.as_deref().is_some_and(|c| c.ends_with(
            r#"scope="repository:private/app:pull repository:public:push",error="insufficient_scope""#
        )));
        gate.expire(Some(&bearer));
        let e = gate
            .check(Some(&bearer), &[push("public")], REALM)
            .expect_err("expired");
        assert!(e
            .challenge
            .as_deref()
            .is_some_and(|c| c.ends_with(r#"error="invalid_token""#)));

        let requests = gate.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].user.as_deref(), Some("writer"));
        assert_eq!(
            requests[0].scopes,
            vec!["repository:private/app:pull", "repository:public:pull,push"]
        );
    }

    #[test]
    fn the_token_endpoint_takes_oauth2_forms_and_refuses_wrong_passwords() {
        let mut gate = Gate::new(
            AuthMode::Bearer,
            vec![Account::new("ci", "pw").with_identity_token("id-1")],
            true,
            None,
        );
        let form = "grant_type=refresh_token&refresh_token=id-1&service=fake-registry&scope=repository%3Aapp%3Apull";
        let form_type = Some("application/x-www-form-urlencoded");
        let (status, body) = gate.token_endpoint("POST", None, form_type, "", form.as_bytes());
        assert_eq!(status, 200);
        assert!(!body.contains("expires_in"), "{body}");
        let (status, _) = gate.token_endpoint("POST", None, None, "", form.as_bytes());
        assert_eq!(status, 400, "a form must say it is one");
        let (status, _) = gate.token_endpoint("GET", Some(&basic("ci", "no")), None, "", b"");
        assert_eq!(status, 401);
        // Anonymous: a token, which grants pulls only where anonymous pulls are allowed.
        let (status, _) =
            gate.token_endpoint("GET", None, None, "scope=repository%3Aapp%3Apull", b"");
        assert_eq!(status, 200);
        let users: Vec<_> = gate
            .requests()
            .into_iter()
            .map(|r| (r.user, r.refused))
            .collect();
        assert_eq!(
            users,
            vec![(Some("ci".into()), false), (None, true), (None, false)]
        );
    }
}

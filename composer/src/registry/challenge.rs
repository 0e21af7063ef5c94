//! `WWW-Authenticate` parsing (RFC 7235), pure (`docs/registry-protocol.md#challenges`).
//!
//! A registry tells a client how to authenticate with challenges such as
//! `Bearer realm="https://auth.example/token",service="registry",scope="repository:app:pull"` or
//! `Basic realm="r"`. One header value may hold several challenges, and a response may carry
//! several header values; both are handled. Parsing never fails: what cannot be read is skipped,
//! because a half-understood challenge is still better than none when deciding how to log in.

use std::collections::BTreeMap;

/// The authentication scheme of a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// HTTP Basic: send `username:password`.
    Basic,
    /// OAuth2 bearer tokens from the `realm` token server.
    Bearer,
    /// Anything else, lower-cased (`negotiate`, ...); manifold cannot answer these.
    Other(String),
}

/// One parsed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme.
    pub(crate) scheme: Scheme,
    /// Parameters with lower-cased names and unquoted, unescaped values.
    pub(crate) params: BTreeMap<String, String>,
    /// A token68 credential instead of parameters (`Negotiate abc==`); unused by registries.
    pub(crate) token68: Option<String>,
}

impl Challenge {
    /// A parameter by (case-insensitive) name.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// `realm`: the token server URL for Bearer, a display name for Basic.
    pub(crate) fn realm(&self) -> Option<&str> {
        self.param("realm")
    }

    /// `service`, passed on to the token server.
    pub(crate) fn service(&self) -> Option<&str> {
        self.param("service")
    }

    /// `error` (RFC 6750: `invalid_token`, `insufficient_scope`, ...).
    pub(crate) fn error(&self) -> Option<&str> {
        self.param("error")
    }
}

/// Parses every challenge of every `WWW-Authenticate` value, in order.
pub(crate) fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    values.into_iter().flat_map(parse).collect()
}

/// Parses one `WWW-Authenticate` header value.
pub(crate) fn parse(value: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: value.as_bytes(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_list_separators();
        if p.eof() {
            break;
        }
        let scheme = p.token();
        if scheme.is_empty() {
            // Not a token where a scheme must be: skip the junk up to the next list element.
            p.skip_past_comma();
            continue;
        }
        let mut challenge = Challenge {
            scheme: match scheme.to_ascii_lowercase().as_str() {
                "basic" => Scheme::Basic,
                "bearer" => Scheme::Bearer,
                other => Scheme::Other(other.to_string()),
            },
            params: BTreeMap::new(),
            token68: None,
        };
        p.skip_ws();
        challenge.token68 = p.token68();
        if challenge.token68.is_none() {
            p.params(&mut challenge.params);
        }
        out.push(challenge);
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn skip_past_comma(&mut self) {
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == b',' {
                break;
            }
        }
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    /// A token68 right after the scheme (`Negotiate abc==`): `1*token68char *"="` that ends the
    /// challenge. `realm=x` and `realm=, service=s` are parameters, left for [`Parser::params`].
    fn token68(&mut self) -> Option<String> {
        let start = self.pos;
        let mut end = start;
        while self.s.get(end).copied().is_some_and(is_token68_char) {
            end += 1;
        }
        if end == start {
            return None;
        }
        while self.s.get(end) == Some(&b'=') {
            end += 1;
        }
        let mut after = end;
        while matches!(self.s.get(after), Some(b' ' | b'\t')) {
            after += 1;
        }
        let is_token68 = match self.s.get(after) {
            None => true,
            Some(b',') => !self.param_starts_after(after),
            Some(_) => false,
        };
        if !is_token68 {
            return None;
        }
        self.pos = after;
        Some(String::from_utf8_lossy(&self.s[start..end]).into_owned())
    }

    /// True when the list element after the separators at `from` is `name = ...`.
    fn param_starts_after(&self, from: usize) -> bool {
        let mut i = from;
        while matches!(self.s.get(i), Some(b' ' | b'\t' | b',')) {
            i += 1;
        }
        let name_start = i;
        while self.s.get(i).copied().is_some_and(is_tchar) {
            i += 1;
        }
        if i == name_start {
            return false;
        }
        while matches!(self.s.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        self.s.get(i) == Some(&b'=')
    }

    /// `#auth-param`, stopping before a token that starts the next challenge.
    fn params(&mut self, params: &mut BTreeMap<String, String>) {
        loop {
            self.skip_list_separators();
            let save = self.pos;
            let name = self.token();
            if name.is_empty() {
                if !self.eof() {
                    // Junk inside the parameter list: drop it up to the next comma.
                    self.skip_past_comma();
                    continue;
                }
                return;
            }
            self.skip_ws();
            if self.peek() != Some(b'=') {
                // `name` without `=` is the scheme of the next challenge.
                self.pos = save;
                return;
            }
            self.pos += 1;
            self.skip_ws();
            let value = if self.peek() == Some(b'"') {
                self.quoted()
            } else {
                self.token()
            };
            params.insert(name.to_ascii_lowercase(), value);
            self.skip_ws();
            match self.peek() {
                Some(b',') | None => {}
                // Junk after a value: skip to the next list element.
                Some(_) => self.skip_past_comma(),
            }
            if self.eof() {
                return;
            }
        }
    }

    /// A quoted-string starting at `"`: backslash escapes any octet; an unterminated string runs
    /// to the end of the value.
    fn quoted(&mut self) -> String {
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.pos += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Challenge {
        let mut all = parse(value);
        assert_eq!(all.len(), 1, "{value:?} -> {all:?}");
        all.remove(0)
    }

    #[test]
    fn bearer_as_distribution_sends_it() {
        let c = one(
            r#"Bearer realm="http://127.0.0.1:5004/token",service="testbed-registry",scope="repository:app:pull""#,
        );
        assert_eq!(c.scheme, Scheme::Bearer);
        assert_eq!(c.realm(), Some("http://127.0.0.1:5004/token"));
        assert_eq!(c.service(), Some("testbed-registry"));
        assert_eq!(c.param("scope"), Some("repository:app:pull"));
        assert_eq!(c.error(), None);
    }

    #[test]
    fn bearer_with_error_and_multi_action_scope() {
        let c = one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(
            c.param("scope"),
            Some("repository:library/alpine:pull,push")
        );
        assert_eq!(c.error(), Some("insufficient_scope"));
    }

    #[test]
    fn basic_realm() {
        let c = one(r#"Basic realm="r""#);
        assert_eq!(c.scheme, Scheme::Basic);
        assert_eq!(c.realm(), Some("r"));
        let c = one("Basic realm=Registry");
        assert_eq!(c.realm(), Some("Registry"));
    }

    #[test]
    fn scheme_and_names_are_case_insensitive() {
        let c = one(r#"BEARER Realm="x", SERVICE="s""#);
        assert_eq!(c.scheme, Scheme::Bearer);
        assert_eq!(c.realm(), Some("x"));
        assert_eq!(c.param("Service"), Some("s"));
        assert_eq!(one("basic realm=x").scheme, Scheme::Basic);
    }

    #[test]
    fn quoted_strings_with_commas_and_escapes() {
        let c = one(r#"Bearer realm="a,b=c",service="say \"hi\", \\ ok",scope="x""#);
        assert_eq!(c.realm(), Some("a,b=c"));
        assert_eq!(c.service(), Some(r#"say "hi", \ ok"#));
        assert_eq!(c.param("scope"), Some("x"));
    }

    #[test]
    fn whitespace_around_equals_and_commas() {
        let c = one("Bearer  realm = \"x\" ,\tservice=\"s\" , ");
        assert_eq!(c.realm(), Some("x"));
        assert_eq!(c.service(), Some("s"));
    }

    #[test]
    fn empty_list_elements_are_ignored() {
        let c = one(r#"Bearer ,, realm="x",,service="s""#);
        assert_eq!(c.realm(), Some("x"));
        assert_eq!(c.service(), Some("s"));
    }

    #[test]
    fn several_challenges_in_one_value() {
        let all = parse(r#"Basic realm="b", Bearer realm="t",service="s""#);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].scheme, Scheme::Basic);
        assert_eq!(all[0].realm(), Some("b"));
        assert_eq!(all[1].scheme, Scheme::Bearer);
        assert_eq!(all[1].realm(), Some("t"));
        assert_eq!(all[1].service(), Some("s"));
    }

    #[test]
    fn several_values() {
        let all = parse_all([r#"Bearer realm="t""#, "Basic realm=b"]);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].scheme, Scheme::Bearer);
        assert_eq!(all[1].scheme, Scheme::Basic);
    }

    #[test]
    fn token68_and_bare_schemes() {
        let c = one("Negotiate abc123==");
        assert_eq!(c.scheme, Scheme::Other("negotiate".into()));
        assert_eq!(c.token68.as_deref(), Some("abc123=="));
        assert!(c.params.is_empty());
        let c = one("Negotiate abc/+x");
        assert_eq!(c.token68.as_deref(), Some("abc/+x"));
        let all = parse("Negotiate, Basic realm=x");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].scheme, Scheme::Other("negotiate".into()));
        assert!(all[0].token68.is_none());
        assert_eq!(all[1].realm(), Some("x"));
        let all = parse("Negotiate tok==, Basic realm=x");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].token68.as_deref(), Some("tok=="));
        let c = one("Bearer");
        assert_eq!(c.scheme, Scheme::Bearer);
        assert!(c.params.is_empty());
    }

    #[test]
    fn empty_and_unquoted_values() {
        let c = one(r#"Bearer realm="",service=reg.example,scope=repo"#);
        assert_eq!(c.realm(), Some(""));
        assert_eq!(c.service(), Some("reg.example"));
        assert_eq!(c.param("scope"), Some("repo"));
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            " ",
            ",",
            "=",
            "\"",
            "Bearer realm=\"unterminated",
            "Bearer realm=\"ends in backslash\\",
            "Bearer =x",
            "Bearer realm=",
            "Bearer realm=,service=s",
            "@@@ Basic realm=x",
            "Bearer realm=\"x\" junk, service=s",
            "Bearer rëalm=\"ü\"",
            "\u{0}\u{1}",
        ] {
            let _ = parse(s);
        }
        let c = one("Bearer realm=\"unterminated");
        assert_eq!(c.realm(), Some("unterminated"));
        let c = one("Bearer realm=,service=s");
        assert_eq!(c.realm(), Some(""));
        assert_eq!(c.service(), Some("s"));
        let c = one("Bearer realm=\"x\" junk, service=s");
        assert_eq!(c.realm(), Some("x"));
        assert_eq!(c.service(), Some("s"));
        // Junk where a scheme belongs costs the rest of that list element only.
        let all = parse("@@@, Basic realm=x");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].realm(), Some("x"));
        assert!(parse("").is_empty());
        assert!(parse(" , ,").is_empty());
    }
}

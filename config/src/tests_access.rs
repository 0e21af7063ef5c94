//! Tests of the access-related settings: TLS listeners, unix socket mode and group, and
//! `[[policy]]`.

use super::policy::{Identity, IdentityPattern};
use super::*;
use crate::test_support::{env_user, load_text};

fn load_with_listen(text: &str, listen: &[&str]) -> Result<Config, ConfigError> {
    let file = parse_file(text, "m.toml")?;
    let overrides = Overrides {
        listen: listen.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    Config::from_file(file, "m.toml", &overrides, &env_user())
}

/// A directory with readable PEM-named files (their contents do not matter to the config).
fn tls_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["cert.pem", "key.pem", "ca.pem"] {
        std::fs::write(dir.path().join(f), "-----BEGIN X-----\n").expect("write");
    }
    let section = format!(
        "[tls]\ncert_file = \"{0}/cert.pem\"\nkey_file = \"{0}/key.pem\"\nclient_ca_file = \"{0}/ca.pem\"\n",
        dir.path().display()
    );
    (dir, section)
}

#[test]
fn tls_listener_uris() {
    assert_eq!(
        Listen::parse("tls://127.0.0.1:8586"),
        Ok(Listen::Tls("127.0.0.1:8586".parse().expect("addr")))
    );
    assert_eq!(
        Listen::parse("tls://localhost:8586/"),
        Ok(Listen::Tls("127.0.0.1:8586".parse().expect("addr")))
    );
    assert_eq!(
        Listen::parse("tls://[::1]:8586"),
        Ok(Listen::Tls("[::1]:8586".parse().expect("addr")))
    );
    let e = Listen::parse("tls://host.example:1").expect_err("a name");
    assert!(e.contains("expected tls://IP:PORT"), "{e}");
    let e = Listen::parse("http://127.0.0.1:1").expect_err("scheme");
    assert!(e.contains("tls://IP:PORT"), "{e}");
    assert_eq!(
        Listen::parse("tls://127.0.0.1:8586")
            .expect("tls")
            .to_string(),
        "tls://127.0.0.1:8586"
    );
    assert!(Listen::parse("tls://127.0.0.1:1").expect("tls").is_local());
    assert!(!Listen::parse("tls://0.0.0.0:1").expect("tls").is_local());
    let e = Backend::parse("tls://127.0.0.1:1").expect_err("no TLS backend");
    assert!(e.contains("unix:///path.sock or tcp://IP:PORT"), "{e}");
}

#[test]
fn loopback_includes_ipv4_mapped_loopback() {
    for (ip, want) in [
        ("127.0.0.1", true),
        ("::1", true),
        ("::ffff:127.0.0.1", true),
        ("10.0.0.1", false),
        ("::ffff:10.0.0.1", false),
    ] {
        assert_eq!(is_loopback(ip.parse().expect("ip")), want, "{ip}");
    }
    assert!(Listen::parse("tcp://[::ffff:127.0.0.1]:1")
        .expect("tcp")
        .is_local());
    assert!(!Listen::parse("tcp://[::ffff:10.0.0.1]:1")
        .expect("tcp")
        .is_local());
}

#[test]
fn non_loopback_tls_is_allowed_and_plain_tcp_is_not() {
    let (_dir, tls) = tls_dir();
    let c = load_with_listen(&tls, &["tls://0.0.0.0:8586", "tls://[::]:8587"])
        .expect("remote TLS is fine");
    assert_eq!(
        c.listen,
        vec![
            Listen::Tls("0.0.0.0:8586".parse().expect("addr")),
            Listen::Tls("[::]:8587".parse().expect("addr")),
        ]
    );
    let e = load_with_listen(&tls, &["tls://0.0.0.0:8586", "tcp://0.0.0.0:8585"])
        .expect_err("plain remote TCP");
    assert_eq!(e.key, "--listen");
    assert!(e.problem.contains("has no TLS"), "{e}");
    let text = format!("listen = [\"tcp://0.0.0.0:8585\"]\n{tls}");
    let e = load_text(&text).expect_err("plain remote TCP from the file");
    assert_eq!(e.key, "listen[0]");
    let text =
        format!("allow_insecure_tcp_listen = true\nlisten = [\"tcp://0.0.0.0:8585\"]\n{tls}");
    load_text(&text).expect("allowed explicitly");
}

#[test]
fn tls_listeners_need_the_tls_section_and_readable_files() {
    let e =
        load_text("listen = [\"unix:///s.sock\", \"tls://127.0.0.1:8586\"]").expect_err("no [tls]");
    assert_eq!(e.key, "listen[1]");
    assert!(e.problem.contains("needs a [tls] section"), "{e}");
    let e = load_with_listen("", &["tls://127.0.0.1:8586"]).expect_err("no [tls]");
    assert_eq!(
        (e.source.as_str(), e.key.as_str()),
        ("<command line>", "--listen")
    );

    let (dir, tls) = tls_dir();
    let c = load_with_listen(&tls, &["tls://127.0.0.1:8586"]).expect("valid");
    let files = c.tls.clone().expect("tls section");
    assert_eq!(files.cert_file, dir.path().join("cert.pem"));
    assert_eq!(files.client_ca_file, Some(dir.path().join("ca.pem")));

    std::fs::remove_file(dir.path().join("ca.pem")).expect("remove");
    let e = load_with_listen(&tls, &["tls://127.0.0.1:8586"]).expect_err("missing CA");
    assert_eq!(e.key, "tls.client_ca_file");
    assert!(e.problem.starts_with("cannot read "), "{e}");
    std::fs::remove_file(dir.path().join("key.pem")).expect("remove");
    assert_eq!(
        load_with_listen(&tls, &["tls://127.0.0.1:8586"])
            .expect_err("missing key")
            .key,
        "tls.key_file"
    );
    let e = load_text("[tls]\ncert_file = \"/c\"\n").expect_err("key_file missing");
    assert!(e.key.starts_with("tls"), "{e}");
    let e = load_text("[tls]\ncert_file = \"/c\"\nkey_file = \"/k\"\nca = 1\n")
        .expect_err("unknown key");
    assert!(e.to_string().contains("ca"), "{e}");
}

#[test]
fn socket_mode_and_group() {
    let c = load_text("").expect("defaults");
    assert_eq!(c.socket_mode, 0o660);
    assert_eq!(c.socket_group, None);
    let c = load_text("socket_mode = \"0666\"\nsocket_group = \"podman\"").expect("valid");
    assert_eq!(c.socket_mode, 0o666);
    assert_eq!(c.socket_group, Some(SocketGroup::Name("podman".into())));
    let c = load_text("socket_group = \"65534\"").expect("valid");
    assert_eq!(c.socket_group, Some(SocketGroup::Gid(65534)));
    let e = load_text("socket_mode = \"0999\"").expect_err("not octal");
    assert_eq!(e.key, "socket_mode");
    let e = load_text("socket_mode = 432").expect_err("not a string");
    assert_eq!(e.key, "socket_mode");
    let e = load_text("socket_group = \"a b\"").expect_err("bad group");
    assert_eq!(e.key, "socket_group");
}

#[test]
fn policy_rules_are_validated_with_their_keys() {
    let c = load_text(
        r#"
[[policy]]
identity = "uid:65534"
pull = ["*"]
push = ["127.0.0.1:5001/team-a/"]
use_configured_credentials = true
prefer_client_credentials = false

[[policy]]
identity = "cert:CN=runner"
pull = ["127.0.0.1:5001/"]
share_lists_with = ["gid:100"]
"#,
    )
    .expect("valid");
    let rules = c.policy.rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].identity, IdentityPattern::Uid(65534));
    assert!(rules[0].use_configured_credentials);
    assert!(!rules[0].prefer_client_credentials);
    assert!(!rules[1].use_configured_credentials);
    assert!(rules[1].prefer_client_credentials);
    assert!(rules[1].push.is_empty());
    let g = c
        .policy
        .grant(&Identity::Cert("CN=runner".into()))
        .expect("rule 1");
    assert_eq!(g.rule(), Some(1));
    assert!(load_text("").expect("no rules").policy.is_empty());

    for (text, key) in [
        ("[[policy]]\nidentity = \"root\"\n", "policy[0].identity"),
        (
            "[[policy]]\nidentity = \"*\"\npush = [\"x/y:tag\"]\n",
            "policy[0].push[0]",
        ),
        (
            "[[policy]]\nidentity = \"*\"\n[[policy]]\nidentity = \"*\"\npull = [\"\"]\n",
            "policy[1].pull[0]",
        ),
        (
            "[[policy]]\nidentity = \"*\"\nshare_lists_with = [\"x\"]\n",
            "policy[0].share_lists_with[0]",
        ),
    ] {
        let e = load_text(text).expect_err(text);
        assert_eq!(e.key, key, "{text}: {e}");
    }
    let e = load_text("[[policy]]\npull = [\"*\"]\n").expect_err("identity is required");
    assert!(e.to_string().contains("identity"), "{e}");
    let e = load_text("[[policy]]\nidentity = \"*\"\nread = [\"*\"]\n").expect_err("unknown key");
    assert!(e.key.starts_with("policy"), "{e}");
}

#[test]
fn access_settings_round_trip() {
    let (_dir, tls) = tls_dir();
    let text = format!(
        r#"listen = ["tls://127.0.0.1:8586", "unix:///run/m.sock"]
socket_mode = "0666"
socket_group = "ci"
{tls}
[[policy]]
identity = "local"
pull = ["*"]
push = ["reg/a/"]
share_lists_with = ["*"]
"#
    );
    let c = load_text(&text).expect("valid");
    let again = load_text(&c.to_toml()).expect("printed config is valid");
    assert_eq!(again, c);
    assert!(
        c.to_toml().contains("socket_mode = \"0666\""),
        "{}",
        c.to_toml()
    );
}

#[test]
fn without_policy_configured_credentials_serve_manifolds_own_user_and_root() {
    let text = "[[registry]]\nlocation = \"127.0.0.1:5001\"\n[registry.credentials]\nusername = \"ci\"\npassword = \"s3cret\"\n";
    let c = load_text(text).expect("valid");
    assert!(c.has_configured_credentials());
    let lent = |uid: u32| {
        c.policy
            .grant(&Identity::Unix { uid, gid: None })
            .expect("no policy allows everything")
            .use_configured_credentials
    };
    // env_user runs manifold as uid 1000.
    assert!(lent(1000));
    assert!(lent(0));
    assert!(!lent(65534));
    assert_eq!(
        c.policy.configured_credentials_serve(),
        "uid:0, uid:1000 (manifold's own user); other clients use their own credentials"
    );
}

#[test]
fn configured_credentials_are_an_auth_file_credentials_or_a_helper() {
    assert!(!load_text("[[registry]]\nlocation = \"r\"\n")
        .expect("valid")
        .has_configured_credentials());
    assert!(load_text("auth_file = \"/nonexistent/auth.json\"\n")
        .expect("valid")
        .has_configured_credentials());
    assert!(
        load_text("[[registry]]\nlocation = \"r\"\ncredential_helper = \"pass\"\n")
            .expect("valid")
            .has_configured_credentials()
    );
}

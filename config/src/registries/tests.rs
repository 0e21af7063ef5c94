//! Tests of `[[registry]]` credentials, mirrors, prefixes and the top-level registry keys.

use std::io::Write as _;

use crate::test_support::{env_with, load_env, load_text as load};
use crate::*;

fn password_of(c: &Config, i: usize) -> String {
    c.registries[i]
        .credentials
        .as_ref()
        .and_then(|c| c.password())
        .map(|s| s.expose().to_string())
        .unwrap_or_default()
}

const TWO: &str =
    "[[registry]]\nlocation = \"127.0.0.1:5001\"\n\n[[registry]]\nlocation = \"127.0.0.1:5002\"\n";

#[test]
fn a_literal_password_is_read_and_never_printed() {
    let c = load(&format!(
        "{TWO}[registry.credentials]\nusername = \"ci\"\npassword = \"hunter2-literal\"\n"
    ))
    .expect("valid");
    assert_eq!(password_of(&c, 1), "hunter2-literal");
    let creds = c.registries[1].credentials.as_ref().expect("credentials");
    assert_eq!(creds.username, "ci");
    for text in [format!("{c:?}"), c.to_toml()] {
        assert!(!text.contains("hunter2"), "{text}");
    }
    let printed = c.to_toml();
    assert!(printed.contains("password = \"<redacted>\""), "{printed}");
    assert!(printed.contains("username = \"ci\""), "{printed}");
}

#[test]
fn password_env_reads_the_variable_at_load_time() {
    let text =
        format!("{TWO}[registry.credentials]\nusername = \"ci\"\npassword_env = \"CI_PASS\"\n");
    let c = load_env(&text, &env_with(&[("CI_PASS", "from-env")])).expect("valid");
    assert_eq!(password_of(&c, 1), "from-env");
    assert!(!format!("{c:?}").contains("from-env"));
    // The printed configuration names the variable, not its value, and loads again.
    let printed = c.to_toml();
    assert!(printed.contains("password_env = \"CI_PASS\""), "{printed}");
    assert!(!printed.contains("from-env"), "{printed}");
    let again = load_env(&printed, &env_with(&[("CI_PASS", "from-env")])).expect("valid");
    assert_eq!(c, again);

    let e = load(&text).expect_err("unset variable");
    assert_eq!(e.key, "registry[1].credentials.password_env");
    assert_eq!(e.problem, "environment variable CI_PASS is not set");
    assert_eq!(
        e.to_string(),
        "m.toml: key `registry[1].credentials.password_env`: environment variable CI_PASS is not set"
    );
    let e = load_env(&text, &env_with(&[("CI_PASS", "")])).expect_err("empty");
    assert_eq!(e.key, "registry[1].credentials.password_env");
    assert!(e.problem.contains("empty"), "{e}");
}

#[test]
fn password_file_is_read_without_its_line_break() {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(b"from-file\n").expect("write");
    let text = format!(
        "[[registry]]\nlocation = \"r.example\"\n[registry.credentials]\nusername = \"ci\"\npassword_file = {:?}\n",
        f.path().display().to_string()
    );
    let c = load(&text).expect("valid");
    assert_eq!(password_of(&c, 0), "from-file");
    assert!(!c.to_toml().contains("from-file"));

    let missing = "[[registry]]\nlocation = \"r.example\"\n[registry.credentials]\nusername = \"ci\"\npassword_file = \"/nonexistent/manifold-pass\"\n";
    let e = load(missing).expect_err("missing file");
    assert_eq!(e.key, "registry[0].credentials.password_file");
    assert!(
        e.problem
            .starts_with("cannot read /nonexistent/manifold-pass:"),
        "{e}"
    );
}

#[test]
fn exactly_one_password_source() {
    let both = "[[registry]]\nlocation = \"r.example\"\n[registry.credentials]\nusername = \"ci\"\npassword = \"a\"\npassword_env = \"B\"\n";
    let e = load_env(both, &env_with(&[("B", "b")])).expect_err("two sources");
    assert_eq!(e.key, "registry[0].credentials");
    assert!(e
        .problem
        .contains("exactly one of password, password_env or password_file"));
    assert!(!e.to_string().contains("\"a\""), "{e}");
    let none =
        "[[registry]]\nlocation = \"r.example\"\n[registry.credentials]\nusername = \"ci\"\n";
    let e = load(none).expect_err("no source");
    assert_eq!(e.key, "registry[0].credentials");
    let nouser = "[[registry]]\nlocation = \"r.example\"\n[registry.credentials]\nusername = \"\"\npassword = \"a\"\n";
    let e = load(nouser).expect_err("no user");
    assert_eq!(e.key, "registry[0].credentials.username");
    let typo = "[[registry]]\nlocation = \"r.example\"\n[registry.credentials]\nusername = \"ci\"\npasword = \"a\"\n";
    let e = load(typo).expect_err("unknown key");
    assert!(e.key.starts_with("registry[0].credentials"), "{e}");
    assert!(e.problem.contains("unknown field `pasword`"), "{e}");
}

#[test]
fn credential_helpers_are_names_or_absolute_paths() {
    let c = load("[[registry]]\nlocation = \"r.example\"\ncredential_helper = \"pass\"\n")
        .expect("a name");
    assert_eq!(c.registries[0].credential_helper.as_deref(), Some("pass"));
    load("[[registry]]\nlocation = \"r.example\"\ncredential_helper = \"/opt/bin/docker-credential-x\"\n")
        .expect("an absolute path");
    for bad in ["", "../helper", "a b", "bin/helper"] {
        let e = load(&format!(
            "[[registry]]\nlocation = \"r.example\"\ncredential_helper = {bad:?}\n"
        ))
        .expect_err("not a helper");
        assert_eq!(e.key, "registry[0].credential_helper", "{bad}");
    }
    let e = load("[[registry]]\nlocation = \"r.example\"\ncredential_helper = \"pass\"\n[registry.credentials]\nusername = \"u\"\npassword = \"p\"\n")
        .expect_err("both");
    assert_eq!(e.key, "registry[0].credential_helper");
    assert!(e.problem.contains("not both"), "{e}");
}

#[test]
fn mirrors_follow_registries_conf() {
    let c = load(
        "[[registry]]\nlocation = \"docker.io\"\n\n[[registry.mirror]]\nlocation = \"127.0.0.1:5003\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"mirror.example/hub\"\npull-from-mirror = \"digest-only\"\n",
    )
    .expect("valid");
    let r = &c.registries[0];
    assert_eq!(r.mirrors.len(), 2);
    assert!(r.mirrors[0].insecure);
    assert_eq!(r.mirrors[0].pull_from_mirror, None);
    assert_eq!(
        r.mirrors[1].pull_from_mirror,
        Some(PullFromMirror::DigestOnly)
    );
    assert!(!r.mirror_by_digest_only);
    let again = load(&c.to_toml()).expect("printed config is valid");
    assert_eq!(c, again);

    let c = load("[[registry]]\nlocation = \"docker.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example\"\n")
        .expect("the registries.conf spelling");
    assert!(c.registries[0].mirror_by_digest_only);
    let e = load("[[registry]]\nlocation = \"docker.io\"\nmirror_by_digest_only = true\n[[registry.mirror]]\nlocation = \"m.example\"\npull_from_mirror = \"all\"\n")
        .expect_err("both");
    assert_eq!(e.key, "registry[0].mirror[0].pull_from_mirror");
    let e = load("[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"m.example\"\n[[registry.mirror]]\nlocation = \"https://m\"\n")
        .expect_err("scheme");
    assert_eq!(e.key, "registry[0].mirror[1].location");
    let e = load("[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"m.example\"\npull_from_mirror = \"sometimes\"\n")
        .expect_err("bad value");
    assert!(e.key.starts_with("registry[0].mirror[0]"), "{e}");
}

#[test]
fn prefixes_rewrite_and_the_longest_wins() {
    let c = load(
        "[[registry]]\nprefix = \"docker.io\"\nlocation = \"127.0.0.1:5003/hub\"\n\n[[registry]]\nprefix = \"docker.io/library\"\nlocation = \"127.0.0.1:5003/mirror/library\"\ninsecure = true\n",
    )
    .expect("valid");
    let e = c
        .prefix_entry("docker.io", "library/alpine")
        .expect("an entry");
    assert_eq!(e.location, "127.0.0.1:5003/mirror/library");
    assert!(e.rewrites());
    let e = c.prefix_entry("docker.io", "team/app").expect("an entry");
    assert_eq!(e.location, "127.0.0.1:5003/hub");
    assert!(c.prefix_entry("docker.io", "libraryx").is_some());
    assert_eq!(
        c.prefix_entry("docker.io", "libraryx")
            .map(|e| e.location.as_str()),
        Some("127.0.0.1:5003/hub")
    );
    assert!(c.prefix_entry("quay.io", "a").is_none());
    // Locations are what settings (insecure, credentials) are looked up by.
    assert!(
        c.registry_entry("127.0.0.1:5003", "mirror/library/alpine")
            .expect("an entry")
            .insecure
    );

    let e = load("[[registry]]\nprefix = \"docker.io\"\nlocation = \"a.example\"\n[[registry]]\nlocation = \"docker.io\"\n")
        .expect_err("twice");
    assert_eq!(e.key, "registry[1].location");
    assert!(e.problem.contains("registry[0]"), "{e}");
    let e = load("[[registry]]\nprefix = \"http://docker.io\"\nlocation = \"a.example\"\n")
        .expect_err("scheme");
    assert_eq!(e.key, "registry[0].prefix");
    let e = load("[[registry]]\nlocation = \"a.example/x@sha256:00\"\n").expect_err("digest");
    assert_eq!(e.key, "registry[0].location");
}

#[test]
fn top_level_registry_keys() {
    let c = load("auth_file = \"/etc/manifold/auth.json\"\nallow_unlisted_registries = true\n")
        .expect("valid");
    assert_eq!(
        c.auth_file.as_deref(),
        Some(std::path::Path::new("/etc/manifold/auth.json"))
    );
    assert!(c.allow_unlisted_registries);
    let again = load(&c.to_toml()).expect("printed config is valid");
    assert_eq!(c, again);
    let c = load("").expect("valid");
    assert!(c.auth_file.is_none());
    assert!(!c.allow_unlisted_registries);
    let e = load("auth_file = \"\"\n").expect_err("empty");
    assert_eq!(e.key, "auth_file");
    let e = load("allow_unlisted_registries = \"yes\"\n").expect_err("type");
    assert_eq!(e.key, "allow_unlisted_registries");
}

#[test]
fn secrets_print_redacted() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s}"), "<redacted>");
    assert_eq!(format!("{s:?}"), "<redacted>");
    assert_eq!(s.expose(), "hunter2");
    let creds = RegistryCredentials::with_password("ci", Secret::new("hunter2"));
    assert!(!format!("{creds:?}").contains("hunter2"));
    assert_eq!(creds.password().map(Secret::expose), Some("hunter2"));
}

#[test]
fn location_matching_respects_path_boundaries() {
    assert!(location_covers("quay.io", "quay.io", "a/b"));
    assert!(location_covers("quay.io/team", "quay.io", "team/app"));
    assert!(location_covers("quay.io/team/", "quay.io", "team"));
    assert!(!location_covers("quay.io/team", "quay.io", "teamx/app"));
    assert!(!location_covers("quay.io", "quay.io:443", "a"));
}

//! Tests of loading, defaults and validation.

use super::*;
use crate::test_support::{env_user, load_text};

#[test]
fn defaults_for_a_user_and_for_root() {
    let c = Config::from_file(
        FileConfig::default(),
        "<defaults>",
        &Overrides::default(),
        &env_user(),
    )
    .expect("defaults are valid");
    assert_eq!(
        c.listen,
        vec![
            Listen::Tcp("127.0.0.1:8585".parse().expect("addr")),
            Listen::Unix("/run/user/1000/manifold.sock".into())
        ]
    );
    assert_eq!(c.data_dir, PathBuf::from("/home/u/.data/manifold"));
    let root = Environment {
        euid: Some(0),
        ..env_user()
    };
    let c = Config::from_file(
        FileConfig::default(),
        "<defaults>",
        &Overrides::default(),
        &root,
    )
    .expect("defaults are valid");
    assert_eq!(
        c.listen[1],
        Listen::Unix("/run/manifold/manifold.sock".into())
    );
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/manifold"));
    assert!(c.backend.is_none());
    assert!(c.registries.is_empty());
}

#[test]
fn registries_use_registries_conf_keys() {
    let c = load_text(
        "[[registry]]\nlocation = \"127.0.0.1:5001\"\ninsecure = true\n\n[[registry]]\nlocation = \"quay.io/team\"\n",
    )
    .expect("valid");
    assert!(
        c.registry_entry("127.0.0.1:5001", "app")
            .expect("entry")
            .insecure
    );
    assert!(c.registry_entry("quay.io", "team/app").is_some());
    assert!(c.registry_entry("quay.io", "teamx/app").is_none());
    assert!(c.registry_entry("127.0.0.1:5002", "app").is_none());
}

#[test]
fn unknown_keys_are_errors_that_name_file_and_key() {
    let e = load_text("[[registry]]\nlocation = \"x\"\ninsecur = true\n").expect_err("unknown key");
    let text = e.to_string();
    assert!(text.starts_with("m.toml: key `registry[0]"), "{text}");
    assert!(text.contains("unknown field `insecur`"), "{text}");
    let e = load_text("lisen = []").expect_err("unknown key");
    assert!(e.to_string().contains("unknown field `lisen`"), "{e}");
}

#[test]
fn wrong_types_and_values_are_explained() {
    let e = load_text("[[registry]]\nlocation = \"127.0.0.1:5001\"\ninsecure = \"yes\"\n")
        .expect_err("bad type");
    assert_eq!(e.key, "registry[0].insecure");
    let e = load_text("[[registry]]\nlocation = \"http://x\"\n").expect_err("scheme");
    assert_eq!(e.key, "registry[0].location");
    assert!(e.problem.contains("without a scheme"));
    let e = load_text("listen = [\"http://x\"]").expect_err("bad uri");
    assert_eq!(e.key, "listen[0]");
    let e = load_text("[limits]\nmax_request_body = \"12 parsecs\"").expect_err("bad size");
    assert!(e.to_string().contains("limits.max_request_body"), "{e}");
    let e = load_text("[limits]\nmax_request_body = \"2MiB\"").expect("valid");
    assert_eq!(e.limits.max_request_body, ByteSize(2 << 20));
}

#[test]
fn remote_plain_tcp_is_refused_unless_allowed() {
    let e = load_text("listen = [\"tcp://0.0.0.0:8585\"]").expect_err("refused");
    assert!(e.problem.contains("allow_insecure_tcp_listen"), "{e}");
    let c = load_text("listen = [\"tcp://0.0.0.0:8585\"]\nallow_insecure_tcp_listen = true")
        .expect("allowed");
    assert_eq!(c.listen.len(), 1);
    let file = parse_file("", "m.toml").expect("empty is valid");
    let o = Overrides {
        listen: vec!["tcp://[::]:1".into()],
        ..Default::default()
    };
    let e = Config::from_file(file, "m.toml", &o, &env_user()).expect_err("refused");
    assert_eq!(
        (e.source.as_str(), e.key.as_str()),
        ("<command line>", "--listen")
    );
    assert!(load_text("listen = [\"tcp://[::1]:8585\"]").is_ok());
}

#[test]
fn overrides_replace_file_values() {
    let file = parse_file(
        "listen = [\"unix:///a.sock\"]\ndata_dir = \"/d\"\n",
        "m.toml",
    )
    .expect("valid");
    let o = Overrides {
        listen: vec!["unix:///b.sock".into()],
        data_dir: Some("/e".into()),
        backend: Some("unix:///run/podman/podman.sock".into()),
    };
    let c = Config::from_file(file, "m.toml", &o, &env_user()).expect("valid");
    assert_eq!(c.listen, vec![Listen::Unix("/b.sock".into())]);
    assert_eq!(c.data_dir, PathBuf::from("/e"));
    assert_eq!(
        c.backend,
        Some(Backend::Unix("/run/podman/podman.sock".into()))
    );
}

#[test]
fn effective_config_round_trips() {
    let c =
        load_text("[[registry]]\nlocation = \"127.0.0.1:5001\"\ninsecure = true\n").expect("valid");
    let again = load_text(&c.to_toml()).expect("printed config is valid");
    assert_eq!(c, again);
}

#[test]
fn sizes() {
    assert_eq!(ByteSize::parse("16MiB"), Ok(ByteSize(16 << 20)));
    assert_eq!(ByteSize::parse("100"), Ok(ByteSize(100)));
    assert_eq!(ByteSize::parse("1 GB"), Ok(ByteSize(1_000_000_000)));
    assert!(ByteSize::parse("MiB").is_err());
    assert!(ByteSize::parse("99999999999999GiB").is_err());
    assert_eq!(ByteSize(16 << 20).to_string(), "16MiB");
}

#[test]
fn cache_defaults() {
    let c = load_text("").expect("valid");
    assert_eq!(c.cache.max_bytes, ByteSize(256 << 20));
    assert_eq!(c.cache.tag_ttl.get(), std::time::Duration::from_secs(30));
    assert_eq!(
        c.cache.max_stale.get(),
        std::time::Duration::from_secs(3600)
    );
    assert_eq!(c.cache, Cache::default());
}

#[test]
fn cache_section_is_read_and_round_trips() {
    let c = load_text("[cache]\nmax_bytes = \"64MiB\"\ntag_ttl = \"250ms\"\nmax_stale = \"5m\"\n")
        .expect("valid");
    assert_eq!(c.cache.max_bytes, ByteSize(64 << 20));
    assert_eq!(c.cache.tag_ttl.get(), std::time::Duration::from_millis(250));
    assert_eq!(c.cache.max_stale.get(), std::time::Duration::from_secs(300));
    let printed = c.to_toml();
    assert!(printed.contains("[cache]"), "{printed}");
    assert!(printed.contains("tag_ttl = \"250ms\""), "{printed}");
    assert!(printed.contains("max_stale = \"5m\""), "{printed}");
    let again = load_text(&printed).expect("printed config is valid");
    assert_eq!(c, again);
    // Keys left out keep their defaults.
    let c = load_text("[cache]\ntag_ttl = \"1h\"\n").expect("valid");
    assert_eq!(c.cache.max_bytes, Cache::default().max_bytes);
    assert_eq!(c.cache.tag_ttl.get(), std::time::Duration::from_secs(3600));
}

#[test]
fn cache_errors_name_the_key() {
    let e = load_text("[cache]\nmax_byte = \"1MiB\"\n").expect_err("unknown key");
    assert!(e.to_string().contains("unknown field `max_byte`"), "{e}");
    let e = load_text("[cache]\ntag_ttl = 30\n").expect_err("no unit");
    assert_eq!(e.key, "cache.tag_ttl");
    let e = load_text("[cache]\ntag_ttl = \"30\"\n").expect_err("no unit");
    assert_eq!(e.key, "cache.tag_ttl");
    assert!(e.problem.contains("no unit"), "{e}");
    let e = load_text("[cache]\nmax_stale = \"3 fortnights\"\n").expect_err("bad unit");
    assert_eq!(e.key, "cache.max_stale");
    let e = load_text("[cache]\nmax_bytes = \"lots\"\n").expect_err("bad size");
    assert_eq!(e.key, "cache.max_bytes");
}

#[test]
fn durations() {
    use std::time::Duration;
    let d = |s: &str| DurationText::parse(s).map(DurationText::get);
    assert_eq!(d("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(d("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(d("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(d("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(d(" 7 s "), Ok(Duration::from_secs(7)));
    assert_eq!(d("15us"), Ok(Duration::from_micros(15)));
    assert_eq!(d("0s"), Ok(Duration::ZERO));
    assert!(d("").is_err());
    assert!(d("s").is_err());
    assert!(d("30").is_err());
    assert!(d("-1s").is_err());
    assert!(d("1.5s").is_err());
    assert!(d("2d").is_err());
    assert!(d("999999999999999999999999h").is_err());
    assert!(d("99999999999999999999h").is_err());
    for (text, printed) in [
        ("90s", "90s"),
        ("120s", "2m"),
        ("60m", "1h"),
        ("1500ms", "1500ms"),
        ("2000ms", "2s"),
        ("0ms", "0s"),
    ] {
        let parsed = DurationText::parse(text).expect("valid");
        assert_eq!(parsed.to_string(), printed);
        assert_eq!(DurationText::parse(printed), Ok(parsed));
    }
}

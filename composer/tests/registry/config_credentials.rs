//! Configured registry credentials, the registry allow-list, mirrors and prefix rewrites, against
//! in-process registries.
//!
//! Every configuration is written as TOML and loaded through `manifold_config`, so the tests
//! cover the keys as an operator writes them. Clients in these tests send no credentials of
//! their own unless a test says so: whatever they read, they read with manifold's.
//!
//! Nothing here needs the network: `docker.io` appears only as a name that mirrors and rewrites
//! must keep manifold away from, and a request that did reach it would fail the test.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use manifold_composer::cache::ManifestCache;
use manifold_composer::credentials::{Auth, CredentialPolicy, Credentials};
use manifold_composer::list::{Instance, ManifestList};
use manifold_composer::push::{execute::push_list, PushOptions};
use manifold_composer::registry::{Access, CredentialSource, RegistryClient};
use manifold_composer::ErrorKind;
use manifold_config::Config;
use manifold_tests::fake_registry::FakeRegistry;
use manifold_tests::fixtures::{ImageSpec, PushedImage};

use crate::support::{
    self, cache, image as image_ref, insecure_entry as entry, runtime,
    tls_by_configuration as access, ByImage as _,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Loads `toml` (plus `[push] retries = 0`, so failures fail at once) with only `vars` in the
/// environment.
fn load(toml: &str, vars: &[(&str, &str)]) -> Arc<Config> {
    support::load(&format!("{toml}\n[push]\nretries = 0\n"), vars)
}

/// A client that sent no credentials and that the configured ones may serve (as they serve
/// manifold's own user without `[[policy]]`).
fn anonymous() -> Credentials {
    Credentials::anonymous().with_policy(CredentialPolicy {
        use_configured: true,
        client_may_override: true,
    })
}

/// Reads `reference` the way an add does (manifest, then its config) with `credentials`.
fn read_image(
    cache: &ManifestCache,
    reference: &str,
    credentials: &Credentials,
) -> manifold_composer::Result<(String, Vec<u8>)> {
    let image = image_ref(reference);
    runtime().block_on(async {
        let m = cache.get_manifest(&image, &access(credentials)).await?;
        let config = m.image_manifest()?.config().digest().to_string();
        let blob = cache
            .get_blob(&image, &config, &access(credentials))
            .await?;
        Ok((m.digest, blob.to_vec()))
    })
}

fn assert_read(cache: &ManifestCache, reference: &str, expected: &PushedImage) {
    let (digest, config) = read_image(cache, reference, &anonymous())
        .unwrap_or_else(|e| panic!("reading {reference}: {e}"));
    assert_eq!(digest, expected.digest);
    assert_eq!(config, expected.config);
}

fn push(reg: &FakeRegistry, repo: &str, tag: &str, seed: u64) -> PushedImage {
    reg.seed_image(repo, tag, &ImageSpec::linux("amd64").seed(seed))
}

/// Writes an executable script (`#!/bin/sh`) and waits until it can be run: another test
/// thread forking while the file was open for writing makes `exec` fail with ETXTBSY for a
/// moment.
fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    let mut perms = std::fs::metadata(path).expect("stat script").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).expect("chmod script");
    for _ in 0..50 {
        match std::process::Command::new(path)
            .arg("version")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
        {
            Err(e) if e.raw_os_error() == Some(26) => std::thread::sleep(Duration::from_millis(20)),
            _ => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configured credentials

#[test]
fn configured_passwords_let_an_anonymous_client_read_basic_and_token_registries() {
    let basic = FakeRegistry::basic("ci", "basic-pw");
    let token = FakeRegistry::bearer("ci", "token-pw");
    let a = push(&basic, "app", "v1", 1);
    let b = push(&token, "app", "v1", 2);
    let config = load(
        &format!(
            "{}[registry.credentials]\nusername = \"ci\"\npassword = \"basic-pw\"\n\n{}[registry.credentials]\nusername = \"ci\"\npassword = \"token-pw\"\n",
            entry(&basic.host(), ""),
            entry(&token.host(), "")
        ),
        &[],
    );
    let c = cache(&config);
    assert_read(&c, &a.reference(), &a);
    assert_read(&c, &b.reference(), &b);
    assert!(basic.token_requests().is_empty() && !token.token_requests().is_empty());

    // The same registries without configured credentials refuse the anonymous client.
    let bare = cache(&load(
        &format!("{}{}", entry(&basic.host(), ""), entry(&token.host(), "")),
        &[],
    ));
    for r in [a.reference(), b.reference()] {
        let e = read_image(&bare, &r, &anonymous()).expect_err("anonymous is refused");
        assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized, "{e}");
    }
}

#[test]
fn password_env_and_password_file_work() {
    let reg = FakeRegistry::basic("ci", "from-elsewhere");
    let img = push(&reg, "app", "v1", 3);
    let env_config = load(
        &format!(
            "{}[registry.credentials]\nusername = \"ci\"\npassword_env = \"CI_PASS\"\n",
            entry(&reg.host(), "")
        ),
        &[("CI_PASS", "from-elsewhere")],
    );
    assert_read(&cache(&env_config), &img.reference(), &img);

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("pass");
    std::fs::write(&file, "from-elsewhere\n").expect("write password file");
    let file_config = load(
        &format!(
            "{}[registry.credentials]\nusername = \"ci\"\npassword_file = \"{}\"\n",
            entry(&reg.host(), ""),
            file.display()
        ),
        &[],
    );
    assert_read(&cache(&file_config), &img.reference(), &img);
}

#[test]
fn an_auth_file_supplies_credentials() {
    let reg = FakeRegistry::basic("ci", "auth-file-pw");
    let other = FakeRegistry::basic("team", "team-pw");
    let img = push(&reg, "app", "v1", 4);
    let team = push(&other, "team/app", "v1", 5);
    let dir = tempfile::tempdir().expect("temp dir");
    let auth = dir.path().join("auth.json");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    std::fs::write(
        &auth,
        serde_json::json!({
            "auths": {
                reg.host(): {"auth": b64("ci:auth-file-pw")},
                // A namespace key: the most specific key wins.
                format!("{}/team", other.host()): {"username": "team", "password": "team-pw"},
                other.host(): {"auth": b64("team:wrong")},
            }
        })
        .to_string(),
    )
    .expect("write auth file");
    let config = load(
        &format!(
            "auth_file = \"{}\"\n{}{}",
            auth.display(),
            entry(&reg.host(), ""),
            entry(&other.host(), "")
        ),
        &[],
    );
    let c = cache(&config);
    assert_read(&c, &img.reference(), &img);
    assert_read(&c, &team.reference(), &team);

    // Entry credentials come before the auth file.
    let config = load(
        &format!(
            "auth_file = \"{}\"\n{}[registry.credentials]\nusername = \"ci\"\npassword = \"not-it\"\n",
            auth.display(),
            entry(&reg.host(), "")
        ),
        &[],
    );
    let e = read_image(&cache(&config), &img.reference(), &anonymous())
        .expect_err("the entry's wrong password is used");
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
}

#[test]
fn a_credential_helper_is_run_once_and_its_answer_used() {
    let reg = FakeRegistry::bearer("ci", "helper-pw");
    let img = push(&reg, "app", "v1", 6);
    let dir = tempfile::tempdir().expect("temp dir");
    let helper = dir.path().join("docker-credential-test");
    let calls = dir.path().join("calls");
    write_script(
        &helper,
        &format!(
            "[ \"$1\" = get ] || exit 0\nserver=$(cat)\necho \"$server\" >> {calls}\nif [ \"$server\" = \"{host}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"ci\",\"Secret\":\"helper-pw\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'\n  exit 1\nfi",
            calls = calls.display(),
            host = reg.host()
        ),
    );
    let config = load(
        &entry(
            &reg.host(),
            &format!("credential_helper = \"{}\"", helper.display()),
        ),
        &[],
    );
    let c = cache(&config);
    assert_read(&c, &img.reference(), &img);
    // Another repository: the helper's answer is reused from memory.
    let other = push(&reg, "other", "v1", 7);
    assert_read(&c, &other.reference(), &other);
    let log = std::fs::read_to_string(&calls).expect("the helper ran");
    assert_eq!(log.lines().collect::<Vec<_>>(), vec![reg.host().as_str()]);

    // A helper with nothing for the server leaves the client anonymous (and refused).
    let unknown = FakeRegistry::basic("x", "y");
    let config = load(
        &entry(
            &unknown.host(),
            &format!("credential_helper = \"{}\"", helper.display()),
        ),
        &[],
    );
    let e = read_image(
        &cache(&config),
        &format!("{}/app:v1", unknown.host()),
        &anonymous(),
    )
    .expect_err("no credentials");
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized, "{e}");
}

#[test]
fn client_credentials_win_only_where_the_policy_allows() {
    let reg = FakeRegistry::basic("ci", "configured-pw");
    let img = push(&reg, "app", "v1", 8);
    let config = load(
        &format!(
            "{}[registry.credentials]\nusername = \"ci\"\npassword = \"configured-pw\"\n",
            entry(&reg.host(), "")
        ),
        &[],
    );
    let c = cache(&config);
    let mut wrong = anonymous();
    wrong
        .per_registry
        .insert(reg.host(), Auth::basic("ci", "client-wrong"));
    // Configured credentials as a fallback (manifold's own user without a policy): the
    // client's own credential is used, and refused.
    let e = read_image(&c, &img.reference(), &wrong).expect_err("client's wins");
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
    // A policy that keeps configured credentials in charge.
    let kept = wrong.clone().with_policy(CredentialPolicy {
        use_configured: true,
        client_may_override: false,
    });
    read_image(&c, &img.reference(), &kept).expect("configured credential used");
    // A policy without configured credentials: an anonymous client is refused.
    let none = anonymous().with_policy(CredentialPolicy {
        use_configured: false,
        client_may_override: true,
    });
    let e = read_image(&c, &img.reference(), &none).expect_err("no configured credentials");
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
}

// ---------------------------------------------------------------------------------------------
// The allow-list

#[test]
fn an_unlisted_registry_is_forbidden_for_reads_and_pushes() {
    let listed = FakeRegistry::anonymous();
    let unlisted = FakeRegistry::anonymous();
    let img = push(&unlisted, "app", "v1", 9);
    let config = load(&entry(&listed.host(), ""), &[]);
    let c = cache(&config);
    let mark = unlisted.access_mark();
    let expected = format!(
        "registry {h} is not in manifold's configuration: add [[registry]] location = \"{h}\" (or set allow_unlisted_registries = true)",
        h = unlisted.host()
    );
    let e = read_image(&c, &img.reference(), &anonymous()).expect_err("unlisted");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert_eq!(e.message(), expected);
    let insecure = anonymous();
    let e = runtime()
        .block_on(c.get_manifest(
            &image_ref(&img.reference()),
            &Access {
                credentials: &insecure,
                tls_verify: Some(false),
            },
        ))
        .expect_err("tlsVerify=false does not widen the configuration");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    // A push source and a push destination alike.
    let mut list = ManifestList::default();
    list.add_instance(Instance {
        media_type: img.media_type.clone(),
        digest: img.digest.clone(),
        size: img.size as i64,
        source: Some(img.digest_reference()),
        ..Default::default()
    });
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    for (list, dest) in [
        (&list, format!("{}/copy:v1", listed.host())),
        (
            &ManifestList::default(),
            format!("{}/copy:v1", unlisted.host()),
        ),
    ] {
        let opts = PushOptions {
            destination: image_ref(&dest),
            all: true,
            format: None,
        };
        let creds = anonymous();
        let e = runtime()
            .block_on(push_list(
                &c,
                list,
                &opts,
                access(&creds),
                access(&creds),
                2,
                &tx,
            ))
            .expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
        assert!(e.message().contains(&unlisted.host()), "{e}");
    }
    assert!(
        unlisted.access_log_since(mark).is_empty(),
        "nothing reached the unlisted registry"
    );
    // allow_unlisted_registries opens it.
    let open = cache(&load(
        &format!(
            "allow_unlisted_registries = true\n{}",
            entry(&listed.host(), "")
        ),
        &[],
    ));
    let e = read_image(&open, &img.reference(), &anonymous())
        .expect_err("secure by default, and the registry is plain HTTP");
    assert_eq!(e.kind(), ErrorKind::Registry, "{e}");
}

// ---------------------------------------------------------------------------------------------
// Mirrors and rewrites

#[test]
fn docker_hub_reads_are_served_by_a_local_mirror() {
    let mirror = FakeRegistry::anonymous();
    let img = push(&mirror, "library/alpine", "3", 10);
    let config = load(
        &format!(
            "[[registry]]\nlocation = \"docker.io\"\n\n[[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n",
            mirror.host()
        ),
        &[],
    );
    let c = cache(&config);
    // By tag (mirrors serve tags by default) and by digest.
    assert_read(&c, "docker.io/library/alpine:3", &img);
    assert_read(&c, "alpine:3", &img);
    assert_read(&c, &format!("alpine@{}", img.digest), &img);
    let (m, route) = runtime()
        .block_on(c.get_manifest_with_route(&image_ref("alpine:3"), &access(&anonymous())))
        .expect("read");
    assert_eq!(m.digest, img.digest);
    // What an add records as the instance's source: the place actually read.
    assert_eq!(
        route.image().name(),
        format!("{}/library/alpine", mirror.host())
    );
    assert_eq!(route.credential_source(), &CredentialSource::Anonymous);
    let log = mirror.access_log();
    assert!(
        log.iter()
            .any(|l| l.is("GET", "/v2/library/alpine/manifests/3") && l.status == 200),
        "{log:#?}"
    );
    // The mirror's location is configured, so a list whose source is there can be pushed from.
    assert_read(&c, &format!("{}/library/alpine:3", mirror.host()), &img);
}

#[test]
fn mirrors_fall_back_to_the_primary_and_respect_digest_only() {
    let primary = FakeRegistry::anonymous();
    let mirror = FakeRegistry::anonymous();
    let img = push(&primary, "app", "v1", 11);
    let toml = |extra: &str| {
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n{extra}\n[[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n",
            primary.host(),
            mirror.host()
        )
    };
    let c = cache(&load(&toml(""), &[]));
    assert_read(&c, &img.reference(), &img);
    let log = mirror.access_log();
    assert!(
        log.iter()
            .any(|l| l.is("GET", "/v2/app/manifests/v1") && l.status == 404),
        "the mirror was asked first: {log:#?}"
    );
    // Nowhere has it: the primary's error, with the mirror's in front.
    let e = read_image(&c, &format!("{}/app:nope", primary.host()), &anonymous())
        .expect_err("unknown everywhere");
    assert_eq!(e.kind(), ErrorKind::RegistryNotFound);
    assert!(e.message().starts_with("(mirrors also failed: "), "{e}");
    assert!(e.message().contains(&mirror.host()), "{e}");

    let digest_only = cache(&load(&toml("mirror_by_digest_only = true"), &[]));
    let mark = mirror.access_mark();
    assert_read(&digest_only, &img.reference(), &img);
    assert!(
        mirror
            .access_log_since(mark)
            .iter()
            .all(|l| !l.path.contains("/manifests/v1")),
        "tags never go to a digest-only mirror"
    );
}

#[test]
fn prefix_rewrites_apply_to_reads_and_push_destinations() {
    let reg = FakeRegistry::anonymous();
    let img = push(&reg, "mirror/library/alpine", "3", 12);
    let config = load(
        &format!(
            "[[registry]]\nprefix = \"docker.io/library\"\nlocation = \"{}/mirror/library\"\ninsecure = true\n",
            reg.host()
        ),
        &[],
    );
    let c = cache(&config);
    assert_read(&c, "docker.io/library/alpine:3", &img);
    assert_read(&c, "alpine:3", &img);

    // A list added from docker.io/library/alpine, pushed to docker.io/library/pushed:v1.
    let mut list = ManifestList::default();
    list.add_instance(Instance {
        media_type: img.media_type.clone(),
        digest: img.digest.clone(),
        size: img.size as i64,
        source: Some(format!("docker.io/library/alpine@{}", img.digest)),
        ..Default::default()
    });
    let opts = PushOptions {
        destination: image_ref("docker.io/library/pushed:v1"),
        all: true,
        format: None,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let creds = anonymous();
    let digest = runtime()
        .block_on(push_list(
            &c,
            &list,
            &opts,
            access(&creds),
            access(&creds),
            2,
            &tx,
        ))
        .expect("push");
    let pushed = reg
        .manifest("mirror/library/pushed", "v1")
        .expect("the index is at the rewritten destination");
    assert_eq!(pushed.computed_digest(), digest);
    for blob in img.blob_digests() {
        assert!(
            reg.blob_size("mirror/library/pushed", &blob).is_some(),
            "{blob}"
        );
    }
    // Outside the prefix, docker.io is not configured at all.
    let e = read_image(&c, "docker.io/team/app:1", &anonymous()).expect_err("unlisted");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn a_redirect_to_another_host_carries_no_authorization() {
    let blob = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let (registry, storage, digest) = support::redirecting_registry(&blob, "ci", "redirect-pw");
    let config = load(
        &format!(
            "{}[registry.credentials]\nusername = \"ci\"\npassword = \"redirect-pw\"\n",
            entry(&registry.host(), "")
        ),
        &[],
    );
    let client = RegistryClient::new(Arc::clone(&config)).expect("client");
    let creds = anonymous();
    let got = runtime()
        .block_on(client.get_blob(
            &image_ref(&format!("{}/app:v1", registry.host())),
            &digest,
            &access(&creds),
        ))
        .expect("the blob, through the redirect");
    assert_eq!(got.to_vec(), blob);
    // The registry accepted only the configured password; the storage got nothing of it.
    support::assert_credentials_stayed_home(&registry, &storage);
}

#[test]
fn configured_secrets_never_show_in_errors_or_debug_output() {
    const SECRET: &str = "Sup3r-S3cret-Value";
    let reg = FakeRegistry::basic("ci", "the-right-one");
    let token = FakeRegistry::bearer("ci", "the-right-one");
    let img = push(&reg, "app", "v1", 13);
    let dir = tempfile::tempdir().expect("temp dir");
    // A helper that fails after printing the secret, and one that prints it as broken JSON.
    let failing = dir.path().join("docker-credential-failing");
    write_script(
        &failing,
        &format!("cat >/dev/null\necho '{SECRET}'\necho 'helper broke' >&2\nexit 3"),
    );
    let garbled = dir.path().join("docker-credential-garbled");
    write_script(
        &garbled,
        &format!("cat >/dev/null\necho '{{\"Secret\": {SECRET}'"),
    );
    let helpers = FakeRegistry::anonymous();
    let toml = format!(
        "{}[registry.credentials]\nusername = \"ci\"\npassword = \"{SECRET}\"\n\n{}[registry.credentials]\nusername = \"ci\"\npassword_env = \"TOKEN_PASS\"\n\n{}credential_helper = \"{}\"\n\n[[registry]]\nlocation = \"{}/garbled\"\ninsecure = true\ncredential_helper = \"{}\"\n",
        entry(&reg.host(), ""),
        entry(&token.host(), ""),
        entry(&helpers.host(), ""),
        failing.display(),
        helpers.host(),
        garbled.display(),
    );
    let config = load(&toml, &[("TOKEN_PASS", SECRET)]);
    let client = RegistryClient::new(Arc::clone(&config)).expect("client");
    let c = ManifestCache::new(client.clone(), &config.cache);
    let mut texts = vec![
        format!("{config:?}"),
        config.to_toml(),
        format!("{client:?}"),
        format!("{c:?}"),
    ];
    let creds = anonymous();
    for reference in [
        img.reference(),
        format!("{}/app:v1", token.host()),
        format!("{}/app:v1", helpers.host()),
        format!("{}/garbled/app:v1", helpers.host()),
    ] {
        let e = read_image(&c, &reference, &anonymous()).expect_err("refused or failed");
        texts.push(format!("{e} | {} | {e:?}", e.cause()));
        // No entry has mirrors: a read's only route is the write route.
        if let Ok(route) =
            runtime().block_on(client.write_route(&image_ref(&reference), &access(&creds)))
        {
            texts.push(format!("{route:?}"));
        }
    }
    for text in &texts {
        assert!(!text.contains(SECRET), "{text}");
    }
    assert!(
        texts[1].contains("password = \"<redacted>\""),
        "{}",
        texts[1]
    );
    assert!(
        texts.iter().any(|t| t.contains("helper broke")),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("registry[0].credentials ci")),
        "routes say where a credential comes from: {texts:#?}"
    );
}

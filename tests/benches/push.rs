//! Push benchmark: manifold against podman's own service (`podman system service`, the peer to
//! beat), driven by the same libpod HTTP requests over each one's unix socket, against the same
//! local registries, in one run.
//!
//! What it measures (wall time of one HTTP request, from sending it to reading the whole
//! response, as a podman client would wait for it):
//!
//! - **(a)** one modify call (`PUT /v4.3.1/libpod/manifests/NAME`, `operation=update`) adding six
//!   single-platform images (`docker://` tags, `tlsVerify=false`) to a freshly created list, cold
//!   and warm (see below);
//! - **(b)** `push --all` of that six-image list to a new repository on the registry the images
//!   come from (where blobs can be mounted across repositories);
//! - **(c)** the same push to an empty second registry: every blob must really be uploaded;
//! - **(d)** `push --all` of a list holding one image of 2 x 64 MiB of incompressible layers to an
//!   empty registry, plus manifold's peak RSS (`VmHWM`) during that push;
//! - **(b)** and **(c)** again with both registries a network round trip away (10 ms by default):
//!   a [`DelayProxy`] in front of each registry delays every byte by half the round trip in each
//!   direction, and both systems name the registries (and the images) by the proxies' addresses.
//!
//! For every push case it also prints the CPU time the registries spent per push (from
//! `/proc/PID/task/*/schedstat`): with the registries on the same CPUs, a push cannot take less
//! than that time divided by the number of CPUs, whoever sends the requests.
//!
//! It prints the median of each side, podman/manifold and the goal (≥3x on (a) and (c), ≥10x
//! on (b), not slower on (d), peak RSS < 64 MiB in (d)), once as a plain table and once as a
//! Markdown table for the README.
//!
//! Run it (as root, on Debian 12 with `docker-registry` and `podman` 4.3.1 installed, see
//! `scripts/setup-debian.sh`):
//!
//! ```sh
//! cargo build --release -p manifold-proxy          # the bench measures this binary
//! cargo bench -p manifold-tests --bench push
//! ```
//!
//! The binary is `$MANIFOLD_BIN`, else `target/release/manifold` (under `$CARGO_TARGET_DIR` when
//! set); the bench stops with a message when it is missing. Environment:
//! `MANIFOLD_BENCH_ITERS` (iterations of (a)–(c) per system, default 11),
//! `MANIFOLD_BENCH_ITERS_LARGE` (iterations of (d), default 5), `MANIFOLD_BENCH_LARGE_MIB` (size
//! of each of the two large layers, default 64), `MANIFOLD_BENCH_RTT_MS` (the round trip of the
//! distant-registry cases, default 10; 0 skips them). A run takes about two minutes on 2 cores,
//! plus compiling the bench.
//!
//! How the work is kept identical and honest:
//!
//! - Every iteration uses a fresh list name and a fresh destination repository, and the two
//!   systems alternate within each iteration (podman first on even iterations, manifold first on
//!   odd ones), so machine noise and ordering effects hit both alike.
//! - (a) is measured twice, because manifold caches manifests and podman does not. Cold: every
//!   iteration adds six images neither server has read before (own seeds, so own digests). Warm:
//!   every iteration adds the same six tags, after one untimed warm-up call. For podman both are
//!   cold; the difference on manifold's side is its manifest cache.
//! - (b) is podman's best case: an untimed warm-up push per system first fills podman's
//!   blob-info cache with where the source blobs live, so podman mounts instead of uploading (as
//!   a long-running podman would). The blobs mounted and uploaded per push are printed.
//! - (c) and (d) push to a second registry whose storage directory is wiped before every push,
//!   and podman's blob-info cache (`/var/lib/containers/cache/blob-info-cache-v1.boltdb`, shared
//!   by every podman process run as root) is deleted before every podman push, so neither system
//!   can mount or skip a blob. The bench checks from the registry's access log that every blob
//!   was uploaded.
//! - For cold (a) and each push case, the registry requests of each system's last call are
//!   printed, grouped by kind, to show where the time goes.
//! - After every push the bench checks that the destination holds the index with the right number
//!   of children, so a fast failure cannot count as a fast push.
//! - manifold's peak RSS is reset before each (d) push (`echo 5 > /proc/PID/clear_refs`) and read
//!   from `VmHWM` after it; podman's is printed next to it for context.
//!
//! While manifold answers pushes with 501 (not implemented yet), the push rows say so instead of
//! a ratio and the podman side still runs, so the bench can be checked before push lands.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use manifold_tests::delay::DelayProxy;
use manifold_tests::fixtures::{self, PushedImage};
use manifold_tests::http::{esc, Client, Response};
use manifold_tests::manifold::insecure_entry;
use manifold_tests::podman::PodmanServiceOptions;
use manifold_tests::registry::AccessLine;
use manifold_tests::{Manifold, ManifoldOptions, PodmanService, Registry};
use serde_json::{json, Value};

/// The API prefix both servers are driven with: what the podman 4.3.1 client sends.
const API: &str = "/v4.3.1/libpod";

/// podman's blob-info cache as root. Left in place, it turns an "upload" into a mount.
const PODMAN_BLOB_CACHE: &str = "/var/lib/containers/cache/blob-info-cache-v1.boltdb";

/// The two systems under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sys {
    Podman,
    Manifold,
}

impl Sys {
    /// Short tag used in repository names, so the two systems never push to the same repository.
    fn tag(self) -> &'static str {
        match self {
            Sys::Podman => "p",
            Sys::Manifold => "m",
        }
    }

    /// The order of the two systems in iteration `i`: alternate who goes first.
    fn order(i: usize) -> [Sys; 2] {
        if i % 2 == 0 {
            [Sys::Podman, Sys::Manifold]
        } else {
            [Sys::Manifold, Sys::Podman]
        }
    }
}

/// Why a push was not measured.
#[derive(Debug, Clone)]
enum PushError {
    /// The server answered 501: push is not implemented there (manifold before issue 3).
    Unavailable(String),
    /// Anything else: a non-200 status or an error inside the streamed report.
    Failed(String),
}

/// Timings of one case for both systems.
#[derive(Debug, Default)]
struct Case {
    podman: Vec<Duration>,
    manifold: Vec<Duration>,
    /// Set when manifold could not be measured (the first reason wins): a short form for the
    /// table and the full message for the notes.
    manifold_missing: Option<String>,
    manifold_missing_detail: Option<String>,
    /// What the last push of each system did at the registries, from their access logs.
    podman_traffic: Option<Traffic>,
    manifold_traffic: Option<Traffic>,
    /// CPU time the registries spent serving each measured push.
    podman_registry_cpu: Vec<Duration>,
    manifold_registry_cpu: Vec<Duration>,
}

/// What one push did at the registries.
#[derive(Debug, Clone)]
struct Traffic {
    /// Blobs uploaded into the destination repository.
    uploaded: usize,
    /// Blobs mounted into it from another repository.
    mounted: usize,
    /// Every request the registries received during the push (reads of the sources included).
    requests: usize,
    /// Those requests grouped as `METHOD kind STATUS` with a count, in order of first appearance.
    kinds: Vec<(String, usize)>,
}

/// Groups access-log lines as `METHOD kind STATUS` (kind: `/v2/`, blob, mount, upload, manifest)
/// with a count each, in order of first appearance.
fn request_kinds(lines: &[AccessLine]) -> Vec<(String, usize)> {
    let mut kinds: Vec<(String, usize)> = vec![];
    for l in lines {
        let kind = if l.path == "/v2/" {
            "/v2/"
        } else if l.is_mount() {
            "mount"
        } else if l.path.contains("/blobs/uploads/") {
            "upload"
        } else if l.path.contains("/blobs/") {
            "blob"
        } else if l.path.contains("/manifests/") {
            "manifest"
        } else {
            "other"
        };
        let key = format!("{} {kind} {}", l.method, l.status);
        match kinds.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => kinds.push((key, 1)),
        }
    }
    kinds
}

impl Case {
    fn record(&mut self, sys: Sys, d: Duration) {
        match sys {
            Sys::Podman => self.podman.push(d),
            Sys::Manifold => self.manifold.push(d),
        }
    }

    fn record_registry_cpu(&mut self, sys: Sys, cpu: Duration) {
        match sys {
            Sys::Podman => self.podman_registry_cpu.push(cpu),
            Sys::Manifold => self.manifold_registry_cpu.push(cpu),
        }
    }

    fn record_traffic(&mut self, sys: Sys, t: Traffic) {
        match sys {
            Sys::Podman => self.podman_traffic = Some(t),
            Sys::Manifold => self.manifold_traffic = Some(t),
        }
    }

    fn manifold_failed(&mut self, e: PushError) {
        let (short, detail) = match e {
            PushError::Unavailable(m) => ("push not available (501)", m),
            PushError::Failed(m) => ("push failed", m),
        };
        if self.manifold_missing.is_none() {
            self.manifold_missing = Some(short.into());
            self.manifold_missing_detail = Some(detail);
        }
    }
}

/// One system under test: its name and a raw HTTP client on its unix socket.
struct Server {
    sys: Sys,
    http: Client,
    /// Set after the first 501 on push, so the remaining manifold pushes are skipped.
    push_unavailable: Option<PushError>,
}

fn main() {
    // More than a handful of iterations, because the machine is shared and noisy; the whole run
    // still takes about a minute on 2 cores.
    let iters = env_usize("MANIFOLD_BENCH_ITERS", 11);
    let iters_large = env_usize("MANIFOLD_BENCH_ITERS_LARGE", 5);
    let large_mib = env_usize("MANIFOLD_BENCH_LARGE_MIB", 64);
    let bin = manifold_release_bin();
    if !bin.is_file() {
        eprintln!(
            "error: manifold binary not found at {}\n\
             Build it first with `cargo build --release -p manifold-proxy`, or point \
             MANIFOLD_BIN at a manifold binary.",
            bin.display()
        );
        std::process::exit(2);
    }
    // Probed before anything runs: the binary may be rebuilt while the bench runs, and the
    // version printed must be the one measured.
    let machine = Machine::probe(&bin);
    let load_start = loadavg();
    let started = Instant::now();

    progress("starting registries and synthesising fixtures");
    // `src` holds the images (and is the destination of (b)); `dst` is wiped before every push of
    // (c) and (d) so it is truly empty.
    let src = Registry::plain();
    let dst = Registry::plain();
    let singles = fixtures::push_six_singles(&src, "app");
    let large = fixtures::large_image(&src, "big", "latest", large_mib, 7);
    // The `docker://HOST/REPO:TAG` form the podman CLI sends for `manifest add`.
    let six_refs: Vec<String> = singles.iter().map(PushedImage::docker_reference).collect();
    // For cold (a): per iteration six images neither server has read before (own seeds, so own
    // digests), pushed as `app:cold<i>-<n>`.
    let cold_refs: Vec<Vec<String>> = (0..iters)
        .map(|i| {
            fixtures::six_platforms()
                .into_iter()
                .enumerate()
                .map(|(n, spec)| {
                    let spec = spec.seed(1000 + 10 * i as u64 + n as u64).base(100);
                    fixtures::push_image(&src, "app", &format!("cold{i}-{n}"), &spec)
                        .docker_reference()
                })
                .collect()
        })
        .collect();
    let regs = [&src, &dst];
    // (b) and (c) again with both registries a network round trip away: a delay proxy in front
    // of each, and the images named through it.
    let rtt = Duration::from_millis(env_usize("MANIFOLD_BENCH_RTT_MS", 10) as u64);
    let far = (!rtt.is_zero()).then(|| {
        let proxy = |r: &Registry| {
            let upstream = r.host().parse().expect("registry address");
            DelayProxy::start(upstream, rtt / 2)
        };
        (proxy(&src), proxy(&dst))
    });
    let six_refs_far: Vec<String> = match &far {
        Some((src_far, _)) => six_refs
            .iter()
            .map(|r| r.replacen(&src.host(), &src_far.host(), 1))
            .collect(),
        None => vec![],
    };
    let large_refs = vec![large.docker_reference()];
    let six_blobs = unique_blobs(&singles);
    let large_blobs = unique_blobs(std::slice::from_ref(&large));

    progress("starting podman system service and manifold");
    // Both servers treat both registries (and the proxies in front of them) as plain-HTTP
    // registries through their configuration, and every request also carries tlsVerify=false.
    let mut hosts = vec![src.host(), dst.host()];
    if let Some((src_far, dst_far)) = &far {
        hosts.extend([src_far.host(), dst_far.host()]);
    }
    let podman_svc = PodmanService::start_with(PodmanServiceOptions {
        insecure_registries: hosts.clone(),
        ..Default::default()
    });
    let config: String = hosts.iter().map(|h| insecure_entry(h)).collect();
    let manifold = Manifold::start(ManifoldOptions {
        bin: Some(bin.clone()),
        ..ManifoldOptions::with_config(&config)
    });
    let manifold_pid = manifold.pid().expect("manifold is running");
    let podman_pid = podman_svc.pid().expect("podman service is running");
    let mut servers = [
        Server {
            sys: Sys::Podman,
            http: podman_svc.http().with_timeout(Duration::from_secs(300)),
            push_unavailable: None,
        },
        Server {
            sys: Sys::Manifold,
            http: manifold.http().with_timeout(Duration::from_secs(300)),
            push_unavailable: None,
        },
    ];

    // Start from a known podman cache state rather than whatever earlier runs left.
    remove_podman_blob_cache();

    // ---- (a) one modify call adding six images to a fresh list: cold (images never read
    // before by either server), then warm (the same six tags every time, after an untimed
    // warm-up call), because manifold caches manifests and podman does not.
    progress(&format!(
        "(a) modify, {iters} cold and {iters} warm iterations per system"
    ));
    let mut case_a_cold = Case::default();
    for (i, refs) in cold_refs.iter().enumerate() {
        for sys in Sys::order(i) {
            let name = format!("bench-a-cold-{i}");
            let (d, lines) = modify_case(server(&servers, sys), &name, refs, Some(&src));
            case_a_cold.record(sys, d);
            case_a_cold.record_traffic(
                sys,
                Traffic {
                    uploaded: 0,
                    mounted: 0,
                    requests: lines.len(),
                    kinds: request_kinds(&lines),
                },
            );
        }
    }
    for s in &servers {
        modify_case(s, "bench-a-warm-up", &six_refs, None);
    }
    let mut case_a_warm = Case::default();
    for i in 0..iters {
        for sys in Sys::order(i) {
            let name = format!("bench-a-{i}");
            let (d, _) = modify_case(server(&servers, sys), &name, &six_refs, None);
            case_a_warm.record(sys, d);
        }
    }
    // Cache-hit latency of one add (issue 4): many single-image warm adds through manifold.
    let hit_samples = env_usize("MANIFOLD_BENCH_HIT_SAMPLES", 200);
    progress(&format!("cache-hit add latency, {hit_samples} samples"));
    let mut hits: Vec<Duration> = (0..hit_samples)
        .map(|i| {
            let name = format!("bench-hit-{i}");
            modify_case(server(&servers, Sys::Manifold), &name, &six_refs[..1], None).0
        })
        .collect();
    hits.sort();

    // ---- (b) push --all to a new repository on the same registry (mounts possible).
    progress(&format!(
        "(b) push to the same registry, {iters} iterations per system"
    ));
    let same_registry = |label: &'static str, host: String| Rounds {
        label,
        refs: &six_refs,
        blobs: six_blobs,
        dest: &src,
        dest_host: host,
        empty: false,
        regs: &regs,
    };
    let (case_b, _) = push_rounds(&mut servers, iters, &same_registry("b", src.host()));

    // ---- (c) the same push to an empty registry: a full copy.
    progress(&format!(
        "(c) push to an empty registry, {iters} iterations per system"
    ));
    let empty_registry = |label: &'static str, refs, host: String| Rounds {
        label,
        refs,
        blobs: six_blobs,
        dest: &dst,
        dest_host: host,
        empty: true,
        regs: &regs,
    };
    let (case_c, cache_recreated) = push_rounds(
        &mut servers,
        iters,
        &empty_registry("c", &six_refs, dst.host()),
    );

    // ---- (b) and (c) again, the registries a round trip away.
    let (case_b_far, case_c_far) = match &far {
        Some((src_far, dst_far)) => {
            progress(&format!(
                "(b) and (c) with the registries {} ms away, {iters} iterations per system",
                rtt.as_millis()
            ));
            let b = Rounds {
                refs: &six_refs_far,
                ..same_registry("b-far", src_far.host())
            };
            let (b, _) = push_rounds(&mut servers, iters, &b);
            let c = empty_registry("c-far", &six_refs_far, dst_far.host());
            let (c, _) = push_rounds(&mut servers, iters, &c);
            (Some(b), Some(c))
        }
        None => (None, None),
    };

    // ---- (d) one 2 x 64 MiB image to an empty registry, with peak RSS.
    progress(&format!(
        "(d) push of 2 x {large_mib} MiB to an empty registry, {iters_large} iterations per system"
    ));
    let mut case_d = Case::default();
    let mut manifold_peak_kib = 0u64;
    let mut podman_peak_kib = 0u64;
    let manifold_rss_before_kib = proc_status_kib(manifold_pid, "VmRSS");
    for i in 0..iters_large {
        for sys in Sys::order(i) {
            let job = PushJob {
                name: format!("bench-d-{i}"),
                refs: &large_refs,
                dest: &dst,
                dest_host: dst.host(),
                repo: format!("d-{}-{i}", sys.tag()),
                expect_uploads: Some(large_blobs),
                regs: &regs,
            };
            make_empty(&dst, sys);
            let pid = match sys {
                Sys::Podman => podman_pid,
                Sys::Manifold => manifold_pid,
            };
            reset_peak_rss(pid);
            let measured = push_case(server_mut(&mut servers, sys), &job, &mut case_d);
            let peak = proc_status_kib(pid, "VmHWM").unwrap_or(0);
            if measured {
                match sys {
                    Sys::Podman => podman_peak_kib = podman_peak_kib.max(peak),
                    Sys::Manifold => manifold_peak_kib = manifold_peak_kib.max(peak),
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let load_end = loadavg();

    // ---- Report.
    let mut rows = vec![
        Row::timing(
            "(a) one modify call adding 6 images, cold (never read before)",
            &case_a_cold,
            3.0,
            "≥3x",
        ),
        Row::timing(
            "(a) one modify call adding 6 images, warm (same 6 tags again)",
            &case_a_warm,
            20.0,
            "≥20x (cache)",
        ),
        Row::timing(
            "(b) push --all of the 6-image list, new repo, same registry",
            &case_b,
            10.0,
            "≥10x",
        ),
        Row::timing(
            "(c) push --all of the 6-image list to an empty registry",
            &case_c,
            3.0,
            "≥3x",
        ),
        Row::timing(
            &format!("(d) push of one 2 x {large_mib} MiB image to an empty registry"),
            &case_d,
            1.0,
            "≥1x, not slower",
        ),
        Row::rss(&case_d, manifold_peak_kib, podman_peak_kib),
    ];
    let rtt_ms = rtt.as_millis();
    if let (Some(b), Some(c)) = (&case_b_far, &case_c_far) {
        rows.push(Row::timing(
            &format!("(b) the same, both registries {rtt_ms} ms round trip away"),
            b,
            10.0,
            "≥10x (as (b))",
        ));
        rows.push(Row::timing(
            &format!("(c) the same, both registries {rtt_ms} ms round trip away"),
            c,
            3.0,
            "≥3x (as (c))",
        ));
    }

    println!();
    println!("manifold push benchmark: podman system service vs manifold");
    println!("date:       {}", machine.date);
    println!(
        "machine:    {} CPUs ({}), shared with other jobs (compiling, tests): absolute times are noisy, compare within one run",
        machine.cpus, machine.model
    );
    println!("load:       {load_start} at start, {load_end} at end (1/5/15-minute load averages)");
    println!("podman:     {}", machine.podman);
    println!("registry:   {}", machine.registry);
    println!("manifold:   {}", machine.manifold);
    println!(
        "iterations: {iters} per system for (a)-(c), {iters_large} for (d); alternating podman/manifold; bench took {:.0} s",
        elapsed.as_secs_f64()
    );
    println!();
    print_plain(&rows);
    println!();
    println!(
        "cache-hit add latency (manifold, one image, {} samples): p50 {}, p99 {}",
        hits.len(),
        percentile(&hits, 50).map_or("-".into(), ms),
        percentile(&hits, 99).map_or("-".into(), ms),
    );
    println!();
    print_notes(
        &case_a_cold,
        &case_b,
        &case_c,
        &case_d,
        six_blobs,
        large_blobs,
        cache_recreated,
        manifold_rss_before_kib,
    );
    let mut cpu_cases = vec![("(b)", &case_b), ("(c)", &case_c), ("(d)", &case_d)];
    if let (Some(b), Some(c)) = (&case_b_far, &case_c_far) {
        cpu_cases.extend([("(b) far", b), ("(c) far", c)]);
    }
    print_registry_cpu(&cpu_cases, machine.cpus);
    println!();
    println!("Markdown:");
    println!();
    print_markdown(&rows, &machine, iters, iters_large);
}

/// Prints a progress line on stderr (the results go to stdout).
fn progress(msg: &str) {
    eprintln!("[bench] {msg}");
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("error: {name}={v:?} is not a number");
            std::process::exit(2)
        }),
        Err(_) => default,
    }
}

/// The release manifold binary: `$MANIFOLD_BIN`, else `<target dir>/release/manifold`.
///
/// Not the harness's default (next to the running executable), so a debug binary can never be
/// measured by accident.
fn manifold_release_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MANIFOLD_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifold_tests::workspace_dir().join("target"));
    target.join("release/manifold")
}

fn server(servers: &[Server; 2], sys: Sys) -> &Server {
    servers.iter().find(|s| s.sys == sys).expect("both servers")
}

fn server_mut(servers: &mut [Server; 2], sys: Sys) -> &mut Server {
    servers
        .iter_mut()
        .find(|s| s.sys == sys)
        .expect("both servers")
}

/// The number of distinct blobs (configs and layers) of `images`.
fn unique_blobs(images: &[PushedImage]) -> usize {
    images
        .iter()
        .flat_map(PushedImage::blob_digests)
        .collect::<BTreeSet<_>>()
        .len()
}

/// Panics with the response unless its status is `want`.
fn expect_status(r: &Response, want: u16, what: &str) {
    assert!(
        r.status == want,
        "{what}: expected {want}, got {} {}: {}",
        r.status,
        r.reason,
        r.text()
    );
}

/// Creates an empty list (the request the podman 4.3.1 client sends for `manifest create`).
fn create(http: &Client, name: &str) {
    let r = http.request(
        "POST",
        &format!("{API}/manifests/{name}?all=false&amend=false"),
        &[],
        b"",
    );
    expect_status(&r, 201, &format!("create {name}"));
}

/// One modify call adding `refs`, timed: the body and query the podman 4.3.1 client sends for
/// `manifest add --tls-verify=false`, with all six images in one call.
fn modify(http: &Client, name: &str, refs: &[String]) -> Duration {
    let body = json!({
        "Operation": "update",
        "All": false,
        "Annotations": null,
        "Arch": "",
        "Features": null,
        "Images": refs,
        "OS": "",
        "os_features": null,
        "os_version": "",
        "Variant": "",
        "Authfile": "",
        "Password": "",
        "Username": "",
        "SkipTLSVerify": true,
    });
    let body = serde_json::to_vec(&body).expect("serialise modify body");
    let path = format!("{API}/manifests/{name}?operation=update&tlsVerify=false");
    let t = Instant::now();
    let r = http.request(
        "PUT",
        &path,
        &[
            ("Content-Type", "application/json"),
            ("X-Registry-Auth", "e30="),
        ],
        &body,
    );
    let d = t.elapsed();
    expect_status(&r, 200, &format!("modify {name}"));
    d
}

/// Checks (untimed) that list `name` holds `n` instances.
fn check_list(http: &Client, name: &str, n: usize) {
    let r = http.get(&format!("{API}/manifests/{name}/json"));
    expect_status(&r, 200, &format!("inspect {name}"));
    let got = r.json()["manifests"].as_array().map_or(0, Vec::len);
    assert_eq!(
        got,
        n,
        "list {name} should hold {n} instances: {}",
        r.text()
    );
}

/// Deletes list `name`, so every store stays the same size across iterations.
fn delete_list(http: &Client, name: &str) {
    let r = http.delete(&format!("{API}/manifests/{name}"));
    expect_status(&r, 200, &format!("delete {name}"));
}

/// `push --all` of list `name` to `dest` (`HOST/REPO:TAG`), timed.
fn push(http: &Client, name: &str, dest: &str) -> Result<Duration, PushError> {
    let path = format!(
        "{API}/manifests/{name}/registry/{}?all=true&tlsVerify=false&quiet=true",
        esc(&format!("docker://{dest}"))
    );
    let t = Instant::now();
    let r = http.request("POST", &path, &[("X-Registry-Auth", "e30=")], b"");
    let d = t.elapsed();
    match r.status {
        200 => {}
        501 => {
            let msg = r.json()["message"]
                .as_str()
                .map_or_else(|| r.text(), str::to_string);
            return Err(PushError::Unavailable(msg));
        }
        s => return Err(PushError::Failed(format!("{s} {}: {}", r.reason, r.text()))),
    }
    // podman streams JSON objects and reports a failure after the 200 as {"error": …}.
    for line in r.text().lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
                return Err(PushError::Failed(format!("error in push report: {e}")));
            }
        }
    }
    Ok(d)
}

/// One push to measure: the list to build, where to push it, what to expect there.
struct PushJob<'a> {
    /// The list to create (and delete afterwards); fresh per iteration.
    name: String,
    /// The images to add to it.
    refs: &'a [String],
    /// The destination registry.
    dest: &'a Registry,
    /// The address the push names (`127.0.0.1:PORT`): the registry's own, or a delay proxy's
    /// in front of it.
    dest_host: String,
    /// The destination repository (tag `latest`); fresh per iteration and system.
    repo: String,
    /// On an empty destination: every one of this many blobs must be uploaded.
    expect_uploads: Option<usize>,
    /// Every registry the push may talk to, for counting its requests.
    regs: &'a [&'a Registry],
}

/// A push case run in alternating rounds: what to push where.
struct Rounds<'a> {
    /// Names lists (`bench-LABEL-i`) and repositories (`LABEL-SYS-i`).
    label: &'static str,
    /// The images of the list, and how many distinct blobs they have.
    refs: &'a [String],
    blobs: usize,
    /// The destination registry, and the address pushes name it by.
    dest: &'a Registry,
    dest_host: String,
    /// An empty destination (a full copy): its storage is wiped, and podman's blob-info cache
    /// removed, before every push, and every blob must be uploaded. Otherwise each system first
    /// makes an untimed warm-up push, which fills podman's blob-info cache with where the
    /// source blobs live (its steady state, its best case) and opens manifold's connections.
    empty: bool,
    /// Every registry a push may talk to, for counting its requests.
    regs: &'a [&'a Registry],
}

/// Runs `iters` rounds of `r`, the two systems alternating within each; returns the case and,
/// for an empty destination, whether podman re-created its blob-info cache (it should).
fn push_rounds(servers: &mut [Server; 2], iters: usize, r: &Rounds<'_>) -> (Case, bool) {
    let label = r.label;
    let job = |name: String, repo: String| PushJob {
        name,
        refs: r.refs,
        dest: r.dest,
        dest_host: r.dest_host.clone(),
        repo,
        expect_uploads: r.empty.then_some(r.blobs),
        regs: r.regs,
    };
    if !r.empty {
        for s in servers.iter_mut() {
            let tag = s.sys.tag();
            let warm = job(
                format!("bench-{label}-warm-{tag}"),
                format!("{label}-warm-{tag}"),
            );
            push_case(s, &warm, &mut Case::default());
        }
    }
    let mut case = Case::default();
    let mut cache_recreated = false;
    for i in 0..iters {
        for sys in Sys::order(i) {
            let push = job(
                format!("bench-{label}-{i}"),
                format!("{label}-{}-{i}", sys.tag()),
            );
            if r.empty {
                make_empty(r.dest, sys);
            }
            push_case(server_mut(servers, sys), &push, &mut case);
            if r.empty && sys == Sys::Podman {
                cache_recreated |= Path::new(PODMAN_BLOB_CACHE).exists();
            }
        }
    }
    (case, cache_recreated)
}

/// Creates list `name` and adds `refs` in one modify call, which is timed; checks the list and
/// deletes it (so every store stays the same size across iterations). With `count_on`, also
/// returns the requests that registry received during the modify call (untimed).
fn modify_case(
    s: &Server,
    name: &str,
    refs: &[String],
    count_on: Option<&Registry>,
) -> (Duration, Vec<AccessLine>) {
    create(&s.http, name);
    let mark = count_on.map(Registry::access_mark);
    let d = modify(&s.http, name, refs);
    let lines = match (count_on, mark) {
        (Some(r), Some(m)) => r.access_log_since(m),
        _ => vec![],
    };
    check_list(&s.http, name, refs.len());
    delete_list(&s.http, name);
    (d, lines)
}

/// One push iteration of one system: create the list and add the images (untimed), push it
/// (timed), count what reached the registries and verify the destination (untimed), delete the
/// list. Returns whether the push was measured; a podman failure aborts the bench, a manifold
/// failure is recorded in `case`.
fn push_case(s: &mut Server, job: &PushJob<'_>, case: &mut Case) -> bool {
    if let Some(e) = &s.push_unavailable {
        if s.sys == Sys::Manifold {
            case.manifold_failed(e.clone());
        }
        return false;
    }
    let dest = format!("{}/{}:latest", job.dest_host, job.repo);
    create(&s.http, &job.name);
    modify(&s.http, &job.name, job.refs);
    let marks: Vec<usize> = job.regs.iter().map(|r| r.access_mark()).collect();
    let cpu_before = registries_cpu(job.regs);
    let result = push(&s.http, &job.name, &dest);
    let registry_cpu = registries_cpu(job.regs).saturating_sub(cpu_before);
    // Read the logs before the checks below add their own requests.
    let mut all_lines = vec![];
    let mut dest_log = vec![];
    for (r, mark) in job.regs.iter().zip(marks) {
        let log = r.access_log_since(mark);
        all_lines.extend(log.iter().cloned());
        if std::ptr::eq(*r, job.dest) {
            dest_log = log;
        }
    }
    delete_list(&s.http, &job.name);
    let checked = result.and_then(|d| {
        check_pushed(job.dest, &job.repo, "latest", job.refs.len()).map_err(PushError::Failed)?;
        let (uploaded, mounted) = blob_counts(&dest_log, &job.repo);
        if let Some(n) = job.expect_uploads {
            if uploaded < n {
                return Err(PushError::Failed(format!(
                    "only {uploaded} of {n} blobs uploaded to the empty registry ({mounted} mounted)"
                )));
            }
        }
        Ok((
            d,
            Traffic {
                uploaded,
                mounted,
                requests: all_lines.len(),
                kinds: request_kinds(&all_lines),
            },
        ))
    });
    match checked {
        Ok((d, traffic)) => {
            case.record_traffic(s.sys, traffic);
            case.record_registry_cpu(s.sys, registry_cpu);
            case.record(s.sys, d);
            true
        }
        Err(e) if s.sys == Sys::Podman => panic!("podman push of {} to {dest}: {e:?}", job.name),
        Err(e) => {
            eprintln!("[bench] manifold push of {} to {dest}: {e:?}", job.name);
            if matches!(e, PushError::Unavailable(_)) {
                // Do not ask again: every further manifold push would be the same 501.
                s.push_unavailable = Some(e.clone());
            }
            case.manifold_failed(e);
            false
        }
    }
}

/// Checks that `repo:tag` in `reg` is an index of `n` children, each of which is present.
fn check_pushed(reg: &Registry, repo: &str, tag: &str, n: usize) -> Result<(), String> {
    let index = fixtures::try_get_manifest(reg, repo, tag)
        .ok_or_else(|| format!("{}/{repo}:{tag} is missing after the push", reg.host()))?;
    let doc: Value = serde_json::from_slice(&index.bytes)
        .map_err(|e| format!("{}/{repo}:{tag} is not JSON: {e}", reg.host()))?;
    let children = doc["manifests"].as_array().cloned().unwrap_or_default();
    if children.len() != n {
        return Err(format!(
            "{}/{repo}:{tag} has {} children, expected {n}",
            reg.host(),
            children.len()
        ));
    }
    for c in &children {
        let digest = c["digest"].as_str().unwrap_or_default();
        if fixtures::try_get_manifest(reg, repo, digest).is_none() {
            return Err(format!("child {digest} missing from {}/{repo}", reg.host()));
        }
    }
    Ok(())
}

/// (blobs uploaded, blobs mounted) into `repo`, from access-log lines: completed uploads
/// ([`AccessLine::is_completed_upload`]) and successful mounts
/// ([`AccessLine::is_completed_mount`]) under `/v2/<repo>/blobs/uploads/`.
fn blob_counts(log: &[AccessLine], repo: &str) -> (usize, usize) {
    let prefix = format!("/v2/{repo}/blobs/uploads/");
    let ours = log.iter().filter(|l| l.path.starts_with(&prefix));
    let uploaded = ours.clone().filter(|l| l.is_completed_upload()).count();
    let mounted = ours.filter(|l| l.is_completed_mount()).count();
    (uploaded, mounted)
}

/// Empties a registry's storage so no blob of an earlier push is left. CNCF distribution's
/// filesystem driver keeps no blob cache unless configured (the harness does not), so the next
/// push must upload everything.
fn wipe_registry(reg: &Registry) {
    let docker = reg.storage_dir().join("docker");
    if docker.exists() {
        std::fs::remove_dir_all(&docker)
            .unwrap_or_else(|e| panic!("wipe {}: {e}", docker.display()));
    }
}

/// Prepares a push by `sys` to an empty `dest`: its storage wiped and, for podman, the blob-info
/// cache removed, so that neither system can mount or skip a blob.
fn make_empty(dest: &Registry, sys: Sys) {
    wipe_registry(dest);
    if sys == Sys::Podman {
        remove_podman_blob_cache();
    }
}

/// Deletes podman's blob-info cache, which would otherwise turn uploads into mounts.
fn remove_podman_blob_cache() {
    match std::fs::remove_file(PODMAN_BLOB_CACHE) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {PODMAN_BLOB_CACHE}: {e}"),
    }
}

/// Resets the peak RSS (`VmHWM`) of `pid`; Linux ≥ 4.0 (`5` in `clear_refs`).
fn reset_peak_rss(pid: u32) {
    let path = format!("/proc/{pid}/clear_refs");
    std::fs::write(&path, "5").unwrap_or_else(|e| panic!("write 5 to {path}: {e}"));
}

/// CPU time the registries' processes have used so far: the sum over their threads of
/// `/proc/PID/task/TID/schedstat` (nanoseconds on a CPU), finer than the 10 ms ticks of `stat`.
fn registries_cpu(regs: &[&Registry]) -> Duration {
    regs.iter().filter_map(|r| r.pid()).map(process_cpu).sum()
}

fn process_cpu(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .sum()
}

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The first line of a command's output, or `?`.
fn command_line_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("?")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
}

/// What the run was measured on.
struct Machine {
    date: String,
    cpus: usize,
    model: String,
    podman: String,
    registry: String,
    manifold: String,
}

impl Machine {
    fn probe(bin: &Path) -> Machine {
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let built = std::fs::metadata(bin)
            .and_then(|m| m.modified())
            .ok()
            .map(|t| {
                let secs = t
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                command_line_output("date", &["-u", "-d", &format!("@{secs}"), "+%F %TZ"])
            })
            .unwrap_or_else(|| "?".into());
        Machine {
            date: command_line_output("date", &["-u", "+%F %TZ"]),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            model,
            podman: command_line_output(&manifold_tests::podman::podman_bin(), &["--version"]),
            registry: command_line_output(
                &manifold_tests::registry::registry_bin(),
                &["--version"],
            ),
            manifold: format!(
                "{} ({}, built {built})",
                command_line_output(&bin.to_string_lossy(), &["version"]),
                bin.display()
            ),
        }
    }
}

/// One line of the result table.
struct Row {
    case: String,
    podman: String,
    manifold: String,
    ratio: String,
    goal: String,
    verdict: String,
}

/// The `p`th percentile (nearest rank) of sorted samples.
fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn median(v: &[Duration]) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort();
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    })
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// `median (min–max)`.
fn summary(v: &[Duration]) -> String {
    match median(v) {
        None => "n/a".into(),
        Some(m) => {
            let min = v.iter().min().copied().unwrap_or(m);
            let max = v.iter().max().copied().unwrap_or(m);
            format!("{} ({}–{})", ms(m), ms(min), ms(max))
        }
    }
}

impl Row {
    fn timing(case: &str, c: &Case, goal: f64, goal_text: &str) -> Row {
        let (manifold, ratio, verdict) = match (median(&c.podman), median(&c.manifold)) {
            (Some(p), Some(m)) if c.manifold_missing.is_none() => {
                let r = p.as_secs_f64() / m.as_secs_f64().max(1e-9);
                let verdict = if r >= goal { "met" } else { "NOT met" };
                (
                    summary(&c.manifold),
                    format!("{r:.1}x"),
                    verdict.to_string(),
                )
            }
            _ => (
                format!(
                    "manifold: {}",
                    c.manifold_missing.as_deref().unwrap_or("no samples")
                ),
                "n/a".into(),
                "n/a".into(),
            ),
        };
        Row {
            case: case.into(),
            podman: summary(&c.podman),
            manifold,
            ratio,
            goal: goal_text.into(),
            verdict,
        }
    }

    fn rss(c: &Case, manifold_kib: u64, podman_kib: u64) -> Row {
        let mib = |k: u64| k as f64 / 1024.0;
        let (manifold, verdict) = if c.manifold.is_empty() || c.manifold_missing.is_some() {
            (
                format!(
                    "manifold: {}",
                    c.manifold_missing.as_deref().unwrap_or("no samples")
                ),
                "n/a".to_string(),
            )
        } else {
            let v = if mib(manifold_kib) < 64.0 {
                "met"
            } else {
                "NOT met"
            };
            (format!("{:.1} MiB", mib(manifold_kib)), v.to_string())
        };
        let podman = if c.podman.is_empty() {
            "n/a".to_string()
        } else {
            format!("{:.1} MiB", mib(podman_kib))
        };
        Row {
            case: "(d) peak RSS (VmHWM) during the push".into(),
            podman,
            manifold,
            ratio: String::new(),
            goal: "manifold < 64 MiB".into(),
            verdict,
        }
    }
}

const HEADERS: [&str; 6] = [
    "case",
    "podman (median, min–max)",
    "manifold (median, min–max)",
    "podman/manifold",
    "goal",
    "",
];

fn cells(r: &Row) -> [&str; 6] {
    [
        &r.case,
        &r.podman,
        &r.manifold,
        &r.ratio,
        &r.goal,
        &r.verdict,
    ]
}

fn print_plain(rows: &[Row]) {
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(cells(r)) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; 6]| {
        let mut out = String::new();
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            let pad = w - c.chars().count();
            // Text left-aligned, numbers right-aligned.
            if i == 0 || i >= 4 {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            }
            out.push_str("  ");
        }
        println!("{}", out.trim_end());
    };
    line(HEADERS);
    line(widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for r in rows {
        line(cells(r));
    }
}

fn print_markdown(rows: &[Row], m: &Machine, iters: usize, iters_large: usize) {
    println!(
        "Measured {} on {} CPUs ({}), shared with other jobs; {}; {iters} iterations per system \
         for (a)–(c) and {iters_large} for (d), alternating; medians (min–max).",
        m.date, m.cpus, m.model, m.podman
    );
    println!();
    println!("| case | podman 4.3.1 service | manifold | podman/manifold | goal |");
    println!("|---|---:|---:|---:|---|");
    for r in rows {
        let goal = if r.verdict.is_empty() || r.verdict == "n/a" {
            r.goal.clone()
        } else {
            format!("{}: {}", r.goal, r.verdict)
        };
        println!(
            "| {} | {} | {} | {} | {} |",
            r.case, r.podman, r.manifold, r.ratio, goal
        );
    }
}

/// The registries' CPU time per push, which bounds a push from below: with the registries on
/// this machine, no push can take less than that time divided by the CPUs.
fn print_registry_cpu(cases: &[(&str, &Case)], cpus: usize) {
    println!();
    println!(
        "registry CPU time per push (median; with the registries on these {cpus} CPUs, a push \
         cannot take less than this divided by {cpus}):"
    );
    for (label, case) in cases {
        let m = |v: &[Duration]| median(v).map_or("n/a".into(), ms);
        println!(
            "- {label}: podman {}, manifold {}",
            m(&case.podman_registry_cpu),
            m(&case.manifold_registry_cpu)
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn print_notes(
    a_cold: &Case,
    b: &Case,
    c: &Case,
    d: &Case,
    six_blobs: usize,
    large_blobs: usize,
    cache_recreated: bool,
    manifold_rss_before_kib: Option<u64>,
) {
    let traffic = |x: &Option<Traffic>| {
        x.as_ref().map_or("n/a".into(), |t| {
            format!(
                "{} uploaded, {} mounted, {} registry requests",
                t.uploaded, t.mounted, t.requests
            )
        })
    };
    println!("notes:");
    println!(
        "- (a) cold: each iteration adds six images neither server has read before; warm: the \
         same six tags every iteration after an untimed warm-up call. podman has no manifest \
         cache, so both are cold for podman; the warm row shows manifold's manifest cache."
    );
    println!(
        "- (b) last push: podman {}; manifold {}. podman's blob-info cache was warm (an untimed \
         warm-up push first), its best case; with a cold cache it uploads every blob.",
        traffic(&b.podman_traffic),
        traffic(&b.manifold_traffic)
    );
    println!(
        "- (c) last push ({six_blobs} distinct blobs): podman {}; manifold {}. Destination \
         storage wiped, and podman's blob-info cache removed, before every push{}.",
        traffic(&c.podman_traffic),
        traffic(&c.manifold_traffic),
        if cache_recreated {
            format!(" (podman re-creates {PODMAN_BLOB_CACHE} on every push)")
        } else {
            format!(
                " (warning: podman did not re-create {PODMAN_BLOB_CACHE}; check its cache path)"
            )
        }
    );
    println!(
        "- (d) last push ({large_blobs} distinct blobs): podman {}; manifold {}. manifold's RSS \
         before (d): {}.",
        traffic(&d.podman_traffic),
        traffic(&d.manifold_traffic),
        manifold_rss_before_kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
    );
    println!(
        "- Times are one HTTP request over the server's unix socket, send to last byte; list \
         create/delete, checks and access-log counting are untimed."
    );
    for (label, case) in [("(b)", b), ("(c)", c), ("(d)", d)] {
        if let (Some(short), Some(detail)) = (&case.manifold_missing, &case.manifold_missing_detail)
        {
            println!("- {label} manifold {short}: {detail}");
        }
    }
    println!();
    println!("registry requests of the last call (METHOD kind STATUS x count):");
    for (label, case) in [("(a) cold", a_cold), ("(b)", b), ("(c)", c), ("(d)", d)] {
        for (sys, t) in [
            ("podman", &case.podman_traffic),
            ("manifold", &case.manifold_traffic),
        ] {
            if let Some(t) = t {
                let kinds: Vec<String> = t.kinds.iter().map(|(k, n)| format!("{k} x{n}")).collect();
                println!("- {label} {sys:<8} {}", kinds.join(", "));
            }
        }
    }
}

//! With `--backend`, every non-manifest libpod call goes to a real podman service, while
//! manifest calls are still answered by manifold. Forwarded requests are logged and drained at
//! shutdown like local ones, and a backend that cannot be reached is named in a libpod error.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use manifold_tests::fixtures;
use manifold_tests::http::Response;
use manifold_tests::podman::Podman;
use manifold_tests::process::wait_until;
use manifold_tests::{Manifold, ManifoldOptions, PodmanService, Registry};

use crate::common::insecure_entry;

#[test]
fn backend_serves_everything_else_while_manifold_keeps_manifests() {
    let reg = Registry::plain();
    let images = fixtures::push_six_singles(&reg, "app");
    let service = PodmanService::start(&[&reg]);
    let mf = Manifold::start(ManifoldOptions {
        config: insecure_entry(&reg.host()),
        backend: Some(service.url()),
        ..Default::default()
    });
    let p = Podman::new(&mf.url());
    let version = p
        .run(&["version"])
        .assert_success("podman version through manifold")
        .stdout
        .clone();
    assert!(version.contains("Server:"), "{version}");
    p.run(&["info"])
        .assert_success("podman info through manifold");
    p.run(&["images"])
        .assert_success("podman images through manifold");
    p.run(&["pull", "--tls-verify=false", &images[0].reference()])
        .assert_success("podman pull through manifold");
    let listed = p
        .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .assert_success("images")
        .stdout
        .clone();
    assert!(
        listed.contains(&format!("{}/app:amd64", reg.host())),
        "{listed}"
    );

    // Manifest calls stay with manifold: the list is in manifold's store, not in podman's.
    p.run(&["manifest", "create", "mine", &images[1].docker_reference()])
        .assert_success("create");
    p.run(&["manifest", "exists", "mine"])
        .assert_success("exists through manifold");
    Podman::new(&service.url())
        .run(&["manifest", "exists", "mine"])
        .assert_failure("the backend podman has no such list");
    // `podman manifest rm` (images/remove?lookupmanifest=true) is answered by manifold too.
    p.run(&["manifest", "rm", "mine"])
        .assert_success("manifest rm");
    // A plain `podman rmi` of a real image goes to the backend.
    p.run(&["rmi", &images[0].reference()])
        .assert_success("rmi through manifold");
}

#[test]
fn without_a_backend_other_calls_get_a_clear_error() {
    let mf = Manifold::start(ManifoldOptions::default());
    let r = mf.http().get("/v4.3.1/libpod/images/json");
    assert_eq!(r.status, 501);
    let body = r.json();
    assert_eq!(body["response"], 501);
    assert!(
        body["message"].as_str().unwrap_or("").contains("--backend"),
        "{body}"
    );
    let out = Podman::new(&mf.url()).run(&["images"]);
    out.assert_failure("podman images without a backend");
    assert!(out.stderr.contains("--backend"), "{}", out.stderr);
}

#[test]
fn a_backend_that_cannot_be_reached_is_named_in_a_libpod_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = format!("unix://{}/no-podman.sock", dir.path().display());
    let mf = Manifold::start(ManifoldOptions {
        backend: Some(backend.clone()),
        ..Default::default()
    });
    let r = mf.http().get("/v4.3.1/libpod/info");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_libpod_answer(&r);
    let body = r.json();
    assert_eq!(body["response"], 502);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("backend podman service at {backend}")),
        "{body}"
    );
    assert_eq!(
        body["cause"], "No such file or directory (os error 2)",
        "{body}"
    );
    assert!(message.contains("GET /v4.3.1/libpod/info"), "{body}");

    // podman prints the message instead of failing to decode an empty body.
    let out = mf.podman(&["info"]);
    out.assert_failure("podman info with a dead backend");
    assert!(
        out.stderr
            .contains(&format!("backend podman service at {backend}")),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("unexpected end of JSON input"),
        "{}",
        out.stderr
    );
    let line = access_line(&mf, "/v4.3.1/libpod/info");
    assert!(line.contains("status=502"), "{line}");
    assert!(line.contains("forwarded=true"), "{line}");
}

#[test]
fn forwarded_requests_are_logged_without_their_query_and_keep_the_backends_headers() {
    let backend = StubBackend::start(false);
    let mf = Manifold::start(ManifoldOptions {
        backend: Some(format!("tcp://{}", backend.addr)),
        ..Default::default()
    });
    let secret = "query-s3cret";
    let r = mf.http().get(&format!(
        "/v4.3.1/libpod/images/json?all=true&password={secret}"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, StubBackend::BODY.as_bytes());
    // The backend's own headers, nothing of pingora's added.
    assert_eq!(r.header("Server"), Some(StubBackend::SERVER));
    assert_no_pingora_header(&r);
    assert_eq!(
        backend.arrived.recv_timeout(Duration::from_secs(5)).ok(),
        Some(format!(
            "GET /v4.3.1/libpod/images/json?all=true&password={secret}"
        )),
        "the request reaches the backend as sent"
    );
    let local = mf.http().get("/v4.3.1/libpod/_ping");
    assert_eq!(local.status, 200);
    assert_libpod_answer(&local);

    let line = access_line(&mf, "/v4.3.1/libpod/images/json");
    for field in [
        "method=GET",
        "status=200",
        "forwarded=true",
        "route=\"forward\"",
        "identity=uid:",
        &format!("bytes={}", StubBackend::BODY.len()),
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    let line = access_line(&mf, "/v4.3.1/libpod/_ping");
    assert!(line.contains("forwarded=false"), "{line}");
    assert!(line.contains("route=\"ping\""), "{line}");
    assert!(
        !mf.log().contains(secret),
        "the query reached manifold's log:\n{}",
        mf.log()
    );
}

#[test]
fn a_request_forwarded_when_sigterm_arrives_completes() {
    let backend = StubBackend::start(true);
    let mut mf = Manifold::start(ManifoldOptions {
        backend: Some(format!("tcp://{}", backend.addr)),
        ..Default::default()
    });
    let client = mf.http().with_timeout(Duration::from_secs(60));
    let answer =
        std::thread::spawn(move || client.try_request("GET", "/v4.3.1/libpod/info", &[], b""));
    assert_eq!(
        backend.arrived.recv_timeout(Duration::from_secs(20)).ok(),
        Some("GET /v4.3.1/libpod/info".to_string()),
        "the request reached the backend; log:\n{}",
        mf.log()
    );
    // SIGTERM while the backend holds the answer: manifold waits for the request in flight.
    mf.signal("TERM");
    let stopping = wait_until(Duration::from_secs(20), Duration::from_millis(20), || {
        mf.log().contains("SIGTERM: stopping").then_some(())
    });
    assert!(stopping.is_some(), "no SIGTERM in the log:\n{}", mf.log());
    backend.release();
    let r = answer
        .join()
        .expect("client thread")
        .unwrap_or_else(|e| panic!("the forwarded request was cut: {e}; log:\n{}", mf.log()));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, StubBackend::BODY.as_bytes(), "the whole answer");
    let status = mf.sigterm(Duration::from_secs(15));
    assert!(status.success(), "manifold exits 0 on SIGTERM: {status}");
    let log = mf.log();
    let after = &log[log.find("SIGTERM: stopping").unwrap_or(0)..];
    assert!(
        after.contains("path=\"/v4.3.1/libpod/info\" status=200"),
        "the request finished after SIGTERM:\n{log}"
    );
}

/// Asserts that `r` carries the headers of manifold's own libpod answers and none of pingora's.
#[track_caller]
fn assert_libpod_answer(r: &Response) {
    let server = r.header("Server").unwrap_or_default();
    assert!(server.starts_with("Libpod/"), "Server: {server}");
    assert!(r.header("Libpod-API-Version").is_some(), "{:?}", r.headers);
    assert_no_pingora_header(r);
}

#[track_caller]
fn assert_no_pingora_header(r: &Response) {
    assert!(
        !r.headers
            .iter()
            .any(|(_, v)| v.to_ascii_lowercase().contains("pingora")),
        "{:?}",
        r.headers
    );
}

/// manifold's access-log line for `path` (the first one). The line is written once the answer
/// is sent, so it may come a moment after the client has its answer.
#[track_caller]
fn access_line(mf: &Manifold, path: &str) -> String {
    let path_field = format!("path=\"{path}\"");
    let find = || {
        mf.log()
            .lines()
            .find(|l| l.contains(" request method=") && l.contains(&path_field))
            .map(str::to_string)
    };
    wait_until(Duration::from_secs(10), Duration::from_millis(20), find)
        .unwrap_or_else(|| panic!("no access-log line for {path}:\n{}", mf.log()))
}

/// A stand-in backend on loopback: every request (its request line sent to `arrived`) gets the
/// same JSON answer with the backend's own `Server` header, at once or, when held, once the test
/// calls [`StubBackend::release`].
struct StubBackend {
    addr: SocketAddr,
    arrived: mpsc::Receiver<String>,
    release: mpsc::Sender<()>,
}

impl StubBackend {
    const BODY: &'static str = "{\"stub\":\"answer\"}\n";
    const SERVER: &'static str = "stub-backend/1";

    fn start(held: bool) -> StubBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let (arrived_tx, arrived) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let arrived = arrived_tx.clone();
                let released = released.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).is_err() {
                        return;
                    }
                    // The rest of the head; these requests have no body.
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let request = request_line.trim_end().trim_end_matches(" HTTP/1.1");
                    let _ = arrived.send(request.to_string());
                    if held {
                        let _ = released.lock().expect("lock").recv();
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nServer: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        StubBackend::SERVER,
                        StubBackend::BODY.len(),
                        StubBackend::BODY
                    );
                    let _ = stream.write_all(answer.as_bytes());
                });
            }
        });
        StubBackend {
            addr,
            arrived,
            release,
        }
    }

    /// Lets one held request be answered.
    fn release(&self) {
        self.release.send(()).expect("the backend runs");
    }
}

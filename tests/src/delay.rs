//! A TCP proxy on loopback that adds a fixed one-way delay to every byte, in both directions:
//! a registry "some milliseconds away" for benchmarks, without leaving 127.0.0.1.
//!
//! Each accepted connection gets its own connection to the upstream and, per direction, a
//! reader thread that timestamps what it reads and a writer thread that sends it on once the
//! delay has passed. Bytes keep their order and are never held longer than the delay, so a
//! request/response exchange costs one round trip of twice the delay, as over a real network
//! (bandwidth is not limited). End of stream is forwarded (after the delay) as a write
//! shutdown. The proxy stops accepting when dropped; open connections end with their peers.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A running delay proxy.
pub struct DelayProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`, each byte
    /// `one_way` late in each direction.
    pub fn start(upstream: SocketAddr, one_way: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                for s in [&client, &server] {
                    let _ = s.set_nodelay(true);
                }
                relay(&client, &server, one_way);
                relay(&server, &client, one_way);
            }
        });
        DelayProxy { addr, stop }
    }

    /// `127.0.0.1:PORT`, to use in place of the upstream's address.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Forwards everything read from `from` to `to`, `delay` late, on two threads of its own.
fn relay(from: &TcpStream, to: &TcpStream, delay: Duration) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    // `None` is the end of the stream.
    let (tx, rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send((Instant::now() + delay, None));
                    return;
                }
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, Some(buf[..n].to_vec())))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    thread::spawn(move || {
        for (due, chunk) in rx {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-line echo server: answers each line with the same line.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut conn = conn;
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn a_round_trip_takes_twice_the_delay_and_bytes_arrive_intact() {
        let proxy = DelayProxy::start(echo_server(), Duration::from_millis(40));
        let mut conn = TcpStream::connect(proxy.host()).expect("connect to the proxy");
        conn.set_nodelay(true).expect("nodelay");
        let payload: Vec<u8> = (0..200u8).collect();
        let started = Instant::now();
        conn.write_all(&payload).expect("send");
        let mut got = vec![0u8; payload.len()];
        conn.read_exact(&mut got).expect("echo");
        let rtt = started.elapsed();
        assert_eq!(got, payload);
        assert!(
            rtt >= Duration::from_millis(80),
            "a round trip through a 40 ms proxy took only {rtt:?}"
        );
        // End of stream is forwarded: the echo server sees it and closes, and so do we.
        conn.shutdown(Shutdown::Write).expect("shutdown");
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).expect("read to end");
        assert!(rest.is_empty());
    }
}

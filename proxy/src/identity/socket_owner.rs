//! The user behind a loopback TCP connection: the owner of the client's socket, as the kernel
//! lists it in `/proc/net/tcp` and `/proc/net/tcp6`.
//!
//! A loopback client runs on this machine, so the kernel knows which user made its socket. Of
//! the two sockets of the connection, the client's is the row whose local address is the
//! client's address and whose remote address is manifold's side of the connection; its `uid`
//! column is the user. The tables show the network namespace of the reading process, which is
//! the only one whose clients can reach manifold's loopback listeners.
//!
//! Only a row in state ESTABLISHED (`01`) with an inode counts. A socket whose process has
//! closed it lives on as a time-wait entry listed with uid 0 and inode 0, and a client that
//! sends its request and closes at once must not pass for root that way. Two rows for one
//! connection that disagree count as none. The caller treats "not found" (the client left, the
//! tables cannot be read) as not knowing the user.
//!
//! Row format, as the kernel prints it: `sl local rem st tx:rx tr:when retrnsmt uid timeout
//! inode …`, addresses `HEX:PORT`. An IPv4 address is one 32-bit word and an IPv6 address four,
//! each printed as a hexadecimal number in the machine's own byte order (little-endian on x86
//! and arm64, where `0100007F` is `127.0.0.1`); ports are plain hexadecimal. A client of an IPv6
//! socket that connects to an IPv4 address shows as IPv4-mapped (`::ffff:127.0.0.1`), and
//! addresses are compared in their canonical form so that it matches the IPv4 address manifold
//! sees.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The kernel's TCP socket tables, IPv4 and IPv6.
const TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// The state column of an established connection.
const ESTABLISHED: &str = "01";

/// The uid owning the client end of the connection from `client` to `server` (manifold's local
/// address of it), read from the kernel's tables; `None` when no table says.
pub(crate) fn owner(client: SocketAddr, server: SocketAddr) -> Option<u32> {
    let tables: Vec<String> = TABLES
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect();
    owner_in_tables(&tables.join("\n"), client, server)
}

/// The uid of the established socket in `text` (the contents of `/proc/net/tcp` and/or
/// `/proc/net/tcp6`) whose local address is `client` and whose remote address is `server`.
pub(crate) fn owner_in_tables(text: &str, client: SocketAddr, server: SocketAddr) -> Option<u32> {
    let (client, server) = (canonical(client), canonical(server));
    let mut found = None;
    for row in text.lines().filter_map(Row::parse) {
        if row.state != ESTABLISHED || row.inode == 0 {
            continue;
        }
        if canonical(row.local) != client || canonical(row.remote) != server {
            continue;
        }
        match found {
            Some(uid) if uid != row.uid => return None,
            _ => found = Some(row.uid),
        }
    }
    found
}

/// One row of a table, as far as the owner goes.
#[derive(Debug, PartialEq, Eq)]
struct Row<'a> {
    local: SocketAddr,
    remote: SocketAddr,
    state: &'a str,
    uid: u32,
    inode: u64,
}

impl<'a> Row<'a> {
    /// The row, or `None` for the header and anything else that is not one.
    fn parse(line: &'a str) -> Option<Row<'a>> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        let [_, local, remote, state, _, _, _, uid, _, inode, ..] = fields.as_slice() else {
            return None;
        };
        Some(Row {
            local: endpoint(local)?,
            remote: endpoint(remote)?,
            state,
            uid: uid.parse().ok()?,
            inode: inode.parse().ok()?,
        })
    }
}

/// `0100007F:8DB5`: an address and a port as the tables print them.
fn endpoint(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(address)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(address.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// One 32-bit word of an address: its bytes in memory, which are the address's bytes in
/// network order.
fn word(hex: &str) -> Option<[u8; 4]> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes)
}

/// The address with an IPv4-mapped IPv6 address written as IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

// The fixtures are tables as a little-endian machine prints them.
#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    /// `/proc/net/tcp`: manifold listening on 127.0.0.1:36277, uid 0; a client of uid 65534
    /// connected from port 51064; an earlier client of the same port pair in time-wait.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:8DB5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 47463 1 00000000d9cfcf99 100 0 0 10 0
   5: 0100007F:C778 0100007F:8DB5 01 00000000:00000000 00:00000000 00000000 65534        0 47464 2 00000000f1681a2d 20 0 0 10 -1
  10: 0100007F:8DB5 0100007F:C778 01 00000000:00000000 00:00000000 00000000     0        0 47465 1 000000006c36385a 20 0 0 10 -1
  11: 0100007F:C779 0100007F:8DB5 06 00000000:00000000 03:000015E3 00000000     0        0 0 3 00000000dc91bb8e
";

    /// `/proc/net/tcp6`: manifold listening on [::]:39199; a client of uid 1000 from [::1]:45858
    /// and one of uid 1001 whose IPv6 socket connected to 127.0.0.1, from port 42046.
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:991F 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 47468 1 00000000da3f1b63 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:991F 0000000000000000FFFF00000100007F:A43E 01 00000000:00000000 00:00000000 00000000     0        0 47472 1 00000000465a4968 20 0 0 10 -1
   2: 00000000000000000000000001000000:991F 00000000000000000000000001000000:B322 01 00000000:00000000 00:00000000 00000000     0        0 47470 1 000000003d7acb23 20 0 0 10 -1
   3: 00000000000000000000000001000000:B322 00000000000000000000000001000000:991F 01 00000000:00000000 00:00000000 00000000  1000        0 47469 2 000000008ab42241 20 0 0 10 -1
   4: 0000000000000000FFFF00000100007F:A43E 0000000000000000FFFF00000100007F:991F 01 00000000:00000000 00:00000000 00000000  1001        0 47471 2 000000007c2fb6d4 20 0 0 10 -1
";

    #[test]
    fn addresses_are_little_endian_hex_words() {
        assert_eq!(endpoint("0100007F:8DB5"), Some(addr("127.0.0.1:36277")));
        assert_eq!(endpoint("00000000:0000"), Some(addr("0.0.0.0:0")));
        assert_eq!(
            endpoint("00000000000000000000000001000000:B322"),
            Some(addr("[::1]:45858"))
        );
        assert_eq!(
            endpoint("0000000000000000FFFF00000100007F:A43E"),
            Some(addr("[::ffff:127.0.0.1]:42046"))
        );
        assert_eq!(
            endpoint("B80D0120000000000000000001000000:0050"),
            Some(addr("[2001:db8::1]:80"))
        );
        for bad in [
            "",
            "0100007F",
            "0100007F:",
            "0100007G:0001",
            "+100007F:0001",
            "01007F:0001",
        ] {
            assert_eq!(endpoint(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_client_socket_names_the_user() {
        let server = addr("127.0.0.1:36277");
        assert_eq!(
            owner_in_tables(TCP, addr("127.0.0.1:51064"), server),
            Some(65534)
        );
        // The other direction is manifold's own socket of the connection: direction matters.
        assert_eq!(
            owner_in_tables(TCP, server, addr("127.0.0.1:51064")),
            Some(0)
        );
        assert_eq!(owner_in_tables(TCP, addr("127.0.0.1:51065"), server), None);
    }

    #[test]
    fn ipv6_and_ipv4_mapped_clients_are_found() {
        let both = format!("{TCP}{TCP6}");
        assert_eq!(
            owner_in_tables(&both, addr("[::1]:45858"), addr("[::1]:39199")),
            Some(1000)
        );
        // manifold (on a dual-stack socket) sees the IPv4 client as mapped, or as plain IPv4.
        for (client, server) in [
            ("[::ffff:127.0.0.1]:42046", "[::ffff:127.0.0.1]:39199"),
            ("127.0.0.1:42046", "127.0.0.1:39199"),
        ] {
            assert_eq!(
                owner_in_tables(&both, addr(client), addr(server)),
                Some(1001),
                "{client}"
            );
        }
        assert_eq!(
            owner_in_tables(&both, addr("[::1]:45858"), addr("[::1]:39198")),
            None,
            "another server port"
        );
    }

    #[test]
    fn time_wait_rows_never_pass_for_root() {
        // The row of port 51065 is a closed socket's time-wait entry: uid 0, inode 0.
        assert_eq!(
            owner_in_tables(TCP, addr("127.0.0.1:51065"), addr("127.0.0.1:36277")),
            None
        );
        let established_without_inode = "   1: 0100007F:C779 0100007F:8DB5 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0";
        assert_eq!(
            owner_in_tables(
                established_without_inode,
                addr("127.0.0.1:51065"),
                addr("127.0.0.1:36277")
            ),
            None
        );
    }

    #[test]
    fn disagreeing_rows_are_no_answer() {
        let twice = format!(
            "{TCP}   6: 0100007F:C778 0100007F:8DB5 01 00000000:00000000 00:00000000 00000000  1000        0 47999 2 0 20 0 0 10 -1\n"
        );
        assert_eq!(
            owner_in_tables(&twice, addr("127.0.0.1:51064"), addr("127.0.0.1:36277")),
            None
        );
    }

    #[test]
    fn garbage_is_no_row() {
        for line in [
            "",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
            "   5: 0100007F:C778 0100007F:8DB5 01",
            "   5: 0100007F:C778 0100007F:8DB5 01 00000000:00000000 00:00000000 00000000 -1 0 47464",
            "   5: 0100007F:C778 0100007F:8DB5 01 00000000:00000000 00:00000000 00000000 x 0 47464",
        ] {
            assert_eq!(Row::parse(line), None, "{line:?}");
        }
    }
}

//! Listener settings besides the addresses: the `[tls]` section of `tls://` listeners, and the
//! mode and group of unix sockets.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The unix socket mode when the configuration sets none: owner and group read and write.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;

/// The `[tls]` section: the server certificate of every `tls://` listener and, optionally, the
/// CA that client certificates must chain to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM file with the server certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM file with the CA certificates client certificates must chain to. When set, every
    /// TLS client must present a valid certificate (mutual TLS), and its subject becomes the
    /// client's identity (`cert:CN=…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
}

/// The group unix sockets are given after they are bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketGroup {
    /// A group by ID.
    Gid(u32),
    /// A group by name, looked up when manifold starts.
    Name(String),
}

impl SocketGroup {
    /// Parses a group name or a decimal group ID.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must be a group name or a numeric group ID".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(SocketGroup::Gid)
                .map_err(|_| format!("{s:?} is not a group ID"));
        }
        // The portable group-name characters, plus what common systems allow besides.
        let ok = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$'))
            && !s.starts_with('-');
        if !ok {
            return Err(format!("{s:?} is neither a group name nor a group ID"));
        }
        Ok(SocketGroup::Name(s.to_string()))
    }
}

impl fmt::Display for SocketGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketGroup::Gid(g) => write!(f, "{g}"),
            SocketGroup::Name(n) => f.write_str(n),
        }
    }
}

/// Parses a socket mode written in octal: `"0660"`, `"660"` or `"0o660"`.
pub fn parse_socket_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    let bad = || format!("{s:?} is not a file mode: write it in octal, as in \"0660\"");
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|_| bad())?;
    if mode > 0o777 {
        return Err(format!(
            "{s:?} has bits beyond 0777; only the permission bits can be set"
        ));
    }
    if mode & 0o600 != 0o600 {
        // manifold itself needs nothing, but the operator who runs podman as manifold's user
        // would be locked out; that is never what a mode in the configuration means.
        return Err(format!(
            "{s:?} does not let the owner read and write the socket; include 0600"
        ));
    }
    Ok(mode)
}

/// Formats a mode the way the configuration writes it.
pub fn format_socket_mode(mode: u32) -> String {
    format!("{mode:04o}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_modes() {
        assert_eq!(parse_socket_mode("0660"), Ok(0o660));
        assert_eq!(parse_socket_mode("666"), Ok(0o666));
        assert_eq!(parse_socket_mode("0o600"), Ok(0o600));
        assert_eq!(parse_socket_mode("0777"), Ok(0o777));
        for bad in [
            "", "0o", "abc", "0668", "-660", "01777", "17777", "0060", "0400",
        ] {
            assert!(parse_socket_mode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_socket_mode(0o660), "0660");
        assert_eq!(format_socket_mode(0o666), "0666");
    }

    #[test]
    fn socket_groups() {
        assert_eq!(SocketGroup::parse("65534"), Ok(SocketGroup::Gid(65534)));
        assert_eq!(
            SocketGroup::parse("podman-users"),
            Ok(SocketGroup::Name("podman-users".into()))
        );
        assert_eq!(
            SocketGroup::parse("machine$"),
            Ok(SocketGroup::Name("machine$".into()))
        );
        for bad in ["", "a b", "-x", "x/y", "99999999999"] {
            assert!(SocketGroup::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(SocketGroup::Gid(5).to_string(), "5");
        assert_eq!(SocketGroup::Name("ci".into()).to_string(), "ci");
    }
}

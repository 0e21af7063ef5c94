//! Fault hooks: misbehaviour a test asks of the fake registry for the next N requests that match
//! a method and a path pattern.

use std::time::SystemTime;

/// The `Retry-After` of a [`Fault::TooManyRequests`]: the two forms HTTP allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAfter {
    /// Delta-seconds: `Retry-After: 2`.
    Seconds(u64),
    /// An HTTP-date: `Retry-After: Sun, 06 Nov 1994 08:49:37 GMT` (whole seconds).
    Date(SystemTime),
}

impl RetryAfter {
    /// The header value.
    pub(crate) fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(secs) => secs.to_string(),
            RetryAfter::Date(at) => httpdate::fmt_http_date(*at),
        }
    }
}

/// What the fake registry does instead of (or to) its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status with an HTML body, as a proxy in front of a registry does (`500`,
    /// `502`, a bare `404`): no registry error JSON.
    Status(u16),
    /// Answers `429 Too Many Requests` with this `Retry-After`.
    TooManyRequests(RetryAfter),
    /// Closes the connection without answering.
    Reset,
    /// Sends the normal answer's head, with the whole body's `Content-Length`, then only the
    /// first `after` bytes of the body, and closes the connection: a reset mid-body.
    CutBody {
        /// Body bytes sent before the connection is closed.
        after: usize,
    },
    /// Sends the normal answer without `Content-Length` (chunked), its body ending cleanly after
    /// `keep` bytes: a body shorter than the blob, with nothing on the wire to tell.
    Truncate {
        /// Body bytes sent.
        keep: usize,
    },
    /// Sends the normal answer whole but without `Content-Length` (chunked).
    Chunked,
    /// Sends the normal answer whole with the last body byte inverted: same length, another
    /// digest.
    Corrupt,
    /// Declines a cross-repository mount: `202 Accepted` with a new upload session instead of
    /// `201 Created`, as a registry does when it will not link the blob. Only mount requests
    /// (`POST …/blobs/uploads/?mount=…`) match it.
    RefuseMount,
    /// Answers `200 OK` where `202 Accepted` is due (an upload session opened, a chunk taken),
    /// otherwise the same answer.
    OkInsteadOfAccepted,
    /// The request's bearer token expires as the request arrives: the request is refused the
    /// way an expired token is, and the token stays dead.
    ExpireToken,
    /// Answers `307 Temporary Redirect` to this URL (blob storage on another host).
    Redirect(String),
}

/// One injected fault and how many more requests it takes.
#[derive(Debug)]
struct Injected {
    method: String,
    pattern: String,
    left: usize,
    fault: Fault,
}

/// The faults injected into one fake registry, in injection order.
#[derive(Debug, Default)]
pub(crate) struct Faults(Vec<Injected>);

impl Faults {
    /// Adds `fault` for the next `times` requests with `method` (`*`: any) whose path matches
    /// `pattern` (see [`glob`]).
    pub(crate) fn add(&mut self, method: &str, pattern: &str, times: usize, fault: Fault) {
        self.0.push(Injected {
            method: method.to_ascii_uppercase(),
            pattern: pattern.to_string(),
            left: times,
            fault,
        });
    }

    /// The fault for a request, counted as used: the first injected one that matches and has
    /// uses left. `is_mount`: the request is a mount attempt ([`Fault::RefuseMount`] matches
    /// nothing else).
    pub(crate) fn take(&mut self, method: &str, path: &str, is_mount: bool) -> Option<Fault> {
        let found = self.0.iter_mut().find(|i| {
            i.left > 0
                && (i.method == "*" || i.method == method)
                && glob(&i.pattern, path)
                && (is_mount || i.fault != Fault::RefuseMount)
        })?;
        found.left -= 1;
        Some(found.fault.clone())
    }

    /// Uses not taken yet, over every injected fault.
    pub(crate) fn left(&self) -> usize {
        self.0.iter().map(|i| i.left).sum()
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (`/` included)
/// and every other character for itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it has been tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the `*` take one more character and try again.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_anything() {
        assert!(glob("/v2/", "/v2/"));
        assert!(glob("/v2/dst/blobs/uploads/*", "/v2/dst/blobs/uploads/"));
        assert!(glob("/v2/dst/blobs/uploads/*", "/v2/dst/blobs/uploads/abc"));
        assert!(glob("/v2/*/blobs/*", "/v2/team/app/blobs/sha256:00"));
        assert!(glob("*", ""));
        assert!(!glob("/v2/dst/blobs/*", "/v2/src/blobs/sha256:00"));
        assert!(!glob("/v2/", "/v2/app"));
        assert!(!glob("/v2/*x", "/v2/abc"));
    }

    #[test]
    fn faults_are_taken_in_order_and_counted() {
        let mut faults = Faults::default();
        faults.add("post", "/v2/*/blobs/uploads/", 1, Fault::RefuseMount);
        faults.add("*", "/v2/*/blobs/uploads/", 2, Fault::Status(500));
        // A plain upload start is no mount: the second fault applies.
        let path = "/v2/dst/blobs/uploads/";
        assert_eq!(faults.take("POST", path, false), Some(Fault::Status(500)));
        assert_eq!(faults.take("POST", path, true), Some(Fault::RefuseMount));
        assert_eq!(faults.left(), 1);
        assert_eq!(faults.take("GET", "/v2/dst/blobs/x", false), None);
        assert_eq!(faults.take("PATCH", path, false), Some(Fault::Status(500)));
        assert_eq!(faults.take("POST", path, true), None);
        assert_eq!(faults.left(), 0);
    }

    #[test]
    fn retry_after_has_both_forms() {
        assert_eq!(RetryAfter::Seconds(3).header_value(), "3");
        let epoch = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(
            RetryAfter::Date(epoch).header_value(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}

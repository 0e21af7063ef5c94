//! blang/semver v4's `ParseTolerant`, as far as podman's create handler uses it.
//!
//! podman's create answers 201 when the version segment of the path (`/v4.3.1/libpod/...`),
//! read with `semver.ParseTolerant`, is at least 4.0.0, and 200 otherwise or when it does not
//! parse. What clients send there: podman 4.3.1 `4.3.1`, podman 5.x and podman-py their own
//! three-part version, podman-api-rs `4.2` (two parts: only the tolerant parse pads it, so it is
//! a 201), podman's own API tests `3.4.0`, `4.0.0`, `5.0.0` and `2.0.0`, development builds
//! `5.9.0-dev` (a pre-release, which sorts before its release).
//!
//! The segment is `[0-9][0-9A-Za-z.-]*` by the route's pattern, so it has no `v` prefix,
//! surrounding spaces or `+build` suffix: those parts of `ParseTolerant` are left out.

/// A parsed version: its numbers and whether it is a pre-release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemVer {
    /// The major version.
    pub major: u64,
    /// The minor version.
    pub minor: u64,
    /// The patch version.
    pub patch: u64,
    /// True for `X.Y.Z-something`, which sorts before `X.Y.Z`.
    pub pre_release: bool,
}

impl SemVer {
    /// blang/semver `ParseTolerant` of a route's version segment: leading zeros of the first
    /// three parts removed, `4` and `4.2` padded to three parts, then the strict parse.
    pub fn parse_tolerant(segment: &str) -> Option<SemVer> {
        let mut parts: Vec<String> = segment.splitn(3, '.').map(trim_leading_zeros).collect();
        if parts.len() < 3 {
            // blang refuses to pad a short version that already carries a pre-release.
            if parts.last().is_some_and(|p| p.contains('-')) {
                return None;
            }
            parts.resize(3, "0".to_string());
        }
        let [major, minor, rest] = parts.as_slice() else {
            return None;
        };
        let (patch, pre) = match rest.split_once('-') {
            Some((patch, pre)) => (patch, Some(pre)),
            None => (rest.as_str(), None),
        };
        if let Some(pre) = pre {
            if !pre.split('.').all(valid_pre_release_part) {
                return None;
            }
        }
        Some(SemVer {
            major: number(major)?,
            minor: number(minor)?,
            patch: number(patch)?,
            pre_release: pre.is_some(),
        })
    }

    /// True when this version is at least `major.0.0` (a pre-release of it is older).
    pub fn is_at_least(&self, major: u64) -> bool {
        (self.major, self.minor, self.patch) > (major, 0, 0)
            || ((self.major, self.minor, self.patch) == (major, 0, 0) && !self.pre_release)
    }
}

/// `ParseTolerant`'s zero trimming: `04` is `4`, `00` is `0`, a lone `0` stays.
fn trim_leading_zeros(part: &str) -> String {
    if part.len() <= 1 {
        return part.to_string();
    }
    let trimmed = part.trim_start_matches('0');
    if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        trimmed.to_string()
    } else {
        format!("0{trimmed}")
    }
}

/// A pre-release identifier: alphanumerics and `-`, or a number without a leading zero.
fn valid_pre_release_part(id: &str) -> bool {
    if id.bytes().all(|b| b.is_ascii_digit()) {
        number(id).is_some()
    } else {
        id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }
}

/// A semver number: digits, no leading zero, fits in u64.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_parse_against_4() {
        for (s, want) in [
            ("4.0.0", true),
            ("4", true),
            ("4.2", true),
            ("4.3.1", true),
            ("5.8.2", true),
            ("5.9.0-dev", true),
            ("04.0.0", true),
            ("4.00.01", true),
            ("10.0.0", true),
            ("4.0.1-rc1", true),
            ("5.0.0-rc.1.x-y", true),
            ("3.4.0", false),
            ("2.0.0", false),
            ("1.40", false),
            ("0.1", false),
            ("4.0.0-rc1", false),
            ("4.0-rc1", false),
            ("4.0.0-", false),
            ("4.0.0-01", false),
            ("4.0.0-rc.1.x-y", false),
            ("4.x", false),
            ("4..0", false),
            ("", false),
            ("99999999999999999999.0.0", false),
            ("4.0.0.0", false),
        ] {
            let got = SemVer::parse_tolerant(s).is_some_and(|v| v.is_at_least(4));
            assert_eq!(got, want, "{s:?}");
        }
        assert_eq!(
            SemVer::parse_tolerant("4.0.1-rc1"),
            Some(SemVer {
                major: 4,
                minor: 0,
                patch: 1,
                pre_release: true
            })
        );
    }
}

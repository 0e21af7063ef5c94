//! The libpod wire format, as podman v5.8.2 speaks it (see `libpod-manifest-api.md`).
//!
//! Everything here is pure: bytes in, values or bytes out. The handlers combine these pieces.
//!
//! - [`query`]: query strings decoded the way gorilla/schema does (§1.5).
//! - [`gojson`]: Go `encoding/json` compatible decoding and encoding (§1.6, §1.7).
//! - [`modify_options`]: the ManifestModifyOptions / ManifestAddOptions bodies and podman's
//!   annotation parsing (§3.1, §3.4, §3.7).
//! - [`registry_auth`]: `X-Registry-Auth` / `X-Registry-Config` to credentials (§5).
//! - [`response`]: response bodies, report shapes and the headers of every answer (§1.2, §1.3, §4).
//! - [`goquote`]: Go's `%q`, for error texts that quote client input.
//!
//! The Go behaviour these modules reproduce was checked against Go itself: `testdata/` holds the
//! answers of Go's own `encoding/json`, `encoding/base64`, `net/url` and `strconv` for the
//! corpora in `testdata/gogen/` (run `go run .` there to regenerate them), and the unit tests
//! compare every case.

pub mod gojson;
/// Go's `%q` quoting lives in the composer, whose errors quote input too.
pub use manifold_composer::goquote;
pub mod modify_options;
pub mod query;
pub mod registry_auth;
pub mod response;

pub use modify_options::{
    decode_add_options, decode_create_body, decode_modify_options, parse_create_annotations,
    parse_kv_annotations, ModifyOptions,
};

#[cfg(test)]
pub(crate) mod testdata;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::goquote::quote_bytes;
    use super::testdata;

    #[test]
    fn matches_go_strconv_quote() {
        // Unassigned code points that Go escapes and `is_print` does not know (`goquote` docs).
        let unassigned = ["\u{378}"];
        let mut checked = 0;
        for case in testdata::misc("Quote") {
            let input = case.input();
            if let Ok(s) = std::str::from_utf8(&input) {
                if unassigned.contains(&s) {
                    continue;
                }
            }
            assert_eq!(
                quote_bytes(&input),
                case.out(),
                "strconv.Quote of {input:02x?}"
            );
            checked += 1;
        }
        assert!(checked > 500, "{checked}");
    }
}

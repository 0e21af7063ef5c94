//! Go's `encoding/base64` as podman decodes the credential headers, with manifold's leniency.
//!
//! `X-Registry-Auth` and `X-Registry-Config` are URL-safe base64 with padding: what every Go
//! client (`e30=` when it has no credentials) and podman-py (`urlsafe_b64encode`) send. Go also
//! skips line breaks and ignores stray bits in the last character. manifold accepts more than
//! Go does, and says so in its README: any white space, the standard alphabet's `+` and `/`,
//! and missing padding. What still does not decode is Go's `CorruptInputError`,
//! `illegal base64 data at input byte N`, with N counted in the value without its white space.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{DecodeError, Engine as _};

/// URL-safe base64 with padding optional and stray bits in the last character ignored; built
/// once, at compile time, not for every header.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a credential header value (see the module docs); the error is Go's text.
pub fn decode_lenient(value: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = value
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            _ => c,
        })
        .collect();
    LENIENT.decode(cleaned.as_bytes()).map_err(|e| {
        let at = match e {
            DecodeError::InvalidByte(at, _) | DecodeError::InvalidLastSymbol(at, _) => at,
            DecodeError::InvalidLength(len) => len,
            DecodeError::InvalidPadding => cleaned.find('=').unwrap_or(cleaned.len()),
        };
        format!("illegal base64 data at input byte {at}")
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;

    #[test]
    fn what_go_accepts_and_more() {
        assert_eq!(decode_lenient("e30=").unwrap(), b"{}");
        assert_eq!(decode_lenient("e3\r\n0=").unwrap(), b"{}");
        assert_eq!(decode_lenient("ab==").unwrap(), [0x69]);
        // Go refuses these three.
        assert_eq!(decode_lenient("e30").unwrap(), b"{}");
        assert_eq!(decode_lenient(" e3 0= ").unwrap(), b"{}");
        assert_eq!(decode_lenient("+/8=").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn corrupt_input_is_gos_text() {
        assert_eq!(
            decode_lenient("!!!!").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            decode_lenient("e30=!!!!").unwrap_err(),
            "illegal base64 data at input byte 3"
        );
        assert!(decode_lenient("a===").is_err());
        assert!(decode_lenient("e").is_err());
    }
}

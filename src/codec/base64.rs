//! Base64 as nginx does it (ngx.encode_base64 / ngx.decode_base64): the
//! standard alphabet; encoding pads with `=` unless `no_padding`; decoding
//! (nginx's `ngx_decode_base64`) stops at the first `=` and ignores the
//! rest, needs no padding, accepts non-zero trailing bits, and fails on any
//! other byte outside the alphabet or when the data before `=` leaves a
//! single dangling character (length % 4 == 1).

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const PADDED: GeneralPurpose = GeneralPurpose::new(&STANDARD, GeneralPurposeConfig::new());
const UNPADDED: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(false),
);
const NGX_DECODE: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Length of the encoding of `len` bytes.
pub fn base64_encoded_len(len: usize, no_padding: bool) -> usize {
    if no_padding {
        (len * 8).div_ceil(6)
    } else {
        len.div_ceil(3) * 4
    }
}

/// Encodes `src` into `out`, which must hold `base64_encoded_len` bytes;
/// returns the bytes written.
pub fn base64_encode(src: &[u8], no_padding: bool, out: &mut [u8]) -> usize {
    let engine = if no_padding { &UNPADDED } else { &PADDED };
    engine
        .encode_slice(src, out)
        .expect("output buffer holds base64_encoded_len bytes")
}

/// A buffer size always enough for decoding `len` input bytes.
pub fn base64_decoded_capacity(len: usize) -> usize {
    len.div_ceil(4) * 3
}

/// Decodes `src` into `out` (at least `base64_decoded_capacity(src.len())`
/// bytes); `None` when nginx would reject the input.
pub fn base64_decode(src: &[u8], out: &mut [u8]) -> Option<usize> {
    let end = src.iter().position(|&b| b == b'=').unwrap_or(src.len());
    let data = &src[..end];
    if data.len() % 4 == 1 {
        return None;
    }
    NGX_DECODE.decode_slice(data, out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8], no_padding: bool) -> String {
        let mut out = vec![0u8; base64_encoded_len(s.len(), no_padding)];
        let n = base64_encode(s, no_padding, &mut out);
        assert_eq!(n, out.len());
        String::from_utf8(out).unwrap()
    }

    fn dec(s: &str) -> Option<Vec<u8>> {
        let mut out = vec![0u8; base64_decoded_capacity(s.len())];
        base64_decode(s.as_bytes(), &mut out).map(|n| out[..n].to_vec())
    }

    #[test]
    fn rfc4648_vectors() {
        let cases = [
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg==", "Zm9vYg"),
            ("fooba", "Zm9vYmE=", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ];
        for (plain, padded, unpadded) in cases {
            assert_eq!(enc(plain.as_bytes(), false), padded);
            assert_eq!(enc(plain.as_bytes(), true), unpadded);
            assert_eq!(dec(padded).unwrap(), plain.as_bytes());
            assert_eq!(dec(unpadded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn all_bytes_round_trip() {
        let all: Vec<u8> = (0..=255u8).collect();
        for n in 0..all.len() {
            for no_padding in [false, true] {
                assert_eq!(dec(&enc(&all[..n], no_padding)).unwrap(), &all[..n]);
            }
        }
        assert_eq!(enc(&[0xfb, 0xff], false), "+/8=");
    }

    #[test]
    fn nginx_decode_quirks() {
        // Stops at the first '=' and ignores whatever follows.
        assert_eq!(dec("Zg==garbage!!").unwrap(), b"f");
        assert_eq!(dec("Zm9v=Zm9v").unwrap(), b"foo");
        assert_eq!(dec("=").unwrap(), b"");
        // Non-zero trailing bits are accepted.
        assert_eq!(dec("Zh==").unwrap(), b"f");
        // Bytes outside the alphabet, URL-safe ones included, are rejected.
        assert_eq!(dec("Zm9v!"), None);
        assert_eq!(dec("Zm 9v"), None);
        assert_eq!(dec("Zm9v\n"), None);
        assert_eq!(dec("-_8="), None);
        // One dangling character is an error.
        assert_eq!(dec("Z"), None);
        assert_eq!(dec("Zm9vY"), None);
        assert_eq!(dec("Zm9vY==="), None);
    }
}

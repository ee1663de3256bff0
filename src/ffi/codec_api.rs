//! C functions of the byte helpers behind the `ngx.*` compatibility table
//! (digests, base64, CRC32, URI escaping, SQL quoting). They mirror
//! lua-nginx-module's `ngx_http_lua_ffi_*` string functions: the caller
//! sizes the output buffer with the matching `_len` function, the call
//! writes it and returns the length written. A NULL input with a zero
//! length is the empty string; a NULL pointer where bytes are needed makes
//! the call write nothing and return 0 (or false).

use crate::codec;

use super::guard_or;
use super::plumbing::bytes;

/// The output buffer, or `None` when the pointer is NULL and `len` is not 0.
///
/// # Safety
/// `ptr` must be NULL or point to `len` writable bytes.
unsafe fn output<'a>(ptr: *mut u8, len: usize) -> Option<&'a mut [u8]> {
    if len == 0 {
        Some(&mut [])
    } else if ptr.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees `len` writable bytes at `ptr`.
        Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }
}

/// SHA-1 of `src` written to `dst` (20 bytes). Returns false on a NULL pointer.
///
/// # Safety
/// `src` holds `len` bytes; `dst` has room for 20.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_sha1_bin(src: *const u8, len: usize, dst: *mut u8) -> bool {
    guard_or(false, || {
        // SAFETY: per this function's contract.
        match unsafe { (bytes(src, len), output(dst, 20)) } {
            (Some(s), Some(d)) => {
                d.copy_from_slice(&codec::sha1(s));
                true
            }
            _ => false,
        }
    })
}

/// MD5 of `src` written to `dst` (16 bytes). Returns false on a NULL pointer.
///
/// # Safety
/// `src` holds `len` bytes; `dst` has room for 16.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_md5_bin(src: *const u8, len: usize, dst: *mut u8) -> bool {
    guard_or(false, || {
        // SAFETY: per this function's contract.
        match unsafe { (bytes(src, len), output(dst, 16)) } {
            (Some(s), Some(d)) => {
                d.copy_from_slice(&codec::md5(s));
                true
            }
            _ => false,
        }
    })
}

/// MD5 of `src` as 32 lowercase hex digits written to `dst` (not
/// NUL-terminated). Returns false on a NULL pointer.
///
/// # Safety
/// `src` holds `len` bytes; `dst` has room for 32.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_md5_hex(src: *const u8, len: usize, dst: *mut u8) -> bool {
    guard_or(false, || {
        // SAFETY: per this function's contract.
        match unsafe { (bytes(src, len), output(dst, 32)) } {
            (Some(s), Some(d)) => {
                codec::hex_lower(&codec::md5(s), d);
                true
            }
            _ => false,
        }
    })
}

/// HMAC-SHA1 of `src` under `key`, written to `dst` (20 bytes). Returns
/// false on a NULL pointer.
///
/// # Safety
/// `key` holds `key_len` bytes, `src` holds `len`; `dst` has room for 20.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_hmac_sha1(
    key: *const u8,
    key_len: usize,
    src: *const u8,
    len: usize,
    dst: *mut u8,
) -> bool {
    guard_or(false, || {
        // SAFETY: per this function's contract.
        match unsafe { (bytes(key, key_len), bytes(src, len), output(dst, 20)) } {
            (Some(k), Some(s), Some(d)) => {
                d.copy_from_slice(&codec::hmac_sha1(k, s));
                true
            }
            _ => false,
        }
    })
}

/// CRC-32 (IEEE, as zlib) of `src`: ngx.crc32_short and ngx.crc32_long.
/// Returns 0 for a NULL pointer.
///
/// # Safety
/// `src` holds `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_crc32(src: *const u8, len: usize) -> u32 {
    guard_or(0, || {
        // SAFETY: per this function's contract.
        unsafe { bytes(src, len) }.map_or(0, codec::crc32)
    })
}

/// Length of the base64 encoding of `len` bytes, with or without `=` padding.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_base64_encoded_length(len: usize, no_padding: bool) -> usize {
    guard_or(0, || codec::base64_encoded_len(len, no_padding))
}

/// Base64-encodes `src` (standard alphabet) into `dst`, which has room for
/// `cosocket_base64_encoded_length(len, no_padding)` bytes; returns the bytes
/// written (0 on a NULL pointer).
///
/// # Safety
/// `src` holds `len` bytes; `dst` has room for the encoded length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_base64_encode(
    src: *const u8,
    len: usize,
    dst: *mut u8,
    no_padding: bool,
) -> usize {
    guard_or(0, || {
        let n = codec::base64_encoded_len(len, no_padding);
        // SAFETY: per this function's contract.
        match unsafe { (bytes(src, len), output(dst, n)) } {
            (Some(s), Some(d)) => codec::base64_encode(s, no_padding, d),
            _ => 0,
        }
    })
}

/// A `dst` size always enough for `cosocket_base64_decode` of `len` bytes.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_base64_decoded_length(len: usize) -> usize {
    guard_or(0, || codec::base64_decoded_capacity(len))
}

/// Decodes base64 `src` as nginx's `ngx_decode_base64` does (stops at the
/// first `=`, padding optional) into `dst`, which has room for
/// `cosocket_base64_decoded_length(len)` bytes. On success writes the length
/// to `*dlen` and returns true; returns false on malformed input or a NULL
/// pointer.
///
/// # Safety
/// `src` holds `len` bytes; `dst` has room for the decoded length; `dlen`
/// is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_base64_decode(
    src: *const u8,
    len: usize,
    dst: *mut u8,
    dlen: *mut usize,
) -> bool {
    guard_or(false, || {
        if dlen.is_null() {
            return false;
        }
        let cap = codec::base64_decoded_capacity(len);
        // SAFETY: per this function's contract.
        match unsafe { (bytes(src, len), output(dst, cap)) } {
            (Some(s), Some(d)) => match codec::base64_decode(s, d) {
                Some(n) => {
                    // SAFETY: checked non-NULL; writable per the contract.
                    unsafe { *dlen = n };
                    true
                }
                None => false,
            },
            _ => false,
        }
    })
}

/// Length of `src` escaped with nginx's table `type` (0 URI, 1 args,
/// 2 URI component, 3 HTML, 4 refresh, 5 memcached, 6 mail auth, 7 header
/// name, 8 header value); 0 when `type` is out of range or on a NULL pointer.
///
/// # Safety
/// `src` holds `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_uri_escaped_length(
    src: *const u8,
    len: usize,
    r#type: i32,
) -> usize {
    guard_or(0, || {
        // SAFETY: per this function's contract.
        match (
            unsafe { bytes(src, len) },
            codec::EscapeType::from_number(r#type),
        ) {
            (Some(s), Some(t)) => codec::uri_escaped_len(s, t),
            _ => 0,
        }
    })
}

/// Escapes `src` with nginx's table `type` into `dst`, which has room for
/// `cosocket_uri_escaped_length(src, len, type)` bytes; returns the bytes
/// written (0 when `type` is out of range or on a NULL pointer).
///
/// # Safety
/// `src` holds `len` bytes; `dst` has room for the escaped length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_escape_uri(
    src: *const u8,
    len: usize,
    dst: *mut u8,
    r#type: i32,
) -> usize {
    guard_or(0, || {
        let Some(t) = codec::EscapeType::from_number(r#type) else {
            return 0;
        };
        // SAFETY: per this function's contract.
        let Some(s) = (unsafe { bytes(src, len) }) else {
            return 0;
        };
        let n = codec::uri_escaped_len(s, t);
        // SAFETY: per this function's contract.
        match unsafe { output(dst, n) } {
            Some(d) => codec::escape_uri(s, t, d),
            None => 0,
        }
    })
}

/// Unescapes `src` as ngx.unescape_uri (`%XX` to the byte, `+` to a space)
/// into `dst`, which has room for `len` bytes; returns the bytes written.
///
/// # Safety
/// `src` holds `len` bytes; `dst` has room for `len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_unescape_uri(src: *const u8, len: usize, dst: *mut u8) -> usize {
    guard_or(0, || {
        // SAFETY: per this function's contract.
        match unsafe { (bytes(src, len), output(dst, len)) } {
            (Some(s), Some(d)) => codec::unescape_uri(s, d),
            _ => 0,
        }
    })
}

/// Length of `src` quoted by `cosocket_quote_sql_str` (0 on a NULL pointer).
///
/// # Safety
/// `src` holds `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_quote_sql_str_length(src: *const u8, len: usize) -> usize {
    guard_or(0, || {
        // SAFETY: per this function's contract.
        unsafe { bytes(src, len) }.map_or(0, codec::quote_sql_str_len)
    })
}

/// ngx.quote_sql_str: writes `src` as a quoted MySQL string literal into
/// `dst`, which has room for `cosocket_quote_sql_str_length(src, len)`
/// bytes; returns the bytes written (0 on a NULL pointer).
///
/// # Safety
/// `src` holds `len` bytes; `dst` has room for the quoted length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosocket_quote_sql_str(src: *const u8, len: usize, dst: *mut u8) -> usize {
    guard_or(0, || {
        // SAFETY: per this function's contract.
        let Some(s) = (unsafe { bytes(src, len) }) else {
            return 0;
        };
        let n = codec::quote_sql_str_len(s);
        // SAFETY: per this function's contract.
        match unsafe { output(dst, n) } {
            Some(d) => codec::quote_sql_str(s, d),
            None => 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_inputs() {
        let mut out = [0u8; 64];
        let mut n = 0usize;
        unsafe {
            assert!(cosocket_sha1_bin(std::ptr::null(), 0, out.as_mut_ptr()));
            assert_eq!(out[..4], [0xda, 0x39, 0xa3, 0xee]);
            assert!(!cosocket_sha1_bin(std::ptr::null(), 3, out.as_mut_ptr()));
            assert!(!cosocket_md5_bin(b"a".as_ptr(), 1, std::ptr::null_mut()));
            assert!(cosocket_md5_hex(b"abc".as_ptr(), 3, out.as_mut_ptr()));
            assert_eq!(&out[..32], b"900150983cd24fb0d6963f7d28e17f72");
            assert_eq!(cosocket_crc32(std::ptr::null(), 5), 0);
            assert_eq!(cosocket_crc32(b"123456789".as_ptr(), 9), 0xcbf4_3926);
            assert_eq!(
                cosocket_base64_encode(b"foo".as_ptr(), 3, out.as_mut_ptr(), false),
                4
            );
            assert_eq!(&out[..4], b"Zm9v");
            assert!(cosocket_base64_decode(
                b"Zm9vYg".as_ptr(),
                6,
                out.as_mut_ptr(),
                &mut n
            ));
            assert_eq!(&out[..n], b"foob");
            assert!(!cosocket_base64_decode(
                b"Zm9v!".as_ptr(),
                5,
                out.as_mut_ptr(),
                &mut n
            ));
            assert!(!cosocket_base64_decode(
                b"Zm9v".as_ptr(),
                4,
                out.as_mut_ptr(),
                std::ptr::null_mut()
            ));
            assert_eq!(cosocket_uri_escaped_length(b"a b".as_ptr(), 3, 2), 5);
            assert_eq!(cosocket_uri_escaped_length(b"a b".as_ptr(), 3, 9), 0);
            assert_eq!(
                cosocket_escape_uri(b"a b".as_ptr(), 3, out.as_mut_ptr(), 2),
                5
            );
            assert_eq!(&out[..5], b"a%20b");
            assert_eq!(
                cosocket_unescape_uri(b"a%20b+".as_ptr(), 6, out.as_mut_ptr()),
                4
            );
            assert_eq!(&out[..4], b"a b ");
            assert_eq!(cosocket_quote_sql_str_length(b"a'".as_ptr(), 2), 5);
            assert_eq!(
                cosocket_quote_sql_str(b"a'".as_ptr(), 2, out.as_mut_ptr()),
                5
            );
            assert_eq!(&out[..5], b"'a\\''");
            assert!(cosocket_hmac_sha1(
                b"".as_ptr(),
                0,
                b"".as_ptr(),
                0,
                out.as_mut_ptr()
            ));
            assert_eq!(out[..4], [0xfb, 0xdb, 0x1d, 0x1b]);
        }
    }
}

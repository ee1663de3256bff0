//! ngx.quote_sql_str: MySQL string-literal quoting, as lua-nginx-module's
//! `ngx_http_lua_ngx_escape_sql_str`: wraps in single quotes and escapes
//! NUL, `\b`, `\n`, `\r`, `\t`, Ctrl-Z, `\`, `'` and `"` with a backslash.

fn escape(b: u8) -> Option<u8> {
    Some(match b {
        0 => b'0',
        8 => b'b',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        26 => b'Z',
        b'\\' => b'\\',
        b'\'' => b'\'',
        b'"' => b'"',
        _ => return None,
    })
}

/// Length of the quoted form of `src`.
pub fn quote_sql_str_len(src: &[u8]) -> usize {
    src.len() + 2 + src.iter().filter(|&&b| escape(b).is_some()).count()
}

/// Writes the quoted form of `src` into `out` (`quote_sql_str_len` bytes);
/// returns the bytes written.
pub fn quote_sql_str(src: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    out[n] = b'\'';
    n += 1;
    for &b in src {
        match escape(b) {
            Some(e) => {
                out[n] = b'\\';
                out[n + 1] = e;
                n += 2;
            }
            None => {
                out[n] = b;
                n += 1;
            }
        }
    }
    out[n] = b'\'';
    n + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; quote_sql_str_len(s)];
        let n = quote_sql_str(s, &mut out);
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn quoting() {
        assert_eq!(q(b""), b"''");
        assert_eq!(q(b"abc"), b"'abc'");
        assert_eq!(q(b"it's"), b"'it\\'s'");
        assert_eq!(
            q(b"\0\x08\n\r\t\x1a\\'\""),
            b"'\\0\\b\\n\\r\\t\\Z\\\\\\'\\\"'"
        );
        // UTF-8 and other high bytes pass through.
        assert_eq!(q("é\u{7f}".as_bytes()), "'é\u{7f}'".as_bytes());
        assert_eq!(q(b"\x01%_"), b"'\x01%_'");
    }
}

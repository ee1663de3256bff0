//! ngx.escape_uri / ngx.unescape_uri with lua-nginx-module's exact tables
//! (`ngx_http_lua_escape_uri`, `ngx_http_lua_unescape_uri` in
//! ngx_http_lua_util.c): escaped bytes become `%XX` with uppercase hex.

/// The escape tables of `ngx_http_lua_escape_uri`, by its `type` number.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapeType {
    /// 0: " ", "#", "%", "?", %00-%1F, %7F-%FF.
    Uri = 0,
    /// 1: as `Uri` plus "+".
    Args = 1,
    /// 2 (ngx.escape_uri's default): all but ALPHA, DIGIT and `-._~!*'()`
    /// (the table keeps the last five, whatever its comment says).
    UriComponent = 2,
    /// 3: " ", "#", """, "%", "'", %00-%1F, %7F-%FF.
    Html = 3,
    /// 4: " ", """, "'", %00-%1F, %7F-%FF (the table keeps "%", whatever
    /// its comment says).
    Refresh = 4,
    /// 5: " ", "%", %00-%1F.
    Memcached = 5,
    /// 6: same table as `Memcached`.
    MailAuth = 6,
    /// 7: separators and controls of header names.
    HeaderName = 7,
    /// 8: %00-%08, %0A-%1F, %7F.
    HeaderValue = 8,
}

impl EscapeType {
    /// The type of a `type` number, `None` when out of range.
    pub fn from_number(n: i32) -> Option<Self> {
        Some(match n {
            0 => Self::Uri,
            1 => Self::Args,
            2 => Self::UriComponent,
            3 => Self::Html,
            4 => Self::Refresh,
            5 => Self::Memcached,
            6 => Self::MailAuth,
            7 => Self::HeaderName,
            8 => Self::HeaderValue,
            _ => return None,
        })
    }

    fn table(self) -> &'static [u32; 8] {
        const HIGH: [u32; 4] = [0xffff_ffff; 4];
        const fn t(low: [u32; 4], high: [u32; 4]) -> [u32; 8] {
            [
                low[0], low[1], low[2], low[3], high[0], high[1], high[2], high[3],
            ]
        }
        static URI: [u32; 8] = t([0xffff_ffff, 0x8000_0029, 0, 0x8000_0000], HIGH);
        static ARGS: [u32; 8] = t([0xffff_ffff, 0x8000_0829, 0, 0x8000_0000], HIGH);
        static URI_COMPONENT: [u32; 8] =
            t([0xffff_ffff, 0xfc00_987d, 0x7800_0001, 0xb800_0001], HIGH);
        static HTML: [u32; 8] = t([0xffff_ffff, 0x0000_00ad, 0, 0x8000_0000], HIGH);
        static REFRESH: [u32; 8] = t([0xffff_ffff, 0x0000_0085, 0, 0x8000_0000], HIGH);
        static MEMCACHED: [u32; 8] = t([0xffff_ffff, 0x0000_0021, 0, 0], [0; 4]);
        static HEADER_NAME: [u32; 8] =
            t([0xffff_ffff, 0xfc00_9305, 0x3800_0001, 0xa800_0000], HIGH);
        static HEADER_VALUE: [u32; 8] = t([0xffff_fdff, 0, 0, 0x8000_0000], [0; 4]);
        match self {
            Self::Uri => &URI,
            Self::Args => &ARGS,
            Self::UriComponent => &URI_COMPONENT,
            Self::Html => &HTML,
            Self::Refresh => &REFRESH,
            Self::Memcached | Self::MailAuth => &MEMCACHED,
            Self::HeaderName => &HEADER_NAME,
            Self::HeaderValue => &HEADER_VALUE,
        }
    }

    /// Whether `b` is escaped under this type.
    pub fn escapes(self, b: u8) -> bool {
        self.table()[(b >> 5) as usize] & (1 << (b & 0x1f)) != 0
    }
}

/// Length of the escaped form of `src`.
pub fn uri_escaped_len(src: &[u8], ty: EscapeType) -> usize {
    src.len() + 2 * src.iter().filter(|&&b| ty.escapes(b)).count()
}

/// Writes the escaped form of `src` into `out` (`uri_escaped_len` bytes);
/// returns the bytes written.
pub fn escape_uri(src: &[u8], ty: EscapeType, out: &mut [u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut n = 0;
    for &b in src {
        if ty.escapes(b) {
            out[n] = b'%';
            out[n + 1] = HEX[(b >> 4) as usize];
            out[n + 2] = HEX[(b & 0xf) as usize];
            n += 3;
        } else {
            out[n] = b;
            n += 1;
        }
    }
    n
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// ngx.unescape_uri (`NGX_UNESCAPE_URI_COMPONENT`): `%XX` (either case)
/// becomes the byte, `+` becomes a space, a `%` not followed by two hex
/// digits stays as it is. Writes at most `src.len()` bytes into `out`;
/// returns the bytes written.
pub fn unescape_uri(src: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        i += 1;
        out[n] = match b {
            b'%' => match (
                src.get(i).and_then(|&h| hex_value(h)),
                src.get(i + 1).and_then(|&l| hex_value(l)),
            ) {
                (Some(h), Some(l)) => {
                    i += 2;
                    (h << 4) | l
                }
                _ => b'%',
            },
            b'+' => b' ',
            _ => b,
        };
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &[u8], ty: EscapeType) -> String {
        let mut out = vec![0u8; uri_escaped_len(s, ty)];
        let n = escape_uri(s, ty, &mut out);
        assert_eq!(n, out.len());
        String::from_utf8(out).unwrap()
    }

    fn unesc(s: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; s.len()];
        let n = unescape_uri(s, &mut out);
        out.truncate(n);
        out
    }

    /// The set of bytes kept as they are, per type, spelled out by hand
    /// from the comments of the nginx tables.
    fn kept(ty: EscapeType) -> Vec<u8> {
        (0..=255u8)
            .filter(|&b| match ty {
                EscapeType::UriComponent => b.is_ascii_alphanumeric() || b"-._~!*'()".contains(&b),
                EscapeType::Uri => (0x21..0x7f).contains(&b) && !b"#%?".contains(&b),
                EscapeType::Args => (0x21..0x7f).contains(&b) && !b"#%?+".contains(&b),
                EscapeType::Html => (0x21..0x7f).contains(&b) && !b"#\"%'".contains(&b),
                EscapeType::Refresh => (0x21..0x7f).contains(&b) && !b"\"'".contains(&b),
                EscapeType::Memcached | EscapeType::MailAuth => b > 0x20 && b != b'%',
                EscapeType::HeaderName => {
                    (0x21..0x7f).contains(&b) && !b"\"(),/:;<=>?@[\\]{}".contains(&b)
                }
                EscapeType::HeaderValue => b == b'\t' || (b >= 0x20 && b != 0x7f),
            })
            .collect()
    }

    #[test]
    fn every_byte_of_every_table() {
        for n in 0..=8 {
            let ty = EscapeType::from_number(n).unwrap();
            let keep = kept(ty);
            for b in 0..=255u8 {
                assert_eq!(ty.escapes(b), !keep.contains(&b), "type {n} byte {b:#04x}");
            }
        }
        assert_eq!(EscapeType::from_number(9), None);
        assert_eq!(EscapeType::from_number(-1), None);
    }

    #[test]
    fn escaping() {
        let c = EscapeType::UriComponent;
        assert_eq!(esc(b"", c), "");
        assert_eq!(esc(b"a b&c=d/e?f", c), "a%20b%26c%3Dd%2Fe%3Ff");
        assert_eq!(esc(b"AZaz09-._~", c), "AZaz09-._~");
        // lua-nginx-module's t/006-escape.t.
        assert_eq!(esc(b"-_.!~*'()", c), "-_.!~*'()");
        assert_eq!(esc(b",$@|`", c), "%2C%24%40%7C%60");
        assert_eq!(
            esc(b"-_.~!*'();:@&=+$,/?#", EscapeType::Uri),
            "-_.~!*'();:@&=+$,/%3F%23"
        );
        assert_eq!(esc(b"<>[]{}\" ", EscapeType::Uri), "<>[]{}\"%20");
        assert_eq!(esc("☃".as_bytes(), c), "%E2%98%83");
        assert_eq!(esc(b"\0\xff", c), "%00%FF");
        assert_eq!(
            esc(b"/a b?c#d%e+f", EscapeType::Uri),
            "/a%20b%3Fc%23d%25e+f"
        );
        assert_eq!(esc(b"a+b c", EscapeType::Args), "a%2Bb%20c");
    }

    #[test]
    fn unescaping() {
        assert_eq!(unesc(b"a%20b+c"), b"a b c");
        assert_eq!(unesc(b"%e2%98%83%E2%98%83"), "☃☃".as_bytes());
        assert_eq!(unesc(b"100%"), b"100%");
        assert_eq!(unesc(b"%4"), b"%4");
        assert_eq!(unesc(b"%zz%41"), b"%zzA");
        assert_eq!(unesc(b"%%41"), b"%A");
        assert_eq!(unesc(b"a?b%3Fc"), b"a?b?c");
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(unesc(esc(&all, EscapeType::UriComponent).as_bytes()), all);
    }
}

//! Connect targets: host parsing (nginx `ngx_parse_url` rules) and name resolution.

use std::ffi::CString;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::error::{Error, Result};

/// Where a connect goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A unix-domain socket path (without the `unix:` prefix).
    Unix(Vec<u8>),
    /// An address literal: no resolution needed.
    Addr(SocketAddr),
    /// A host name to resolve with the system resolver.
    Name(String, u16),
}

/// True when `host` names a unix socket (`unix:` prefix, any case).
pub fn is_unix(host: &[u8]) -> bool {
    host.len() >= 5 && host[..5].eq_ignore_ascii_case(b"unix:")
}

fn parse_failed(host: &[u8], why: &str) -> Error {
    Error::op_owned(format!(
        "failed to parse host name \"{}\": {why}",
        String::from_utf8_lossy(host)
    ))
}

/// Parses a host as given to `connect`. `port` is None for unix sockets.
/// A `host:port` string's own port wins over `port` (nginx quirk).
pub fn parse(host: &[u8], port: Option<u16>) -> Result<Target> {
    if is_unix(host) {
        let path = &host[5..];
        if path.is_empty() {
            return Err(parse_failed(host, "no path in the unix domain socket"));
        }
        return Ok(Target::Unix(path.to_vec()));
    }
    let Some(port) = port else {
        return Err(Error::op("missing the port number"));
    };
    if host.is_empty() {
        return Err(parse_failed(host, "no host"));
    }
    let text = std::str::from_utf8(host).map_err(|_| parse_failed(host, "invalid host"))?;
    if let Some(rest) = text.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(parse_failed(host, "invalid IPv6 address"));
        };
        let ip: Ipv6Addr = rest[..end]
            .parse()
            .map_err(|_| parse_failed(host, "invalid IPv6 address"))?;
        let port = match &rest[end + 1..] {
            "" => port,
            p => parse_embedded_port(host, p)?,
        };
        return Ok(Target::Addr(SocketAddr::new(IpAddr::V6(ip), port)));
    }
    if let Ok(ip) = text.parse::<std::net::Ipv4Addr>() {
        return Ok(Target::Addr(SocketAddr::new(IpAddr::V4(ip), port)));
    }
    // Like nginx, a bare IPv6 literal is read as host:port ("::1" has the
    // port "1" after the last colon... and fails): IPv6 needs brackets.
    if text.parse::<Ipv6Addr>().is_ok() {
        return Err(parse_failed(host, "invalid port"));
    }
    let (name, port) = match text.rfind(':') {
        Some(i) => (&text[..i], parse_embedded_port(host, &text[i..])?),
        None => (text, port),
    };
    if name.is_empty() {
        return Err(parse_failed(host, "no host"));
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(Target::Addr(SocketAddr::new(ip, port)));
    }
    if name.bytes().any(|b| b <= b' ' || b == b'/' || b == 0x7f) {
        return Err(parse_failed(host, "invalid host"));
    }
    Ok(Target::Name(name.to_string(), port))
}

fn parse_embedded_port(host: &[u8], p: &str) -> Result<u16> {
    p.strip_prefix(':')
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| parse_failed(host, "invalid port"))
}

/// Resolves a name with getaddrinfo (honours /etc/hosts), every address in
/// the order the resolver gives. Blocking: run it off the caller's thread.
pub fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>> {
    let cname = CString::new(name).map_err(|_| not_resolved(name, "3: Host not found"))?;
    // SAFETY: addrinfo is plain data; zeroed is a valid empty hint.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_flags = libc::AI_ADDRCONFIG;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C strings and hint; res receives a list freed below.
    let rc = unsafe { libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        return Err(not_resolved(name, gai_reason(rc)));
    }
    let mut out = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getaddrinfo returned.
        let ai = unsafe { &*cur };
        if let Some(addr) = sockaddr_to_std(ai.ai_addr, port) {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        cur = ai.ai_next;
    }
    // SAFETY: res came from getaddrinfo.
    unsafe { libc::freeaddrinfo(res) };
    if out.is_empty() {
        return Err(not_resolved(name, "3: Host not found"));
    }
    Ok(out)
}

fn sockaddr_to_std(sa: *const libc::sockaddr, port: u16) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: sa points at a sockaddr of the family it declares.
    unsafe {
        match (*sa).sa_family as i32 {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::new(IpAddr::V4(ip), port))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                    ip,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// nginx's resolver reasons, mapped from getaddrinfo codes.
fn gai_reason(rc: i32) -> &'static str {
    match rc {
        libc::EAI_NONAME | libc::EAI_NODATA => "3: Host not found",
        libc::EAI_AGAIN => "2: Server failure",
        libc::EAI_FAIL => "2: Server failure",
        libc::EAI_MEMORY => "2: Server failure",
        _ => "2: Server failure",
    }
}

fn not_resolved(name: &str, reason: &str) -> Error {
    Error::op_owned(format!("{name} could not be resolved ({reason})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_literals_names_and_unix() {
        assert_eq!(
            parse(b"127.0.0.1", Some(80)).unwrap(),
            Target::Addr("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            parse(b"[::1]", Some(80)).unwrap(),
            Target::Addr("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            parse(b"::1", Some(80)).unwrap_err().as_str(),
            "failed to parse host name \"::1\": invalid port"
        );
        assert_eq!(
            parse(b"127.0.0.1:19004", Some(80)).unwrap(),
            Target::Addr("127.0.0.1:19004".parse().unwrap())
        );
        assert_eq!(
            parse(b"UNIX:/tmp/x.sock", None).unwrap(),
            Target::Unix(b"/tmp/x.sock".to_vec())
        );
        assert_eq!(
            parse(b"localhost", Some(1)).unwrap(),
            Target::Name("localhost".into(), 1)
        );
        assert_eq!(
            parse(b"", Some(1)).unwrap_err().as_str(),
            "failed to parse host name \"\": no host"
        );
        assert_eq!(
            parse(b"/tmp/x.sock", None).unwrap_err().as_str(),
            "missing the port number"
        );
    }

    #[test]
    fn resolves_localhost_and_reports_unknown_names() {
        let addrs = resolve("localhost", 80).unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        let err = resolve("no-such-host.invalid", 80).unwrap_err();
        assert_eq!(
            err.as_str(),
            "no-such-host.invalid could not be resolved (3: Host not found)"
        );
    }
}

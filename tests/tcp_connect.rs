//! connect: IPv4, IPv6, names, unix sockets, every connect error string
//! (reference §2.1, §6 cases 7–11), and reconnecting the same object.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peer::{Peer, TIMEOUT, temp_sock_path};
use common::tcp::*;
use cosocket::error::Kind;
use cosocket::tcp::Tcp;

/// After a failed connect every method says "closed" (state table row 2).
fn assert_all_closed(s: &Tcp) {
    assert_eq!(line(s), R::err2("closed"));
    assert_eq!(send(s, b"x"), Err("closed".into()));
    assert_eq!(close(s), Err("closed".into()));
    assert_eq!(
        s.reused_times().map_err(|e| e.to_string()),
        Err("closed".into())
    );
    assert_eq!(s.fd(), -1);
}

#[test]
fn ipv4_exchange() {
    let p = Peer::script("expect PING\\n;send PONG\\r\\n;wait_eof");
    let s = connected(&p);
    assert_eq!(s.reused_times(), Ok(0));
    assert_eq!(send(&s, b"PING\n"), Ok(5));
    assert_eq!(line(&s), R::data("PONG"));
    assert_eq!(close(&s), Ok(()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert!(p.errors(1).is_empty(), "{}", p.log());
    assert_all_closed(&s);
}

#[test]
fn ipv6_bracketed_literal() {
    let p = Peer::start(&["--listen", "[::1]:0", "send v6\\n;hold"]);
    let s = sock_with_timeout(5000);
    s.connect(b"[::1]", Some(p.port()), &opts()).unwrap();
    assert_eq!(line(&s), R::data("v6"));
    assert_eq!(close(&s), Ok(()));
    // Like nginx, an unbracketed IPv6 literal is read as host:port.
    let e = s.connect(b"::1", Some(p.port()), &opts()).unwrap_err();
    assert_eq!(
        e.as_str(),
        "failed to parse host name \"::1\": invalid port"
    );
}

#[test]
fn host_name_resolved_by_the_system_resolver() {
    let p = Peer::script("send via name\\n;hold");
    let s = sock_with_timeout(5000);
    // "localhost" may resolve to ::1 first: every address is tried in order.
    s.connect(b"localhost", Some(p.port()), &opts()).unwrap();
    assert_eq!(line(&s), R::data("via name"));
}

#[test]
fn host_port_string_wins_over_port_argument() {
    let p = Peer::script("send quirk\\n;hold");
    let s = sock_with_timeout(5000);
    let host = format!("127.0.0.1:{}", p.port());
    s.connect(host.as_bytes(), Some(80), &opts()).unwrap();
    assert_eq!(line(&s), R::data("quirk"));
}

#[test]
fn unix_socket() {
    let path = temp_sock_path("conn");
    let p = Peer::start(&[
        "--unix",
        path.to_str().unwrap(),
        "expect hi;send there\\n;wait_eof",
    ]);
    let s = sock_with_timeout(5000);
    let host = format!("unix:{}", p.unix_path().display());
    // The port is ignored for unix sockets.
    s.connect(host.as_bytes(), None, &opts()).unwrap();
    assert_eq!(send(&s, b"hi"), Ok(2));
    assert_eq!(line(&s), R::data("there"));
    // TCP options do not apply, but the nodelay on first send must not fail it.
    assert_eq!(close(&s), Ok(()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert!(p.errors(1).is_empty(), "{}", p.log());

    // "UNIX:" is case-insensitive, and a port after a unix path is ignored.
    let host = format!("UNIX:{}", p.unix_path().display());
    s.connect(host.as_bytes(), Some(1), &opts()).unwrap();
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn unix_socket_missing_file() {
    let s = Tcp::new();
    let e = s
        .connect(b"unix:/tmp/cosocket-no-such-file.sock", None, &opts())
        .unwrap_err();
    assert_eq!(e.as_str(), "no such file or directory");
    assert_all_closed(&s);
}

#[test]
fn connection_refused() {
    let p = Peer::start(&["--mode", "refuse"]);
    let s = Tcp::new();
    let e = s
        .connect(b"127.0.0.1", Some(p.port()), &opts())
        .unwrap_err();
    assert_eq!(e.as_str(), "connection refused");
    assert_eq!(e.kind(), Kind::Op);
    assert_all_closed(&s);
}

#[test]
fn connect_timeout() {
    let p = Peer::start(&["--mode", "blackhole"]);
    let s = Arc::new(sock_with_timeout(150));
    let s2 = Arc::clone(&s);
    let port = p.port();
    let e = bounded(FOREVER, move || {
        s2.connect(b"127.0.0.1", Some(port), &opts())
    })
    .unwrap_err();
    assert_eq!(e.as_str(), "timeout");
    assert_all_closed(&s);
}

#[test]
fn missing_the_port_number() {
    let s = Tcp::new();
    for host in [
        &b"127.0.0.1"[..],
        b"/tmp/test-nginx.sock",
        b"localhost",
        b"",
    ] {
        let e = s.connect(host, None, &opts()).unwrap_err();
        assert_eq!(e.as_str(), "missing the port number", "host {host:?}");
        assert_eq!(e.kind(), Kind::Op);
    }
    assert_all_closed(&s);
}

#[test]
fn missing_port_leaves_a_live_connection_alone() {
    // OpenResty checks the port before touching the socket (§2.1 step 3).
    let p = Peer::script("expect still\\n;hold");
    let s = connected(&p);
    let e = s.connect(b"127.0.0.1", None, &opts()).unwrap_err();
    assert_eq!(e.as_str(), "missing the port number");
    assert_eq!(send(&s, b"still\n"), Ok(6));
    assert!(p.wait_received(1, b"still\n", TIMEOUT), "{}", p.log());
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn bad_port_number_through_the_c_abi() {
    use cosocket::ffi::*;
    let s = cosocket_tcp_new();
    let mut out = cosocket_result {
        data: std::ptr::null(),
        data_len: 0,
        err: std::ptr::null(),
        err_len: 0,
        value: 0,
    };
    for (port, msg) in [
        (65536, "bad port number: 65536"),
        (-2, "bad port number: -2"),
    ] {
        let st = cosocket_tcp_connect(
            s,
            c"127.0.0.1".as_ptr(),
            9,
            port,
            std::ptr::null(),
            &mut out,
        );
        assert_eq!(st, cosocket_status::Error);
        // SAFETY: err points at err_len bytes until the next call.
        let err = unsafe { std::slice::from_raw_parts(out.err.cast::<u8>(), out.err_len) };
        assert_eq!(err, msg.as_bytes());
    }
    let st = cosocket_tcp_connect(s, c"127.0.0.1".as_ptr(), 9, -1, std::ptr::null(), &mut out);
    assert_eq!(st, cosocket_status::Error);
    // SAFETY: as above.
    let err = unsafe { std::slice::from_raw_parts(out.err.cast::<u8>(), out.err_len) };
    assert_eq!(err, b"missing the port number");
    cosocket_tcp_free(s);
}

#[test]
fn unknown_host_could_not_be_resolved() {
    let s = sock_with_timeout(10_000);
    let e = s
        .connect(b"no-such-host.invalid", Some(80), &opts())
        .unwrap_err();
    // "(3: Host not found)" normally; "(2: Server failure)" without any DNS.
    assert!(
        e.as_str()
            .starts_with("no-such-host.invalid could not be resolved ("),
        "{e}"
    );
    assert_all_closed(&s);
}

#[test]
fn unparsable_hosts() {
    let s = Tcp::new();
    let e = s.connect(b"", Some(80), &opts()).unwrap_err();
    assert_eq!(e.as_str(), "failed to parse host name \"\": no host");
    let e = s.connect(b"[::1", Some(80), &opts()).unwrap_err();
    assert_eq!(
        e.as_str(),
        "failed to parse host name \"[::1\": invalid IPv6 address"
    );
    assert_all_closed(&s);
}

#[test]
fn connect_again_closes_the_old_connection() {
    let p = Peer::script("send hi\\n;hold");
    let s = connected(&p);
    assert_eq!(line(&s), R::data("hi"));
    // Buffered bytes of the old connection must not leak into the new one.
    connect(&s, &p);
    assert!(
        p.wait_closed(1, TIMEOUT),
        "old connection not closed: {}",
        p.log()
    );
    assert_eq!(line(&s), R::data("hi"));
    assert_eq!(close(&s), Ok(()));
    assert!(p.wait_closed(2, TIMEOUT), "{}", p.log());
}

#[test]
fn connect_again_drops_unread_data_of_the_old_connection() {
    let p = Peer::script("send one\\ntwo\\n;hold");
    let s = connected(&p);
    assert_eq!(line(&s), R::data("one"));
    connect(&s, &p);
    assert_eq!(line(&s), R::data("one"));
}

#[test]
fn failed_object_can_connect_again() {
    let refuse = Peer::start(&["--mode", "refuse"]);
    let good = Peer::script("send back\\n;hold");
    let s = sock_with_timeout(5000);
    assert!(
        s.connect(b"127.0.0.1", Some(refuse.port()), &opts())
            .is_err()
    );
    connect(&s, &good);
    assert_eq!(line(&s), R::data("back"));
    // And after close() too (t/065 TEST 17).
    assert_eq!(close(&s), Ok(()));
    connect(&s, &good);
    assert_eq!(line(&s), R::data("back"));
}

#[test]
fn busy_connecting() {
    let p = Peer::start(&["--mode", "blackhole"]);
    let s = Arc::new(sock_with_timeout(1500));
    let s2 = Arc::clone(&s);
    let port = p.port();
    let t = std::thread::spawn(move || s2.connect(b"127.0.0.1", Some(port), &opts()));
    // Wait until the connect is under way.
    let start = std::time::Instant::now();
    loop {
        match line(&s) {
            R::Err(e, None) if e == "socket busy connecting" => break,
            R::Err(e, None) if e == "closed" => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(start.elapsed() < FOREVER, "connect never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(send(&s, b"x"), Err("socket busy connecting".into()));
    assert_eq!(close(&s), Err("socket busy connecting".into()));
    assert_eq!(
        s.connect(b"127.0.0.1", Some(port), &opts())
            .unwrap_err()
            .as_str(),
        "socket busy connecting"
    );
    assert_eq!(s.reused_times(), Ok(0));
    let r = t.join().unwrap();
    assert_eq!(r.unwrap_err().as_str(), "timeout");
    assert_all_closed(&s);
}

#[test]
fn timeouts_persist_across_connects() {
    let p = Peer::script("hold");
    let s = sock_with_timeout(100);
    connect(&s, &p);
    assert_eq!(line(&s), R::err("timeout", ""));
    connect(&s, &p);
    // Still 100 ms on the new connection (bounded, not timed).
    let s = Arc::new(s);
    let s2 = Arc::clone(&s);
    assert_eq!(bounded(FOREVER, move || line(&s2)), R::err("timeout", ""));
}

/// OpenResty HEAD's tcpsock:bind: connects originate from the bound address.
#[test]
fn bind_sets_the_local_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = sock_with_timeout(5000);
    s.set_bind(Some("127.0.0.2:0".parse().unwrap()));
    s.connect(b"127.0.0.1", Some(port), &opts()).unwrap();
    let (_conn, from) = listener.accept().unwrap();
    assert_eq!(from.ip().to_string(), "127.0.0.2");
    assert_eq!(close(&s), Ok(()));
    // A bound family that cannot reach the target fails at connect.
    s.set_bind(Some("[::1]:0".parse().unwrap()));
    let e = s.connect(b"127.0.0.1", Some(port), &opts()).unwrap_err();
    assert_eq!(e.as_str(), "address family not supported by protocol");
}

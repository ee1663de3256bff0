//! The state table of reference §1.2 row by row, close, getreusedtimes,
//! settimeout(s) (§2.9) and setoption/getoption (§2.10).

mod common;

use std::time::Duration;

use common::peer::{Peer, TIMEOUT, pattern};
use common::tcp::*;
use cosocket::error::Kind;
use cosocket::receive::Pattern;
use cosocket::tcp::{SockOption, Tcp};

fn keepalive(s: &Tcp) -> Result<(), String> {
    s.set_keepalive(None, None).map_err(|e| e.to_string())
}

fn reused(s: &Tcp) -> Result<u32, String> {
    s.reused_times().map_err(|e| e.to_string())
}

/// Rows "never connected", "connect failed", "both halves closed" and
/// "after close()/setkeepalive()": everything says closed.
fn row_all_closed(s: &Tcp) {
    for p in [
        Pattern::Line,
        Pattern::All,
        Pattern::Size(5),
        Pattern::Any(5),
    ] {
        assert_eq!(recv(s, p), R::err2("closed"), "{p:?}");
    }
    assert_eq!(until(s, &iter("\n", false), 0), R::err2("closed"));
    assert_eq!(send(s, b"x"), Err("closed".into()));
    assert_eq!(close(s), Err("closed".into()));
    assert_eq!(keepalive(s), Err("closed".into()));
    assert_eq!(reused(s), Err("closed".into()));
}

#[test]
fn row_never_connected() {
    row_all_closed(&Tcp::new());
}

#[test]
fn row_connect_failed() {
    let p = Peer::start(&["--mode", "refuse"]);
    let s = Tcp::new();
    assert!(s.connect(b"127.0.0.1", Some(p.port()), &opts()).is_err());
    row_all_closed(&s);
}

#[test]
fn row_connect_timed_out() {
    let p = Peer::start(&["--mode", "blackhole"]);
    let s = sock_with_timeout(100);
    let e = s
        .connect(b"127.0.0.1", Some(p.port()), &opts())
        .unwrap_err();
    assert_eq!(e.as_str(), "timeout");
    row_all_closed(&s);
}

#[test]
fn row_connected() {
    let p = Peer::script("expect abc;send line\\nmore;wait_eof");
    let s = connected(&p);
    assert_eq!(send(&s, b"abc"), Ok(3));
    assert_eq!(line(&s), R::data("line"));
    assert_eq!(reused(&s), Ok(0));
    assert_eq!(recv(&s, Pattern::Size(4)), R::data("more"));
    assert_eq!(close(&s), Ok(()));
    row_all_closed(&s);
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert!(p.errors(1).is_empty(), "{}", p.log());
}

#[test]
fn row_connected_then_setkeepalive() {
    let p = Peer::script("hold");
    let s = connected(&p);
    assert_eq!(keepalive(&s), Ok(()));
    row_all_closed(&s);
}

#[test]
fn row_read_half_closed() {
    let p = Peer::script("send bye;shutdown;recv 2");
    let s = connected(&p);
    assert_eq!(recv(&s, Pattern::All), R::data("bye"));
    assert_eq!(line(&s), R::err("closed", ""));
    for p in [
        Pattern::Line,
        Pattern::All,
        Pattern::Size(5),
        Pattern::Any(5),
    ] {
        assert_eq!(recv(&s, p), R::err2("closed"), "{p:?}");
    }
    assert_eq!(send(&s, b"ok"), Ok(2));
    assert_eq!(keepalive(&s), Err("closed".into()));
    assert_eq!(reused(&s), Ok(0));
    assert!(p.wait_received(1, b"ok", TIMEOUT), "{}", p.log());
    assert_eq!(close(&s), Ok(()));
    row_all_closed(&s);
}

#[test]
fn row_write_half_closed() {
    let p = Peer::start(&["--sndbuf", "4096", "noread"]);
    let s = Tcp::new();
    s.set_timeouts(5000, 150, 100).unwrap();
    connect(&s, &p);
    s.set_option(SockOption::SndBuf, 4096).unwrap();
    let big = pattern(16 << 20);
    assert_eq!(send(&s, &big), Err("timeout".into()));
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    assert_eq!(line(&s), R::err("timeout", ""));
    assert_eq!(keepalive(&s), Err("closed".into()));
    assert_eq!(reused(&s), Ok(0));
    assert_eq!(close(&s), Ok(()));
    row_all_closed(&s);
}

#[test]
fn row_both_halves_closed() {
    let p = Peer::script("close");
    let s = connected(&p);
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    // Write half first: the peer RSTs our bytes, then "broken pipe".
    let mut err = None;
    for _ in 0..500 {
        match send(&s, b"x") {
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert!(err.is_some());
    // Reading still works until it fails too.
    assert!(matches!(line(&s), R::Err(_, Some(_))));
    row_all_closed(&s);
}

#[test]
fn close_twice() {
    let p = Peer::script("hold");
    let s = connected(&p);
    assert_eq!(close(&s), Ok(()));
    assert_eq!(close(&s), Err("closed".into()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
}

#[test]
fn close_never_pools() {
    let p = Peer::script("hold");
    let s = connected(&p);
    assert_eq!(close(&s), Ok(()));
    connect(&s, &p);
    assert_eq!(reused(&s), Ok(0));
}

#[test]
fn settimeout_values() {
    let s = Tcp::new();
    for ms in [0, 1, 1000, (1 << 31) - 1] {
        assert_eq!(s.set_timeout(ms), Ok(()), "{ms}");
        assert_eq!(s.set_timeouts(ms, ms, ms), Ok(()), "{ms}");
    }
    for ms in [-1, 1 << 31, i64::MIN, i64::MAX] {
        let e = s.set_timeout(ms).unwrap_err();
        assert_eq!(e.as_str(), "bad timeout value");
        assert_eq!(e.kind(), Kind::Arg);
        for (c, w, r) in [(ms, 0, 0), (0, ms, 0), (0, 0, ms)] {
            let e = s.set_timeouts(c, w, r).unwrap_err();
            assert_eq!(e.as_str(), "bad timeout value");
        }
    }
}

#[test]
fn settimeouts_apply_per_phase() {
    // A 100 ms read timeout with a long send timeout.
    let p = Peer::script("hold");
    let s = Tcp::new();
    s.set_timeouts(5000, 5000, 100).unwrap();
    connect(&s, &p);
    assert_eq!(line(&s), R::err("timeout", ""));
    assert_eq!(send(&s, b"still writable"), Ok(14));
    // Changing it on a live connection applies to the next operation.
    s.set_timeouts(5000, 5000, 50).unwrap();
    assert_eq!(line(&s), R::err("timeout", ""));
}

#[test]
fn settimeout_zero_means_the_default_not_forever() {
    // With 0 the 60 s default applies: a read does not time out at once.
    let p = Peer::script("sleep 300;send late\\n;hold");
    let s = sock_with_timeout(0);
    connect(&s, &p);
    assert_eq!(line(&s), R::data("late"));
}

#[test]
fn setoption_getoption() {
    let p = Peer::script("hold");
    let s = connected(&p);
    for (opt, v) in [
        (SockOption::Keepalive, 1),
        (SockOption::Keepalive, 0),
        (SockOption::ReuseAddr, 1),
        (SockOption::TcpNodelay, 1),
        (SockOption::TcpNodelay, 0),
        (SockOption::KeepIntvl, 10),
        (SockOption::KeepCnt, 3),
    ] {
        assert_eq!(s.set_option(opt, v), Ok(()), "{opt:?}");
        let got = s.get_option(opt).unwrap();
        assert_eq!(got != 0, v != 0, "{opt:?}");
        if v > 1 {
            assert_eq!(got, v, "{opt:?}");
        }
    }
    // sndbuf and rcvbuf are not swapped (a bug before v0.10.31).
    let rcv = s.get_option(SockOption::RcvBuf).unwrap();
    s.set_option(SockOption::SndBuf, 12345).unwrap();
    let snd = s.get_option(SockOption::SndBuf).unwrap();
    assert!(snd >= 12345, "sndbuf {snd}");
    assert_eq!(s.get_option(SockOption::RcvBuf), Ok(rcv));
    s.set_option(SockOption::RcvBuf, 23456).unwrap();
    assert!(s.get_option(SockOption::RcvBuf).unwrap() >= 23456);
    assert_eq!(s.get_option(SockOption::SndBuf), Ok(snd));
    // A kernel refusal is the raw (not lower-cased) strerror text.
    assert_eq!(
        s.set_option(SockOption::KeepCnt, 0).unwrap_err().as_str(),
        "Invalid argument"
    );
}

#[test]
fn setoption_names() {
    for (name, opt) in [
        ("keepalive", SockOption::Keepalive),
        ("reuseaddr", SockOption::ReuseAddr),
        ("tcp-nodelay", SockOption::TcpNodelay),
        ("sndbuf", SockOption::SndBuf),
        ("rcvbuf", SockOption::RcvBuf),
        ("keepintvl", SockOption::KeepIntvl),
        ("keepcnt", SockOption::KeepCnt),
    ] {
        assert_eq!(SockOption::from_name(name.as_bytes()), Some(opt));
    }
    assert_eq!(SockOption::from_name(b"nodelay"), None);
    assert_eq!(SockOption::from_name(b""), None);
}

#[test]
fn setoption_on_closed_sockets() {
    let s = Tcp::new();
    assert_eq!(
        s.set_option(SockOption::Keepalive, 1).unwrap_err().as_str(),
        "closed"
    );
    assert_eq!(
        s.get_option(SockOption::Keepalive).unwrap_err().as_str(),
        "closed"
    );
    let p = Peer::script("hold");
    connect(&s, &p);
    assert_eq!(close(&s), Ok(()));
    assert_eq!(
        s.set_option(SockOption::Keepalive, 1).unwrap_err().as_str(),
        "closed"
    );
    assert_eq!(
        s.get_option(SockOption::SndBuf).unwrap_err().as_str(),
        "closed"
    );
}

#[test]
fn setoption_errors_through_the_c_abi() {
    use cosocket::ffi::*;
    let p = Peer::script("hold");
    let s = cosocket_tcp_new();
    let mut out = cosocket_result {
        data: std::ptr::null(),
        data_len: 0,
        err: std::ptr::null(),
        err_len: 0,
        value: 0,
    };
    let host = b"127.0.0.1";
    let st = cosocket_tcp_connect(
        s,
        host.as_ptr().cast(),
        host.len(),
        p.port() as i32,
        std::ptr::null(),
        &mut out,
    );
    assert_eq!(st, cosocket_status::Ok);
    let err = |o: &cosocket_result| {
        // SAFETY: err points at err_len bytes until the next call.
        String::from_utf8(
            unsafe { std::slice::from_raw_parts(o.err.cast::<u8>(), o.err_len) }.to_vec(),
        )
        .unwrap()
    };
    let st = cosocket_tcp_setoption(s, c"foo".as_ptr(), 3, 1, &mut out);
    assert_eq!(st, cosocket_status::Error);
    assert_eq!(err(&out), "unsupported option foo");
    let st = cosocket_tcp_getoption(s, std::ptr::null(), 0, &mut out);
    assert_eq!(st, cosocket_status::Error);
    assert_eq!(err(&out), "missing the \"option\" argument");
    let st = cosocket_tcp_setoption(s, c"keepalive".as_ptr(), 9, 1, &mut out);
    assert_eq!(st, cosocket_status::Ok);
    let st = cosocket_tcp_getoption(s, c"keepalive".as_ptr(), 9, &mut out);
    assert_eq!(st, cosocket_status::Ok);
    assert_eq!(out.value, 1);
    cosocket_tcp_free(s);
}

#[test]
fn getreusedtimes_and_getfd() {
    let p = Peer::script("hold");
    let s = Tcp::new();
    assert_eq!(s.fd(), -1);
    connect(&s, &p);
    assert!(s.fd() >= 0);
    assert_eq!(reused(&s), Ok(0));
    assert_eq!(close(&s), Ok(()));
    assert_eq!(s.fd(), -1);
    assert_eq!(reused(&s), Err("closed".into()));
}

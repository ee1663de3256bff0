//! send: buffers, gather lists, empty sends, send timeout (closes the write
//! half only), "broken pipe" and "connection reset by peer" (reference §2.4,
//! §3, §6 cases 12, 14, 19).

mod common;

use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;

use common::peer::{Peer, TIMEOUT, pattern};
use common::tcp::*;
use cosocket::tcp::{SockOption, Tcp};

#[test]
fn send_one_buffer() {
    let p = Peer::script("expect hello;send ok\\n;wait_eof");
    let s = connected(&p);
    assert_eq!(send(&s, b"hello"), Ok(5));
    assert_eq!(line(&s), R::data("ok"));
    // nginx sets TCP_NODELAY on the first send.
    assert_eq!(
        s.get_option(SockOption::TcpNodelay).map(|v| v != 0),
        Ok(true)
    );
    assert_eq!(close(&s), Ok(()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert!(p.errors(1).is_empty(), "{}", p.log());
}

#[test]
fn send_gather_list() {
    let p = Peer::script("drain");
    let s = connected(&p);
    let parts: [&[u8]; 8] = [
        b"GET", b" ", b"", b"/foo", b" HTTP/", b"1", b".0\r\n", b"\r\n",
    ];
    let bufs: Vec<IoSlice<'_>> = parts.iter().map(|b| IoSlice::new(b)).collect();
    assert_eq!(s.send(&bufs), Ok(21));
    assert_eq!(close(&s), Ok(()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert_eq!(p.received(1), b"GET /foo HTTP/1.0\r\n\r\n");
}

#[test]
fn send_gather_list_longer_than_iov_max() {
    // 3000 buffers: more than UIO_MAXIOV (1024) in one sendmsg.
    let p = Peer::script("drain");
    let s = connected(&p);
    let data = pattern(3000 * 7);
    let bufs: Vec<IoSlice<'_>> = data.chunks(7).map(IoSlice::new).collect();
    assert_eq!(s.send(&bufs), Ok(data.len()));
    assert_eq!(close(&s), Ok(()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert_eq!(p.received(1), data);
}

#[test]
fn send_big_buffer_waits_until_all_is_in_the_kernel() {
    let p = Peer::start(&["--quiet", "drain"]);
    let s = connected(&p);
    let data = pattern(4 << 20);
    assert_eq!(send(&s, &data), Ok(data.len()));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn empty_sends_return_zero_without_io() {
    let p = Peer::script("expect after;send ok\\n;wait_eof");
    let s = connected(&p);
    assert_eq!(send(&s, b""), Ok(0));
    assert_eq!(s.send(&[]), Ok(0));
    assert_eq!(s.send(&[IoSlice::new(b""), IoSlice::new(b"")]), Ok(0));
    // The connection is still usable.
    assert_eq!(send(&s, b"after"), Ok(5));
    assert_eq!(line(&s), R::data("ok"));
}

#[test]
fn send_on_closed_sockets() {
    let s = Tcp::new();
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    // Checked before the data: even an empty send says closed.
    assert_eq!(send(&s, b""), Err("closed".into()));
    let p = Peer::script("hold");
    connect(&s, &p);
    assert_eq!(close(&s), Ok(()));
    assert_eq!(send(&s, b"x"), Err("closed".into()));
}

/// §6 case 19 / t/065 TEST 18: a send timeout closes the write half only.
#[test]
fn send_timeout_closes_the_write_half() {
    let p = Peer::start(&["--sndbuf", "4096", "noread"]);
    let s = Arc::new(Tcp::new());
    s.set_timeouts(5000, 200, 100).unwrap();
    connect(&s, &p);
    s.set_option(SockOption::SndBuf, 4096).unwrap();
    let s2 = Arc::clone(&s);
    let big = pattern(16 << 20);
    let r = bounded(FOREVER, move || send(&s2, &big));
    assert_eq!(r, Err("timeout".into()));
    assert_eq!(send(&s, b"blah"), Err("closed".into()));
    // Reading still works (the peer sends nothing: a read timeout).
    assert_eq!(line(&s), R::err("timeout", ""));
    assert_eq!(s.reused_times(), Ok(0));
    assert_eq!(close(&s), Ok(()));
    assert_eq!(close(&s), Err("closed".into()));
}

/// The peer closed (FIN) and then RSTs our data: "broken pipe".
#[test]
fn broken_pipe() {
    let p = Peer::script("close");
    let s = connected(&p);
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert_eq!(line(&s), R::err("closed", ""));
    let mut err = None;
    for _ in 0..500 {
        match send(&s, b"x") {
            Ok(1) => std::thread::sleep(Duration::from_millis(5)),
            Ok(n) => panic!("sent {n}"),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(err.as_deref(), Some("broken pipe"));
    // The write half is closed now; both halves are closed.
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    assert_eq!(close(&s), Err("closed".into()));
}

#[test]
fn connection_reset_by_peer_on_send() {
    // The sleep lets connect() finish first (a RST before the connect is
    // checked fails the connect itself, in nginx too).
    let p = Peer::script("sleep 50;reset");
    let s = connected(&p);
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
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
    assert_eq!(err.as_deref(), Some("connection reset by peer"));
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    // Reading was not closed by the write error; close() returns 1.
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn send_after_read_half_closed_works() {
    // §6 case 22: the peer half-closes; receiveany says closed; send works.
    let p = Peer::script("shutdown;recv 32");
    let s = connected(&p);
    assert_eq!(
        recv(&s, cosocket::receive::Pattern::Any(1024)),
        R::err("closed", "")
    );
    assert_eq!(send(&s, b"send data after read side closed"), Ok(32));
    assert!(
        p.wait_received(1, b"send data after read side closed", TIMEOUT),
        "{}",
        p.log()
    );
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn send_while_another_thread_sends_is_busy_writing() {
    let p = Peer::start(&["--sndbuf", "4096", "noread"]);
    let s = Arc::new(Tcp::new());
    s.set_timeouts(5000, 1500, 100).unwrap();
    connect(&s, &p);
    s.set_option(SockOption::SndBuf, 4096).unwrap();
    let s2 = Arc::clone(&s);
    let t = std::thread::spawn(move || send_when_free(&s2, &pattern(16 << 20)));
    // An empty send does the busy checks and nothing else.
    let start = std::time::Instant::now();
    while send(&s, b"") == Ok(0) {
        assert!(start.elapsed() < FOREVER, "writer never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(send(&s, b"x"), Err("socket busy writing".into()));
    assert_eq!(close(&s), Err("socket busy writing".into()));
    assert_eq!(
        s.connect(b"127.0.0.1", Some(p.port()), &opts())
            .unwrap_err()
            .as_str(),
        "socket busy writing"
    );
    assert_eq!(
        s.set_keepalive(None, None).unwrap_err().as_str(),
        "socket busy writing"
    );
    // Full duplex: reading is not blocked by the writer.
    assert_eq!(line(&s), R::err("timeout", ""));
    assert_eq!(t.join().unwrap(), Err("timeout".into()));
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn abort_wakes_a_blocked_writer() {
    let p = Peer::start(&["--sndbuf", "4096", "noread"]);
    let s = Arc::new(sock_with_timeout(0)); // the 60 s default
    connect(&s, &p);
    s.set_option(SockOption::SndBuf, 4096).unwrap();
    let s2 = Arc::clone(&s);
    let t = std::thread::spawn(move || send_when_free(&s2, &pattern(16 << 20)));
    let start = std::time::Instant::now();
    while send(&s, b"") == Ok(0) {
        assert!(start.elapsed() < FOREVER, "writer never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let s3 = Arc::clone(&s);
    bounded(FOREVER, move || s3.abort());
    let r = bounded(FOREVER, move || t.join().unwrap());
    assert!(r.is_err(), "{r:?}");
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    assert_eq!(close(&s), Err("closed".into()));
}

/// §3: the send timeout is an inactivity timeout, re-armed by progress: a
/// peer taking 20 KB every 100 ms never trips a 300 ms send timeout, though
/// the whole send takes well over 300 ms.
#[test]
fn send_timeout_is_rearmed_by_progress() {
    let script = ["sleep 100;recv 20000"; 10].join(";") + ";drain";
    let p = Peer::start(&["--quiet", "--rcvbuf", "4096", &script]);
    let s = Arc::new(Tcp::new());
    s.set_timeouts(5000, 300, 5000).unwrap();
    connect(&s, &p);
    s.set_option(SockOption::SndBuf, 4096).unwrap();
    let s2 = Arc::clone(&s);
    let r = bounded(FOREVER, move || send(&s2, &pattern(200_000)));
    assert_eq!(r, Ok(200_000));
    assert_eq!(close(&s), Ok(()));
}

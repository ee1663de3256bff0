//! One connection used in both styles: a socket connected asynchronously
//! (its fd made non-blocking) then used with blocking calls, pooled
//! connections changing hands between the styles, failed asynchronous
//! connects, and loop registrations of closed fds (closed without
//! EPOLL_CTL_DEL) never producing completions for later sockets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peer::{Peer, TIMEOUT};
use common::tcp::*;
use cosocket::event_loop::EventLoop;
use cosocket::receive::Pattern;
use cosocket::tcp::{ConnectOpts, ReadRequest, Start, Tcp};

fn new_loop() -> Arc<EventLoop> {
    EventLoop::new().expect("loop")
}

fn asock(ms: i64) -> Arc<Tcp> {
    Arc::new(sock_with_timeout(ms))
}

/// The fd's O_NONBLOCK flag.
fn nonblocking(fd: i32) -> bool {
    // SAFETY: F_GETFL on an fd of this process.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(fl >= 0, "fcntl");
    fl & libc::O_NONBLOCK != 0
}

/// Waits on `lp` for `limit` and returns every token that came out.
fn tokens_within(lp: &EventLoop, limit: Duration) -> Vec<u64> {
    let end = std::time::Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u64; 16];
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return got;
        }
        let n = lp.wait(&mut buf, Some(left));
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn async_connect_then_blocking_calls() {
    let lp = new_loop();
    // Every reply comes late: a blocking call that did not wait (an fd
    // still non-blocking) would fail with "timeout" at once.
    let mut p = Peer::script(
        "expect one\\n;sleep 100;send 1\\n;expect two\\n;sleep 100;send 2\\n;\
         sleep 300;send 3\\n;noread",
    );
    let s = asock(5000);
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    let fd = s.fd();
    assert!(
        nonblocking(fd),
        "an async connect leaves the fd non-blocking"
    );

    // Blocking send + receive: the fd is switched once, and both wait.
    assert_eq!(send(&s, b"one\n"), Ok(4));
    assert!(!nonblocking(fd), "a blocking call makes the fd blocking");
    assert_eq!(line(&s), R::data("1"));

    // Async calls keep working on the now blocking fd (MSG_DONTWAIT).
    assert_eq!(asend(&s, &lp, 2, &[b"two\n"]), Ok(4));
    let (r, pending) = arecv_req(&s, &lp, 3, ReadRequest::Pattern(Pattern::Line));
    assert_eq!(r, R::data("2"));
    assert!(pending, "the reply comes 100 ms later: the receive waited");

    // A blocking read timeout still fires and leaves the socket usable.
    s.set_timeouts(5000, 5000, 50).unwrap();
    assert_eq!(line(&s), R::err("timeout", ""));
    s.set_timeout(5000).unwrap();
    assert_eq!(line(&s), R::data("3"));

    // A blocking send that must wait for the (not reading) peer's window
    // times out rather than failing at once.
    s.set_timeouts(5000, 200, 5000).unwrap();
    let big = vec![b'x'; 64 << 20];
    assert_eq!(send(&s, &big), Err("timeout".into()));
    p.close_stdin();
    drop(p);
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn blocking_send_on_an_async_connected_socket_waits_for_the_peer() {
    let lp = new_loop();
    let p = Peer::script("sleep 200;drain");
    let s = asock(5000);
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    let big = vec![b'y'; 8 << 20];
    assert_eq!(send(&s, &big), Ok(big.len()));
    assert!(p.wait_received_len(1, big.len(), TIMEOUT), "{}", p.log());
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn pooled_connection_from_async_to_blocking_and_back() {
    let lp = new_loop();
    let p = Peer::script(
        "expect a\\n;send A\\n;expect b\\n;sleep 100;send B\\n;\
         expect c\\n;send C\\n;expect d\\n;sleep 100;send D\\n;hold",
    );
    let o = ConnectOpts::default();

    // Connected asynchronously, pooled.
    let s1 = asock(5000);
    aconnect(&s1, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(asend(&s1, &lp, 2, &[b"a\n"]), Ok(2));
    assert_eq!(arecv(&s1, &lp, 3, Pattern::Line), R::data("A"));
    let fd = s1.fd();
    s1.set_keepalive(None, None).unwrap();

    // Reused by a blocking caller: its calls wait (the fd is switched).
    let s2 = sock_with_timeout(5000);
    s2.connect(b"127.0.0.1", Some(p.port()), &o).unwrap();
    assert_eq!(s2.reused_times().unwrap(), 1);
    assert_eq!(s2.fd(), fd);
    assert_eq!(send(&s2, b"b\n"), Ok(2));
    assert_eq!(line(&s2), R::data("B"));
    assert!(!nonblocking(fd));
    s2.set_keepalive(None, None).unwrap();

    // And back to an asynchronous user, on the blocking fd.
    let s3 = asock(5000);
    aconnect(&s3, &lp, 4, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(s3.reused_times().unwrap(), 2);
    assert_eq!(asend(&s3, &lp, 5, &[b"c\n"]), Ok(2));
    assert_eq!(arecv(&s3, &lp, 6, Pattern::Line), R::data("C"));
    assert_eq!(asend(&s3, &lp, 7, &[b"d\n"]), Ok(2));
    let (r, pending) = arecv_req(&s3, &lp, 8, ReadRequest::Pattern(Pattern::Line));
    assert_eq!(r, R::data("D"));
    assert!(pending, "the reply comes 100 ms later");
    assert_eq!(close(&s3), Ok(()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert!(p.errors(1).is_empty(), "{}", p.log());
}

#[test]
fn pooled_connection_from_blocking_to_async_then_blocking_again() {
    let lp = new_loop();
    let p = Peer::script(
        "expect a\\n;send A\\n;expect b\\n;sleep 100;send B\\n;\
         expect c\\n;sleep 100;send C\\n;hold",
    );
    let o = ConnectOpts::default();
    let s1 = sock_with_timeout(5000);
    s1.connect(b"127.0.0.1", Some(p.port()), &o).unwrap();
    let fd = s1.fd();
    assert!(!nonblocking(fd));
    assert_eq!(send(&s1, b"a\n"), Ok(2));
    assert_eq!(line(&s1), R::data("A"));
    s1.set_keepalive(None, None).unwrap();

    let s2 = asock(5000);
    aconnect(&s2, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(s2.fd(), fd);
    assert_eq!(asend(&s2, &lp, 2, &[b"b\n"]), Ok(2));
    let (r, pending) = arecv_req(&s2, &lp, 3, ReadRequest::Pattern(Pattern::Line));
    assert_eq!(r, R::data("B"));
    assert!(pending);
    s2.set_keepalive(None, None).unwrap();

    let s3 = sock_with_timeout(5000);
    s3.connect(b"127.0.0.1", Some(p.port()), &o).unwrap();
    assert_eq!(s3.reused_times().unwrap(), 2);
    assert_eq!(send(&s3, b"c\n"), Ok(2));
    assert_eq!(line(&s3), R::data("C"));
    assert_eq!(close(&s3), Ok(()));
}

#[test]
fn refused_async_connects_report_connection_refused() {
    let lp = new_loop();
    let refuse = Peer::start(&["--mode", "refuse"]);
    let s = asock(5000);
    for t in 0..5 {
        assert_eq!(
            aconnect(&s, &lp, 10 + t, b"127.0.0.1", Some(refuse.port())),
            Err("connection refused".into())
        );
        assert_eq!(s.fd(), -1);
    }
    // The object connects fine afterwards.
    let p = Peer::script("send ok\\n;hold");
    aconnect(&s, &lp, 20, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(arecv(&s, &lp, 21, Pattern::Line), R::data("ok"));
    assert_eq!(close(&s), Ok(()));
    assert!(tokens_within(&lp, Duration::from_millis(50)).is_empty());
    assert_eq!(lp.pending(), 0);
}

#[test]
fn closed_registrations_never_complete_for_later_sockets() {
    let lp = new_loop();
    // The first connections keep talking after we closed our side.
    let chatty = Peer::script("expect hi\\n;send yo\\n;sleep 100;send more\\n;sleep 50;close");
    let quiet = Peer::script("expect q\\n;sleep 100;send r\\n;hold");

    // s1's file outlives its close (a dup'ed fd): its epoll registration
    // stays, and delivers the peer's later data and FIN under s1's old id.
    let s1 = asock(5000);
    aconnect(&s1, &lp, 1, b"127.0.0.1", Some(chatty.port())).unwrap();
    assert_eq!(asend(&s1, &lp, 2, &[b"hi\n"]), Ok(3));
    assert_eq!(arecv(&s1, &lp, 3, Pattern::Line), R::data("yo"));
    // SAFETY: dup of an fd we own; closed below.
    let dup = unsafe { libc::dup(s1.fd()) };
    assert!(dup >= 0);
    assert_eq!(close(&s1), Ok(()));

    // s2: a plain close; the next sockets reuse the fd numbers.
    let s2 = asock(5000);
    aconnect(&s2, &lp, 4, b"127.0.0.1", Some(chatty.port())).unwrap();
    assert_eq!(asend(&s2, &lp, 5, &[b"hi\n"]), Ok(3));
    assert_eq!(arecv(&s2, &lp, 6, Pattern::Line), R::data("yo"));
    let old_fd = s2.fd();
    assert_eq!(close(&s2), Ok(()));

    // New connections, including s1 itself connecting again: each waits
    // for a late reply while the stale registrations fire.
    let s3 = asock(5000);
    let s4 = asock(5000);
    let mut fds = Vec::new();
    for (i, s) in [&s1, &s3, &s4].into_iter().enumerate() {
        let t = 100 + 10 * i as u64;
        aconnect(s, &lp, t, b"127.0.0.1", Some(quiet.port())).unwrap();
        fds.push(s.fd());
        assert_eq!(asend(s, &lp, t + 1, &[b"q\n"]), Ok(2));
        assert!(matches!(
            s.receive_start(&lp, t + 2, ReadRequest::Pattern(Pattern::Line)),
            Start::Pending
        ));
    }
    let _ = old_fd; // usually among `fds`; the test holds either way.
    let mut got = tokens_within(&lp, Duration::from_millis(400));
    got.sort_unstable();
    assert_eq!(got, vec![102, 112, 122], "only the receives complete");
    for s in [&s1, &s3, &s4] {
        assert_eq!(own(s, s.take_read_result().unwrap()), R::data("r"));
    }
    assert!(tokens_within(&lp, Duration::from_millis(50)).is_empty());
    for s in [&s1, &s3, &s4] {
        assert_eq!(close(s), Ok(()));
    }
    // SAFETY: our dup.
    unsafe { libc::close(dup) };
    assert_eq!(lp.pending(), 0);
}

/// The loop's solo path (a blocking recv on the waiting thread) waits in
/// poll(2) for the first wait of a connection whose fd an async connect left
/// non-blocking: switching it costs fcntl + SO_RCVTIMEO, more than they save
/// on a connection that waits once. The second wait switches it (the fd
/// becomes blocking), and both receives return their replies.
#[test]
fn solo_path_switches_a_fresh_async_fd_only_on_its_second_wait() {
    let lp = new_loop();
    let mut p =
        Peer::script("expect a\\n;sleep 100;send 1\\n;expect b\\n;sleep 100;send 2\\n;noread");
    let s = asock(5000);
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    let fd = s.fd();
    assert!(nonblocking(fd));
    assert_eq!(asend(&s, &lp, 2, &[b"a\n"]), Ok(2));
    let (r, pending) = arecv_req(&s, &lp, 3, ReadRequest::Pattern(Pattern::Line));
    assert_eq!(r, R::data("1"));
    assert!(pending, "the reply comes 100 ms later: the receive waited");
    assert!(
        nonblocking(fd),
        "the first wait polled, leaving the fd's mode"
    );
    assert_eq!(asend(&s, &lp, 4, &[b"b\n"]), Ok(2));
    let (r, pending) = arecv_req(&s, &lp, 5, ReadRequest::Pattern(Pattern::Line));
    assert_eq!(r, R::data("2"));
    assert!(pending);
    assert!(!nonblocking(fd), "the second wait took the solo path");
    p.close_stdin();
    drop(p);
    assert_eq!(close(&s), Ok(()));
}

/// The first wait of a fresh async connection, in poll(2) on the solo path
/// (the fd stays non-blocking): data in pieces re-arms the inactivity
/// timeout and all of it arrives; a wait with a shorter timeout returns
/// with the receive still pending and a later wait finishes it; a FIN
/// gives "closed" with the partial line; silence gives "timeout" with it.
#[test]
fn first_wait_of_a_fresh_async_fd_polls() {
    let lp = new_loop();
    let cases: [(&str, i64, R); 3] = [
        // Three pieces 150 ms apart against a 400 ms read timeout: only the
        // re-armed timeout lets the whole line in.
        (
            "expect go\\n;chunks 150 ab|cd|ef\\n;noread",
            400,
            R::data("abcdef"),
        ),
        (
            "expect go\\n;sleep 50;send ab;sleep 50;close",
            5000,
            R::err("closed", "ab"),
        ),
        ("expect go\\n;send ab;noread", 200, R::err("timeout", "ab")),
    ];
    for (script, ms, want) in cases {
        let mut p = Peer::script(script);
        let s = asock(ms);
        aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
        assert_eq!(asend(&s, &lp, 2, &[b"go\n"]), Ok(3));
        let (r, pending) = arecv_req(&s, &lp, 3, ReadRequest::Pattern(Pattern::Line));
        assert_eq!(r, want, "{script}");
        assert!(pending, "{script}: the receive waited");
        assert!(nonblocking(s.fd()), "{script}: polled, the fd's mode kept");
        p.close_stdin();
        drop(p);
        let _ = close(&s);
    }

    // A wait shorter than the reply's delay: 0 tokens, still pending.
    let mut p = Peer::script("expect go\\n;sleep 300;send late\\n;noread");
    let s = asock(5000);
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(asend(&s, &lp, 2, &[b"go\n"]), Ok(3));
    assert!(matches!(
        s.receive_start(&lp, 3, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    let mut buf = [0u64; 4];
    assert_eq!(lp.wait(&mut buf, Some(Duration::from_millis(20))), 0);
    assert_eq!(lp.pending(), 1, "the receive is still pending");
    wait_token(&lp, 3, &mut Vec::new());
    let o = s.take_read_result().expect("read result after its token");
    assert_eq!(own(&s, o), R::data("late"));
    p.close_stdin();
    drop(p);
    assert_eq!(close(&s), Ok(()));
}

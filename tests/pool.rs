//! Keepalive pool rules (reference §4) against the scripted peer.

mod common;

use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::peer::Peer;
use cosocket::pool;
use cosocket::receive::Pattern;
use cosocket::tcp::{ConnectOpts, ReadOutcome, ReadRequest, Tcp};

fn line(t: &Tcp) -> Result<Vec<u8>, String> {
    match t.receive(ReadRequest::Pattern(Pattern::Line)) {
        // SAFETY: the pointer is valid until the next call on t.
        ReadOutcome::Data(p, l) => Ok(unsafe { std::slice::from_raw_parts(p, l) }.to_vec()),
        ReadOutcome::Failed(e, _) => Err(e.to_string()),
        other => Err(format!("{other:?}")),
    }
}

fn connect(peer: &Peer, opts: &ConnectOpts) -> Tcp {
    let t = Tcp::new();
    t.set_timeout(5000).unwrap();
    t.connect(b"127.0.0.1", Some(peer.port()), opts).unwrap();
    t
}

fn ping(t: &Tcp) {
    t.send(&[IoSlice::new(b"ping\n")]).unwrap();
    assert_eq!(line(t).unwrap(), b"ping");
}

fn key(peer: &Peer) -> String {
    format!("127.0.0.1:{}", peer.port())
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn reuse_is_counted_and_lifo() {
    let peer = Peer::start(&["--mode", "lineecho", "--quiet"]);
    let none = ConnectOpts::default();
    let a = connect(&peer, &none);
    let b = connect(&peer, &none);
    assert_eq!(a.reused_times().unwrap(), 0);
    ping(&a);
    ping(&b);
    let fd_a = a.fd();
    let fd_b = b.fd();
    a.set_keepalive(None, None).unwrap();
    b.set_keepalive(None, None).unwrap();
    // The object is closed after setkeepalive.
    assert_eq!(a.reused_times().unwrap_err().as_str(), "closed");
    let st = pool::stats(&key(&peer)).unwrap();
    assert_eq!((st.idle, st.in_use, st.size), (2, 0, 30));
    // LIFO: the most recently pooled (b's fd) comes first.
    let c = connect(&peer, &none);
    assert_eq!(c.reused_times().unwrap(), 1);
    assert_eq!(c.fd(), fd_b);
    ping(&c);
    let d = connect(&peer, &none);
    assert_eq!(d.fd(), fd_a);
    c.set_keepalive(None, None).unwrap();
    let e = connect(&peer, &none);
    assert_eq!(e.reused_times().unwrap(), 2);
    e.close().unwrap();
    d.close().unwrap();
    assert!(
        pool::stats(&key(&peer)).is_none(),
        "pool freed with its last connection"
    );
}

#[test]
fn unread_data_and_dubious_state() {
    let peer = Peer::script("line; send OK\\r\\n; hold");
    let t = connect(&peer, &ConnectOpts::default());
    t.send(&[IoSlice::new(b"flush_all\n")]).unwrap();
    match t.receive(ReadRequest::Pattern(Pattern::Size(1))) {
        ReadOutcome::Data(_, 1) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        t.set_keepalive(None, None).unwrap_err().as_str(),
        "unread data in buffer"
    );
    // Still usable.
    assert_eq!(line(&t).unwrap(), b"K");
    t.set_keepalive(None, None).unwrap();

    let peer = Peer::script("send surprise\\n; hold");
    let t = connect(&peer, &ConnectOpts::default());
    assert!(peer.wait_accept(1, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        t.set_keepalive(None, None).unwrap_err().as_str(),
        "connection in dubious state"
    );
    assert_eq!(t.close().unwrap_err().as_str(), "closed");
}

#[test]
fn idle_connection_closed_by_peer_is_dropped() {
    // The peer closes each connection 100 ms after the reply.
    let peer = Peer::script("line; send ok\\n; sleep 100; close");
    let none = ConnectOpts::default();
    let t = connect(&peer, &none);
    t.send(&[IoSlice::new(b"x\n")]).unwrap();
    assert_eq!(line(&t).unwrap(), b"ok");
    t.set_keepalive(None, None).unwrap();
    // Connect as soon as the peer has closed: whether or not the idle
    // watcher has run yet, the dead connection must not be handed out.
    assert!(peer.wait_closed(1, Duration::from_secs(5)));
    let t = connect(&peer, &none);
    assert_eq!(t.reused_times().unwrap(), 0);
    assert!(wait_until(
        || pool::stats(&key(&peer)).is_none_or(|s| s.idle == 0)
    ));
}

#[test]
fn idle_timeout_expires_and_zero_keeps_forever() {
    let peer = Peer::start(&["--mode", "lineecho", "--quiet"]);
    let t = connect(&peer, &ConnectOpts::default());
    ping(&t);
    t.set_keepalive(Some(50), None).unwrap();
    assert!(wait_until(|| pool::stats(&key(&peer)).is_none()));
    let t = connect(&peer, &ConnectOpts::default());
    t.set_keepalive(Some(0), None).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(pool::stats(&key(&peer)).unwrap().idle, 1);
}

#[test]
fn full_pool_evicts_least_recently_pooled() {
    let peer = Peer::start(&["--mode", "lineecho", "--quiet"]);
    let opts = ConnectOpts {
        pool: Some(format!("evict-{}", peer.port())),
        pool_size: Some(1),
        ..Default::default()
    };
    let a = connect(&peer, &opts);
    let b = connect(&peer, &opts);
    let fd_b = b.fd();
    a.set_keepalive(None, Some(20)).unwrap();
    b.set_keepalive(None, Some(20)).unwrap();
    let st = pool::stats(opts.pool.as_deref().unwrap()).unwrap();
    assert_eq!((st.size, st.idle, st.evictions), (1, 1, 1));
    let c = connect(&peer, &opts);
    assert_eq!(c.fd(), fd_b);
    assert_eq!(c.reused_times().unwrap(), 1);
    let d = connect(&peer, &opts);
    assert_eq!(d.reused_times().unwrap(), 0);
}

#[test]
fn backlog_queue_overflow_timeout_and_handoff() {
    let peer = Peer::start(&["--mode", "lineecho", "--quiet"]);
    let name = format!("backlog-{}", peer.port());
    let opts = ConnectOpts {
        pool: Some(name.clone()),
        pool_size: Some(1),
        backlog: Some(1),
    };
    let a = Arc::new(connect(&peer, &opts));
    // Second connect queues; a third fails at once.
    let waiter = {
        let opts = opts.clone();
        let port = peer.port();
        std::thread::spawn(move || {
            let t = Tcp::new();
            t.set_timeout(5000).unwrap();
            t.connect(b"127.0.0.1", Some(port), &opts)
                .map(|()| (t.reused_times().unwrap(), t))
        })
    };
    assert!(wait_until(|| pool::stats(&name).unwrap().waiting == 1));
    let third = Tcp::new();
    assert_eq!(
        third
            .connect(b"127.0.0.1", Some(peer.port()), &opts)
            .unwrap_err()
            .as_str(),
        "too many waiting connect operations"
    );
    ping(&a);
    a.set_keepalive(None, None).unwrap();
    let (reused, _in_use) = waiter.join().unwrap().unwrap();
    assert_eq!(reused, 1, "the waiter got a's connection");

    // A queued connect times out with the connect timeout.
    let q = Tcp::new();
    q.set_timeout(50).unwrap();
    assert_eq!(
        q.connect(b"127.0.0.1", Some(peer.port()), &opts)
            .unwrap_err()
            .as_str(),
        "timeout"
    );
    assert_eq!(pool::stats(&name).unwrap().waiting, 0);
}

#[test]
fn backlog_zero_and_failed_connects_do_not_hold_slots() {
    let refuse = Peer::start(&["--mode", "refuse"]);
    let opts = ConnectOpts {
        pool: Some(format!("fail-{}", refuse.port())),
        pool_size: Some(1),
        backlog: Some(0),
    };
    for _ in 0..3 {
        let t = Tcp::new();
        assert_eq!(
            t.connect(b"127.0.0.1", Some(refuse.port()), &opts)
                .unwrap_err()
                .as_str(),
            "connection refused"
        );
    }
    let peer = Peer::start(&["--mode", "lineecho", "--quiet"]);
    let opts = ConnectOpts {
        pool: Some(format!("zero-{}", peer.port())),
        pool_size: Some(2),
        backlog: Some(0),
    };
    let a = connect(&peer, &opts);
    let _b = connect(&peer, &opts);
    let c = Tcp::new();
    assert_eq!(
        c.connect(b"127.0.0.1", Some(peer.port()), &opts)
            .unwrap_err()
            .as_str(),
        "too many waiting connect operations"
    );
    a.set_keepalive(None, None).unwrap();
    let d = connect(&peer, &opts);
    assert_eq!(d.reused_times().unwrap(), 1);
}

#[test]
fn keepalive_on_closed_or_half_closed_socket() {
    let t = Tcp::new();
    assert_eq!(t.set_keepalive(None, None).unwrap_err().as_str(), "closed");
    let peer = Peer::script("send bye\\n; close");
    let t = connect(&peer, &ConnectOpts::default());
    assert_eq!(line(&t).unwrap(), b"bye");
    assert_eq!(line(&t).unwrap_err(), "closed");
    assert_eq!(t.set_keepalive(None, None).unwrap_err().as_str(), "closed");
    t.close().unwrap();
}

#[test]
fn pooled_after_read_timeout_like_openresty() {
    let peer = Peer::script("line; sleep 300; send late\\n; hold");
    let t = connect(&peer, &ConnectOpts::default());
    t.set_timeout(50).unwrap();
    t.send(&[IoSlice::new(b"q\n")]).unwrap();
    assert_eq!(line(&t).unwrap_err(), "timeout");
    t.set_keepalive(None, None).unwrap();
}

/// setkeepalive skips its MSG_PEEK right after a read drained the socket
/// (nginx has not seen what arrived since either): whatever it answers, a
/// connection on which the peer spoke or closed is never handed out again.
#[test]
fn peer_speaking_right_after_the_reply_is_never_reused() {
    let none = ConnectOpts::default();
    for script in [
        "line; send ok\\n; close",
        "line; send ok\\n; sleep 1; close",
        "line; send ok\\n; send x\\n; hold",
        "line; send ok\\n; sleep 1; send x\\n; hold",
    ] {
        let peer = Peer::script(script);
        for _ in 0..10 {
            let t = connect(&peer, &none);
            assert_eq!(t.reused_times().unwrap(), 0, "{script}");
            t.send(&[IoSlice::new(b"q\n")]).unwrap();
            assert_eq!(line(&t).unwrap(), b"ok");
            match t.set_keepalive(None, None) {
                Ok(()) => {}
                Err(e) => {
                    let e = e.as_str().to_string();
                    assert!(
                        [
                            "closed",
                            "connection in dubious state",
                            "unread data in buffer"
                        ]
                        .contains(&e.as_str()),
                        "{script}: {e}"
                    );
                    let _ = t.close();
                }
            }
            // The peer has spoken (or closed) long before the next connect.
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(wait_until(
            || pool::stats(&key(&peer)).is_none_or(|s| s.idle == 0)
        ));
    }
}

/// Outside that window the peek answers as nginx does after its event loop
/// saw the peer's data or FIN.
#[test]
fn late_data_or_fin_after_a_read_is_seen_by_setkeepalive() {
    let none = ConnectOpts::default();
    for (script, want) in [
        (
            "line; send ok\\n; sleep 5; send more\\n; hold",
            "connection in dubious state",
        ),
        ("line; send ok\\n; sleep 5; close", "closed"),
    ] {
        let peer = Peer::script(script);
        let t = connect(&peer, &none);
        t.send(&[IoSlice::new(b"q\n")]).unwrap();
        assert_eq!(line(&t).unwrap(), b"ok");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(t.set_keepalive(None, None).unwrap_err().as_str(), want);
    }
}

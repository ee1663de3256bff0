//! The asynchronous style on an `EventLoop`: start → Pending → wait →
//! take_*_result, for connect, send, every receive pattern and their errors;
//! timeouts fired by the loop; many sockets on one loop; sleep tokens; posts
//! from other threads; the loop's pollable fd.

mod common;

use std::collections::HashSet;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::peer::{Peer, TIMEOUT, pattern, temp_sock_path};
use common::tcp::*;
use cosocket::event_loop::EventLoop;
use cosocket::receive::Pattern;
use cosocket::tcp::{ReadRequest, SockOption, Start, Tcp};

fn new_loop() -> Arc<EventLoop> {
    EventLoop::new().expect("loop")
}

fn asock(ms: i64) -> Arc<Tcp> {
    Arc::new(sock_with_timeout(ms))
}

fn aconnected(lp: &Arc<EventLoop>, p: &Peer) -> Arc<Tcp> {
    let s = asock(5000);
    aconnect(&s, lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    s
}

/// Nothing left on the loop once every operation has finished.
fn assert_idle(lp: &EventLoop) {
    assert_eq!(lp.pending(), 0, "timers or completions left behind");
    assert_eq!(lp.next_timeout(), None);
    let mut buf = [0u64; 4];
    assert_eq!(lp.wait(&mut buf, Some(Duration::ZERO)), 0);
}

#[test]
fn exchange() {
    let lp = new_loop();
    let p = Peer::script("expect PING\\n;sleep 50;send PONG\\r\\n;wait_eof");
    let s = aconnected(&lp, &p);
    assert_eq!(asend(&s, &lp, 2, &[b"PI", b"NG\n"]), Ok(5));
    let (r, pending) = arecv_req(&s, &lp, 3, ReadRequest::Pattern(Pattern::Line));
    assert_eq!(r, R::data("PONG"));
    assert!(
        pending,
        "the reply comes 50 ms later: the receive must have waited"
    );
    assert_eq!(close(&s), Ok(()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert!(p.errors(1).is_empty(), "{}", p.log());
    assert_idle(&lp);
}

#[test]
fn connect_pending_then_result() {
    let lp = new_loop();
    let p = Peer::script("send hi\\n;hold");
    let s = asock(5000);
    match s.connect_start(&lp, 7, b"127.0.0.1", Some(p.port()), &opts()) {
        Start::Done(r) => assert_eq!(r.map_err(|e| e.to_string()), Ok(())),
        Start::Pending => {
            // No result before the token came out.
            let mut got = Vec::new();
            wait_token(&lp, 7, &mut got);
            assert!(got.is_empty());
            assert_eq!(s.take_connect_result().map(|r| r.is_ok()), Some(true));
            assert!(s.take_connect_result().is_none(), "fetched twice");
        }
    }
    assert_eq!(arecv(&s, &lp, 8, Pattern::Line), R::data("hi"));
}

/// A loopback connect may finish inside connect_start (the handshake is
/// done by the time connect(2) returns); receives that wait afterwards,
/// alone (the solo path) or together (the epoll), still complete.
#[test]
fn loopback_connect_finishing_at_once_then_receives_that_wait() {
    let lp = new_loop();
    let script =
        "expect PING\\n;sleep 30;send PONG\\n;expect PING\\n;sleep 30;send PONG\\n;wait_eof";
    let p4 = Peer::script(script);
    let p6 = Peer::start(&["--listen", "[::1]:0", script]);
    let mut socks = Vec::new();
    for (i, (host, p)) in [
        (&b"127.0.0.1"[..], &p4),
        (b"[::1]", &p6),
        (b"127.0.0.1", &p4),
    ]
    .into_iter()
    .enumerate()
    {
        let s = asock(5000);
        let token = 10 + i as u64;
        match s.connect_start(&lp, token, host, Some(p.port()), &opts()) {
            Start::Done(r) => assert_eq!(r.map_err(|e| e.to_string()), Ok(())),
            Start::Pending => {
                wait_token(&lp, token, &mut Vec::new());
                assert_eq!(s.take_connect_result().map(|r| r.is_ok()), Some(true));
            }
        }
        socks.push(s);
    }
    // One at a time.
    for s in &socks {
        assert_eq!(asend(s, &lp, 1, &[b"PING\n"]), Ok(5));
        let (r, pending) = arecv_req(s, &lp, 2, ReadRequest::Pattern(Pattern::Line));
        assert_eq!(r, R::data("PONG"));
        assert!(pending, "the reply comes 30 ms later");
    }
    // All at once.
    let mut pending = HashSet::new();
    for (i, s) in socks.iter().enumerate() {
        assert_eq!(asend(s, &lp, 1, &[b"PING\n"]), Ok(5));
        let token = 20 + i as u64;
        match s.receive_start(&lp, token, ReadRequest::Pattern(Pattern::Line)) {
            Start::Pending => {
                pending.insert(token);
            }
            Start::Done(o) => panic!("the reply comes 30 ms later: {:?}", own(s, o)),
        }
    }
    drain(&lp, &mut pending);
    for s in &socks {
        let o = s.take_read_result().expect("read result after its token");
        assert_eq!(own(s, o), R::data("PONG"));
        assert_eq!(close(s), Ok(()));
    }
    for (p, n) in [(&p4, 2), (&p6, 1)] {
        assert!(p.wait_closed(n, TIMEOUT), "{}", p.log());
        assert!(p.errors(n).is_empty(), "{}", p.log());
    }
    assert_idle(&lp);
}

/// A refused loopback connect is reported as before (not as finished).
#[test]
fn refused_loopback_connect_is_refused() {
    let lp = new_loop();
    let r4 = Peer::start(&["--mode", "refuse"]);
    let r6 = Peer::start(&["--mode", "refuse", "--listen", "[::1]:0"]);
    for (i, (host, p)) in [(&b"127.0.0.1"[..], &r4), (b"[::1]", &r6)]
        .into_iter()
        .enumerate()
    {
        let s = asock(5000);
        assert_eq!(
            aconnect(&s, &lp, 1 + i as u64, host, Some(p.port())),
            Err("connection refused".into())
        );
        assert_eq!(line(&s), R::err2("closed"));
    }
    assert_idle(&lp);
}

#[test]
fn connect_ipv6_name_and_unix() {
    let lp = new_loop();
    let p6 = Peer::start(&["--listen", "[::1]:0", "send six\\n;hold"]);
    let s = asock(5000);
    aconnect(&s, &lp, 1, b"[::1]", Some(p6.port())).unwrap();
    assert_eq!(arecv(&s, &lp, 2, Pattern::Line), R::data("six"));

    // A name: resolved on the runtime, finished on the loop.
    let p = Peer::script("send name\\n;hold");
    aconnect(&s, &lp, 3, b"localhost", Some(p.port())).unwrap();
    assert_eq!(arecv(&s, &lp, 4, Pattern::Line), R::data("name"));

    let path = temp_sock_path("async");
    let pu = Peer::start(&["--unix", path.to_str().unwrap(), "send unix\\n;hold"]);
    let host = format!("unix:{}", pu.unix_path().display());
    aconnect(&s, &lp, 5, host.as_bytes(), None).unwrap();
    assert_eq!(arecv(&s, &lp, 6, Pattern::Line), R::data("unix"));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn connect_errors() {
    let lp = new_loop();
    let s = asock(5000);
    let refuse = Peer::start(&["--mode", "refuse"]);
    assert_eq!(
        aconnect(&s, &lp, 1, b"127.0.0.1", Some(refuse.port())),
        Err("connection refused".into())
    );
    assert_eq!(line(&s), R::err2("closed"));
    assert_eq!(
        aconnect(&s, &lp, 2, b"127.0.0.1", None),
        Err("missing the port number".into())
    );
    assert_eq!(
        aconnect(&s, &lp, 3, b"unix:/tmp/cosocket-async-nosuch.sock", None),
        Err("no such file or directory".into())
    );
    let e = aconnect(&s, &lp, 4, b"no-such-host.invalid", Some(80)).unwrap_err();
    assert!(
        e.starts_with("no-such-host.invalid could not be resolved ("),
        "{e}"
    );
    assert_eq!(
        aconnect(&s, &lp, 5, b"", Some(80)),
        Err("failed to parse host name \"\": no host".into())
    );
    assert_eq!(close(&s), Err("closed".into()));
}

#[test]
fn connect_timeout_fires_from_the_loop() {
    let lp = new_loop();
    let p = Peer::start(&["--mode", "blackhole"]);
    let s = asock(150);
    assert!(matches!(
        s.connect_start(&lp, 9, b"127.0.0.1", Some(p.port()), &opts()),
        Start::Pending
    ));
    // Busy connecting meanwhile.
    assert_eq!(line(&s), R::err2("socket busy connecting"));
    assert_eq!(send(&s, b"x"), Err("socket busy connecting".into()));
    assert_eq!(close(&s), Err("socket busy connecting".into()));
    assert_eq!(s.reused_times(), Ok(0));
    wait_token(&lp, 9, &mut Vec::new());
    assert_eq!(
        s.take_connect_result().unwrap().unwrap_err().as_str(),
        "timeout"
    );
    assert_eq!(close(&s), Err("closed".into()));
    assert_idle(&lp);
}

#[test]
fn connect_again_closes_the_old_connection() {
    let lp = new_loop();
    let p = Peer::script("send hi\\n;hold");
    let s = aconnected(&lp, &p);
    aconnect(&s, &lp, 2, b"127.0.0.1", Some(p.port())).unwrap();
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert_eq!(arecv(&s, &lp, 3, Pattern::Line), R::data("hi"));
}

#[test]
fn every_pattern() {
    let lp = new_loop();
    let p = Peer::script(
        "chunks 30 li|ne\\r\\n|0123|456789|any|--a|bc|tail--abc|rest\\n;sleep 30;send all of it;close",
    );
    let s = aconnected(&lp, &p);
    assert_eq!(arecv(&s, &lp, 2, Pattern::Line), R::data("line"));
    assert_eq!(arecv(&s, &lp, 3, Pattern::Size(10)), R::data("0123456789"));
    assert_eq!(arecv(&s, &lp, 4, Pattern::Any(100)), R::data("any"));
    let it = iter("--abc", false);
    assert_eq!(
        arecv_req(&s, &lp, 5, ReadRequest::Until(Arc::clone(&it), 0)).0,
        R::data("")
    );
    let it = iter("--abc", true);
    assert_eq!(
        arecv_req(&s, &lp, 6, ReadRequest::Until(Arc::clone(&it), 3)).0,
        R::data("tai")
    );
    assert_eq!(
        arecv_req(&s, &lp, 7, ReadRequest::Until(Arc::clone(&it), 3)).0,
        R::data("l--abc")
    );
    assert_eq!(
        arecv_req(&s, &lp, 8, ReadRequest::Until(Arc::clone(&it), 3)).0,
        R::Done
    );
    assert_eq!(arecv(&s, &lp, 9, Pattern::Line), R::data("rest"));
    assert_eq!(arecv(&s, &lp, 10, Pattern::All), R::data("all of it"));
    assert_eq!(arecv(&s, &lp, 11, Pattern::All), R::data(""));
    assert_eq!(arecv(&s, &lp, 12, Pattern::Size(0)), R::data(""));
    assert_eq!(arecv(&s, &lp, 13, Pattern::Line), R::err("closed", ""));
    assert_eq!(arecv(&s, &lp, 14, Pattern::Line), R::err2("closed"));
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

#[test]
fn partial_data_on_eof() {
    let lp = new_loop();
    let p = Peer::script("sleep 50;send last\\r;close");
    let s = aconnected(&lp, &p);
    assert_eq!(arecv(&s, &lp, 2, Pattern::Line), R::err("closed", "last"));
    let p = Peer::script("sleep 50;send xx--ab;close");
    aconnect(&s, &lp, 3, b"127.0.0.1", Some(p.port())).unwrap();
    let it = iter("--abc", false);
    assert_eq!(
        arecv_req(&s, &lp, 4, ReadRequest::Until(it, 0)).0,
        R::err("closed", "xx")
    );
    let p = Peer::script("sleep 50;send abc;close");
    aconnect(&s, &lp, 5, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(
        arecv(&s, &lp, 6, Pattern::Size(1 << 40)),
        R::err("closed", "abc")
    );
    let p = Peer::script("sleep 50;close");
    aconnect(&s, &lp, 7, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(arecv(&s, &lp, 8, Pattern::Any(10)), R::err("closed", ""));
    // Half-closed row: send still works, close returns 1.
    assert_eq!(asend(&s, &lp, 9, &[b"after eof"]), Ok(9));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn read_timeout_fires_from_the_loop_and_reading_continues() {
    // §6 case 16 through the loop.
    let lp = new_loop();
    let p = Peer::script("send 2\\r\\nhi\\r\\n;sleep 400;send 5\\r\\nworld\\r\\n;hold");
    let s = asock(150);
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(
        arecv(&s, &lp, 2, Pattern::Size(100)),
        R::err("timeout", "2\r\nhi\r\n")
    );
    s.set_timeout(5000).unwrap();
    assert_eq!(arecv(&s, &lp, 3, Pattern::Line), R::data("5"));
    assert_eq!(arecv(&s, &lp, 4, Pattern::Line), R::data("world"));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn repeated_read_timeouts() {
    let lp = new_loop();
    let p = Peer::script("hold");
    let s = asock(100);
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    for t in 2..5 {
        assert_eq!(arecv(&s, &lp, t, Pattern::Line), R::err("timeout", ""));
    }
    let it = iter("x", false);
    assert_eq!(
        arecv_req(&s, &lp, 5, ReadRequest::Until(it, 3)).0,
        R::err("timeout", "")
    );
    assert_eq!(asend(&s, &lp, 6, &[b"usable"]), Ok(6));
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

#[test]
fn inactivity_timeout_rearmed_by_a_dripping_peer() {
    let lp = new_loop();
    let p = Peer::script("drip 50 hello, world\\n;hold");
    let s = asock(200);
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(arecv(&s, &lp, 2, Pattern::Line), R::data("hello, world"));
}

#[test]
fn big_send_waits_for_the_peer() {
    let lp = new_loop();
    let p = Peer::start(&["--quiet", "--rcvbuf", "4096", "sleep 100;drain"]);
    let s = aconnected(&lp, &p);
    s.set_option(SockOption::SndBuf, 4096).unwrap();
    let data = pattern(8 << 20);
    let slices = [IoSlice::new(&data[..3]), IoSlice::new(&data[3..])];
    match s.send_start(&lp, 5, &slices) {
        Start::Done(r) => panic!("8 MB to a sleeping peer finished at once: {r:?}"),
        Start::Pending => {}
    }
    let _ = slices; // the loop copied what the kernel did not take
    // Busy writing while pending; reading is free.
    assert_eq!(send(&s, b"x"), Err("socket busy writing".into()));
    wait_token(&lp, 5, &mut Vec::new());
    assert_eq!(
        s.take_write_result().map(|r| r.ok()),
        Some(Some(data.len()))
    );
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn big_send_content_arrives_intact() {
    let lp = new_loop();
    let p = Peer::script("sleep 100;drain");
    let s = aconnected(&lp, &p);
    let data = pattern(1 << 20);
    let parts: Vec<&[u8]> = data.chunks(1000).collect();
    assert_eq!(asend(&s, &lp, 2, &parts), Ok(data.len()));
    assert_eq!(close(&s), Ok(()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert_eq!(p.received(1), data);
}

#[test]
fn send_timeout_fires_from_the_loop() {
    let lp = new_loop();
    let p = Peer::start(&["--sndbuf", "4096", "noread"]);
    let s = Arc::new(Tcp::new());
    s.set_timeouts(5000, 150, 100).unwrap();
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    s.set_option(SockOption::SndBuf, 4096).unwrap();
    assert_eq!(
        asend(&s, &lp, 2, &[&pattern(16 << 20)]),
        Err("timeout".into())
    );
    assert_eq!(asend(&s, &lp, 3, &[b"blah"]), Err("closed".into()));
    assert_eq!(arecv(&s, &lp, 4, Pattern::Line), R::err("timeout", ""));
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

#[test]
fn reset_and_broken_pipe() {
    let lp = new_loop();
    let p = Peer::script("send abc;sleep 100;reset");
    let s = aconnected(&lp, &p);
    assert_eq!(
        arecv(&s, &lp, 2, Pattern::Size(10)),
        R::err("connection reset by peer", "abc")
    );
    let p = Peer::script("close");
    aconnect(&s, &lp, 3, b"127.0.0.1", Some(p.port())).unwrap();
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    let mut err = None;
    for t in 0..500 {
        match asend(&s, &lp, 10 + t, &[b"x"]) {
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(err.as_deref(), Some("broken pipe"));
    assert_eq!(asend(&s, &lp, 600, &[b"x"]), Err("closed".into()));
}

#[test]
fn busy_reading_between_async_and_blocking() {
    let lp = new_loop();
    let p = Peer::script("expect go;send done\\n;wait_eof");
    let s = aconnected(&lp, &p);
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    assert_eq!(line(&s), R::err2("socket busy reading"));
    assert!(matches!(
        s.receive_start(&lp, 3, ReadRequest::Pattern(Pattern::Any(3))),
        Start::Done(_)
    ));
    assert_eq!(close(&s), Err("socket busy reading".into()));
    // No result yet: nothing to take.
    assert!(s.take_read_result().is_none());
    // Full duplex: the writer is free.
    assert_eq!(asend(&s, &lp, 4, &[b"go"]), Ok(2));
    wait_token(&lp, 2, &mut Vec::new());
    assert_eq!(own(&s, s.take_read_result().unwrap()), R::data("done"));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn buffered_data_is_returned_without_waiting() {
    let lp = new_loop();
    let p = Peer::script("send a\\nb\\nc\\n;hold");
    let s = aconnected(&lp, &p);
    assert_eq!(arecv(&s, &lp, 2, Pattern::Line), R::data("a"));
    // The rest arrived with the first read: fast path, no token.
    match s.receive_start(&lp, 3, ReadRequest::Pattern(Pattern::Line)) {
        Start::Done(o) => assert_eq!(own(&s, o), R::data("b")),
        Start::Pending => panic!("buffered line needed a wait"),
    }
}

#[test]
fn many_sockets_on_one_loop() {
    const N: u64 = 64;
    let lp = new_loop();
    let p = Peer::start(&["--mode", "lineecho"]);
    let socks: Vec<Arc<Tcp>> = (0..N).map(|_| asock(5000)).collect();
    // Connect all, then collect the pending ones.
    let mut pending = HashSet::new();
    for (i, s) in socks.iter().enumerate() {
        match s.connect_start(&lp, i as u64, b"127.0.0.1", Some(p.port()), &opts()) {
            Start::Done(r) => r.unwrap(),
            Start::Pending => {
                pending.insert(i as u64);
            }
        }
    }
    drain(&lp, &mut pending);
    for (i, s) in socks.iter().enumerate() {
        if let Some(r) = s.take_connect_result() {
            r.unwrap();
        }
        assert_eq!(
            send(s, format!("line {i}\n").as_bytes()),
            Ok(6 + i.to_string().len())
        );
    }
    // Receive on all at once.
    let mut results = vec![None; N as usize];
    for (i, s) in socks.iter().enumerate() {
        match s.receive_start(&lp, 1000 + i as u64, ReadRequest::Pattern(Pattern::Line)) {
            Start::Done(o) => results[i] = Some(own(s, o)),
            Start::Pending => {
                pending.insert(1000 + i as u64);
            }
        }
    }
    let end = Instant::now() + FOREVER;
    let mut buf = [0u64; 16];
    while !pending.is_empty() {
        assert!(Instant::now() < end, "tokens never came: {pending:?}");
        let n = lp.wait(&mut buf, Some(Duration::from_secs(1)));
        for &t in &buf[..n] {
            assert!(pending.remove(&t), "unexpected or duplicate token {t}");
            let i = (t - 1000) as usize;
            results[i] = Some(own(&socks[i], socks[i].take_read_result().unwrap()));
        }
    }
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r, Some(R::data(&format!("line {i}"))));
    }
    for s in &socks {
        assert_eq!(close(s), Ok(()));
    }
    assert_idle(&lp);
}

fn drain(lp: &EventLoop, pending: &mut HashSet<u64>) {
    let end = Instant::now() + FOREVER;
    let mut buf = [0u64; 16];
    while !pending.is_empty() {
        assert!(Instant::now() < end, "tokens never came: {pending:?}");
        let n = lp.wait(&mut buf, Some(Duration::from_secs(1)));
        for &t in &buf[..n] {
            assert!(pending.remove(&t), "unexpected or duplicate token {t}");
        }
    }
}

#[test]
fn sleep_tokens() {
    let lp = new_loop();
    lp.sleep(30, Duration::from_millis(30));
    lp.sleep(10, Duration::from_millis(10));
    lp.sleep(20, Duration::from_millis(20));
    lp.sleep(0, Duration::ZERO);
    assert!(lp.next_timeout().is_some());
    let mut order = Vec::new();
    let mut buf = [0u64; 1];
    while order.len() < 4 {
        let n = lp.wait(&mut buf, Some(FOREVER));
        order.extend_from_slice(&buf[..n]);
    }
    assert_eq!(order, [0, 10, 20, 30]);
    assert_idle(&lp);
}

#[test]
fn wait_with_a_timeout_and_nothing_to_do_returns_zero() {
    let lp = new_loop();
    let mut buf = [0u64; 4];
    assert_eq!(lp.wait(&mut buf, Some(Duration::ZERO)), 0);
    assert_eq!(lp.wait(&mut buf, Some(Duration::from_millis(20))), 0);
    // An empty output buffer never blocks.
    lp.sleep(1, Duration::ZERO);
    assert_eq!(lp.wait(&mut [], None), 0);
    assert_eq!(lp.wait(&mut buf, Some(FOREVER)), 1);
}

#[test]
fn post_from_another_thread_wakes_a_waiting_loop() {
    let lp = new_loop();
    let lp2 = Arc::clone(&lp);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        for tok in 100..110 {
            lp2.post_token(tok);
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u64; 4];
    let end = Instant::now() + FOREVER;
    while got.len() < 10 {
        assert!(Instant::now() < end);
        let n = lp.wait(&mut buf, None);
        got.extend_from_slice(&buf[..n]);
    }
    t.join().unwrap();
    got.sort();
    assert_eq!(got, (100..110).collect::<Vec<_>>());
}

#[test]
fn pollable_fd_becomes_readable_when_data_arrives() {
    let lp = new_loop();
    let p = Peer::script("expect go;send reply\\n;wait_eof");
    let s = aconnected(&lp, &p);
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    let mut pfd = libc::pollfd {
        fd: lp.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 0) },
        0,
        "readable before any data"
    );
    assert_eq!(send(&s, b"go"), Ok(2));
    // SAFETY: as above.
    let rc = unsafe { libc::poll(&mut pfd, 1, FOREVER.as_millis() as i32) };
    assert_eq!(rc, 1);
    let mut buf = [0u64; 4];
    let n = lp.wait(&mut buf, Some(Duration::ZERO));
    assert_eq!(&buf[..n], &[2]);
    assert_eq!(own(&s, s.take_read_result().unwrap()), R::data("reply"));
}

#[test]
fn pollable_fd_wakes_for_a_receive_started_before_it_was_handed_out() {
    // The receive's epoll registration is deferred (to the loop's own
    // epoll_wait) while the loop's fd has not been handed out; handing it
    // out makes it, so an external poller sleeping on the fd is woken.
    let lp = new_loop();
    let p = Peer::script("expect go;sleep 30;send reply\\n;wait_eof");
    let s = connected(&p); // blocking connect: not on the loop yet
    let s = Arc::new(s);
    assert_eq!(send(&s, b"go"), Ok(2));
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    let mut pfd = libc::pollfd {
        fd: lp.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // An external loop: poll, then wait(0), until the token comes (the fd
    // may also wake for the socket's writability when it is added).
    let poll_for = |pfd: &mut libc::pollfd, token: u64| {
        let end = Instant::now() + FOREVER;
        let mut buf = [0u64; 4];
        loop {
            assert!(Instant::now() < end, "token {token} never came");
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(pfd, 1, FOREVER.as_millis() as i32) };
            assert_eq!(rc, 1, "the poller slept through the reply");
            let n = lp.wait(&mut buf, Some(Duration::ZERO));
            if n > 0 {
                assert_eq!(&buf[..n], &[token]);
                return;
            }
        }
    };
    poll_for(&mut pfd, 2);
    assert_eq!(own(&s, s.take_read_result().unwrap()), R::data("reply"));
    // Started after: registered at once.
    let q = Peer::script("expect go;sleep 30;send again\\n;wait_eof");
    let t = Arc::new(connected(&q));
    assert_eq!(send(&t, b"go"), Ok(2));
    assert!(matches!(
        t.receive_start(&lp, 3, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    poll_for(&mut pfd, 3);
    assert_eq!(own(&t, t.take_read_result().unwrap()), R::data("again"));
}

#[test]
fn solo_finished_receives_then_pooling_and_concurrent_receives() {
    // Receives the solo path finishes (never registered with the epoll),
    // setkeepalive, reuse from the pool; then two receives pending at once
    // (the loop sleeps in epoll_wait) and an abort of a pending one.
    let lp = new_loop();
    let p = Peer::start(&["--mode", "lineecho"]);
    for i in 0..3u64 {
        let s = asock(5000);
        aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
        assert_eq!(send(&s, b"x\n"), Ok(2));
        assert_eq!(arecv_solo(&s, &lp, 10 + i, Pattern::Line).0, R::data("x"));
        assert_eq!(
            s.set_keepalive(None, None).map_err(|e| e.to_string()),
            Ok(())
        );
    }
    let a = asock(5000);
    let b = asock(5000);
    aconnect(&a, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    aconnect(&b, &lp, 2, b"127.0.0.1", Some(p.port())).unwrap();
    let started = [(&a, 3u64), (&b, 4u64)]
        .map(|(s, tok)| s.receive_start(&lp, tok, ReadRequest::Pattern(Pattern::Line)));
    assert!(started.iter().all(|r| matches!(r, Start::Pending)));
    assert_eq!(send(&a, b"a\n"), Ok(2));
    assert_eq!(send(&b, b"b\n"), Ok(2));
    let mut got = Vec::new();
    wait_token(&lp, 3, &mut got);
    wait_token(&lp, 4, &mut got);
    assert_eq!(own(&a, a.take_read_result().unwrap()), R::data("a"));
    assert_eq!(own(&b, b.take_read_result().unwrap()), R::data("b"));
    assert!(matches!(
        a.receive_start(&lp, 5, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    a.abort();
    assert_eq!(s_set_keepalive(&b), Ok(()));
    let mut buf = [0u64; 4];
    assert_eq!(lp.wait(&mut buf, Some(Duration::from_millis(50))), 0);
    assert_idle(&lp);
}

fn s_set_keepalive(s: &Tcp) -> Result<(), String> {
    s.set_keepalive(None, None).map_err(|e| e.to_string())
}

#[test]
fn abort_cancels_a_pending_receive() {
    let lp = new_loop();
    let p = Peer::script("hold");
    let s = aconnected(&lp, &p);
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    s.abort();
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    let mut buf = [0u64; 4];
    assert_eq!(lp.wait(&mut buf, Some(Duration::from_millis(50))), 0);
    assert!(s.take_read_result().is_none());
    assert_eq!(line(&s), R::err2("closed"));
    // The object can connect again.
    aconnect(&s, &lp, 3, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn abort_cancels_a_pending_connect() {
    let lp = new_loop();
    let p = Peer::start(&["--mode", "blackhole"]);
    let s = asock(5000);
    assert!(matches!(
        s.connect_start(&lp, 1, b"127.0.0.1", Some(p.port()), &opts()),
        Start::Pending
    ));
    s.abort();
    assert!(s.take_connect_result().is_none());
    assert_eq!(close(&s), Err("closed".into()));
    let good = Peer::script("send ok\\n;hold");
    aconnect(&s, &lp, 2, b"127.0.0.1", Some(good.port())).unwrap();
    assert_eq!(arecv(&s, &lp, 3, Pattern::Line), R::data("ok"));
}

#[test]
fn timers_of_finished_operations_do_not_pile_up() {
    // 200 quick receives, each armed with a 60 s timer: once they are done
    // the loop must not keep (or wake for) their timers.
    let lp = new_loop();
    let p = Peer::start(&["--mode", "lineecho"]);
    let s = aconnected(&lp, &p);
    for i in 0..200u64 {
        assert_eq!(send(&s, b"x\n"), Ok(2));
        assert_eq!(arecv(&s, &lp, 10 + i, Pattern::Line), R::data("x"));
    }
    assert_idle(&lp);
}

#[test]
fn a_socket_can_move_to_another_loop() {
    let a = new_loop();
    let b = new_loop();
    let p = Peer::start(&["--mode", "lineecho"]);
    let s = aconnected(&a, &p);
    assert_eq!(send(&s, b"one\n"), Ok(4));
    assert_eq!(arecv(&s, &a, 2, Pattern::Line), R::data("one"));
    assert_eq!(send(&s, b"two\n"), Ok(4));
    assert_eq!(arecv(&s, &b, 3, Pattern::Line), R::data("two"));
    assert_eq!(close(&s), Ok(()));
}

/// §1.1: while the name is being resolved there is no connection yet:
/// receive/send/close/getreusedtimes/setkeepalive say "closed" and a second
/// connect says "socket busy connecting" (t/128 TEST 6).
#[test]
fn resolving_phase() {
    let lp = new_loop();
    let p = Peer::script("send resolved\\n;hold");
    let s = asock(5000);
    // The resolution result is only applied during wait(): until then the
    // socket is deterministically in the resolving phase.
    assert!(matches!(
        s.connect_start(&lp, 1, b"localhost", Some(p.port()), &opts()),
        Start::Pending
    ));
    assert_eq!(line(&s), R::err2("closed"));
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    assert_eq!(close(&s), Err("closed".into()));
    assert_eq!(
        s.reused_times().map_err(|e| e.to_string()),
        Err("closed".into())
    );
    assert_eq!(
        s.set_keepalive(None, None).map_err(|e| e.to_string()),
        Err("closed".into())
    );
    assert_eq!(
        s.connect(b"127.0.0.1", Some(p.port()), &opts())
            .map_err(|e| e.to_string()),
        Err("socket busy connecting".into())
    );
    wait_token(&lp, 1, &mut Vec::new());
    assert!(s.take_connect_result().unwrap().is_ok());
    assert_eq!(arecv(&s, &lp, 2, Pattern::Line), R::data("resolved"));
}

/// A connect cancelled (abort: a killed Lua thread) while its name was still
/// resolving must not hand that late resolution to the next connect of the
/// same socket.
#[test]
fn late_resolution_goes_to_the_right_connect() {
    let b = Peer::script("send B\\n;hold");
    let lp = new_loop();
    let s = asock(5000);
    for i in 0..20u64 {
        assert!(matches!(
            s.connect_start(&lp, 1000 + i, b"no-such-host.invalid", Some(80), &opts()),
            Start::Pending
        ));
        s.abort();
        let r = aconnect(&s, &lp, 2000 + i, b"localhost", Some(b.port()));
        assert_eq!(
            r,
            Ok(()),
            "round {i}: the first connect's resolution leaked into the second"
        );
        assert_eq!(
            arecv(&s, &lp, 3000 + i, Pattern::Line),
            R::data("B"),
            "round {i}"
        );
        assert_eq!(close(&s), Ok(()));
    }
}

/// The loop's send timer is re-armed by progress too (see tcp_send.rs).
#[test]
fn send_timeout_rearmed_by_progress() {
    let script = ["sleep 100;recv 20000"; 10].join(";") + ";drain";
    let p = Peer::start(&["--quiet", "--rcvbuf", "4096", &script]);
    let lp = new_loop();
    let s = Arc::new(Tcp::new());
    s.set_timeouts(5000, 300, 5000).unwrap();
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    s.set_option(SockOption::SndBuf, 4096).unwrap();
    assert_eq!(asend(&s, &lp, 2, &[&pattern(200_000)]), Ok(200_000));
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

/// Starts a receive and, when it is pending, finishes it with `wait(None)`
/// (no timeout): the loop's solo path, which waits in a blocking recv when
/// that receive is all it has to do.
fn arecv_solo(s: &Arc<Tcp>, lp: &Arc<EventLoop>, token: u64, p: Pattern) -> (R, bool) {
    match s.receive_start(lp, token, ReadRequest::Pattern(p)) {
        Start::Done(o) => (own(s, o), false),
        Start::Pending => {
            let mut buf = [0u64; 4];
            let n = lp.wait(&mut buf, None);
            assert_eq!(&buf[..n], &[token]);
            (own(s, s.take_read_result().expect("result")), true)
        }
    }
}

#[test]
fn solo_wait_keeps_receive_semantics() {
    let lp = new_loop();
    // A dripping peer re-arms the inactivity timeout; then a pause longer
    // than the timeout gives "timeout" with the partial data; the socket
    // stays usable.
    let p = Peer::script("drip 30 hello\\n;send par;sleep 400;send t\\n;hold");
    let s = asock(200);
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(p.port())).unwrap();
    assert_eq!(
        arecv_solo(&s, &lp, 2, Pattern::Line),
        (R::data("hello"), true)
    );
    let (r, _) = arecv_solo(&s, &lp, 3, Pattern::Line);
    assert_eq!(r, R::err("timeout", "par"));
    s.set_timeout(5000).unwrap();
    assert_eq!(arecv_solo(&s, &lp, 4, Pattern::Line).0, R::data("t"));
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);

    // EOF while waiting: "closed" with the partial, read half closed.
    let p = Peer::script("send tail;sleep 50;close");
    let s = aconnected(&lp, &p);
    assert_eq!(
        arecv_solo(&s, &lp, 5, Pattern::Line).0,
        R::err("closed", "tail")
    );
    assert_eq!(arecv_solo(&s, &lp, 6, Pattern::Line).0, R::err2("closed"));
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

#[test]
fn solo_wait_is_not_used_while_a_sleep_is_due() {
    // A sleep due before the reply must come out first: the loop may not
    // block in the receive's recv while another timer is armed.
    let lp = new_loop();
    let p = Peer::script("sleep 300;send late\\n;hold");
    let s = aconnected(&lp, &p);
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    lp.sleep(9, Duration::from_millis(20));
    let mut buf = [0u64; 4];
    let n = lp.wait(&mut buf, None);
    assert_eq!(&buf[..n], &[9], "the sleep finishes first");
    let n = lp.wait(&mut buf, None);
    assert_eq!(&buf[..n], &[2]);
    assert_eq!(own(&s, s.take_read_result().unwrap()), R::data("late"));
}

/// Waits with a finite timeout until `token` comes out; returns how many
/// waits returned 0 (timed out with the receive still pending) before.
fn wait_for(lp: &EventLoop, token: u64, each: Duration) -> usize {
    let end = Instant::now() + FOREVER;
    let mut empty = 0;
    let mut buf = [0u64; 4];
    loop {
        assert!(Instant::now() < end, "token {token} never came");
        let t0 = Instant::now();
        match lp.wait(&mut buf, Some(each)) {
            0 => {
                assert!(t0.elapsed() >= each, "a wait timed out early");
                empty += 1;
            }
            n => {
                assert_eq!(&buf[..n], &[token]);
                return empty;
            }
        }
    }
}

#[test]
fn solo_finite_wait_times_out_with_the_receive_still_pending() {
    // One receive is all the loop waits for, and the wait has a timeout:
    // the solo path waits in recv bounded by it, returns 0 when only the
    // wait's timeout passed (the receive stays pending and completes later).
    let lp = new_loop();
    let p = Peer::script("expect go\\n;sleep 300;send late\\n;hold");
    let s = aconnected(&lp, &p);
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    assert_eq!(send(&s, b"go\n"), Ok(3));
    let mut buf = [0u64; 4];
    let t0 = Instant::now();
    assert_eq!(lp.wait(&mut buf, Some(Duration::from_millis(60))), 0);
    assert!(t0.elapsed() >= Duration::from_millis(60));
    assert!(
        s.take_read_result().is_none(),
        "the receive is still pending"
    );
    assert_eq!(lp.pending(), 1);
    assert!(wait_for(&lp, 2, Duration::from_millis(40)) > 0);
    assert_eq!(own(&s, s.take_read_result().unwrap()), R::data("late"));
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

#[test]
fn solo_finite_wait_longer_than_the_read_timeout_gives_timeout() {
    // The operation's own deadline comes before the wait's: "timeout", never
    // before the deadline; the socket stays usable.
    let lp = new_loop();
    let p = Peer::script("expect go\\n;sleep 600;send later\\n;hold");
    let s = aconnected(&lp, &p);
    s.set_timeout(150).unwrap();
    assert_eq!(send(&s, b"go\n"), Ok(3));
    let t0 = Instant::now();
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    assert_eq!(wait_for(&lp, 2, FOREVER), 0);
    assert!(
        t0.elapsed() >= Duration::from_millis(150),
        "timed out early"
    );
    assert_eq!(
        own(&s, s.take_read_result().unwrap()),
        R::err("timeout", "")
    );
    s.set_timeout(5000).unwrap();
    assert_eq!(arecv_solo(&s, &lp, 3, Pattern::Line).0, R::data("later"));
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

#[test]
fn solo_finite_waits_keep_partial_data_across_waits() {
    // Bytes dripping in over many short waits: each wait returns 0 or the
    // token, the line is assembled across them, progress re-arms the
    // inactivity timeout (shorter than the whole exchange).
    let lp = new_loop();
    let p = Peer::script("drip 25 hello world\\n;hold");
    let s = aconnected(&lp, &p);
    s.set_timeout(200).unwrap();
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    wait_for(&lp, 2, Duration::from_millis(10));
    assert_eq!(
        own(&s, s.take_read_result().unwrap()),
        R::data("hello world")
    );
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

#[test]
fn solo_wait_with_a_later_sleep_returns_the_receive() {
    // A sleep armed but due later than the reply does not stop the solo
    // wait; it still comes out at its time.
    let lp = new_loop();
    let p = Peer::script("sleep 50;send soon\\n;hold");
    let s = aconnected(&lp, &p);
    assert!(matches!(
        s.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
        Start::Pending
    ));
    let t0 = Instant::now();
    lp.sleep(9, Duration::from_millis(400));
    let mut buf = [0u64; 4];
    let n = lp.wait(&mut buf, None);
    assert_eq!(&buf[..n], &[2]);
    assert_eq!(own(&s, s.take_read_result().unwrap()), R::data("soon"));
    let n = lp.wait(&mut buf, Some(FOREVER));
    assert_eq!(&buf[..n], &[9]);
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "the sleep fired early"
    );
    assert_eq!(close(&s), Ok(()));
    assert_idle(&lp);
}

/// Edge-triggered epoll reports a FIN once, often in the same event as the
/// data before it. A receive that takes only the data (a short read) must
/// not then skip its next recv as if the socket were drained: the FIN is
/// still there with no edge left to announce it, and the receive would wait
/// for its whole timeout ("timeout") instead of returning "closed" at once.
/// Another socket's pending receive keeps the loop on its epoll path (no
/// solo recv). Repeated, since the FIN must reach the socket before the
/// loop collects the data's event (the peer closes right after sending).
#[test]
fn a_fin_that_came_with_the_data_is_not_lost_to_a_skipped_recv() {
    for _ in 0..5 {
        let lp = new_loop();
        let mut idle = Peer::script("noread");
        let other = asock(30_000);
        aconnect(&other, &lp, 1, b"127.0.0.1", Some(idle.port())).unwrap();
        assert!(matches!(
            other.receive_start(&lp, 2, ReadRequest::Pattern(Pattern::Line)),
            Start::Pending
        ));
        let mut p = Peer::script("sleep 100;send abc\\ndef;close");
        let s = asock(20_000);
        aconnect(&s, &lp, 3, b"127.0.0.1", Some(p.port())).unwrap();
        let mut others = Vec::new();
        let t0 = Instant::now();
        match s.receive_start(&lp, 4, ReadRequest::Pattern(Pattern::Line)) {
            Start::Done(o) => assert_eq!(own(&s, o), R::data("abc")),
            Start::Pending => {
                wait_token(&lp, 4, &mut others);
                assert_eq!(own(&s, s.take_read_result().unwrap()), R::data("abc"));
            }
        }
        match s.receive_start(&lp, 5, ReadRequest::Pattern(Pattern::Line)) {
            Start::Done(o) => assert_eq!(own(&s, o), R::err("closed", "def")),
            Start::Pending => {
                wait_token(&lp, 5, &mut others);
                assert_eq!(
                    own(&s, s.take_read_result().unwrap()),
                    R::err("closed", "def")
                );
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the FIN waited for the read timeout"
        );
        other.abort();
        p.close_stdin();
        idle.close_stdin();
    }
}

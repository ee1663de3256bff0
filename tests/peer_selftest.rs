//! Self-test of the scripted test peer (`cosocket-peer`) and its helper.

mod common;

use common::peer::{PEER_BIN, Peer, TIMEOUT, pattern, temp_sock_path};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn connect(p: &Peer) -> TcpStream {
    let s = TcpStream::connect(p.addr()).expect("connect to peer");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

fn read_n(s: &mut impl Read, n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    s.read_exact(&mut b).expect("read_exact from peer");
    b
}

fn read_all(s: &mut impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).expect("read to eof");
    v
}

#[test]
fn send_expect_line_recv_close() {
    let p = Peer::script("send hello\\r\\n;expect PING;line;recv 3;send ok;close");
    let mut s = connect(&p);
    assert_eq!(read_n(&mut s, 7), b"hello\r\n");
    s.write_all(b"PING").unwrap();
    s.write_all(b"a line\n").unwrap();
    s.write_all(b"xyz").unwrap();
    assert_eq!(read_all(&mut s), b"ok");
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert_eq!(p.received(1), b"PINGa line\nxyz");
    let ev = p.events();
    assert_eq!(ev.first().map(String::as_str), Some("accept 1"));
    assert!(p.errors(1).is_empty(), "{}", p.log());
}

#[test]
fn line_does_not_read_past_lf() {
    // Both lines arrive in one segment; `line` must stop at the first LF so
    // that `expect` sees the second one.
    let p = Peer::script("line;expect two\\n;send done");
    let mut s = connect(&p);
    s.write_all(b"one\ntwo\n").unwrap();
    assert_eq!(read_all(&mut s), b"done");
    assert!(p.wait_closed(1, TIMEOUT));
    assert!(p.errors(1).is_empty(), "{}", p.log());
}

#[test]
fn escapes_in_script_and_events() {
    let p = Peer::script("send a\\;b\\x41\\0\\\\|\\t;recv 5");
    let mut s = connect(&p);
    assert_eq!(read_n(&mut s, 8), b"a;bA\0\\|\t");
    s.write_all(b"\0\xff \r\n").unwrap();
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert_eq!(p.received(1), b"\0\xff \r\n");
    assert!(
        p.events().iter().any(|l| l == "recv 1 \\0\\xff \\r\\n"),
        "{}",
        p.log()
    );
}

#[test]
fn expect_mismatch_reports_and_closes() {
    let p = Peer::script("expect HELLO;send never");
    let mut s = connect(&p);
    s.write_all(b"HELLX").unwrap();
    assert_eq!(read_all(&mut s), b"");
    assert!(p.wait_closed(1, TIMEOUT));
    let errs = p.errors(1);
    assert_eq!(errs.len(), 1, "{}", p.log());
    assert!(errs[0].starts_with("expect:"), "{}", errs[0]);
}

#[test]
fn recv_early_eof_is_an_error() {
    let p = Peer::script("recv 10");
    let mut s = connect(&p);
    s.write_all(b"abc").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert!(p.wait_closed(1, TIMEOUT));
    assert!(p.events().iter().any(|l| l == "eof 1"), "{}", p.log());
    assert_eq!(p.errors(1), ["recv: eof after 3 of 10 bytes"]);
}

#[test]
fn sleep_drip_chunks_timing() {
    let p = Peer::script("sleep 100;send a;drip 40 bcd;chunks 40 ef|g\\|h|i");
    let t0 = Instant::now();
    let mut s = connect(&p);
    let mut first = [0u8; 1];
    s.read_exact(&mut first).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(100));
    // drip: one byte per write, 40 ms apart (the first "ef" chunk follows
    // the last drip byte at once, so read exactly 3 bytes).
    let t1 = Instant::now();
    assert_eq!(read_n(&mut s, 3), b"bcd");
    assert!(t1.elapsed() >= Duration::from_millis(80));
    let t2 = Instant::now();
    assert_eq!(read_all(&mut s), b"efg|hi");
    assert!(t2.elapsed() >= Duration::from_millis(80));
    assert_eq!(first, *b"a");
}

#[test]
fn big_sends_pattern() {
    let n = 1_000_003;
    let p = Peer::script(&format!("big {n}"));
    let mut s = connect(&p);
    let data = read_all(&mut s);
    assert_eq!(data.len(), n);
    assert!(data == pattern(n), "pattern mismatch");
}

#[test]
fn shutdown_keeps_reading() {
    let p = Peer::script("send bye;shutdown;expect more");
    let mut s = connect(&p);
    assert_eq!(read_all(&mut s), b"bye");
    s.write_all(b"more").unwrap();
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert_eq!(p.received(1), b"more");
    assert!(p.errors(1).is_empty(), "{}", p.log());
}

#[test]
fn reset_sends_rst() {
    let p = Peer::script("send x;reset");
    let mut s = connect(&p);
    assert!(p.wait_closed(1, TIMEOUT));
    let mut buf = [0u8; 16];
    // "x" may or may not be delivered before the RST; the RST must show.
    let mut res = s.read(&mut buf);
    if let Ok(1) = res {
        res = s.read(&mut buf);
    }
    match res {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
}

#[test]
fn hold_and_drain_wait_for_client_close() {
    for step in ["hold", "drain"] {
        let p = Peer::script(&format!("send hi;{step};send after"));
        let mut s = connect(&p);
        assert_eq!(read_n(&mut s, 2), b"hi");
        s.set_read_timeout(Some(Duration::from_millis(150)))
            .unwrap();
        let mut b = [0u8; 8];
        let r = s.read(&mut b);
        assert!(
            matches!(&r, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "{step}: connection should stay open and quiet, got {r:?}"
        );
        s.write_all(b"junk").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        assert_eq!(read_all(&mut s), b"after");
        assert!(p.wait_closed(1, TIMEOUT));
        assert_eq!(p.received(1), b"junk");
        assert!(p.events().iter().any(|l| l == "eof 1"));
    }
}

#[test]
fn wait_eof_flags_unexpected_data() {
    let p = Peer::script("wait_eof");
    let s = connect(&p);
    s.shutdown(Shutdown::Write).unwrap();
    assert!(p.wait_closed(1, TIMEOUT));
    assert!(p.errors(1).is_empty(), "{}", p.log());

    let mut s2 = connect(&p);
    s2.write_all(b"zz").unwrap();
    s2.shutdown(Shutdown::Write).unwrap();
    assert!(p.wait_closed(2, TIMEOUT));
    assert_eq!(p.errors(2), ["wait_eof: unexpected 2 bytes before eof"]);
    drop(s);
}

#[test]
fn echo_mode_and_step() {
    for args in [&["--mode", "echo"][..], &["send >;echo"][..]] {
        let p = Peer::start(args);
        let mut s = connect(&p);
        let prefix = if args.len() == 1 { 1 } else { 0 };
        s.write_all(b"abc").unwrap();
        assert_eq!(read_n(&mut s, 3 + prefix)[prefix..], *b"abc");
        s.write_all(b"\0\x01").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_all(&mut s), b"\0\x01");
        assert!(p.wait_closed(1, TIMEOUT));
        assert_eq!(p.received(1), b"abc\0\x01");
    }
}

#[test]
fn lineecho_mode() {
    let p = Peer::start(&["--mode", "lineecho", "--quiet"]);
    let mut s = connect(&p);
    s.write_all(b"one\ntw").unwrap();
    assert_eq!(read_n(&mut s, 4), b"one\n");
    s.write_all(b"o\nthree\npart").unwrap();
    assert_eq!(read_n(&mut s, 10), b"two\nthree\n");
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(&mut s), b"part");
    assert!(p.wait_closed(1, TIMEOUT));
    // --quiet: no recv lines, but the other events are there.
    assert!(p.received(1).is_empty());
    assert!(p.events().iter().any(|l| l == "eof 1"));
}

#[test]
fn noread_blocks_the_writer() {
    let p = Peer::script("noread");
    let mut s = connect(&p);
    s.set_nonblocking(true).unwrap();
    let chunk = vec![b'q'; 65536];
    let mut total = 0usize;
    let deadline = Instant::now() + TIMEOUT;
    let mut stalled = 0;
    // Write until the socket stays full for a while.
    while stalled < 20 {
        assert!(Instant::now() < deadline, "writes never blocked");
        match s.write(&chunk) {
            Ok(n) => {
                total += n;
                stalled = 0;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                stalled += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("write: {e}"),
        }
        assert!(total < 64 << 20, "wrote {total} bytes without blocking");
    }
    assert!(p.received(1).is_empty());
    assert!(!p.events().iter().any(|l| l == "closed 1"));
}

#[test]
fn refuse_mode_refuses() {
    let p = Peer::start(&["--mode", "refuse"]);
    let err = TcpStream::connect(p.addr()).expect_err("connect must fail");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn refuse_mode_unix() {
    let path = temp_sock_path("refuse");
    let p = Peer::start(&["--mode", "refuse", "--unix", path.to_str().unwrap()]);
    let err = UnixStream::connect(p.unix_path()).expect_err("connect must fail");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn blackhole_mode_connect_times_out() {
    let p = Peer::start(&["--mode", "blackhole"]);
    let t0 = Instant::now();
    let r = TcpStream::connect_timeout(&p.socket_addr(), Duration::from_millis(300));
    let err = r.expect_err("connect must hang");
    assert!(
        matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
        "{err}"
    );
    assert!(t0.elapsed() >= Duration::from_millis(250));
    assert!(p.events().is_empty(), "{}", p.log());
}

#[test]
fn unix_mode() {
    let path = temp_sock_path("script");
    let p = Peer::start(&["--unix", path.to_str().unwrap(), "send hi;line;send bye"]);
    assert_eq!(p.unix_path(), path);
    let mut s = UnixStream::connect(p.unix_path()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(read_n(&mut s, 2), b"hi");
    s.write_all(b"yo\n").unwrap();
    assert_eq!(read_all(&mut s), b"bye");
    assert!(p.wait_closed(1, TIMEOUT));
    assert_eq!(p.received(1), b"yo\n");
}

#[test]
fn ipv6_listen() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback; skipped");
        return;
    }
    let p = Peer::start(&["--listen", "[::1]:0", "send v6"]);
    assert!(p.addr().starts_with("[::1]:"));
    let mut s = connect(&p);
    assert_eq!(read_all(&mut s), b"v6");
}

#[test]
fn conns_limit_exits() {
    let mut p = Peer::start(&["--conns", "2", "send x"]);
    for _ in 0..2 {
        let mut s = connect(&p);
        assert_eq!(read_all(&mut s), b"x");
    }
    let st = p
        .wait_exit(TIMEOUT)
        .expect("peer should exit after 2 conns");
    assert!(st.success());
    assert!(p.wait_closed(2, TIMEOUT));
}

#[test]
fn stdin_eof_exits() {
    let mut p = Peer::script("hold");
    let _s = connect(&p);
    assert!(p.wait_accept(1, TIMEOUT));
    p.close_stdin();
    let st = p.wait_exit(TIMEOUT).expect("peer should exit on stdin EOF");
    assert!(st.success());
}

#[test]
fn bad_script_is_usage_error() {
    for script in ["bogus 1", "recv x", "send \\q", "sleep"] {
        let st = Command::new(PEER_BIN)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(2), "{script:?}");
    }
}

#[test]
fn client_reset_does_not_hurt_the_peer() {
    let p = Peer::script("big 10000000;line");
    {
        let s = connect(&p);
        let mut b = [0u8; 10];
        (&s).read_exact(&mut b).unwrap();
        // Close with unread data: the kernel sends RST.
    }
    assert!(p.wait_closed(1, TIMEOUT));
    assert!(p.events().iter().any(|l| l == "reset 1"), "{}", p.log());
    // Still serving.
    let mut s = connect(&p);
    s.write_all(b"ok\n").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut b = [0u8; 10];
    let _ = s.read(&mut b);
    assert!(p.wait_accept(2, TIMEOUT));
}

#[test]
fn null_stdin_does_not_exit() {
    use std::io::BufRead;
    let mut child = Command::new(PEER_BIN)
        .arg("send hi")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("still serving");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(read_all(&mut s), b"hi");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn parent_exit_when_parent_dies() {
    use std::io::BufRead;
    // sh runs the peer in the background (giving it our stdin pipe, not the
    // /dev/null a non-interactive shell would) and waits.  Once the peer has
    // printed its port (so it has recorded its parent), kill sh: the
    // orphaned peer must exit.  We hold the stdin pipe open, so only
    // --parent-exit can stop it now; if the test fails, our exit closes the
    // pipe and stdin-exit stops it.
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 3<&0; '{PEER_BIN}' --parent-exit hold <&3 3<&- & wait"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = sh.stdin.take();
    let mut out = std::io::BufReader::new(sh.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("port "), "{first:?}");
    sh.kill().unwrap();
    sh.wait().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
        let _ = tx.send(rest);
    });
    // stdout EOF means the peer exited.
    rx.recv_timeout(TIMEOUT)
        .expect("orphaned peer did not exit");
}

//! receive / receiveany / receiveuntil over real sockets: every pattern,
//! partial data on EOF and on timeout, reading on after a timeout, the
//! inactivity timeout, half-close rows (reference §2.5–2.7, §3, §5, §6).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peer::{Peer, TIMEOUT, pattern};
use common::tcp::*;
use cosocket::receive::Pattern;
use cosocket::tcp::Tcp;

const HTTP: &str = "send HTTP/1.1 200 OK\\r\\nServer: nginx\\r\\nContent-Type: text/plain\\r\\nContent-Length: 4\\r\\nConnection: close\\r\\n\\r\\nfoo\\n;close";
const HTTP_BYTES: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfoo\n";

#[test]
fn lines_to_eof() {
    // §6 case 1.
    let p = Peer::script(HTTP);
    let s = connected(&p);
    for want in [
        "HTTP/1.1 200 OK",
        "Server: nginx",
        "Content-Type: text/plain",
        "Content-Length: 4",
        "Connection: close",
        "",
        "foo",
    ] {
        assert_eq!(line(&s), R::data(want));
    }
    assert_eq!(line(&s), R::err("closed", ""));
    // Read half closed: two values now, and send/close still work.
    assert_eq!(line(&s), R::err2("closed"));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn line_drops_every_cr_also_in_the_partial() {
    let p = Peer::script("send foo\\rbar\\n\\rqux\\nbaz\\r\\n\\n\\r\\nlast\\r;close");
    let s = connected(&p);
    for want in ["foobar", "qux", "baz", "", ""] {
        assert_eq!(line(&s), R::data(want));
    }
    assert_eq!(line(&s), R::err("closed", "last"));
}

#[test]
fn last_line_without_lf() {
    // §6 case 2.
    let p = Peer::script("send foo;close");
    let s = connected(&p);
    assert_eq!(line(&s), R::err("closed", "foo"));
}

#[test]
fn all_reads_to_eof_and_then_returns_empty() {
    // §6 case 3, §5.3.
    let p = Peer::script(HTTP);
    let s = connected(&p);
    assert_eq!(recv(&s, Pattern::All), R::Data(HTTP_BYTES.to_vec()));
    assert_eq!(recv(&s, Pattern::All), R::data(""));
    // A non-*a read at EOF fails with closed and closes the read half...
    assert_eq!(line(&s), R::err("closed", ""));
    // ... after which *a says closed too.
    assert_eq!(recv(&s, Pattern::All), R::err2("closed"));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn line_then_all() {
    // §6 case 4.
    let p = Peer::script(HTTP);
    let s = connected(&p);
    assert_eq!(line(&s), R::data("HTTP/1.1 200 OK"));
    assert_eq!(recv(&s, Pattern::All), R::Data(HTTP_BYTES[17..].to_vec()));
}

#[test]
fn fixed_sizes() {
    // §6 case 5: 102 bytes read as 10-byte chunks.
    let p = Peer::script(HTTP);
    let s = connected(&p);
    let mut got = Vec::new();
    loop {
        match recv(&s, Pattern::Size(10)) {
            R::Data(d) => {
                assert_eq!(d.len(), 10);
                got.extend(d);
            }
            R::Err(e, Some(partial)) => {
                assert_eq!(e, "closed");
                assert_eq!(partial, b"o\n");
                got.extend(partial);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, HTTP_BYTES);
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn size_zero_returns_empty_without_io() {
    // §6 case 6: no data ever arrives, yet receive(0) returns at once.
    let p = Peer::script("expect x;send y\\n;wait_eof");
    let s = connected(&p);
    assert_eq!(recv(&s, Pattern::Size(0)), R::data(""));
    assert_eq!(send(&s, b"x"), Ok(1));
    assert_eq!(line(&s), R::data("y"));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn huge_size_returns_the_partial_on_eof() {
    let p = Peer::script("send abc;close");
    let s = connected(&p);
    assert_eq!(recv(&s, Pattern::Size(1 << 40)), R::err("closed", "abc"));
}

#[test]
fn receive_on_a_never_connected_socket() {
    let s = Tcp::new();
    for pat in [
        Pattern::Line,
        Pattern::All,
        Pattern::Size(0),
        Pattern::Size(3),
        Pattern::Any(1),
    ] {
        assert_eq!(recv(&s, pat), R::err2("closed"), "{pat:?}");
    }
    assert_eq!(until(&s, &iter("x", false), 0), R::err2("closed"));
}

#[test]
fn read_timeouts_are_not_fatal() {
    // §6 case 15.
    let p = Peer::script("expect ping;send pong\\n;wait_eof");
    let s = sock_with_timeout(100);
    connect(&s, &p);
    assert_eq!(line(&s), R::err("timeout", ""));
    assert_eq!(line(&s), R::err("timeout", ""));
    assert_eq!(send(&s, b"ping"), Ok(4));
    s.set_timeout(5000).unwrap();
    assert_eq!(line(&s), R::data("pong"));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn timeout_consumes_the_partial_and_reading_continues() {
    // §6 case 16.
    let p = Peer::script("send 2\\r\\nhi\\r\\n;sleep 400;send 5\\r\\nworld\\r\\n;hold");
    let s = sock_with_timeout(150);
    connect(&s, &p);
    assert_eq!(
        recv(&s, Pattern::Size(100)),
        R::err("timeout", "2\r\nhi\r\n")
    );
    s.set_timeout(5000).unwrap();
    assert_eq!(line(&s), R::data("5"));
    assert_eq!(line(&s), R::data("world"));
}

#[test]
fn receiveuntil_after_a_timeout() {
    // §6 case 17.
    let p = Peer::script("send 2\\r\\nhi\\r\\n;sleep 400;send 5\\r\\nworld\\r\\n;hold");
    let s = sock_with_timeout(150);
    connect(&s, &p);
    assert_eq!(
        until(&s, &iter("no-such-terminator", false), 0),
        R::err("timeout", "2\r\nhi\r\n")
    );
    s.set_timeout(5000).unwrap();
    let crlf = iter("\r\n", false);
    assert_eq!(until(&s, &crlf, 0), R::data("5"));
    assert_eq!(until(&s, &crlf, 0), R::data("world"));
}

#[test]
fn line_timeout_partial_is_cr_stripped() {
    let p = Peer::script("send ab\\rc;hold");
    let s = sock_with_timeout(100);
    connect(&s, &p);
    assert_eq!(line(&s), R::err("timeout", "abc"));
}

#[test]
fn inactivity_timeout_is_rearmed_by_a_dripping_peer() {
    // §0.1 finding 1: data every 50 ms never trips a 200 ms read timeout.
    let p = Peer::script("drip 50 hello, world\\n;hold");
    let s = Arc::new(sock_with_timeout(200));
    connect(&s, &p);
    let s2 = Arc::clone(&s);
    assert_eq!(bounded(FOREVER, move || line(&s2)), R::data("hello, world"));
    let s2 = Arc::clone(&s);
    let p2 = Peer::script("drip 50 0123456789;hold");
    connect(&s, &p2);
    assert_eq!(
        bounded(FOREVER, move || recv(&s2, Pattern::Size(10))),
        R::data("0123456789")
    );
}

#[test]
fn read_half_closed_row() {
    // State table: after EOF receive says closed (2 values), send works,
    // close returns 1, setkeepalive says closed.
    let p = Peer::script("send x\\n;shutdown;recv 4;wait_eof");
    let s = connected(&p);
    assert_eq!(line(&s), R::data("x"));
    assert_eq!(line(&s), R::err("closed", ""));
    assert_eq!(recv(&s, Pattern::Any(10)), R::err2("closed"));
    assert_eq!(until(&s, &iter("x", false), 0), R::err2("closed"));
    assert_eq!(s.reused_times(), Ok(0));
    assert_eq!(send(&s, b"abcd"), Ok(4));
    assert!(p.wait_received(1, b"abcd", TIMEOUT), "{}", p.log());
    assert_eq!(s.set_keepalive(None, None).unwrap_err().as_str(), "closed");
    assert_eq!(close(&s), Ok(()));
    assert_eq!(close(&s), Err("closed".into()));
    assert!(p.wait_closed(1, TIMEOUT), "{}", p.log());
    assert!(p.errors(1).is_empty(), "{}", p.log());
}

#[test]
fn connection_reset_on_receive_keeps_the_partial() {
    let p = Peer::script("send abc;sleep 100;reset");
    let s = connected(&p);
    assert_eq!(
        recv(&s, Pattern::Size(10)),
        R::err("connection reset by peer", "abc")
    );
    assert_eq!(line(&s), R::err2("closed"));
}

// ------------------------------------------------------------- receiveany

#[test]
fn receiveany_returns_each_piece() {
    // §6 case 20.
    let p = Peer::script("chunks 200 1|22|hello world;close");
    let s = connected(&p);
    assert_eq!(recv(&s, Pattern::Any(1024)), R::data("1"));
    assert_eq!(recv(&s, Pattern::Any(1024)), R::data("22"));
    assert_eq!(recv(&s, Pattern::Any(1024)), R::data("hello world"));
    assert_eq!(recv(&s, Pattern::Any(1024)), R::err("closed", ""));
    assert_eq!(recv(&s, Pattern::Any(1024)), R::err2("closed"));
}

#[test]
fn receiveany_max_smaller_than_data() {
    // §6 case 21.
    let p = Peer::script("send hello world;hold");
    let s = connected(&p);
    assert_eq!(recv(&s, Pattern::Any(7)), R::data("hello w"));
    assert_eq!(recv(&s, Pattern::Any(7)), R::data("orld"));
}

#[test]
fn receiveany_returns_buffered_bytes_first() {
    let p = Peer::script("send line\\nrest;hold");
    let s = connected(&p);
    assert_eq!(line(&s), R::data("line"));
    assert_eq!(recv(&s, Pattern::Any(100)), R::data("rest"));
}

#[test]
fn receiveany_reads_at_most_one_buffer() {
    // §0.1 finding 8: 20000 bytes arrive as chunks of at most 4096.
    let p = Peer::script("big 20000;hold");
    let s = connected(&p);
    let mut got = Vec::new();
    while got.len() < 20000 {
        match recv(&s, Pattern::Any(10240)) {
            R::Data(d) => {
                assert!(!d.is_empty() && d.len() <= 4096, "chunk of {}", d.len());
                got.extend(d);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, pattern(20000));
}

#[test]
fn receiveany_timeout() {
    let p = Peer::script("hold");
    let s = sock_with_timeout(100);
    connect(&s, &p);
    assert_eq!(recv(&s, Pattern::Any(10)), R::err("timeout", ""));
    assert_eq!(close(&s), Ok(()));
}

// ----------------------------------------------------------- receiveuntil

#[test]
fn receiveuntil_as_a_line_reader() {
    // §6 case 24.
    let p = Peer::script(HTTP);
    let s = connected(&p);
    let it = iter("\r\n", false);
    for want in [
        "HTTP/1.1 200 OK",
        "Server: nginx",
        "Content-Type: text/plain",
        "Content-Length: 4",
        "Connection: close",
        "",
    ] {
        assert_eq!(until(&s, &it, 0), R::data(want));
    }
    assert_eq!(until(&s, &it, 0), R::err("closed", "foo\n"));

    let p = Peer::script(HTTP);
    connect(&s, &p);
    let it = iter("\r\n\r\n", false);
    assert_eq!(
        until(&s, &it, 0),
        R::Data(HTTP_BYTES[..HTTP_BYTES.len() - 8].to_vec())
    );
    assert_eq!(until(&s, &it, 0), R::err("closed", "foo\n"));
}

#[test]
fn receiveuntil_ambiguous_patterns() {
    // §6 case 25.
    for (body, pat, want, rest) in [
        ("abcabcabd\n", "abcabd", "abc", "\n"),
        ("abcabcaad\n", "aa", "abcabc", "d\n"),
        ("abaabcaaaef\n", "aaa", "abaabc", "ef\n"),
        ("baaaaaaaaeaaaaaaadf\n", "aaaaad", "baaaaaaaaeaa", "f\n"),
    ] {
        let p = Peer::script(&format!("send {};close", body.replace('\n', "\\n")));
        let s = connected(&p);
        let it = iter(pat, false);
        assert_eq!(until(&s, &it, 0), R::data(want), "{pat}");
        assert_eq!(until(&s, &it, 0), R::err("closed", rest), "{pat}");
    }
}

#[test]
fn receiveuntil_sized() {
    // §6 case 26.
    let p = Peer::script("send hello, world ----abc\\n;close");
    let s = connected(&p);
    let it = iter("--abc", false);
    for want in ["hell", "o, w", "orld", " --"] {
        assert_eq!(until(&s, &it, 4), R::data(want));
    }
    assert_eq!(until(&s, &it, 4), R::Done);
    assert_eq!(until(&s, &it, 4), R::err("closed", "\n"));
}

#[test]
fn receiveuntil_sized_interleaved_with_receive() {
    // §6 case 27.
    let p = Peer::script("send hello, world ----abc\\n;close");
    let s = connected(&p);
    let it = iter("--abc", false);
    for (a, b) in [("hell", "o"), (", wo", "r"), ("ld -", "-"), ("", "\n")] {
        assert_eq!(until(&s, &it, 4), R::data(a));
        assert_eq!(recv(&s, Pattern::Size(1)), R::data(b));
    }
    assert_eq!(until(&s, &it, 4), R::Done);
    assert_eq!(recv(&s, Pattern::Size(1)), R::err("closed", ""));
}

#[test]
fn receiveuntil_held_bytes_go_to_the_next_reader() {
    // §6 case 28.
    let p = Peer::script("send ab1ab1\\n;hold");
    let s = connected(&p);
    let it = iter("ab1ab2", false);
    assert_eq!(until(&s, &it, 2), R::data("ab1"));
    assert_eq!(recv(&s, Pattern::Size(3)), R::data("ab1"));
}

#[test]
fn receiveuntil_inclusive() {
    // §6 case 29.
    let p = Peer::script("send abcabcabdabcabd\\n;close");
    let s = connected(&p);
    let it = iter("abcabd", true);
    assert_eq!(until(&s, &it, 0), R::data("abcabcabd"));
    assert_eq!(until(&s, &it, 0), R::data("abcabd"));
    assert_eq!(until(&s, &it, 0), R::err("closed", "\n"));

    let p = Peer::script("send abcabcaad\\n;close");
    connect(&s, &p);
    assert_eq!(until(&s, &iter("aa", true), 0), R::data("abcabcaa"));

    let p = Peer::script("send hello, world ----abc\\n;close");
    connect(&s, &p);
    let it = iter("--abc", true);
    for want in ["hell", "o, w", "orld", " ----abc"] {
        assert_eq!(until(&s, &it, 4), R::data(want));
    }
    assert_eq!(until(&s, &it, 4), R::Done);
}

#[test]
fn receiveuntil_held_bytes_dropped_at_eof() {
    let p = Peer::script("send xx--ab;close");
    let s = connected(&p);
    assert_eq!(until(&s, &iter("--abc", false), 0), R::err("closed", "xx"));
}

#[test]
fn receiveuntil_pattern_at_the_start() {
    let p = Peer::script("send --abcrest\\n--abc;hold");
    let s = connected(&p);
    let it = iter("--abc", false);
    assert_eq!(until(&s, &it, 0), R::data(""));
    assert_eq!(until(&s, &it, 0), R::data("rest\n"));
    let p = Peer::script("send --abcrest;hold");
    connect(&s, &p);
    assert_eq!(until(&s, &it, 4), R::data(""));
    assert_eq!(until(&s, &it, 4), R::Done);
    assert_eq!(recv(&s, Pattern::Size(4)), R::data("rest"));
}

#[test]
fn receiveuntil_pattern_split_across_reads() {
    let p = Peer::script("chunks 50 hello --a|b|c tail;hold");
    let s = connected(&p);
    let it = iter("--abc", false);
    assert_eq!(until(&s, &it, 0), R::data("hello "));
    assert_eq!(recv(&s, Pattern::Size(5)), R::data(" tail"));
}

#[test]
fn two_threads_reading_one_socket() {
    let p = Peer::script("hold");
    let s = Arc::new(sock_with_timeout(1500));
    connect(&s, &p);
    let s2 = Arc::clone(&s);
    let t = std::thread::spawn(move || line_when_free(&s2));
    // receive(0) does the busy checks and no I/O.
    let start = std::time::Instant::now();
    while recv(&s, Pattern::Size(0)) == R::data("") {
        assert!(start.elapsed() < FOREVER, "reader never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let busy = R::err2("socket busy reading");
    assert_eq!(line(&s), busy);
    assert_eq!(recv(&s, Pattern::All), busy);
    assert_eq!(recv(&s, Pattern::Any(5)), busy);
    assert_eq!(until(&s, &iter("x", false), 0), busy);
    assert_eq!(close(&s), Err("socket busy reading".into()));
    assert_eq!(
        s.connect(b"127.0.0.1", Some(p.port()), &opts())
            .unwrap_err()
            .as_str(),
        "socket busy reading"
    );
    assert_eq!(
        s.set_keepalive(None, None).unwrap_err().as_str(),
        "socket busy reading"
    );
    // Full duplex: the writer is free.
    assert_eq!(send(&s, b"some data"), Ok(9));
    assert_eq!(t.join().unwrap(), R::err("timeout", ""));
    assert_eq!(close(&s), Ok(()));
}

#[test]
fn abort_wakes_a_blocked_reader() {
    let p = Peer::script("hold");
    let s = Arc::new(sock_with_timeout(0)); // the 60 s default
    connect(&s, &p);
    let s2 = Arc::clone(&s);
    let t = std::thread::spawn(move || line_when_free(&s2));
    let start = std::time::Instant::now();
    while recv(&s, Pattern::Size(0)) == R::data("") {
        assert!(start.elapsed() < FOREVER, "reader never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let s3 = Arc::clone(&s);
    bounded(FOREVER, move || s3.abort());
    let r = bounded(FOREVER, move || t.join().unwrap());
    assert!(matches!(r, R::Err(ref e, _) if e == "closed"), "{r:?}");
    assert_eq!(line(&s), R::err2("closed"));
    assert_eq!(close(&s), Err("closed".into()));
}

#[test]
fn all_timeout_returns_the_partial() {
    let p = Peer::script("send abc;sleep 400;send def;close");
    let s = sock_with_timeout(150);
    connect(&s, &p);
    assert_eq!(recv(&s, Pattern::All), R::err("timeout", "abc"));
    s.set_timeout(5000).unwrap();
    assert_eq!(recv(&s, Pattern::All), R::data("def"));
}

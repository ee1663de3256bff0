//! UDP cosockets (reference/udp-api.md) against scripted UDP peers written
//! here: std sockets on 127.0.0.1, [::1] and unix datagram paths, each
//! running its script on a thread.

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cosocket::event_loop::EventLoop;
use cosocket::ffi::*;
use cosocket::udp::{Datagram, MAX_DATAGRAM, Start, Udp};

const WAIT: Duration = Duration::from_secs(5);

fn bytes(d: Datagram) -> Vec<u8> {
    // SAFETY: valid until the next call on the socket; copied at once.
    unsafe { std::slice::from_raw_parts(d.0, d.1) }.to_vec()
}

fn recv(u: &Udp, size: usize) -> Result<Vec<u8>, String> {
    u.receive(size)
        .map(bytes)
        .map_err(|e| e.as_str().to_string())
}

fn err<T: std::fmt::Debug>(r: cosocket::error::Result<T>) -> String {
    r.unwrap_err().as_str().to_string()
}

fn udp(timeout_ms: i64) -> Udp {
    let u = Udp::new();
    u.set_timeout(timeout_ms);
    u
}

/// What a peer script recorded: (sender, datagram) pairs.
type Seen = Vec<(SocketAddr, Vec<u8>)>;

/// A scripted UDP peer: a bound std socket and the thread running its script.
struct Peer {
    addr: SocketAddr,
    th: Option<JoinHandle<Seen>>,
}

impl Peer {
    /// Binds `ip:0` and runs `script` on a thread; the script's return value
    /// (what it chose to record) comes back from [`Peer::join`].
    fn start(ip: &str, script: impl FnOnce(&UdpSocket) -> Seen + Send + 'static) -> Peer {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let addr = s.local_addr().unwrap();
        let th = std::thread::spawn(move || script(&s));
        Peer { addr, th: Some(th) }
    }

    /// An echo peer for `n` datagrams.
    fn echo(ip: &str, n: usize) -> Peer {
        Peer::start(ip, move |s| {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 70_000];
            for _ in 0..n {
                let Ok((len, from)) = s.recv_from(&mut buf) else {
                    break;
                };
                s.send_to(&buf[..len], from).unwrap();
                seen.push((from, buf[..len].to_vec()));
            }
            seen
        })
    }

    fn host(&self) -> String {
        match self.addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn connect(&self, u: &Udp) {
        u.setpeername(self.host().as_bytes(), Some(self.port()))
            .unwrap();
    }

    fn join(mut self) -> Seen {
        self.th.take().unwrap().join().unwrap()
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn temp_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "cosocket-udp-{}-{}-{tag}.sock",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&p);
    p
}

fn has_ipv6() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// A port on 127.0.0.1 nobody listens on (bound then released).
fn dead_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------- §2 setpeername

#[test]
fn ipv4_exchange_and_send_returns_one() {
    let peer = Peer::echo("127.0.0.1", 1);
    let u = udp(2000);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"hello")]).unwrap();
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap(), b"hello");
    u.close().unwrap();
    let seen = peer.join();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, b"hello");
}

#[test]
fn ipv6_bracketed_exchange() {
    if !has_ipv6() {
        eprintln!("no IPv6 loopback: skipped");
        return;
    }
    let peer = Peer::echo("::1", 1);
    let u = udp(2000);
    u.setpeername(format!("[::1]:{}", peer.port()).as_bytes(), None)
        .unwrap();
    u.send(&[IoSlice::new(b"v6")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"v6");
    peer.join();
}

#[test]
fn embedded_port_wins_and_missing_port_is_zero() {
    let peer = Peer::echo("127.0.0.1", 1);
    let u = udp(2000);
    // host:port: the embedded port wins over the argument.
    u.setpeername(format!("127.0.0.1:{}", peer.port()).as_bytes(), Some(9))
        .unwrap();
    u.send(&[IoSlice::new(b"x")]).unwrap();
    assert_eq!(recv(&u, 10).unwrap(), b"x");
    peer.join();
    // No port: port 0, accepted.
    let v = udp(100);
    v.setpeername(b"127.0.0.1", None).unwrap();
}

#[test]
fn parse_errors_leave_the_object_unconnected() {
    let u = udp(100);
    assert_eq!(
        err(u.setpeername(b"::1", Some(53))),
        "failed to parse host name \"::1\": invalid port"
    );
    assert_eq!(
        err(u.setpeername(b"", Some(53))),
        "failed to parse host name \"\": no host"
    );
    assert_eq!(
        err(u.setpeername(b"unix:", None)),
        "failed to parse host name \"unix:\": no path in the unix domain socket"
    );
    assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "closed");
    // A parse error on a connected object closes it (nginx finalizes first).
    let peer = Peer::echo("127.0.0.1", 0);
    peer.connect(&u);
    assert!(u.setpeername(b"", Some(1)).is_err());
    assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "closed");
    assert_eq!(err(u.close()), "closed");
    peer.join();
}

#[test]
fn host_names_use_the_system_resolver() {
    let first = cosocket::tcp::resolve("localhost", 1).unwrap()[0];
    let ip = first.ip().to_string();
    let peer = Peer::echo(&ip, 1);
    let u = udp(2000);
    u.setpeername(b"localhost", Some(peer.port())).unwrap();
    u.send(&[IoSlice::new(b"by name")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"by name");
    peer.join();
    assert_eq!(
        err(u.setpeername(b"no-such-host.invalid", Some(53))),
        "no-such-host.invalid could not be resolved (3: Host not found)"
    );
    assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "closed");
}

#[test]
fn setpeername_again_closes_the_old_socket_with_a_new_port() {
    let peer = Peer::echo("127.0.0.1", 2);
    let u = udp(2000);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"one")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"one");
    let fd1 = u.fd();
    peer.connect(&u);
    u.send(&[IoSlice::new(b"two")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"two");
    assert!(u.fd() >= 0 && fd1 >= 0);
    let seen = peer.join();
    assert_ne!(seen[0].0, seen[1].0, "the peer must see two clients");
}

#[test]
fn setpeername_to_a_dead_port_succeeds_and_icmp_is_reported_once_by_receive() {
    let u = udp(300);
    u.setpeername(b"127.0.0.1", Some(dead_port())).unwrap();
    u.send(&[IoSlice::new(b"anyone?")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap_err(), "connection refused");
    // Reported once: the socket stays usable, the next receive waits.
    assert_eq!(recv(&u, 100).unwrap_err(), "timeout");
    u.send(&[IoSlice::new(b"again")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap_err(), "connection refused");
}

#[test]
fn icmp_refused_is_reported_once_by_the_next_send() {
    let u = udp(300);
    u.setpeername(b"127.0.0.1", Some(dead_port())).unwrap();
    u.send(&[IoSlice::new(b"first")]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        err(u.send(&[IoSlice::new(b"second")])),
        "connection refused"
    );
    u.send(&[IoSlice::new(b"third")]).unwrap();
}

// ---------------------------------------------------------------- unix datagram

#[test]
fn unix_datagram_sockets_are_auto_bound_so_the_peer_can_answer() {
    let path = temp_path("echo");
    let srv = UnixDatagram::bind(&path).unwrap();
    srv.set_read_timeout(Some(WAIT)).unwrap();
    let th = std::thread::spawn(move || {
        let mut buf = vec![0u8; 100_000];
        let mut n = 0;
        for _ in 0..3 {
            let (len, from) = srv.recv_from(&mut buf).unwrap();
            assert!(
                from.as_pathname().is_none(),
                "client is auto-bound (abstract)"
            );
            srv.send_to_addr(&buf[..len], &from).unwrap();
            n += 1;
        }
        // A datagram longer than 64 KiB: receive() returns its first 65536 bytes.
        let (_, from) = srv.recv_from(&mut buf).unwrap();
        let big = vec![b'u'; 70_000];
        srv.send_to_addr(&big, &from).unwrap();
        n
    });
    let u = udp(2000);
    let host = format!("unix:{}", path.display());
    u.setpeername(host.as_bytes(), None).unwrap();
    for msg in [&b"a"[..], b"", b"ccc"] {
        u.send(&[IoSlice::new(msg)]).unwrap();
        assert_eq!(recv(&u, MAX_DATAGRAM).unwrap(), msg);
    }
    u.send(&[IoSlice::new(b"big please")]).unwrap();
    assert_eq!(recv(&u, 1_000_000).unwrap().len(), MAX_DATAGRAM);
    assert_eq!(th.join().unwrap(), 3);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unix_connect_errors_keep_a_half_made_socket() {
    let u = udp(100);
    let missing = temp_path("missing");
    let host = format!("unix:{}", missing.display());
    assert_eq!(
        err(u.setpeername(host.as_bytes(), None)),
        "no such file or directory"
    );
    // nginx's quirk: send reports the kernel's error, close returns 1 (and
    // receive, which crashes nginx, reports the same error).
    assert_eq!(
        err(u.send(&[IoSlice::new(b"x")])),
        "transport endpoint is not connected"
    );
    assert_eq!(
        recv(&u, 10).unwrap_err(),
        "transport endpoint is not connected"
    );
    u.close().unwrap();
    assert_eq!(err(u.close()), "closed");

    // A socket file nobody has bound any more: connection refused.
    let stale = temp_path("stale");
    drop(UnixDatagram::bind(&stale).unwrap());
    let host = format!("unix:{}", stale.display());
    assert_eq!(
        err(u.setpeername(host.as_bytes(), None)),
        "connection refused"
    );
    assert_eq!(
        err(u.send(&[IoSlice::new(b"x")])),
        "transport endpoint is not connected"
    );
    // A new setpeername to a good address recovers the object.
    let peer = Peer::echo("127.0.0.1", 1);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"ok")]).unwrap();
    assert_eq!(recv(&u, 10).unwrap(), b"ok");
    peer.join();
    let _ = std::fs::remove_file(&stale);
}

// ---------------------------------------------------------------- §3 send

#[test]
fn a_gather_list_is_one_datagram_and_empty_data_an_empty_datagram() {
    let peer = Peer::echo("127.0.0.1", 3);
    let u = udp(2000);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cd")])
        .unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"abcd");
    u.send(&[]).unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"");
    u.send(&[IoSlice::new(b"")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"");
    let seen = peer.join();
    let sizes: Vec<usize> = seen.iter().map(|s| s.1.len()).collect();
    assert_eq!(sizes, [4, 0, 0]);
}

#[test]
fn a_gather_list_longer_than_iov_max_is_still_one_datagram() {
    let peer = Peer::echo("127.0.0.1", 1);
    let u = udp(2000);
    peer.connect(&u);
    let piece = b"xy";
    let bufs: Vec<IoSlice<'_>> = (0..3000).map(|_| IoSlice::new(piece)).collect();
    u.send(&bufs).unwrap();
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap().len(), 6000);
    peer.join();
}

#[test]
fn oversized_ipv4_datagram_is_message_too_long_and_the_socket_stays_usable() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = vec![0u8; 70_000];
        let mut seen = Vec::new();
        for _ in 0..1 {
            let (n, from) = s.recv_from(&mut buf).unwrap();
            s.send_to(&buf[..n], from).unwrap();
            seen.push((from, buf[..n].to_vec()));
        }
        seen
    });
    let u = udp(2000);
    peer.connect(&u);
    let big = vec![7u8; 65_508];
    assert_eq!(err(u.send(&[IoSlice::new(&big)])), "message too long");
    // The largest IPv4 datagram goes through whole.
    u.send(&[IoSlice::new(&big[..65_507])]).unwrap();
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap().len(), 65_507);
    peer.join();
}

#[test]
fn never_connected_and_closed_objects_say_closed() {
    let u = udp(100);
    assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "closed");
    assert_eq!(recv(&u, 10).unwrap_err(), "closed");
    assert_eq!(err(u.close()), "closed");
    let peer = Peer::echo("127.0.0.1", 1);
    peer.connect(&u);
    u.close().unwrap();
    assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "closed");
    assert_eq!(recv(&u, 10).unwrap_err(), "closed");
    assert_eq!(err(u.close()), "closed");
    // setpeername works again on the same object.
    peer.connect(&u);
    u.send(&[IoSlice::new(b"back")]).unwrap();
    assert_eq!(recv(&u, 10).unwrap(), b"back");
    peer.join();
}

// ---------------------------------------------------------------- §4 receive

#[test]
fn datagram_boundaries_are_kept() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        for d in [&b"a"[..], b"bb", b"", b"ccc"] {
            s.send_to(d, from).unwrap();
        }
        Vec::new()
    });
    let u = udp(2000);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"go")]).unwrap();
    std::thread::sleep(Duration::from_millis(50)); // all four are queued
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap(), b"a");
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap(), b"bb");
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap(), b"");
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap(), b"ccc");
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap_err(), "timeout");
    peer.join();
}

#[test]
fn truncation_discards_the_rest_and_size_zero_consumes_a_datagram() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        for d in [&b"0123456789"[..], b"second", b"third", b"fourth"] {
            s.send_to(d, from).unwrap();
        }
        let big = vec![b'z'; 10_000];
        s.send_to(&big, from).unwrap();
        Vec::new()
    });
    let u = udp(2000);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"go")]).unwrap();
    assert_eq!(recv(&u, 4).unwrap(), b"0123");
    assert_eq!(recv(&u, 0).unwrap(), b"", "receive(0) consumes 'second'");
    assert_eq!(recv(&u, 1).unwrap(), b"t");
    // Sizes above 65536 mean 65536.
    assert_eq!(recv(&u, usize::MAX).unwrap(), b"fourth");
    assert_eq!(recv(&u, MAX_DATAGRAM).unwrap().len(), 10_000);
    // receive(0) still waits when nothing is queued.
    u.set_timeout(60);
    assert_eq!(recv(&u, 0).unwrap_err(), "timeout");
    peer.join();
}

#[test]
fn only_the_connected_peer_is_heard() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        // A stranger writes to our port first; the kernel drops it.
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        stranger.send_to(b"stranger", from).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        s.send_to(b"peer", from).unwrap();
        Vec::new()
    });
    let u = udp(2000);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"go")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"peer");
    peer.join();
}

// ---------------------------------------------------------------- §5 settimeout

#[test]
fn read_timeout_is_non_fatal_and_a_late_datagram_comes_next() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        s.send_to(b"late", from).unwrap();
        Vec::new()
    });
    let u = udp(100);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"go")]).unwrap();
    let t0 = Instant::now();
    assert_eq!(recv(&u, 100).unwrap_err(), "timeout");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(90) && took < Duration::from_secs(2),
        "{took:?}"
    );
    u.set_timeout(2000);
    assert_eq!(recv(&u, 100).unwrap(), b"late");
    peer.join();
}

#[test]
fn settimeout_accepts_anything_and_non_positive_means_the_default() {
    let u = Udp::new();
    assert_eq!(u.read_timeout_ms(), 60_000);
    u.set_timeout(0);
    assert_eq!(u.read_timeout_ms(), 60_000);
    u.set_timeout(-5);
    assert_eq!(u.read_timeout_ms(), 60_000);
    u.set_timeout(1 << 40);
    assert_eq!(u.read_timeout_ms(), 1 << 40);
    u.set_timeout(150);
    assert_eq!(u.read_timeout_ms(), 150);
    // Set before setpeername, it applies to the connected socket.
    let peer = Peer::echo("127.0.0.1", 0);
    u.set_timeout(80);
    peer.connect(&u);
    let t0 = Instant::now();
    assert_eq!(recv(&u, 10).unwrap_err(), "timeout");
    assert!(t0.elapsed() < Duration::from_secs(2));
    peer.join();
}

#[test]
fn huge_timeouts_work_with_data() {
    let peer = Peer::echo("127.0.0.1", 1);
    let u = udp(1 << 40);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"x")]).unwrap();
    assert_eq!(recv(&u, 10).unwrap(), b"x");
    peer.join();
}

// ---------------------------------------------------------------- busy rule

#[test]
fn while_a_receive_waits_everything_else_is_busy() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        // Wait for the client's "release" signal (a second datagram would be
        // refused as busy, so the signal comes over a channel-like sleep).
        std::thread::sleep(Duration::from_millis(300));
        s.send_to(b"done", from).unwrap();
        Vec::new()
    });
    let u = Arc::new(udp(3000));
    peer.connect(&u);
    u.send(&[IoSlice::new(b"go")]).unwrap();
    let r = Arc::clone(&u);
    let reader = std::thread::spawn(move || recv(&r, 100));
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "socket busy");
    assert_eq!(recv(&u, 10).unwrap_err(), "socket busy");
    assert_eq!(err(u.close()), "socket busy");
    assert_eq!(err(u.setpeername(b"127.0.0.1", Some(1))), "socket busy");
    assert_eq!(reader.join().unwrap().unwrap(), b"done");
    u.send(&[IoSlice::new(b"free again")]).unwrap();
    u.close().unwrap();
    peer.join();
}

// ---------------------------------------------------------------- §7 bind

#[test]
fn bind_sets_the_local_address_of_the_next_setpeername() {
    let local = UdpSocket::bind("127.0.0.1:0").unwrap();
    let lport = local.local_addr().unwrap().port();
    drop(local);
    let peer = Peer::echo("127.0.0.1", 1);
    let u = udp(2000);
    u.bind(b"127.0.0.1", lport).unwrap();
    peer.connect(&u);
    u.send(&[IoSlice::new(b"from a bound port")]).unwrap();
    assert_eq!(recv(&u, 100).unwrap(), b"from a bound port");
    let seen = peer.join();
    assert_eq!(seen[0].0, SocketAddr::from(([127, 0, 0, 1], lport)));

    assert_eq!(err(u.bind(b"not an ip", 0)), "bad address");
    assert_eq!(err(u.bind(b"[::1]", 0)), "bad address");
    // The port is taken: setpeername fails with bind's errno text.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = udp(100);
    v.bind(b"127.0.0.1", taken.local_addr().unwrap().port())
        .unwrap();
    assert_eq!(
        err(v.setpeername(b"127.0.0.1", Some(9))),
        "address already in use"
    );
    // Family mismatch.
    if has_ipv6() {
        let w = udp(100);
        w.bind(b"127.0.0.1", 0).unwrap();
        assert_eq!(err(w.setpeername(b"[::1]", Some(9))), "invalid argument");
    }
}

// ---------------------------------------------------------------- async

fn wait_one(lp: &EventLoop, want: u64) {
    let mut out = [0u64; 8];
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        let n = lp.wait(&mut out, Some(Duration::from_millis(100)));
        if out[..n].contains(&want) {
            return;
        }
    }
    panic!("token {want} never completed");
}

#[test]
fn async_receive_parks_on_the_loop_and_times_out_without_harm() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        s.send_to(b"late", from).unwrap();
        Vec::new()
    });
    let lp = EventLoop::new().unwrap();
    let u = Arc::new(udp(100));
    peer.connect(&u);
    u.send(&[IoSlice::new(b"go")]).unwrap();
    assert!(matches!(u.receive_start(&lp, 7, 100), Start::Pending));
    // Busy while parked.
    assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "socket busy");
    wait_one(&lp, 7);
    assert_eq!(err(u.take_read_result().unwrap()), "timeout");
    u.set_timeout(2000);
    assert!(matches!(u.receive_start(&lp, 8, 100), Start::Pending));
    wait_one(&lp, 8);
    assert_eq!(bytes(u.take_read_result().unwrap().unwrap()), b"late");
    // A queued datagram finishes at once.
    peer.join();
}

#[test]
fn async_receive_reports_icmp_refused_once() {
    let lp = EventLoop::new().unwrap();
    let u = Arc::new(udp(200));
    u.setpeername(b"127.0.0.1", Some(dead_port())).unwrap();
    u.send(&[IoSlice::new(b"probe")]).unwrap();
    match u.receive_start(&lp, 2, 100) {
        Start::Done(r) => assert_eq!(err(r), "connection refused"),
        Start::Pending => {
            wait_one(&lp, 2);
            assert_eq!(err(u.take_read_result().unwrap()), "connection refused");
        }
    }
    // Reported once: the next receive waits until its timeout.
    assert!(matches!(u.receive_start(&lp, 3, 100), Start::Pending));
    wait_one(&lp, 3);
    assert_eq!(err(u.take_read_result().unwrap()), "timeout");
    // Parked first, then the ICMP error arrives (a datagram sent through a
    // dup of the same socket): EPOLLERR wakes the parked receive.
    assert!(matches!(u.receive_start(&lp, 4, 100), Start::Pending));
    // SAFETY: dup of a live fd, closed below.
    let twin = unsafe { libc::dup(u.fd()) };
    // SAFETY: a valid buffer on a valid fd.
    assert_eq!(unsafe { libc::send(twin, b"p".as_ptr().cast(), 1, 0) }, 1);
    wait_one(&lp, 4);
    assert_eq!(err(u.take_read_result().unwrap()), "connection refused");
    // SAFETY: our dup.
    unsafe { libc::close(twin) };
}

#[test]
fn async_many_sockets_on_one_loop() {
    const N: usize = 64;
    const ROUNDS: usize = 5;
    let peer = Peer::echo("127.0.0.1", N * ROUNDS);
    let lp = EventLoop::new().unwrap();
    let socks: Vec<Arc<Udp>> = (0..N)
        .map(|_| {
            let u = Arc::new(udp(5000));
            peer.connect(&u);
            u
        })
        .collect();
    let mut got = vec![0usize; N];
    for round in 0..ROUNDS {
        let mut pending = 0;
        for (i, u) in socks.iter().enumerate() {
            let msg = format!("{i}:{round}");
            u.send(&[IoSlice::new(msg.as_bytes())]).unwrap();
            match u.receive_start(&lp, i as u64, 100) {
                Start::Done(r) => {
                    assert_eq!(bytes(r.unwrap()), msg.as_bytes());
                    got[i] += 1;
                }
                Start::Pending => pending += 1,
            }
        }
        let mut out = [0u64; 16];
        let end = Instant::now() + WAIT;
        while pending > 0 && Instant::now() < end {
            let n = lp.wait(&mut out, Some(Duration::from_millis(200)));
            for &t in &out[..n] {
                let i = t as usize;
                let d = bytes(socks[i].take_read_result().unwrap().unwrap());
                assert_eq!(d, format!("{i}:{round}").as_bytes());
                got[i] += 1;
                pending -= 1;
            }
        }
        assert_eq!(pending, 0, "round {round}");
    }
    assert!(got.iter().all(|&g| g == ROUNDS));
    assert_eq!(peer.join().len(), N * ROUNDS);
}

#[test]
fn async_setpeername_resolves_off_thread() {
    let first = cosocket::tcp::resolve("localhost", 1).unwrap()[0];
    let peer = Peer::echo(&first.ip().to_string(), 1);
    let lp = EventLoop::new().unwrap();
    let u = Arc::new(udp(2000));
    match u.setpeername_start(&lp, 5, b"localhost", Some(peer.port())) {
        Start::Pending => {
            // While resolving: closed for I/O, busy for setpeername.
            assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "closed");
            assert_eq!(err(u.close()), "closed");
            match u.setpeername_start(&lp, 6, b"127.0.0.1", Some(1)) {
                Start::Done(r) => assert_eq!(err(r), "socket busy"),
                Start::Pending => panic!("second setpeername must be busy"),
            }
            wait_one(&lp, 5);
            u.take_peer_result().unwrap().unwrap();
        }
        Start::Done(r) => panic!("a name must resolve off-thread: {r:?}"),
    }
    u.send(&[IoSlice::new(b"named")]).unwrap();
    match u.receive_start(&lp, 9, 100) {
        Start::Done(r) => assert_eq!(bytes(r.unwrap()), b"named"),
        Start::Pending => {
            wait_one(&lp, 9);
            assert_eq!(bytes(u.take_read_result().unwrap().unwrap()), b"named");
        }
    }
    // Literal addresses finish at once.
    assert!(matches!(
        u.setpeername_start(&lp, 10, b"127.0.0.1", Some(9)),
        Start::Done(Ok(()))
    ));
    peer.join();
}

#[test]
fn abort_cancels_a_parked_receive() {
    let peer = Peer::echo("127.0.0.1", 0);
    let lp = EventLoop::new().unwrap();
    let u = Arc::new(udp(5000));
    peer.connect(&u);
    assert!(matches!(u.receive_start(&lp, 1, 10), Start::Pending));
    u.abort();
    assert_eq!(err(u.send(&[IoSlice::new(b"x")])), "closed");
    let mut out = [0u64; 4];
    assert_eq!(lp.wait(&mut out, Some(Duration::from_millis(50))), 0);
    peer.connect(&u);
    u.send(&[IoSlice::new(b"x")]).unwrap();
    peer.join();
}

// ---------------------------------------------------------------- C ABI

fn res() -> cosocket_result {
    cosocket_result {
        data: std::ptr::null(),
        data_len: 0,
        err: std::ptr::null(),
        err_len: 0,
        value: -1,
    }
}

fn err_text(r: &cosocket_result) -> String {
    // SAFETY: err/err_len describe a valid message.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(r.err.cast::<u8>(), r.err_len) })
        .into_owned()
}

#[test]
fn c_abi_statuses_values_and_handles() {
    let peer = Peer::echo("127.0.0.1", 2);
    let s = cosocket_udp_new();
    let mut r = res();
    assert_eq!(
        cosocket_udp_settimeout(s, 2000, &mut r),
        cosocket_status::Ok
    );
    // Bad port numbers are returned errors, not argument errors.
    let host = b"127.0.0.1";
    let st = cosocket_udp_setpeername(s, host.as_ptr().cast(), host.len(), 70000, &mut r);
    assert_eq!(st, cosocket_status::Error);
    assert_eq!(err_text(&r), "bad port number: 70000");
    let st = cosocket_udp_setpeername(s, host.as_ptr().cast(), host.len(), -5, &mut r);
    assert_eq!(err_text(&r), "bad port number: -5");
    assert_eq!(st, cosocket_status::Error);
    let st = cosocket_udp_setpeername(
        s,
        host.as_ptr().cast(),
        host.len(),
        peer.port() as i32,
        &mut r,
    );
    assert_eq!(st, cosocket_status::Ok);
    assert_eq!(r.value, 1);
    // A bad port number is checked first: the connected socket is kept.
    let st = cosocket_udp_setpeername(s, host.as_ptr().cast(), host.len(), 65536, &mut r);
    assert_eq!(st, cosocket_status::Error);
    assert_eq!(
        cosocket_udp_send(s, b"abc".as_ptr(), 3, &mut r),
        cosocket_status::Ok
    );
    assert_eq!(r.value, 1, "send returns 1, not a byte count");
    assert_eq!(cosocket_udp_receive(s, 65536, &mut r), cosocket_status::Ok);
    // SAFETY: valid until the next call on s.
    assert_eq!(
        unsafe { std::slice::from_raw_parts(r.data, r.data_len) },
        b"abc"
    );
    let iov = [
        cosocket_iovec {
            base: b"de".as_ptr(),
            len: 2,
        },
        cosocket_iovec {
            base: b"f".as_ptr(),
            len: 1,
        },
    ];
    assert_eq!(
        cosocket_udp_sendv(s, iov.as_ptr(), 2, &mut r),
        cosocket_status::Ok
    );
    assert_eq!(r.value, 1);
    assert_eq!(cosocket_udp_receive(s, 2, &mut r), cosocket_status::Ok);
    assert_eq!(r.data_len, 2, "truncated to size");
    assert_eq!(cosocket_udp_result(s, 2, &mut r), cosocket_status::NoResult);
    assert_eq!(cosocket_udp_close(s, &mut r), cosocket_status::Ok);
    assert_eq!(r.value, 1);
    assert_eq!(cosocket_udp_close(s, &mut r), cosocket_status::Error);
    assert_eq!(err_text(&r), "closed");
    let ip = b"nope";
    assert_eq!(
        cosocket_udp_bind(s, ip.as_ptr().cast(), ip.len(), -1, &mut r),
        cosocket_status::Error
    );
    assert_eq!(err_text(&r), "bad address");
    cosocket_udp_free(s);
    // Freed, NULL and foreign handles.
    assert_eq!(
        cosocket_udp_close(s, &mut r),
        cosocket_status::InvalidHandle
    );
    assert_eq!(
        cosocket_udp_close(std::ptr::null_mut(), &mut r),
        cosocket_status::NullParameter
    );
    let t = cosocket_tcp_new();
    assert_eq!(
        cosocket_udp_close(t.cast(), &mut r),
        cosocket_status::InvalidHandle
    );
    cosocket_tcp_free(t);
    cosocket_udp_free(std::ptr::null_mut());
    cosocket_udp_free(s);
    peer.join();
}

#[test]
fn c_abi_async_receive_and_setpeername() {
    let peer = Peer::echo("127.0.0.1", 1);
    let lp = cosocket_loop_new();
    let s = cosocket_udp_new();
    let mut r = res();
    let host = format!("127.0.0.1:{}", peer.port());
    let st = cosocket_udp_setpeername_async(s, lp, 1, host.as_ptr().cast(), host.len(), -1, &mut r);
    assert_eq!(st, cosocket_status::Ok);
    let st = cosocket_udp_receive_async(s, lp, 2, 100, &mut r);
    assert_eq!(st, cosocket_status::Again);
    let st = cosocket_udp_send_async(s, lp, 3, b"x".as_ptr(), 1, &mut r);
    assert_eq!(st, cosocket_status::Error);
    assert_eq!(err_text(&r), "socket busy");
    // Free the receive by aborting, then do it in order.
    assert_eq!(cosocket_udp_abort(s), cosocket_status::Ok);
    let st = cosocket_udp_setpeername_async(s, lp, 1, host.as_ptr().cast(), host.len(), -1, &mut r);
    assert_eq!(st, cosocket_status::Ok);
    let st = cosocket_udp_send_async(s, lp, 3, b"xyz".as_ptr(), 3, &mut r);
    assert_eq!((st, r.value), (cosocket_status::Ok, 1));
    let st = cosocket_udp_receive_async(s, lp, 4, 100, &mut r);
    if st == cosocket_status::Again {
        let mut toks = [0u64; 4];
        let mut n = 0;
        let end = Instant::now() + WAIT;
        while n == 0 && Instant::now() < end {
            assert_eq!(
                cosocket_loop_wait(lp, toks.as_mut_ptr(), 4, 200, &mut n),
                cosocket_status::Ok
            );
        }
        assert_eq!(toks[..n], [4]);
        assert_eq!(cosocket_udp_result(s, 2, &mut r), cosocket_status::Ok);
    } else {
        assert_eq!(st, cosocket_status::Ok);
    }
    // SAFETY: valid until the next call on s.
    assert_eq!(
        unsafe { std::slice::from_raw_parts(r.data, r.data_len) },
        b"xyz"
    );
    cosocket_udp_free(s);
    cosocket_loop_free(lp);
    peer.join();
}

#[test]
fn a_busy_socket_keeps_one_read_timer_in_the_loop() {
    const N: usize = 2000;
    let peer = Peer::echo("127.0.0.1", N);
    let lp = EventLoop::new().unwrap();
    let u = Arc::new(udp(60_000));
    peer.connect(&u);
    let mut out = [0u64; 4];
    for i in 0..N {
        u.send(&[IoSlice::new(b"tick")]).unwrap();
        match u.receive_start(&lp, i as u64, 16) {
            Start::Done(r) => assert_eq!(bytes(r.unwrap()), b"tick"),
            Start::Pending => {
                let end = Instant::now() + WAIT;
                while lp.wait(&mut out, Some(Duration::from_millis(200))) == 0 {
                    assert!(Instant::now() < end, "round {i} never completed");
                }
                assert_eq!(bytes(u.take_read_result().unwrap().unwrap()), b"tick");
            }
        }
        assert!(lp.pending() <= 2, "round {i}: {} timers", lp.pending());
    }
    assert_eq!(peer.join().len(), N);
}

/// `wait(None)` with one parked receive takes the loop's solo path (a
/// blocking recv on the waiting thread): same results as the epoll path,
/// a timeout included.
#[test]
fn solo_wait_receives_and_times_out_like_the_loop() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        s.send_to(b"pong", from).unwrap();
        Vec::new()
    });
    let lp = EventLoop::new().unwrap();
    let u = Arc::new(udp(150));
    peer.connect(&u);
    u.send(&[IoSlice::new(b"ping")]).unwrap();
    let mut out = [0u64; 4];
    assert!(matches!(u.receive_start(&lp, 1, 100), Start::Pending));
    assert_eq!(lp.wait(&mut out, None), 1);
    assert_eq!(out[0], 1);
    assert_eq!(bytes(u.take_read_result().unwrap().unwrap()), b"pong");
    assert!(matches!(u.receive_start(&lp, 2, 100), Start::Pending));
    assert_eq!(lp.wait(&mut out, None), 1);
    assert_eq!(out[0], 2);
    assert_eq!(err(u.take_read_result().unwrap()), "timeout");
    assert_eq!(
        u.send(&[IoSlice::new(b"still usable")])
            .map_err(|e| e.to_string()),
        Ok(())
    );
    peer.join();
}

/// A finite wait with one parked receive also takes the solo path: 0 when
/// only the wait's timeout passed (the receive stays pending and completes
/// later), "timeout" once the read timeout passed, never before it.
#[test]
fn solo_finite_wait_keeps_the_receive_pending_then_times_out() {
    let peer = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        s.send_to(b"pong", from).unwrap();
        Vec::new()
    });
    let lp = EventLoop::new().unwrap();
    let u = Arc::new(udp(5000));
    peer.connect(&u);
    u.send(&[IoSlice::new(b"ping")]).unwrap();
    let mut out = [0u64; 4];
    assert!(matches!(u.receive_start(&lp, 1, 100), Start::Pending));
    let t0 = Instant::now();
    assert_eq!(lp.wait(&mut out, Some(Duration::from_millis(60))), 0);
    assert!(t0.elapsed() >= Duration::from_millis(60));
    assert!(u.take_read_result().is_none(), "still pending");
    let end = Instant::now() + Duration::from_secs(20);
    while lp.wait(&mut out, Some(Duration::from_millis(40))) == 0 {
        assert!(Instant::now() < end, "the datagram never came");
    }
    assert_eq!(out[0], 1);
    assert_eq!(bytes(u.take_read_result().unwrap().unwrap()), b"pong");
    peer.join();

    let u = Arc::new(udp(150));
    let peer = Peer::start("127.0.0.1", |_| Vec::new());
    peer.connect(&u);
    let t0 = Instant::now();
    assert!(matches!(u.receive_start(&lp, 2, 100), Start::Pending));
    while lp.wait(&mut out, Some(Duration::from_secs(20))) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(20), "never timed out");
    }
    assert_eq!(out[0], 2);
    assert!(
        t0.elapsed() >= Duration::from_millis(150),
        "timed out early"
    );
    assert_eq!(err(u.take_read_result().unwrap()), "timeout");
    peer.join();
}

/// A UDP `setpeername` resolving a name posts back from another thread with
/// no loop timer armed. While it is outstanding the loop must not take the
/// solo path for another socket's parked receive (a blocking recv that the
/// post could not wake): the resolution completes long before that read's
/// 30 s timeout.
#[test]
fn a_name_resolution_is_not_stuck_behind_a_solo_receive() {
    let silent = Peer::start("127.0.0.1", |s| {
        let mut buf = [0u8; 16];
        // Swallow the ping; never answer (the receive below stays parked).
        let _ = s.recv_from(&mut buf);
        std::thread::sleep(Duration::from_millis(50));
        Vec::new()
    });
    let lp = EventLoop::new().unwrap();
    let reader = Arc::new(udp(30_000));
    silent.connect(&reader);
    reader.send(&[IoSlice::new(b"ping")]).unwrap();
    assert!(matches!(reader.receive_start(&lp, 1, 100), Start::Pending));
    let named = Arc::new(udp(30_000));
    let t0 = Instant::now();
    match named.setpeername_start(&lp, 2, b"localhost", Some(9)) {
        Start::Pending => {
            let mut out = [0u64; 4];
            let n = lp.wait(&mut out, Some(Duration::from_secs(25)));
            assert_eq!(&out[..n], &[2], "the resolution, not the read timeout");
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the wait blocked behind the parked receive"
            );
            named.take_peer_result().unwrap().unwrap();
        }
        Start::Done(r) => r.unwrap(), // resolved at once: nothing to check
    }
    reader.abort();
    silent.join();
}

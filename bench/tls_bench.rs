//! TLS against plain TCP, through the same socket core the C ABI and the
//! LuaJIT binding call (issue 7):
//!
//!   cargo run --release --example tls_bench -- [N] [--no-pin] [--only WORKLOAD:IMPL]
//!
//! Starts two line-echo servers in this process on 127.0.0.1 (a plain one,
//! and a rustls one with an rcgen certificate; one thread per connection,
//! pinned to CPU 1 while the client runs on CPU 0, as bench/run.sh pins
//! client and server), then measures, interleaved over 3 repetitions:
//!
//! - `pingpong`: one connection, N round trips of a 32-byte line (send, then
//!   receive `*l`), blocking calls;
//! - `pingpong_cq`: the same through an EventLoop (the async path);
//! - `reconnect` / `reconnect_resumed`: connect (+ sslhandshake, full or
//!   resuming the previous connection's session) + one round trip + close.
//!
//! Prints bench/common.h's `RESULT impl=... workload=... ops= secs= cpu_s=
//! p50_us= errors=` lines (impl `cosocket_plain` / `cosocket_tls`), then the
//! TLS/plain ratios of the medians. Loopback only; every loop is bounded.

use std::io::{BufRead, BufReader, IoSlice, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use cosocket::event_loop::EventLoop;
use cosocket::receive::Pattern;
use cosocket::tcp::{ConnectOpts, HandshakeOpts, ReadOutcome, ReadRequest, Start, Tcp};
use cosocket::tls::SslSession;

const LINE: &[u8] = b"0123456789abcdefghijklmnopqrstu\n";

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn echo<S: Read + Write>(s: S) {
    let mut r = BufReader::new(s);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if r.get_mut().write_all(&line).is_err() {
            return;
        }
    }
}

fn serve(tls: Option<Arc<rustls::ServerConfig>>, pin_cpu: Option<usize>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let tls = tls.clone();
            std::thread::spawn(move || {
                if let Some(c) = pin_cpu {
                    pin(c);
                }
                let _ = s.set_nodelay(true);
                match tls {
                    None => echo(s),
                    Some(cfg) => {
                        let conn = rustls::ServerConnection::new(cfg).unwrap();
                        echo(rustls::StreamOwned::new(conn, s));
                    }
                }
            });
        }
    });
    port
}

fn tls_config() -> Arc<rustls::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        ck.signing_key.serialize_der(),
    ));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    Arc::new(cfg)
}

fn connect(
    port: u16,
    tls: bool,
    session: Option<Arc<SslSession>>,
) -> (Tcp, Option<Arc<SslSession>>) {
    let s = Tcp::new();
    s.set_timeout(10_000).unwrap();
    s.connect(b"127.0.0.1", Some(port), &ConnectOpts::default())
        .expect("connect");
    let mut sess = None;
    if tls {
        let h = s
            .ssl_handshake(HandshakeOpts {
                session,
                server_name: Some(b"localhost".to_vec()),
                ..Default::default()
            })
            .expect("sslhandshake");
        sess = Some(h.session().clone());
    }
    (s, sess)
}

fn round_trip(s: &Tcp) -> bool {
    if s.send(&[IoSlice::new(LINE)]).is_err() {
        return false;
    }
    matches!(
        s.receive(ReadRequest::Pattern(Pattern::Line)),
        ReadOutcome::Data(_, 31)
    )
}

struct Sample {
    ops: f64,
    secs: f64,
    cpu: f64,
    p50_us: f64,
    errors: u64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn pingpong(port: u16, tls: bool, n: usize) -> Sample {
    let (s, _) = connect(port, tls, None);
    for _ in 0..n / 10 {
        round_trip(&s);
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0;
    let (c0, t0) = (cpu_s(), Instant::now());
    for _ in 0..n {
        let a = Instant::now();
        if !round_trip(&s) {
            errors += 1;
        }
        lat.push(a.elapsed().as_secs_f64());
    }
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
    Sample {
        ops: n as f64,
        secs,
        cpu,
        p50_us: median(&mut lat) * 1e6,
        errors,
    }
}

fn wait(lp: &EventLoop, token: u64) {
    let mut buf = [0u64; 8];
    loop {
        let n = lp.wait(&mut buf, Some(std::time::Duration::from_secs(10)));
        assert!(n > 0, "loop timed out");
        if buf[..n].contains(&token) {
            return;
        }
    }
}

fn cq_round_trip(s: &Arc<Tcp>, lp: &Arc<EventLoop>) -> bool {
    let sent = match s.send_start(lp, 1, &[IoSlice::new(LINE)]) {
        Start::Done(r) => r.is_ok(),
        Start::Pending => {
            wait(lp, 1);
            s.take_write_result().is_some_and(|r| r.is_ok())
        }
    };
    let got = match s.receive_start(lp, 2, ReadRequest::Pattern(Pattern::Line)) {
        Start::Done(o) => o,
        Start::Pending => {
            wait(lp, 2);
            s.take_read_result().expect("read result")
        }
    };
    sent && matches!(got, ReadOutcome::Data(_, 31))
}

fn pingpong_cq(port: u16, tls: bool, n: usize) -> Sample {
    let (s, _) = connect(port, tls, None);
    let s = Arc::new(s);
    let lp = EventLoop::new().unwrap();
    for _ in 0..n / 10 {
        cq_round_trip(&s, &lp);
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0;
    let (c0, t0) = (cpu_s(), Instant::now());
    for _ in 0..n {
        let a = Instant::now();
        if !cq_round_trip(&s, &lp) {
            errors += 1;
        }
        lat.push(a.elapsed().as_secs_f64());
    }
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
    Sample {
        ops: n as f64,
        secs,
        cpu,
        p50_us: median(&mut lat) * 1e6,
        errors,
    }
}

/// connect + (sslhandshake) + one round trip + close; `resumed` resumes
/// the previous connection's session.
fn reconnects(port: u16, tls: bool, n: usize, resumed: bool) -> Sample {
    let (first, mut sess) = connect(port, tls, None);
    round_trip(&first); // TLS 1.3 tickets arrive with the first response
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0;
    let (c0, t0) = (cpu_s(), Instant::now());
    for _ in 0..n {
        let a = Instant::now();
        let (s, new) = connect(port, tls, if resumed { sess.clone() } else { None });
        if !round_trip(&s) {
            errors += 1;
        }
        if resumed && s.tls_resumed() != Some(true) {
            errors += 1;
        }
        let _ = s.close();
        sess = new;
        lat.push(a.elapsed().as_secs_f64());
    }
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
    Sample {
        ops: n as f64,
        secs,
        cpu,
        p50_us: median(&mut lat) * 1e6,
        errors,
    }
}

fn report(imp: &str, wl: &str, s: &Sample) {
    println!(
        "RESULT impl={imp} workload={wl} ops={:.0} secs={:.6} cpu_s={:.6} p50_us={:.2} errors={}",
        s.ops, s.secs, s.cpu, s.p50_us, s.errors
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(20_000);
    let pinning = !args.iter().any(|a| a == "--no-pin")
        && std::thread::available_parallelism().map_or(1, |p| p.get()) >= 2;
    let server_cpu = pinning.then_some(1);
    if pinning {
        pin(0);
    }
    let plain = serve(None, server_cpu);
    let tls = serve(Some(tls_config()), server_cpu);
    let hs_n = (n / 20).max(50);
    let reps = 3;
    // (impl, workload, wall us/op samples, client CPU us/op samples)
    type Row = (&'static str, &'static str, Vec<f64>, Vec<f64>);
    let mut results: Vec<Row> = Vec::new();
    let mut errors = 0;
    let mut record = |imp: &'static str, wl: &'static str, s: Sample| {
        report(imp, wl, &s);
        errors += s.errors;
        let (wall, cpu) = (s.secs / s.ops * 1e6, s.cpu / s.ops * 1e6);
        match results.iter_mut().find(|r| r.0 == imp && r.1 == wl) {
            Some(r) => {
                r.2.push(wall);
                r.3.push(cpu);
            }
            None => results.push((imp, wl, vec![wall], vec![cpu])),
        }
    };
    // `--only WORKLOAD:IMPL` (e.g. pingpong:tls) runs just that, once: for
    // valgrind --tool=callgrind --separate-threads=yes, whose instruction
    // counts do not depend on the machine's load.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let want = |wl: &str, imp: &str| {
        only.as_deref()
            .is_none_or(|o| o == format!("{wl}:{imp}").as_str())
    };
    let reps = if only.is_some() { 1 } else { reps };
    for _ in 0..reps {
        if want("pingpong", "plain") {
            record("cosocket_plain", "pingpong", pingpong(plain, false, n));
        }
        if want("pingpong", "tls") {
            record("cosocket_tls", "pingpong", pingpong(tls, true, n));
        }
        if want("pingpong_cq", "plain") {
            record(
                "cosocket_plain",
                "pingpong_cq",
                pingpong_cq(plain, false, n),
            );
        }
        if want("pingpong_cq", "tls") {
            record("cosocket_tls", "pingpong_cq", pingpong_cq(tls, true, n));
        }
        if want("reconnect", "plain") {
            record(
                "cosocket_plain",
                "reconnect",
                reconnects(plain, false, hs_n, false),
            );
        }
        if want("reconnect", "tls") {
            record(
                "cosocket_tls",
                "reconnect",
                reconnects(tls, true, hs_n, false),
            );
        }
        if want("reconnect_resumed", "tls") {
            record(
                "cosocket_tls",
                "reconnect_resumed",
                reconnects(tls, true, hs_n, true),
            );
        }
    }
    if errors > 0 {
        eprintln!("tls_bench: {errors} failed operations");
        std::process::exit(1);
    }
    if only.is_some() {
        return;
    }
    println!();
    println!("median us/op over {reps} repetitions (n={n}, handshakes={hs_n}, pinned={pinning}):");
    let med = |imp: &str, wl: &str, cpu: bool| {
        let mut v = results
            .iter()
            .find(|r| r.0 == imp && r.1 == wl)
            .map(|r| if cpu { r.3.clone() } else { r.2.clone() })
            .unwrap_or_default();
        median(&mut v)
    };
    println!(
        "  {:<18} {:>22} {:>22}",
        "", "wall us/op", "client CPU us/op"
    );
    println!(
        "  {:<18} {:>7} {:>7} {:>6} {:>7} {:>7} {:>6}",
        "workload", "plain", "tls", "ratio", "plain", "tls", "ratio"
    );
    for (wl, twl) in [
        ("pingpong", "pingpong"),
        ("pingpong_cq", "pingpong_cq"),
        ("reconnect", "reconnect"),
        ("reconnect", "reconnect_resumed"),
    ] {
        let (p, t) = (
            med("cosocket_plain", wl, false),
            med("cosocket_tls", twl, false),
        );
        let (pc, tc) = (
            med("cosocket_plain", wl, true),
            med("cosocket_tls", twl, true),
        );
        println!(
            "  {twl:<18} {p:7.2} {t:7.2} {:5.2}x {pc:7.2} {tc:7.2} {:5.2}x",
            t / p,
            tc / pc
        );
    }
}

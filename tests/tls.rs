//! TLS over cosockets (`sslhandshake`, reference §2.3) against rustls servers
//! on loopback with certificates generated at start-up: verification
//! results and OpenSSL-style errors, SNI, resumption (TLS 1.2 and 1.3),
//! client certificates, every receive pattern over TLS, peers closing,
//! timeouts, busy states, the keepalive pool keeping TLS state (tickets and
//! key updates arriving while idle), the asynchronous path on an EventLoop,
//! and the C ABI.

mod common;
#[path = "tls_support/mod.rs"]
mod tls_support;

use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tcp::*;
use cosocket::event_loop::EventLoop;
use cosocket::receive::Pattern;
use cosocket::tcp::{ConnectOpts, HandshakeOpts, Handshaked, ReadRequest, Start, Tcp};
use cosocket::tls::{ClientCert, SslSession, parse_trusted_store};
use tls_support::*;

fn tls13() -> Option<&'static rustls::SupportedProtocolVersion> {
    Some(&rustls::version::TLS13)
}

fn tls12() -> Option<&'static rustls::SupportedProtocolVersion> {
    Some(&rustls::version::TLS12)
}

/// An echo-lines server presenting the CA-signed localhost certificate.
fn echo_server(version: Option<&'static rustls::SupportedProtocolVersion>) -> Server {
    Server::start(server_config(&certs().leaf, version), |mut io| {
        io.echo_lines()
    })
}

fn connect_to(port: u16) -> Tcp {
    let s = sock_with_timeout(5000);
    s.connect(b"127.0.0.1", Some(port), &opts())
        .unwrap_or_else(|e| panic!("connect: {e}"));
    s
}

fn trust_ca(s: &Tcp) {
    s.set_trusted_store(Some(
        parse_trusted_store(certs().ca_pem.as_bytes()).unwrap(),
    ))
    .unwrap();
}

fn hs(name: Option<&str>, verify: bool) -> HandshakeOpts {
    HandshakeOpts {
        server_name: name.map(|n| n.as_bytes().to_vec()),
        verify,
        ..Default::default()
    }
}

fn hs_err(s: &Tcp, o: HandshakeOpts) -> String {
    match s.ssl_handshake(o) {
        Ok(_) => panic!("handshake succeeded"),
        Err(e) => e.to_string(),
    }
}

fn echo_once(s: &Tcp, msg: &str) {
    assert_eq!(send(s, format!("{msg}\n").as_bytes()), Ok(msg.len() + 1));
    assert_eq!(line(s), R::data(&format!("echo: {msg}")));
}

// ---- verification ------------------------------------------------------

#[test]
fn verify_success_with_trusted_store_and_name() {
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    trust_ca(&s);
    let h = s.ssl_handshake(hs(Some("localhost"), true)).unwrap();
    assert!(matches!(h, Handshaked::Now(_)));
    assert!(s.is_tls());
    echo_once(&s, "hello over tls");
    echo_once(&s, "again");
    assert_eq!(srv.seen()[0].sni.as_deref(), Some("localhost"));
}

#[test]
fn verify_ip_name_against_ip_san() {
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    trust_ca(&s);
    s.ssl_handshake(hs(Some("127.0.0.1"), true)).unwrap();
    echo_once(&s, "ip");
    // An address is not sent as SNI (rustls follows RFC 6066).
    assert_eq!(srv.wait(1, |x| x.version.is_some())[0].sni, None);
}

#[test]
fn unknown_ca_is_20_and_closes() {
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    // The system store does not know the test CA.
    let e = hs_err(&s, hs(Some("localhost"), true));
    assert_eq!(e, "20: unable to get local issuer certificate");
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    assert_eq!(line(&s), R::err2("closed"));
    assert_eq!(close(&s), Err("closed".into()));
}

#[test]
fn self_signed_is_18() {
    let srv = Server::start(server_config(&certs().self_signed, None), |mut io| {
        io.echo_lines()
    });
    let s = connect_to(srv.port);
    trust_ca(&s);
    assert_eq!(
        hs_err(&s, hs(Some("localhost"), true)),
        "18: self-signed certificate"
    );
}

#[test]
fn a_trusted_self_signed_server_certificate_is_accepted() {
    // OpenSSL trusts a certificate that is itself in the store, even one
    // marked as a CA (webpki alone refuses a CA as a server certificate).
    let c = certs();
    let expired = "10: certificate has expired";
    for (id, want, untrusted) in [
        (&c.self_signed, Ok(()), "18: self-signed certificate"),
        (&c.self_signed_ca, Ok(()), "18: self-signed certificate"),
        // OpenSSL reports the last error its verify callback saw: the date.
        (&c.self_signed_ca_expired, Err(expired.to_string()), expired),
    ] {
        let srv = Server::start(server_config(id, None), |mut io| io.echo_lines());
        let s = connect_to(srv.port);
        s.set_trusted_store(Some(parse_trusted_store(id.chain_pem.as_bytes()).unwrap()))
            .unwrap();
        let got = s
            .ssl_handshake(hs(Some("localhost"), true))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(got, want);
        if got.is_ok() {
            echo_once(&s, "self-signed");
        }
        // Not trusted: 18, CA flag or not.
        let s = connect_to(srv.port);
        assert_eq!(hs_err(&s, hs(Some("localhost"), true)), untrusted);
    }
}

#[test]
fn untrusted_root_in_chain_is_19() {
    let srv = Server::start(server_config(&certs().leaf_with_root, None), |mut io| {
        io.echo_lines()
    });
    let s = connect_to(srv.port);
    assert_eq!(
        hs_err(&s, hs(Some("localhost"), true)),
        "19: self-signed certificate in certificate chain"
    );
    // With the root trusted, the same chain verifies.
    let s = connect_to(srv.port);
    trust_ca(&s);
    s.ssl_handshake(hs(Some("localhost"), true)).unwrap();
    echo_once(&s, "chain");
}

#[test]
fn expired_is_10() {
    let srv = Server::start(server_config(&certs().expired, None), |mut io| {
        io.echo_lines()
    });
    let s = connect_to(srv.port);
    trust_ca(&s);
    assert_eq!(
        hs_err(&s, hs(Some("localhost"), true)),
        "10: certificate has expired"
    );
}

#[test]
fn host_mismatch() {
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    trust_ca(&s);
    assert_eq!(
        hs_err(&s, hs(Some("example.com"), true)),
        "certificate host mismatch"
    );
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    // Without a name, only the chain is checked (OpenResty checks the host
    // only when a server name is given).
    let s = connect_to(srv.port);
    trust_ca(&s);
    s.ssl_handshake(hs(None, true)).unwrap();
    echo_once(&s, "no name");
}

#[test]
fn no_verify_accepts_anything() {
    for id in [&certs().self_signed, &certs().expired, &certs().leaf] {
        let srv = Server::start(server_config(id, None), |mut io| io.echo_lines());
        let s = connect_to(srv.port);
        s.ssl_handshake(hs(Some("wrong.example"), false)).unwrap();
        echo_once(&s, "unverified");
        assert_eq!(srv.seen()[0].sni.as_deref(), Some("wrong.example"));
    }
}

#[test]
fn trusted_store_rules() {
    let srv = echo_server(None);
    let s = Tcp::new();
    let store = parse_trusted_store(certs().ca_pem.as_bytes()).unwrap();
    // Needs a connection, as in OpenResty.
    assert_eq!(
        s.set_trusted_store(Some(store.clone()))
            .unwrap_err()
            .to_string(),
        "closed"
    );
    assert_eq!(
        parse_trusted_store(b"not pem").unwrap_err().to_string(),
        "invalid trusted store"
    );
    let s = connect_to(srv.port);
    s.set_trusted_store(Some(store.clone())).unwrap();
    s.ssl_handshake(hs(Some("localhost"), true)).unwrap();
    assert_eq!(
        s.set_trusted_store(Some(store)).unwrap_err().to_string(),
        "ssl handshake already done; trusted store cannot be changed on an established TLS connection"
    );
    // The store served one handshake: a new connection verifies against the system store.
    s.connect(b"127.0.0.1", Some(srv.port), &opts()).unwrap();
    assert_eq!(
        hs_err(&s, hs(Some("localhost"), true)),
        "20: unable to get local issuer certificate"
    );
}

// ---- SNI, versions, states ---------------------------------------------

#[test]
fn sni_seen_by_server_and_absent_without_name() {
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    s.ssl_handshake(hs(Some("sni.example.test"), false))
        .unwrap();
    echo_once(&s, "a");
    let s2 = connect_to(srv.port);
    s2.ssl_handshake(hs(None, false)).unwrap();
    echo_once(&s2, "b");
    let seen = srv.wait(2, |x| x.version.is_some());
    assert_eq!(seen[0].sni.as_deref(), Some("sni.example.test"));
    assert_eq!(seen[1].sni, None);
}

#[test]
fn tls12_and_tls13() {
    for (v, want) in [
        (tls12(), rustls::ProtocolVersion::TLSv1_2),
        (tls13(), rustls::ProtocolVersion::TLSv1_3),
    ] {
        let srv = echo_server(v);
        let s = connect_to(srv.port);
        trust_ca(&s);
        s.ssl_handshake(hs(Some("localhost"), true)).unwrap();
        echo_once(&s, "v");
        assert_eq!(srv.wait(1, |x| x.version.is_some())[0].version, Some(want));
    }
}

#[test]
fn handshake_on_unconnected_or_closed_socket() {
    let s = Tcp::new();
    assert_eq!(hs_err(&s, hs(None, false)), "closed");
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    s.close().unwrap();
    assert_eq!(hs_err(&s, hs(None, false)), "closed");
}

#[test]
fn second_handshake_returns_at_once() {
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    let first = s.ssl_handshake(hs(Some("localhost"), false)).unwrap();
    let t = Instant::now();
    let again = s.ssl_handshake(hs(Some("other"), true)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1)); // no round trip; see seen() below
    match again {
        Handshaked::Already(sess) => assert!(Arc::ptr_eq(&sess, first.session())),
        h => panic!("{h:?}"),
    }
    echo_once(&s, "still fine");
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn close_sends_no_close_notify() {
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    s.ssl_handshake(hs(None, false)).unwrap();
    echo_once(&s, "bye");
    s.close().unwrap();
    let seen = srv.wait(1, |x| x.unclean_eof || x.close_notify);
    assert!(seen[0].unclean_eof && !seen[0].close_notify, "{seen:?}");
}

// ---- resumption ----------------------------------------------------------

fn resume_round(version: Option<&'static rustls::SupportedProtocolVersion>) {
    let srv = echo_server(version);
    let s = connect_to(srv.port);
    let sess = s
        .ssl_handshake(hs(Some("localhost"), false))
        .unwrap()
        .session()
        .clone();
    // TLS 1.3 tickets come after the handshake: the first read absorbs them.
    echo_once(&s, "first");
    assert!(sess.is_resumable());
    assert_eq!(s.tls_resumed(), Some(false));
    s.close().unwrap();

    let s = connect_to(srv.port);
    let o = HandshakeOpts {
        session: Some(sess.clone()),
        ..hs(Some("localhost"), false)
    };
    let sess2 = s.ssl_handshake(o).unwrap().session().clone();
    assert!(!Arc::ptr_eq(&sess, &sess2));
    echo_once(&s, "second");
    assert_eq!(s.tls_resumed(), Some(true));
    assert!(srv.wait(2, |x| x.version.is_some())[1].resumed);
    // The new connection's session resumes too.
    s.close().unwrap();
    let s = connect_to(srv.port);
    let o = HandshakeOpts {
        session: Some(sess2),
        ..hs(Some("localhost"), false)
    };
    s.ssl_handshake(o).unwrap();
    echo_once(&s, "third");
    assert_eq!(s.tls_resumed(), Some(true));
}

#[test]
fn resumption_tls13() {
    resume_round(tls13());
}

#[test]
fn resumption_tls12() {
    resume_round(tls12());
}

#[test]
fn resumed_session_is_checked_against_the_name() {
    let srv = echo_server(tls13());
    let s = connect_to(srv.port);
    trust_ca(&s);
    let sess = s
        .ssl_handshake(hs(Some("localhost"), true))
        .unwrap()
        .session()
        .clone();
    echo_once(&s, "first");
    s.close().unwrap();
    // Same settings, another name: the session resumes, the name does not match.
    let s = connect_to(srv.port);
    trust_ca(&s);
    let o = HandshakeOpts {
        session: Some(sess.clone()),
        ..hs(Some("127.0.0.2.example"), true)
    };
    assert_eq!(hs_err(&s, o), "certificate host mismatch");
    // Other verification settings: a full handshake instead (rustls resumes
    // only under the verifier that made the session).
    let s = connect_to(srv.port);
    let o = HandshakeOpts {
        session: Some(sess),
        ..hs(Some("localhost"), false)
    };
    s.ssl_handshake(o).unwrap();
    echo_once(&s, "full");
    assert_eq!(s.tls_resumed(), Some(false));
}

#[test]
fn unusable_session_falls_back_to_full_handshake() {
    let srv = echo_server(None);
    let s = connect_to(srv.port);
    let o = HandshakeOpts {
        session: Some(Arc::new(SslSession::default())),
        ..hs(None, false)
    };
    s.ssl_handshake(o).unwrap();
    echo_once(&s, "full");
    assert_eq!(s.tls_resumed(), Some(false));
}

// ---- client certificates ---------------------------------------------------

#[test]
fn client_certificate_presented() {
    for v in [tls12(), tls13()] {
        let srv = Server::start(mtls_config(&certs().leaf, v), |mut io| io.echo_lines());
        let s = connect_to(srv.port);
        let c = &certs().client;
        s.set_client_cert(Some(
            ClientCert::from_pem(c.chain_pem.as_bytes(), c.key_pem.as_bytes()).unwrap(),
        ));
        s.ssl_handshake(hs(Some("localhost"), false)).unwrap();
        echo_once(&s, "mtls");
        assert!(srv.wait(1, |x| x.version.is_some())[0].client_cert);
    }
}

#[test]
fn client_certificate_missing() {
    // TLS 1.2: the server's alert arrives during the handshake.
    let srv = Server::start(mtls_config(&certs().leaf, tls12()), |mut io| {
        io.echo_lines()
    });
    let s = connect_to(srv.port);
    assert_eq!(hs_err(&s, hs(Some("localhost"), false)), "handshake failed");
    // TLS 1.3: the client's part ends first, the refusal comes with the
    // first read (as with OpenSSL).
    let srv = Server::start(mtls_config(&certs().leaf, tls13()), |mut io| {
        io.echo_lines()
    });
    let s = connect_to(srv.port);
    s.ssl_handshake(hs(Some("localhost"), false)).unwrap();
    let _ = send(&s, b"x\n");
    assert_eq!(line(&s), R::err("error", ""));
}

#[test]
fn client_certificate_errors() {
    let c = &certs().client;
    let e = ClientCert::from_pem(c.chain_pem.as_bytes(), certs().stray_key_pem.as_bytes());
    assert_eq!(
        e.unwrap_err().to_string(),
        "ssl set client private key failed"
    );
    let e = ClientCert::from_pem(b"junk", c.key_pem.as_bytes());
    assert_eq!(
        e.unwrap_err().to_string(),
        "invalid client certificate chain"
    );
    let e = ClientCert::from_pem(c.chain_pem.as_bytes(), b"junk");
    assert_eq!(
        e.unwrap_err().to_string(),
        "ssl set client private key failed"
    );
}

// ---- receiving over TLS ------------------------------------------------------

/// A server that sends `data` after the handshake, then closes (with
/// close_notify when `notify`).
fn script_server(data: &'static [u8], notify: bool) -> Server {
    Server::start(server_config(&certs().leaf, None), move |mut io| {
        io.write(data);
        std::thread::sleep(Duration::from_millis(20));
        if notify {
            io.close_notify();
        }
    })
}

#[test]
fn every_receive_pattern_over_tls() {
    for notify in [false, true] {
        let srv = script_server(b"hello\r\nwor\rld\nABCDEFGHIJ--sep--tail-bytes", notify);
        let s = connect_to(srv.port);
        s.ssl_handshake(hs(None, false)).unwrap();
        assert_eq!(line(&s), R::data("hello"));
        assert_eq!(line(&s), R::data("world"));
        assert_eq!(recv(&s, Pattern::Size(4)), R::data("ABCD"));
        assert_eq!(until(&s, &iter("--sep--", false), 0), R::data("EFGHIJ"));
        assert_eq!(recv(&s, Pattern::Any(4)), R::data("tail"));
        assert_eq!(recv(&s, Pattern::All), R::data("-bytes"));
        assert_eq!(recv(&s, Pattern::All), R::data(""));
        assert_eq!(line(&s), R::err("closed", ""));
    }
}

#[test]
fn receiveuntil_sized_and_inclusive_over_tls() {
    let srv = script_server(b"hello, world ----abc\nmore--abc", false);
    let s = connect_to(srv.port);
    s.ssl_handshake(hs(None, false)).unwrap();
    let it = iter("--abc", false);
    assert_eq!(until(&s, &it, 4), R::data("hell"));
    assert_eq!(until(&s, &it, 4), R::data("o, w"));
    assert_eq!(until(&s, &it, 4), R::data("orld"));
    assert_eq!(until(&s, &it, 4), R::data(" --"));
    assert_eq!(until(&s, &it, 4), R::Done);
    assert_eq!(until(&s, &iter("--abc", true), 0), R::data("\nmore--abc"));
}

#[test]
fn peer_closing_mid_stream() {
    for notify in [false, true] {
        let srv = script_server(b"partial line", notify);
        let s = connect_to(srv.port);
        s.ssl_handshake(hs(None, false)).unwrap();
        assert_eq!(
            recv(&s, Pattern::Size(100)),
            R::err("closed", "partial line")
        );
        assert_eq!(line(&s), R::err2("closed"));
        // Only the read half closed (half-close rules hold over TLS): the
        // write half still sends, and close() returns 1.
        assert_eq!(send(&s, b"late"), Ok(4));
        assert_eq!(close(&s), Ok(()));
    }
}

#[test]
fn large_transfers_both_ways() {
    let srv = Server::start(server_config(&certs().leaf, None), |mut io| io.echo_bytes());
    let s = connect_to(srv.port);
    s.ssl_handshake(hs(None, false)).unwrap();
    let data = common::peer::pattern(1 << 20);
    let s = Arc::new(s);
    let s2 = Arc::clone(&s);
    let d2 = data.clone();
    // Full duplex: one thread sends 1 MiB in uneven gather lists while this
    // one reads the echo.
    let writer = std::thread::spawn(move || {
        let mut off = 0;
        while off < d2.len() {
            let a = (off + 1000).min(d2.len());
            let b = (a + 70_000).min(d2.len());
            let n = s2
                .send(&[IoSlice::new(&d2[off..a]), IoSlice::new(&d2[a..b])])
                .unwrap();
            assert_eq!(n, b - off);
            off = b;
        }
    });
    assert_eq!(recv(&s, Pattern::Size(data.len())), R::Data(data));
    writer.join().unwrap();
}

// ---- timeouts and busy states ------------------------------------------------

#[test]
fn handshake_timeout_uses_connect_timeout_and_closes() {
    let (port, _held) = silent_server();
    let s = Tcp::new();
    s.set_timeouts(150, 5000, 5000).unwrap();
    s.connect(b"127.0.0.1", Some(port), &opts()).unwrap();
    let t = Instant::now();
    assert_eq!(hs_err(&s, hs(None, false)), "timeout");
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(140) && el < Duration::from_secs(3),
        "{el:?}"
    );
    assert_eq!(send(&s, b"x"), Err("closed".into()));
}

#[test]
fn abort_from_another_thread_ends_a_blocking_handshake() {
    let (port, _held) = silent_server();
    let s = Arc::new(connect_to(port));
    let s2 = Arc::clone(&s);
    let t = Instant::now();
    let th = std::thread::spawn(move || s2.ssl_handshake(hs(None, false)).map(|_| ()));
    std::thread::sleep(Duration::from_millis(100));
    s.abort();
    let r = th.join().unwrap();
    assert!(r.is_err());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(send(&s, b"x"), Err("closed".into()));
}

#[test]
fn read_timeout_over_tls_is_not_fatal() {
    let srv = Server::start(server_config(&certs().leaf, None), |mut io| {
        let mut p = Vec::new();
        let _ = io.read_until(&mut p, b"\n");
        std::thread::sleep(Duration::from_millis(300));
        io.write(b"late\n");
        io.echo_lines();
    });
    let s = connect_to(srv.port);
    s.ssl_handshake(hs(None, false)).unwrap();
    s.set_timeouts(5000, 5000, 100).unwrap();
    send(&s, b"go\n").unwrap();
    assert_eq!(line(&s), R::err("timeout", ""));
    s.set_timeouts(5000, 5000, 2000).unwrap();
    assert_eq!(line(&s), R::data("late"));
    echo_once(&s, "alive");
}

#[test]
fn send_timeout_over_tls_closes_write_half() {
    // The server never reads: the kernel buffers fill up.
    let srv = Server::start(server_config(&certs().leaf, None), |io| {
        std::thread::sleep(Duration::from_secs(5));
        drop(io);
    });
    let s = connect_to(srv.port);
    s.ssl_handshake(hs(None, false)).unwrap();
    s.set_timeouts(5000, 200, 5000).unwrap();
    let big = vec![b'x'; 64 << 20];
    let t = Instant::now();
    assert_eq!(send(&s, &big), Err("timeout".into()));
    assert!(t.elapsed() < Duration::from_secs(4));
    assert_eq!(send(&s, b"x"), Err("closed".into()));
    assert_eq!(close(&s), Ok(()));
}

// ---- the keepalive pool ----------------------------------------------------------

fn pooled_opts(name: &str) -> ConnectOpts {
    ConnectOpts {
        pool: Some(name.to_string()),
        ..Default::default()
    }
}

#[test]
fn pooled_tls_connection_is_reused_with_its_tls_state() {
    let srv = echo_server(None);
    let pool = format!("tls-pool-{}", srv.port);
    let s = sock_with_timeout(5000);
    s.connect(b"127.0.0.1", Some(srv.port), &pooled_opts(&pool))
        .unwrap();
    trust_ca(&s);
    let first = s.ssl_handshake(hs(Some("localhost"), true)).unwrap();
    echo_once(&s, "one");
    s.set_keepalive(None, None).unwrap();

    let s = sock_with_timeout(5000);
    s.connect(b"127.0.0.1", Some(srv.port), &pooled_opts(&pool))
        .unwrap();
    assert_eq!(s.reused_times().unwrap(), 1);
    assert!(s.is_tls());
    let t = Instant::now();
    match s.ssl_handshake(hs(Some("localhost"), true)).unwrap() {
        Handshaked::Already(sess) => assert!(Arc::ptr_eq(&sess, first.session())),
        h => panic!("{h:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(1)); // no round trip; see seen() below
    echo_once(&s, "two");
    assert_eq!(srv.seen().len(), 1, "one TCP/TLS connection only");
    s.close().unwrap();
}

#[test]
fn keepalive_right_after_handshake_absorbs_session_tickets() {
    // TLS 1.3: tickets arrive right after the handshake; setkeepalive must
    // consume them rather than call the connection dubious.
    let srv = echo_server(tls13());
    let pool = format!("tls-tickets-{}", srv.port);
    let s = sock_with_timeout(5000);
    s.connect(b"127.0.0.1", Some(srv.port), &pooled_opts(&pool))
        .unwrap();
    s.ssl_handshake(hs(None, false)).unwrap();
    std::thread::sleep(Duration::from_millis(100)); // the tickets are in the kernel buffer
    s.set_keepalive(None, None).unwrap();
    let s = sock_with_timeout(5000);
    s.connect(b"127.0.0.1", Some(srv.port), &pooled_opts(&pool))
        .unwrap();
    assert_eq!(s.reused_times().unwrap(), 1);
    echo_once(&s, "after tickets");
}

#[test]
fn idle_watcher_absorbs_late_tickets() {
    // The server reads the client's Finished (and sends its tickets) 200 ms
    // late: they reach the connection while it sits in the pool.
    let cfg = Arc::new(server_config(&certs().leaf, tls13()));
    let srv = Server::start_with(
        cfg,
        Arc::new(|mut io: Io| io.echo_lines()),
        Duration::from_millis(200),
    );
    let pool = format!("tls-late-{}", srv.port);
    let s = sock_with_timeout(5000);
    s.connect(b"127.0.0.1", Some(srv.port), &pooled_opts(&pool))
        .unwrap();
    s.ssl_handshake(hs(None, false)).unwrap();
    s.set_keepalive(None, None).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(cosocket::pool::stats(&pool).map(|st| st.idle), Some(1));
    let s = sock_with_timeout(5000);
    s.connect(b"127.0.0.1", Some(srv.port), &pooled_opts(&pool))
        .unwrap();
    assert_eq!(s.reused_times().unwrap(), 1);
    echo_once(&s, "late tickets absorbed");
}

#[test]
fn idle_watcher_absorbs_key_update_but_not_data() {
    // A key update while idle is TLS-layer only: the connection stays and
    // the next request decrypts under the new keys. Application data while
    // idle: the connection is dropped.
    let srv = Server::start(server_config(&certs().leaf, tls13()), |mut io| {
        let mut p = Vec::new();
        let Some(l) = io.read_until(&mut p, b"\n") else {
            return;
        };
        if l.starts_with(b"keyupdate") || l.starts_with(b"data") {
            io.write(&l);
            std::thread::sleep(Duration::from_millis(150));
            if l.starts_with(b"keyupdate") {
                io.conn.refresh_traffic_keys().unwrap();
                io.flush();
            } else {
                io.write(b"unsolicited\n");
            }
            io.mark();
        } else {
            io.write(&[b"echo: ", &l[..]].concat());
        }
        io.echo_lines();
    });
    for (n, (what, kept)) in [("keyupdate", true), ("data", false)]
        .into_iter()
        .enumerate()
    {
        let pool = format!("tls-idle-{what}-{}", srv.port);
        let s = sock_with_timeout(5000);
        s.connect(b"127.0.0.1", Some(srv.port), &pooled_opts(&pool))
            .unwrap();
        s.ssl_handshake(hs(None, false)).unwrap();
        send(&s, format!("{what}\n").as_bytes()).unwrap();
        assert_eq!(line(&s), R::data(what));
        s.set_keepalive(None, None).unwrap();
        // Once the server has sent it (server connection n), the watcher or
        // the check when the pool hands the connection out sees it.
        srv.wait(n + 1, |x| x.marks > 0);
        std::thread::sleep(Duration::from_millis(50));
        let s = sock_with_timeout(5000);
        s.connect(b"127.0.0.1", Some(srv.port), &pooled_opts(&pool))
            .unwrap();
        assert_eq!(s.reused_times().unwrap(), u32::from(kept), "{what}");
        if !kept {
            s.ssl_handshake(hs(None, false)).unwrap();
        }
        echo_once(&s, "works");
    }
}

#[test]
fn keepalive_sees_plaintext_buffered_in_tls() {
    let srv = Server::start(server_config(&certs().leaf, None), |mut io| {
        io.write(&vec![b'z'; 20_000]);
        io.echo_lines();
    });
    let s = connect_to(srv.port);
    s.ssl_handshake(hs(None, false)).unwrap();
    assert_eq!(recv(&s, Pattern::Size(10)), R::Data(vec![b'z'; 10]));
    assert_eq!(
        s.set_keepalive(None, None).unwrap_err().to_string(),
        "unread data in buffer"
    );
    // Still open and usable.
    assert_eq!(recv(&s, Pattern::Size(19_990)), R::Data(vec![b'z'; 19_990]));
    echo_once(&s, "usable");
}

#[test]
fn failed_handshake_releases_pool_slot() {
    let srv = echo_server(None);
    let pool = format!("tls-fail-{}", srv.port);
    let s = sock_with_timeout(5000);
    let o = ConnectOpts {
        pool: Some(pool.clone()),
        pool_size: Some(1),
        backlog: Some(0),
    };
    s.connect(b"127.0.0.1", Some(srv.port), &o).unwrap();
    assert_eq!(
        hs_err(&s, hs(Some("localhost"), true)),
        "20: unable to get local issuer certificate"
    );
    // The slot is free again: backlog 0 would refuse otherwise.
    s.connect(b"127.0.0.1", Some(srv.port), &o).unwrap();
}

// ---- the asynchronous path -------------------------------------------------

fn ahandshake(
    s: &Arc<Tcp>,
    lp: &Arc<EventLoop>,
    token: u64,
    o: HandshakeOpts,
) -> (Result<Handshaked, String>, bool) {
    match s.ssl_handshake_start(lp, token, o) {
        Start::Done(r) => (r.map_err(|e| e.to_string()), false),
        Start::Pending => {
            wait_token(lp, token, &mut Vec::new());
            let r = s
                .take_handshake_result()
                .expect("handshake result after its token");
            (r.map_err(|e| e.to_string()), true)
        }
    }
}

#[test]
fn async_handshake_send_receive() {
    let srv = Server::start_slow(
        server_config(&certs().leaf, None),
        Duration::from_millis(50),
        |mut io| io.echo_lines(),
    );
    let lp = EventLoop::new().unwrap();
    let s = Arc::new(sock_with_timeout(5000));
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(srv.port)).unwrap();
    trust_ca(&s);
    // Busy while the handshake is under way.
    match s.ssl_handshake_start(&lp, 2, hs(Some("localhost"), true)) {
        Start::Pending => {}
        Start::Done(r) => panic!("handshake finished without waiting: {r:?}"),
    }
    assert_eq!(line(&s), R::err2("socket busy connecting"));
    assert_eq!(send(&s, b"x"), Err("socket busy connecting".into()));
    assert_eq!(s.reused_times().unwrap(), 0);
    assert_eq!(close(&s), Err("socket busy connecting".into()));
    wait_token(&lp, 2, &mut Vec::new());
    assert!(matches!(
        s.take_handshake_result(),
        Some(Ok(Handshaked::Now(_)))
    ));
    let big = common::peer::pattern(300_000);
    let mut msg = big.clone();
    msg.push(b'\n');
    assert_eq!(
        asend(&s, &lp, 3, &[&msg[..100], &msg[100..]]),
        Ok(msg.len())
    );
    let mut want = b"echo: ".to_vec();
    want.extend_from_slice(&big);
    assert_eq!(arecv(&s, &lp, 4, Pattern::Line), R::Data(want));
    // A second handshake returns at once.
    assert!(matches!(
        ahandshake(&s, &lp, 5, hs(None, true)),
        (Ok(Handshaked::Already(_)), false)
    ));
}

#[test]
fn async_handshake_failures() {
    let srv = echo_server(None);
    let lp = EventLoop::new().unwrap();
    let s = Arc::new(sock_with_timeout(5000));
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(srv.port)).unwrap();
    let (r, _) = ahandshake(&s, &lp, 2, hs(Some("localhost"), true));
    assert_eq!(r.unwrap_err(), "20: unable to get local issuer certificate");
    assert_eq!(send(&s, b"x"), Err("closed".into()));

    let (port, _held) = silent_server();
    let s = Arc::new(Tcp::new());
    s.set_timeouts(150, 5000, 5000).unwrap();
    aconnect(&s, &lp, 3, b"127.0.0.1", Some(port)).unwrap();
    let t = Instant::now();
    let (r, pending) = ahandshake(&s, &lp, 4, hs(None, false));
    assert_eq!((r.unwrap_err().as_str(), pending), ("timeout", true));
    assert!(t.elapsed() >= Duration::from_millis(140));
    assert_eq!(line(&s), R::err2("closed"));
}

#[test]
fn async_many_tls_connections_on_one_loop() {
    let srv = echo_server(None);
    let lp = EventLoop::new().unwrap();
    let socks: Vec<Arc<Tcp>> = (0..16).map(|_| Arc::new(sock_with_timeout(5000))).collect();
    for (i, s) in socks.iter().enumerate() {
        aconnect(s, &lp, 100 + i as u64, b"127.0.0.1", Some(srv.port)).unwrap();
    }
    // Start every handshake, then drive them together.
    let mut pending = Vec::new();
    for (i, s) in socks.iter().enumerate() {
        match s.ssl_handshake_start(&lp, 200 + i as u64, hs(Some("localhost"), false)) {
            Start::Pending => pending.push(200 + i as u64),
            Start::Done(r) => assert!(r.is_ok()),
        }
    }
    let mut done = Vec::new();
    let end = Instant::now() + FOREVER;
    let mut buf = [0u64; 64];
    while done.len() < pending.len() {
        assert!(Instant::now() < end);
        let n = lp.wait(&mut buf, Some(Duration::from_secs(1)));
        done.extend_from_slice(&buf[..n]);
    }
    for (i, s) in socks.iter().enumerate() {
        if pending.contains(&(200 + i as u64)) {
            assert!(matches!(s.take_handshake_result(), Some(Ok(_))));
        }
        let msg = format!("n{i}\n");
        assert_eq!(
            asend(s, &lp, 300 + i as u64, &[msg.as_bytes()]),
            Ok(msg.len())
        );
        assert_eq!(
            arecv(s, &lp, 400 + i as u64, Pattern::Line),
            R::data(&format!("echo: n{i}"))
        );
    }
}

#[test]
fn async_receive_uses_data_buffered_during_handshake() {
    // The server's first bytes may arrive with its last handshake flight.
    let srv = script_server(b"greeting\n", false);
    let lp = EventLoop::new().unwrap();
    let s = Arc::new(sock_with_timeout(5000));
    aconnect(&s, &lp, 1, b"127.0.0.1", Some(srv.port)).unwrap();
    let (r, _) = ahandshake(&s, &lp, 2, hs(None, false));
    r.unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let (got, _) = arecv_req(&s, &lp, 3, ReadRequest::Pattern(Pattern::Line));
    assert_eq!(got, R::data("greeting"));
    assert_eq!(arecv(&s, &lp, 4, Pattern::All), R::data(""));
}

// ---- the C ABI -----------------------------------------------------------------

mod c_abi {
    use super::*;
    use cosocket::ffi::*;
    use std::ptr::{null, null_mut};

    fn err_of(r: &cosocket_result) -> String {
        // SAFETY: err/err_len describe a valid string until the next call.
        let b = unsafe { std::slice::from_raw_parts(r.err.cast::<u8>(), r.err_len) };
        String::from_utf8_lossy(b).into_owned()
    }

    fn empty() -> cosocket_result {
        cosocket_result {
            data: null(),
            data_len: 0,
            err: null(),
            err_len: 0,
            value: 0,
        }
    }

    fn cconnect(port: u16) -> *mut cosocket_tcp {
        let s = cosocket_tcp_new();
        let mut r = empty();
        let host = b"127.0.0.1";
        let st = cosocket_tcp_connect(
            s,
            host.as_ptr().cast(),
            host.len(),
            port as i32,
            null(),
            &mut r,
        );
        assert_eq!(st, cosocket_status::Ok);
        s
    }

    #[test]
    fn handshake_sessions_and_errors() {
        let srv = echo_server(tls13());
        let mut r = empty();
        let s = cconnect(srv.port);
        let ca = certs().ca_pem.as_bytes();
        assert_eq!(
            cosocket_tcp_settrustedstore(s, ca.as_ptr().cast(), ca.len(), &mut r),
            cosocket_status::Ok
        );
        let name = b"localhost";
        let mut sess: *mut cosocket_ssl_session = null_mut();
        let st = cosocket_tcp_sslhandshake(
            s,
            null(),
            name.as_ptr().cast(),
            name.len(),
            true,
            true,
            &mut sess,
            &mut r,
        );
        assert_eq!((st, r.value), (cosocket_status::Ok, 1));
        assert!(!sess.is_null());
        let msg = b"c\n";
        assert_eq!(
            cosocket_tcp_send(s, msg.as_ptr(), msg.len(), &mut r),
            cosocket_status::Ok
        );
        assert_eq!(
            cosocket_tcp_receive(s, cosocket_pattern::Line as u32, 0, &mut r),
            cosocket_status::Ok
        );
        assert!(cosocket_ssl_session_resumable(sess));
        // Already TLS: value 2; with the caller's session no new handle.
        let mut other: *mut cosocket_ssl_session = null_mut();
        let st = cosocket_tcp_sslhandshake(s, sess, null(), 0, false, true, &mut other, &mut r);
        assert_eq!(
            (st, r.value, other.is_null()),
            (cosocket_status::Ok, 2, true)
        );
        let st = cosocket_tcp_sslhandshake(s, null(), null(), 0, false, true, &mut other, &mut r);
        assert_eq!(
            (st, r.value, other.is_null()),
            (cosocket_status::Ok, 2, false)
        );
        cosocket_ssl_session_free(other);
        let mut got: *mut cosocket_ssl_session = null_mut();
        assert_eq!(
            cosocket_tcp_getsslsession(s, &mut got, &mut r),
            cosocket_status::Ok
        );
        cosocket_ssl_session_free(got);
        cosocket_tcp_free(s);

        // Resume with the handle (same verification settings: rustls's
        // rule); the handle outlives its connection.
        let s = cconnect(srv.port);
        assert_eq!(
            cosocket_tcp_settrustedstore(s, ca.as_ptr().cast(), ca.len(), &mut r),
            cosocket_status::Ok
        );
        let st = cosocket_tcp_sslhandshake(
            s,
            sess,
            name.as_ptr().cast(),
            name.len(),
            true,
            false,
            null_mut(),
            &mut r,
        );
        assert_eq!(st, cosocket_status::Ok);
        assert_eq!(
            cosocket_tcp_send(s, msg.as_ptr(), msg.len(), &mut r),
            cosocket_status::Ok
        );
        assert_eq!(
            cosocket_tcp_receive(s, cosocket_pattern::Line as u32, 0, &mut r),
            cosocket_status::Ok
        );
        assert_eq!(cosocket_tcp_sslresumed(s, &mut r), cosocket_status::Ok);
        assert_eq!(r.value, 1);
        cosocket_tcp_free(s);
        cosocket_ssl_session_free(sess);
        cosocket_ssl_session_free(sess); // freed handles are ignored
        cosocket_ssl_session_free(null_mut());

        // A freed session handle is refused, not trusted.
        let s = cconnect(srv.port);
        let st = cosocket_tcp_sslhandshake(s, sess, null(), 0, false, false, null_mut(), &mut r);
        assert_eq!(st, cosocket_status::InvalidHandle);
        // Verification failure: ERROR with the OpenSSL-style text.
        let st = cosocket_tcp_sslhandshake(
            s,
            null(),
            name.as_ptr().cast(),
            name.len(),
            true,
            false,
            null_mut(),
            &mut r,
        );
        assert_eq!(
            (st, err_of(&r).as_str()),
            (
                cosocket_status::Error,
                "20: unable to get local issuer certificate"
            )
        );
        cosocket_tcp_free(s);
    }

    #[test]
    fn setclientcert_arguments() {
        let s = cosocket_tcp_new();
        let mut r = empty();
        let c = &certs().client;
        let (cert, key) = (c.chain_pem.as_bytes(), c.key_pem.as_bytes());
        let st = cosocket_tcp_setclientcert(s, cert.as_ptr().cast(), cert.len(), null(), 0, &mut r);
        assert_eq!(
            (st, err_of(&r).as_str()),
            (
                cosocket_status::Error,
                "client certificate must be supplied with corresponding private key"
            )
        );
        let st = cosocket_tcp_setclientcert(s, null(), 0, key.as_ptr().cast(), key.len(), &mut r);
        assert_eq!(st, cosocket_status::Error);
        let st = cosocket_tcp_setclientcert(
            s,
            cert.as_ptr().cast(),
            cert.len(),
            key.as_ptr().cast(),
            key.len(),
            &mut r,
        );
        assert_eq!(st, cosocket_status::Ok);
        assert_eq!(
            cosocket_tcp_setclientcert(s, null(), 0, null(), 0, &mut r),
            cosocket_status::Ok
        );
        cosocket_tcp_free(s);
    }

    #[test]
    fn async_handshake_result_op() {
        let srv = Server::start_slow(
            server_config(&certs().leaf, None),
            Duration::from_millis(50),
            |mut io| io.echo_lines(),
        );
        let mut r = empty();
        let s = cconnect(srv.port);
        let lp = cosocket_loop_new();
        let st = cosocket_tcp_sslhandshake_async(
            s,
            lp,
            7,
            null(),
            null(),
            0,
            false,
            true,
            null_mut(),
            &mut r,
        );
        assert_eq!(st, cosocket_status::Again);
        let mut toks = [0u64; 4];
        let mut n = 0usize;
        let end = Instant::now() + FOREVER;
        while n == 0 {
            assert!(Instant::now() < end);
            cosocket_loop_wait(lp, toks.as_mut_ptr(), toks.len(), 1000, &mut n);
        }
        assert_eq!(toks[0], 7);
        let st = cosocket_tcp_result(s, cosocket_op::Handshake as u32, &mut r);
        assert_eq!((st, r.value), (cosocket_status::Ok, 1));
        assert_eq!(
            cosocket_tcp_result(s, cosocket_op::Handshake as u32, &mut r),
            cosocket_status::NoResult
        );
        let mut sess: *mut cosocket_ssl_session = null_mut();
        assert_eq!(
            cosocket_tcp_getsslsession(s, &mut sess, &mut r),
            cosocket_status::Ok
        );
        cosocket_ssl_session_free(sess);
        cosocket_tcp_free(s);
        cosocket_loop_free(lp);
    }
}

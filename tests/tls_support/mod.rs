//! Test TLS servers for `tests/tls.rs`: certificates generated with rcgen at
//! start-up (a CA, leaves signed by it, an expired one, a self-signed one,
//! a client CA and client certificate) and rustls servers on loopback, one
//! thread per connection, recording what each connection saw (SNI,
//! resumption, client certificate, how the client closed).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{HandshakeKind, ProtocolVersion, RootCertStore, ServerConfig, ServerConnection};

/// A certificate chain and its key, as DER (for the servers) and PEM (for the
/// client API).
#[derive(Clone)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_der: Vec<u8>,
    pub chain_pem: String,
    pub key_pem: String,
}

impl Identity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

pub struct Certs {
    /// The test CA (PEM), to pass to `settrustedstore`.
    pub ca_pem: String,
    /// localhost + 127.0.0.1, signed by the CA.
    pub leaf: Identity,
    /// The same leaf, sent with the CA certificate after it.
    pub leaf_with_root: Identity,
    /// Signed by the CA, expired in 2001.
    pub expired: Identity,
    /// Self-signed, for localhost.
    pub self_signed: Identity,
    /// Self-signed for localhost and marked as a CA (what `openssl req
    /// -x509` makes), expired or not.
    pub self_signed_ca: Identity,
    pub self_signed_ca_expired: Identity,
    /// The CA that signs client certificates (PEM and DER).
    pub client_ca: CertificateDer<'static>,
    /// A client certificate signed by the client CA.
    pub client: Identity,
    /// A private key that matches nothing.
    pub stray_key_pem: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn self_signed_ca(expired: bool) -> Identity {
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, "localhost");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    if expired {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Identity {
        chain: vec![cert.der().clone()],
        key_der: key.serialize_der(),
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn leaf(
    names: &[&str],
    issuer: Option<&CertifiedIssuer<'static, KeyPair>>,
    expired: bool,
) -> Identity {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    if expired {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = match issuer {
        Some(i) => p.signed_by(&key, i).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    Identity {
        chain: vec![cert.der().clone()],
        key_der: key.serialize_der(),
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

pub fn certs() -> &'static Certs {
    static C: OnceLock<Certs> = OnceLock::new();
    C.get_or_init(|| {
        let ca = ca("cosocket test CA");
        let leaf_id = leaf(&["localhost", "127.0.0.1"], Some(&ca), false);
        let mut with_root = leaf_id.clone();
        with_root.chain.push(ca.der().clone());
        with_root.chain_pem.push_str(&ca.pem());
        let client_ca = ca_for_clients();
        let client = leaf(&["client.test"], Some(&client_ca), false);
        Certs {
            ca_pem: ca.pem(),
            leaf: leaf_id,
            leaf_with_root: with_root,
            expired: leaf(&["localhost"], Some(&ca), true),
            self_signed: leaf(&["localhost"], None, false),
            self_signed_ca: self_signed_ca(false),
            self_signed_ca_expired: self_signed_ca(true),
            client_ca: client_ca.der().clone(),
            client,
            stray_key_pem: KeyPair::generate().unwrap().serialize_pem(),
        }
    })
}

fn ca_for_clients() -> CertifiedIssuer<'static, KeyPair> {
    ca("cosocket client CA")
}

/// What the server saw of one connection.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub sni: Option<String>,
    pub resumed: bool,
    pub client_cert: bool,
    pub version: Option<ProtocolVersion>,
    pub handshake_error: Option<String>,
    /// The client ended with a TCP EOF without close_notify.
    pub unclean_eof: bool,
    /// The client sent close_notify.
    pub close_notify: bool,
    /// Times the handler called `Io::mark` (a step of its script is done).
    pub marks: u32,
}

/// A server connection after its handshake.
pub struct Io {
    pub conn: ServerConnection,
    pub sock: TcpStream,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub index: usize,
}

impl Io {
    fn note(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap()[self.index]);
    }

    /// Records that a step of the handler's script is done (see `Seen::marks`).
    pub fn mark(&self) {
        self.note(|s| s.marks += 1);
    }

    /// Writes all queued TLS bytes.
    pub fn flush(&mut self) {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.sock).is_err() {
                return;
            }
        }
    }

    pub fn write(&mut self, data: &[u8]) {
        for chunk in data.chunks(16 * 1024) {
            self.conn.writer().write_all(chunk).unwrap();
            self.flush();
        }
    }

    /// Reads some plaintext; None at EOF (recorded) or on an error.
    pub fn read_some(&mut self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => {
                    self.note(|s| s.close_notify = true);
                    return None;
                }
                Ok(n) => return Some(buf[..n].to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.note(|s| s.unclean_eof = true);
                    return None;
                }
                Err(_) => return None,
            }
            match self.conn.read_tls(&mut self.sock) {
                Ok(_) => {}
                Err(_) => return None,
            }
            if self.conn.process_new_packets().is_err() {
                self.flush();
                return None;
            }
            self.flush();
        }
    }

    /// Reads until `delim` (inclusive) or EOF.
    pub fn read_until(&mut self, pending: &mut Vec<u8>, delim: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = pending.windows(delim.len()).position(|w| w == delim) {
                let rest = pending.split_off(i + delim.len());
                return Some(std::mem::replace(pending, rest));
            }
            pending.extend(self.read_some()?);
        }
    }

    /// Echoes lines back ("echo: <line>") until EOF.
    pub fn echo_lines(&mut self) {
        let mut pending = Vec::new();
        while let Some(line) = self.read_until(&mut pending, b"\n") {
            let mut out = b"echo: ".to_vec();
            out.extend_from_slice(&line);
            self.write(&out);
        }
    }

    /// Echoes bytes back until EOF.
    pub fn echo_bytes(&mut self) {
        while let Some(d) = self.read_some() {
            self.write(&d);
        }
    }

    /// Sends close_notify, then closes.
    pub fn close_notify(mut self) {
        self.conn.send_close_notify();
        self.flush();
    }
}

pub type Handler = Arc<dyn Fn(Io) + Send + Sync>;

pub struct Server {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// A server with `cfg`, running `handler` after each handshake.
    pub fn start(cfg: ServerConfig, handler: impl Fn(Io) + Send + Sync + 'static) -> Server {
        Self::start_with(Arc::new(cfg), Arc::new(handler), Duration::ZERO)
    }

    /// A server that waits `hello_delay` before it reads the ClientHello, so
    /// a client's handshake must wait.
    pub fn start_slow(
        cfg: ServerConfig,
        hello_delay: Duration,
        handler: impl Fn(Io) + Send + Sync + 'static,
    ) -> Server {
        Self::start_full(
            Arc::new(cfg),
            Arc::new(handler),
            Duration::ZERO,
            hello_delay,
        )
    }

    /// `delay`: the server waits that long before reading the client's
    /// handshake Finished (so TLS 1.3 tickets come late).
    pub fn start_with(cfg: Arc<ServerConfig>, handler: Handler, delay: Duration) -> Server {
        Self::start_full(cfg, handler, delay, Duration::ZERO)
    }

    fn start_full(
        cfg: Arc<ServerConfig>,
        handler: Handler,
        delay: Duration,
        hello_delay: Duration,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let seen2 = Arc::clone(&seen);
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { continue };
                let (cfg, handler, seen) =
                    (Arc::clone(&cfg), Arc::clone(&handler), Arc::clone(&seen2));
                std::thread::spawn(move || {
                    std::thread::sleep(hello_delay);
                    serve(sock, cfg, handler, seen, delay)
                });
            }
        });
        Server { port, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` connections were seen and the last one satisfies `f`.
    pub fn wait(&self, n: usize, f: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.seen();
            if s.len() >= n && f(&s[n - 1]) {
                return s;
            }
            assert!(Instant::now() < end, "server state never matched: {s:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn serve(
    sock: TcpStream,
    cfg: Arc<ServerConfig>,
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
    delay: Duration,
) {
    let index = {
        let mut s = seen.lock().unwrap();
        s.push(Seen::default());
        s.len() - 1
    };
    let mut io = Io {
        conn: ServerConnection::new(cfg).unwrap(),
        sock,
        seen,
        index,
    };
    let mut wrote_flight = false;
    while io.conn.is_handshaking() {
        if io.conn.wants_write() {
            io.flush();
            wrote_flight = true;
            continue;
        }
        if wrote_flight && !delay.is_zero() {
            std::thread::sleep(delay);
            wrote_flight = false;
        }
        match io.conn.read_tls(&mut io.sock) {
            Ok(0) | Err(_) => {
                io.note(|s| s.handshake_error = Some("eof".into()));
                return;
            }
            Ok(_) => {}
        }
        if let Err(e) = io.conn.process_new_packets() {
            io.flush();
            io.note(|s| s.handshake_error = Some(e.to_string()));
            return;
        }
    }
    io.flush();
    let (sni, resumed, client_cert, version) = (
        io.conn.server_name().map(str::to_string),
        io.conn.handshake_kind() == Some(HandshakeKind::Resumed),
        io.conn.peer_certificates().is_some_and(|c| !c.is_empty()),
        io.conn.protocol_version(),
    );
    io.note(|s| {
        s.sni = sni;
        s.resumed = resumed;
        s.client_cert = client_cert;
        s.version = version;
    });
    handler(io);
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `id` (TLS 1.2 and 1.3, or only `version`).
pub fn server_config(
    id: &Identity,
    version: Option<&'static rustls::SupportedProtocolVersion>,
) -> ServerConfig {
    let b = ServerConfig::builder_with_provider(provider());
    let b = match version {
        Some(v) => b.with_protocol_versions(&[v]).unwrap(),
        None => b.with_safe_default_protocol_versions().unwrap(),
    };
    b.with_no_client_auth()
        .with_single_cert(id.chain.clone(), id.key())
        .unwrap()
}

/// A server configuration that requires a client certificate from the client CA.
pub fn mtls_config(
    id: &Identity,
    version: Option<&'static rustls::SupportedProtocolVersion>,
) -> ServerConfig {
    let mut roots = RootCertStore::empty();
    roots.add(certs().client_ca.clone()).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .unwrap();
    let b = ServerConfig::builder_with_provider(provider());
    let b = match version {
        Some(v) => b.with_protocol_versions(&[v]).unwrap(),
        None => b.with_safe_default_protocol_versions().unwrap(),
    };
    b.with_client_cert_verifier(verifier)
        .with_single_cert(id.chain.clone(), id.key())
        .unwrap()
}

/// A plain TCP listener that accepts and never speaks (handshake timeouts).
pub fn silent_server() -> (u16, Arc<Mutex<Vec<TcpStream>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let h2 = Arc::clone(&held);
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            h2.lock().unwrap().push(s);
        }
    });
    (port, held)
}

//! Per-handshake client configuration: crypto provider, trust stores,
//! client certificates.
//!
//! rustls resumes a session only under the very verifier and client
//! certificate resolver objects that established it (it compares pointers).
//! So those objects are shared: one verifier for "no verification", one for
//! the system store, one per trusted store; trusted stores and client
//! certificates parsed from the same PEM text are the same object while
//! anything (a socket, a session) holds them; a session keeps what it needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rustls::client::{ResolvesClientCert, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};

use super::session::{ConnStore, SslSession};
use super::verify::Verifier;
use crate::error::{Error, Result};

/// The process's crypto provider: rustls with *ring*.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system trust store (Debian: /etc/ssl/certs/ca-certificates.crt, or
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`), loaded once. Empty if none is found, so
/// verification then fails with `20: unable to get local issuer certificate`.
fn system_roots() -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(found.certs);
    Arc::new(store)
}

fn no_verify() -> Arc<Verifier> {
    static V: OnceLock<Arc<Verifier>> = OnceLock::new();
    V.get_or_init(|| Arc::new(Verifier::new(None, Vec::new(), provider())))
        .clone()
}

fn system_verifier() -> Arc<Verifier> {
    static V: OnceLock<Arc<Verifier>> = OnceLock::new();
    V.get_or_init(|| Arc::new(Verifier::new(Some(system_roots()), Vec::new(), provider())))
        .clone()
}

/// Looks `key` up in a cache of live objects, or makes and caches one.
fn cached<T>(
    cache: &Mutex<HashMap<Vec<u8>, Weak<T>>>,
    key: Vec<u8>,
    make: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    let mut m = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(live) = m.get(&key).and_then(Weak::upgrade) {
        return Ok(live);
    }
    let made = Arc::new(make()?);
    m.retain(|_, w| w.strong_count() > 0);
    m.insert(key, Arc::downgrade(&made));
    Ok(made)
}

/// A set of trusted CA certificates (`settrustedstore`).
#[derive(Debug)]
pub struct TrustedStore {
    verifier: Arc<Verifier>,
}

/// A trust store from PEM text (one or more `CERTIFICATE` blocks). The same
/// text gives the same store while it is in use.
pub fn parse_trusted_store(pem: &[u8]) -> Result<Arc<TrustedStore>> {
    static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Weak<TrustedStore>>>> = OnceLock::new();
    cached(CACHE.get_or_init(Mutex::default), pem.to_vec(), || {
        let mut store = RootCertStore::empty();
        let mut exact = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| Error::op("invalid trusted store"))?;
            store
                .add(cert.clone())
                .map_err(|_| Error::op("invalid trusted store"))?;
            exact.push(cert);
        }
        if store.is_empty() {
            return Err(Error::op("invalid trusted store"));
        }
        Ok(TrustedStore {
            verifier: Arc::new(Verifier::new(Some(Arc::new(store)), exact, provider())),
        })
    })
}

/// A client certificate chain and its private key, checked to match.
#[derive(Debug)]
pub struct ClientCert {
    resolver: Arc<Resolver>,
}

impl ClientCert {
    /// Parses a PEM chain (leaf first) and a PEM private key (PKCS#8, PKCS#1
    /// or SEC1). Errors use OpenResty's handshake-time messages. The same
    /// texts give the same object while it is in use.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Arc<ClientCert>> {
        static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Weak<ClientCert>>>> = OnceLock::new();
        let mut cache_key = (chain.len() as u64).to_le_bytes().to_vec();
        cache_key.extend_from_slice(chain);
        cache_key.extend_from_slice(key);
        cached(CACHE.get_or_init(Mutex::default), cache_key, || {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| Error::op("invalid client certificate chain"))?;
            if certs.is_empty() {
                return Err(Error::op("invalid client certificate chain"));
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|_| Error::op("ssl set client private key failed"))?;
            let ck = CertifiedKey::from_der(certs, key, &provider())
                .map_err(|_| Error::op("ssl set client private key failed"))?;
            Ok(ClientCert {
                resolver: Arc::new(Resolver(Some(Arc::new(ck)))),
            })
        })
    }
}

/// Presents the client certificate (if any) when the server asks for one.
#[derive(Debug)]
struct Resolver(Option<Arc<CertifiedKey>>);

impl ResolvesClientCert for Resolver {
    fn resolve(&self, _: &[&[u8]], schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        let ck = self.0.as_ref()?;
        ck.key.choose_scheme(schemes).map(|_| Arc::clone(ck))
    }

    fn has_certs(&self) -> bool {
        self.0.is_some()
    }
}

fn no_client_cert() -> Arc<Resolver> {
    static R: OnceLock<Arc<Resolver>> = OnceLock::new();
    R.get_or_init(|| Arc::new(Resolver(None))).clone()
}

/// What one handshake is configured with.
pub(crate) struct Settings {
    pub verify: bool,
    pub trusted: Option<Arc<TrustedStore>>,
    pub client_cert: Option<Arc<ClientCert>>,
    pub reuse: Option<Arc<SslSession>>,
}

/// Builds the configuration of one handshake (TLS 1.2 and 1.3, like
/// OpenResty's default `lua_ssl_protocols`) and the session it will fill.
pub(crate) fn client_config(s: Settings) -> Result<(Arc<ClientConfig>, Arc<SslSession>)> {
    let verifier = match (s.verify, &s.trusted) {
        (false, _) => no_verify(),
        (true, None) => system_verifier(),
        (true, Some(t)) => Arc::clone(&t.verifier),
    };
    let resolver = s
        .client_cert
        .as_ref()
        .map_or_else(no_client_cert, |c| Arc::clone(&c.resolver));
    // The session keeps alive what rustls needs to see again to resume it.
    let mut keep: Vec<Arc<dyn std::any::Any + Send + Sync>> = Vec::new();
    if s.verify
        && let Some(t) = s.trusted
    {
        keep.push(t);
    }
    if let Some(c) = s.client_cert {
        keep.push(c);
    }
    let save = Arc::new(SslSession::new(keep));
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::op("failed to create ssl connection"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(resolver);
    cfg.resumption = Resumption::store(Arc::new(ConnStore {
        reuse: s.reuse,
        save: Arc::clone(&save),
    }));
    Ok((Arc::new(cfg), save))
}

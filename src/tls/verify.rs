//! Server certificate verification with OpenResty's error strings.
//!
//! OpenResty lets OpenSSL finish the handshake and then reports
//! `SSL_get_verify_result()` as `"N: <X509_verify_cert_error_string(N)>"`,
//! or `"certificate host mismatch"` when the chain is fine but the name is
//! not. rustls (webpki) verifies the chain during the handshake; this
//! verifier records the OpenSSL-style text of a failure so the handshake
//! reports it. The name is checked once the handshake is done.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The message OpenResty gives when the name does not match.
pub const HOST_MISMATCH: &str = "certificate host mismatch";

thread_local! {
    /// The OpenSSL-style text of the last verification failure on this
    /// thread. Verification runs inside the handshake step that reports the
    /// failure, on the same thread, so verifiers can be shared (rustls
    /// resumes a session only under the very verifier that made it).
    static FAILURE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Takes the text recorded by the last failed verification on this thread.
pub(crate) fn take_failure() -> Option<String> {
    FAILURE.with(|f| f.borrow_mut().take())
}

/// Verifies the server's chain against a trust store (or, with no roots,
/// accepts any certificate). The name is checked after the handshake, as
/// OpenResty does (see [`name_matches`]), so that resumed sessions are
/// checked too.
#[derive(Debug)]
pub(crate) struct Verifier {
    /// None: `ssl_verify` off, any certificate is accepted (handshake
    /// signatures are still checked, as OpenSSL does).
    roots: Option<Arc<RootCertStore>>,
    /// The certificates of a trusted store as given: OpenSSL trusts a
    /// server certificate that is itself in the store (a self-signed server
    /// certificate, even one marked as a CA, which webpki refuses as a leaf).
    exact: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    pub(crate) fn new(
        roots: Option<Arc<RootCertStore>>,
        exact: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Verifier {
        Verifier {
            roots,
            exact,
            provider,
        }
    }
}

/// Whether the server certificate `cert` is valid for `name`.
pub(crate) fn name_matches(cert: &CertificateDer<'_>, name: &ServerName<'_>) -> bool {
    ParsedCertificate::try_from(cert).is_ok_and(|c| verify_server_name(&c, name).is_ok())
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        let algs = self.provider.signature_verification_algorithms.all;
        if let Err(e) =
            verify_server_cert_signed_by_trust_anchor(&cert, roots, intermediates, now, algs)
        {
            if self.exact.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
                // In the store itself: trusted as OpenSSL does, within its dates.
                let text = match validity(end_entity) {
                    Some((from, _)) if now.as_secs() < from => "9: certificate is not yet valid",
                    Some((_, until)) if now.as_secs() > until => "10: certificate has expired",
                    Some(_) => return Ok(ServerCertVerified::assertion()),
                    None => "handshake failed",
                };
                FAILURE.with(|f| *f.borrow_mut() = Some(text.to_string()));
                return Err(e);
            }
            let text = openssl_text(&e, end_entity, intermediates);
            FAILURE.with(|f| *f.borrow_mut() = text);
            return Err(e);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `"N: text"` as OpenSSL 3 words it, where webpki's error has a faithful
/// OpenSSL counterpart; None for the rest (reported as "handshake failed").
fn openssl_text(
    e: &rustls::Error,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Option<String> {
    use CertificateError as C;
    let rustls::Error::InvalidCertificate(ce) = e else {
        return None;
    };
    let (code, text) = match ce {
        C::UnknownIssuer => unknown_issuer(end_entity, intermediates),
        C::Expired | C::ExpiredContext { .. } => (10, "certificate has expired"),
        C::NotValidYet | C::NotValidYetContext { .. } => (9, "certificate is not yet valid"),
        C::Revoked => (23, "certificate revoked"),
        C::BadSignature => (7, "certificate signature failure"),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            (26, "unsupported certificate purpose")
        }
        C::UnhandledCriticalExtension => (34, "unhandled critical extension"),
        // A lone self-signed certificate that is not trusted is 18 for
        // OpenSSL whatever else webpki finds first (e.g. a CA flag on it).
        _ if intermediates.is_empty() && unknown_issuer(end_entity, intermediates).0 == 18 => {
            (18, "self-signed certificate")
        }
        _ => return None,
    };
    Some(format!("{code}: {text}"))
}

/// OpenSSL's three ways of saying "no trusted issuer": the lone server
/// certificate is self-signed (18), the chain ends in an untrusted
/// self-signed root (19), or the issuer of the last certificate is unknown (20).
fn unknown_issuer(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> (i32, &'static str) {
    let self_signed = |c: &CertificateDer<'_>| names(c).is_some_and(|(i, s)| i == s);
    match intermediates.last() {
        None if self_signed(end_entity) => (18, "self-signed certificate"),
        Some(last) if self_signed(last) => (19, "self-signed certificate in certificate chain"),
        _ => (20, "unable to get local issuer certificate"),
    }
}

/// One DER element: (tag, contents, rest).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&first, mut d) = d.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let len = d[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        d = &d[n..];
        len
    };
    if d.len() < len {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

/// The raw issuer name, validity and subject name of a certificate.
fn fields<'a>(cert: &'a CertificateDer<'_>) -> Option<(&'a [u8], &'a [u8], &'a [u8])> {
    let (_, body, _) = tlv(cert.as_ref())?;
    let (_, tbs, _) = tlv(body)?;
    let (tag, _, mut rest) = tlv(tbs)?;
    if tag == 0xa0 {
        // [0] version, then the serial number.
        rest = tlv(rest)?.2;
    }
    let (_, _, rest) = tlv(rest)?; // signature algorithm
    let (_, issuer, rest) = tlv(rest)?;
    let (_, validity, rest) = tlv(rest)?;
    let (_, subject, _) = tlv(rest)?;
    Some((issuer, validity, subject))
}

/// The raw issuer and subject names of a certificate.
fn names<'a>(cert: &'a CertificateDer<'_>) -> Option<(&'a [u8], &'a [u8])> {
    fields(cert).map(|(i, _, s)| (i, s))
}

/// notBefore and notAfter as Unix seconds.
fn validity(cert: &CertificateDer<'_>) -> Option<(u64, u64)> {
    let (_, v, _) = fields(cert)?;
    let (t1, from, rest) = tlv(v)?;
    let (t2, until, _) = tlv(rest)?;
    Some((x509_time(t1, from)?, x509_time(t2, until)?))
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) to Unix seconds.
fn x509_time(tag: u8, b: &[u8]) -> Option<u64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |a, &c| {
            c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0'))
        })
    };
    let (year, rest) = match (tag, b.len()) {
        (0x17, 13) => {
            let yy = digits(&b[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &b[2..])
        }
        (0x18, 15) => (digits(&b[..4])?, &b[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let (mo, d) = (digits(&rest[0..2])?, digits(&rest[2..4])?);
    let (h, mi, s) = (
        digits(&rest[4..6])?,
        digits(&rest[6..8])?,
        digits(&rest[8..10])?,
    );
    // Days from civil (proleptic Gregorian), 1970-01-01 = 0.
    let y = if mo <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(
            tlv(&[0x30, 0x01, 0xff, 0x00]),
            Some((0x30, &[0xff][..], &[0][..]))
        );
        assert_eq!(
            tlv(&[0x30, 0x81, 0x01, 0xaa]),
            Some((0x30, &[0xaa][..], &[][..]))
        );
        assert_eq!(tlv(&[0x30, 0x82, 0x00]), None);
        assert_eq!(tlv(&[0x30, 0x05, 0x00]), None);
    }

    #[test]
    fn x509_times() {
        assert_eq!(x509_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(x509_time(0x17, b"000229120000Z"), Some(951_825_600));
        assert_eq!(x509_time(0x18, b"20380119031408Z"), Some(2_147_483_648));
        assert_eq!(x509_time(0x18, b"99991231235959Z"), Some(253_402_300_799));
        assert_eq!(x509_time(0x17, b"700101000000"), None);
        assert_eq!(x509_time(0x17, b"7001010000a0Z"), None);
    }

    #[test]
    fn garbage_is_not_self_signed() {
        let c = CertificateDer::from(vec![1u8, 2, 3]);
        assert_eq!(unknown_issuer(&c, &[]).0, 20);
    }
}

//! `tls_server_config` → a rustls `ServerConfig` (ring, as the rest of the
//! tree): certificate and key, the client-certificate policy of
//! `client_auth_type` with `client_ca_file` and `client_allowed_sans`,
//! versions, suites, curves. Pure over the PEM bytes it is given.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoClientAuth, WebPkiClientVerifier};
use rustls::{
    CipherSuite, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};

use super::error::KeyError;
use super::schema::{ClientAuth, Curve, TlsSettings, TlsVersion};

/// The PEM texts a [`TlsSettings`] names, read by the caller.
pub struct Material<'a> {
    pub cert: &'a [u8],
    pub key: &'a [u8],
    pub client_ca: Option<&'a [u8]>,
}

const P: &str = "tls_server_config";

/// Build the server config. Errors name the key whose file or text is bad
/// and never quote it.
pub fn server_config(t: &TlsSettings, m: &Material<'_>) -> Result<Arc<ServerConfig>, KeyError> {
    let provider = Arc::new(provider(t));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(m.cert)
        .collect::<Result<_, _>>()
        .map_err(|_| KeyError::new(key_of(t, "cert"), "not a PEM certificate"))?;
    if certs.is_empty() {
        return Err(KeyError::new(key_of(t, "cert"), "no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_slice(m.key)
        .map_err(|_| KeyError::new(key_of(t, "key"), "no PEM private key in it"))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match (t.min_version, t.max_version) {
        (TlsVersion::Tls12, TlsVersion::Tls12) => &[&rustls::version::TLS12],
        (TlsVersion::Tls13, _) => &[&rustls::version::TLS13],
        (TlsVersion::Tls12, TlsVersion::Tls13) => {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        }
    };
    let verifier = client_verifier(t, m.client_ca, &provider)?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| KeyError::new(P, format!("{e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| KeyError::new(key_of(t, "key"), cert_key_reason(&e)))?;
    cfg.ignore_client_order = t.prefer_server_cipher_suites;
    // HTTP/1.1 only (the server has no HTTP/2).
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// `cert_file` or `cert` (as configured) in `tls_server_config.…`.
fn key_of(t: &TlsSettings, what: &str) -> String {
    use super::schema::Pem;
    let file = match what {
        "cert" => matches!(t.cert, Pem::File(_)),
        "key" => matches!(t.key, Pem::File(_)),
        _ => matches!(t.client_ca, Some(Pem::File(_))),
    };
    format!("{P}.{what}{}", if file { "_file" } else { "" })
}

fn cert_key_reason(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InconsistentKeys(_) => {
            "the private key does not match the certificate".into()
        }
        _ => "the private key cannot be used with the certificate".into(),
    }
}

/// ring, limited to the configured suites and curves. Go ignores
/// `cipher_suites` for TLS 1.3; here TLS 1.3 suites are all kept unless the
/// list names some.
fn provider(t: &TlsSettings) -> CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        let named: Vec<CipherSuite> = t.cipher_suites.iter().filter_map(|n| suite(n)).collect();
        let any13 = p
            .cipher_suites
            .iter()
            .any(|s| s.tls13().is_some() && named.contains(&s.suite()));
        p.cipher_suites
            .retain(|s| named.contains(&s.suite()) || (s.tls13().is_some() && !any13));
    }
    if !t.curves.is_empty() {
        use rustls::crypto::ring::kx_group;
        p.kx_groups = t
            .curves
            .iter()
            .map(|c| match c {
                Curve::P256 => kx_group::SECP256R1,
                Curve::P384 => kx_group::SECP384R1,
                Curve::X25519 => kx_group::X25519,
            })
            .collect();
    }
    p
}

/// A Go / IANA suite name (as in `schema::SUITES`) → rustls' suite.
fn suite(name: &str) -> Option<CipherSuite> {
    use CipherSuite as C;
    Some(match name {
        "TLS_AES_128_GCM_SHA256" => C::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => C::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => C::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

fn client_verifier(
    t: &TlsSettings,
    ca: Option<&[u8]>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, KeyError> {
    if t.client_auth == ClientAuth::NoClientCert {
        return Ok(Arc::new(NoClientAuth));
    }
    let inner = match ca {
        Some(pem) if t.client_auth.verifies() => Some(webpki_verifier(t, pem, provider)?),
        _ => None,
    };
    Ok(Arc::new(ClientCerts {
        inner,
        mandatory: t.client_auth.mandatory(),
        sans: t.client_allowed_sans.clone(),
        provider: Arc::clone(provider),
    }))
}

fn webpki_verifier(
    t: &TlsSettings,
    pem: &[u8],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, KeyError> {
    let key = key_of(t, "client_ca");
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
        let c = c.map_err(|_| KeyError::new(&key, "not a PEM certificate"))?;
        roots
            .add(c)
            .map_err(|_| KeyError::new(&key, "a certificate in it cannot be used as a CA"))?;
    }
    if roots.is_empty() {
        return Err(KeyError::new(&key, "no certificate in it"));
    }
    let mut b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    if !t.client_auth.mandatory() {
        b = b.allow_unauthenticated();
    }
    b.build().map_err(|e| KeyError::new(&key, format!("{e}")))
}

/// The client-certificate policy: verify against the client CA (`inner`) or
/// take any certificate (`RequestClientCert`, `RequireAnyClientCert`, as Go
/// does), then the SAN allow-list.
#[derive(Debug)]
struct ClientCerts {
    inner: Option<Arc<dyn ClientCertVerifier>>,
    mandatory: bool,
    sans: Option<Vec<String>>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for ClientCerts {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.as_ref().map_or(&[], |v| v.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Some(v) = &self.inner {
            v.verify_client_cert(end_entity, intermediates, now)?;
        }
        if let Some(sans) = &self.sans {
            if !has_allowed_san(end_entity, sans) {
                return Err(rustls::Error::General(
                    "client certificate has none of client_allowed_sans".into(),
                ));
            }
        }
        Ok(ClientCertVerified::assertion())
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

/// The certificate names one of `sans`: a DNS name (exact) or an IP
/// address. (Email and URI SANs, which Go also compares, are not read.)
fn has_allowed_san(cert: &CertificateDer<'_>, sans: &[String]) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    let dns: Vec<&str> = ee.valid_dns_names().collect();
    sans.iter().any(|s| {
        if dns.contains(&s.as_str()) {
            return true;
        }
        match s.parse::<std::net::IpAddr>() {
            Ok(ip) => ee
                .verify_is_valid_for_subject_name(&ServerName::IpAddress(ip.into()))
                .is_ok(),
            Err(_) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::schema::{Pem, SUITES};
    use super::*;

    fn settings(suites: &[&'static str], curves: &[Curve]) -> TlsSettings {
        TlsSettings {
            cert: Pem::Inline(String::new()),
            key: Pem::Inline(String::new()),
            client_ca: None,
            client_auth: ClientAuth::NoClientCert,
            cipher_suites: suites.to_vec(),
            curves: curves.to_vec(),
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            prefer_server_cipher_suites: true,
            client_allowed_sans: None,
        }
    }

    fn names(p: &CryptoProvider) -> Vec<String> {
        p.cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect()
    }

    #[test]
    fn every_accepted_suite_name_is_a_suite_of_ring() {
        let all = names(&rustls::crypto::ring::default_provider());
        for n in SUITES {
            let s = suite(n).unwrap_or_else(|| panic!("{n}"));
            assert!(all.contains(&format!("{s:?}")), "{n}");
        }
        assert_eq!(all.len(), SUITES.len());
    }

    #[test]
    fn the_list_restricts_tls12_and_tls13_only_when_it_names_tls13_suites() {
        let p = provider(&settings(&["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"], &[]));
        assert_eq!(
            names(&p),
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        let p = provider(&settings(
            &[
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_AES_128_GCM_SHA256",
            ],
            &[Curve::X25519],
        ));
        assert_eq!(
            names(&p),
            [
                "TLS13_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(p.kx_groups.len(), 1);
        assert_eq!(format!("{:?}", p.kx_groups[0].name()), "X25519");
        let all = provider(&settings(&[], &[]));
        assert_eq!(names(&all).len(), SUITES.len());
    }
}

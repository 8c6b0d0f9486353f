//! One rustls client configuration per SMC, shared by REST (reqwest) and the
//! WebSockets (tokio-tungstenite). Roots: the system store plus `ca_file`.
//! `insecure_skip_verify` replaces verification with an accept-all verifier.
//! `server_name` verifies the certificate for that name instead of the
//! url's host; `client_cert_file` / `client_key_file` answer an SMC that
//! asks for a client certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("ca_file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("client_cert_file {path}: {reason}")]
    ClientCert { path: PathBuf, reason: String },
    #[error("client_key_file {path}: {reason}")]
    ClientKey { path: PathBuf, reason: String },
    #[error("server_name {0:?}: not a DNS name or IP address")]
    ServerName(String),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The process-wide crypto provider (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Install ring as the process-wide rustls provider (reqwest built without a
/// provider needs one even for plain http). Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Build the client config for one SMC.
/// What one SMC's TLS client needs (the `[[smc]]` TLS keys).
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsOptions<'a> {
    pub ca_file: Option<&'a Path>,
    pub insecure: bool,
    /// `(client_cert_file, client_key_file)`.
    pub client_identity: Option<(&'a Path, &'a Path)>,
    pub server_name: Option<&'a str>,
}

pub fn client_config(o: &TlsOptions<'_>) -> Result<ClientConfig, TlsError> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
    } else if let Some(name) = o.server_name {
        let name = server_name(name)?;
        let roots = Arc::new(roots(o.ca_file)?);
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| rustls::Error::General(format!("server_name: {e}")))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(VerifyAs { name, inner }))
    } else {
        builder.with_root_certificates(roots(o.ca_file)?)
    };
    Ok(match o.client_identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, key) = client_identity(cert, key)?;
            builder.with_client_auth_cert(chain, key)?
        }
    })
}

/// The system roots plus those of `ca_file`.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        for cert in read_pem(path)? {
            roots.add(cert).map_err(|e| TlsError::CaFile {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(roots)
}

/// `server_name` as rustls takes it.
pub fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_string()).map_err(|_| TlsError::ServerName(name.to_string()))
}

/// A client certificate chain and its private key, from PEM files.
pub fn client_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::ClientCert {
            path: cert.to_owned(),
            reason: pem_reason(e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::ClientCert {
            path: cert.to_owned(),
            reason: "no PEM certificate found".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::ClientKey {
        path: key.to_owned(),
        reason: pem_reason(e),
    })?;
    Ok((chain, key_der))
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(pem_reason(e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(pem_reason(e)))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate found".into()));
    }
    Ok(certs)
}

/// The reason of a PEM error, with an I/O error as `std::io::Error` shows it
/// (e.g. "No such file or directory (os error 2)").
fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// Accepts any server certificate (signatures are still checked for form).
/// Verifies the certificate as if the url had named `name` (the
/// `server_name` key: an SMC reached by address or through a proxy whose
/// certificate names its real host).
#[derive(Debug)]
struct VerifyAs {
    name: ServerName<'static>,
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for VerifyAs {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_named() {
        let e = client_config(&TlsOptions {
            ca_file: Some(Path::new("/nonexistent/ca.pem")),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().starts_with("ca_file /nonexistent/ca.pem: "),
            "{e}"
        );
    }

    #[test]
    fn empty_ca_file_is_rejected() {
        let dir = std::env::temp_dir().join(format!("smc-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("empty.pem");
        std::fs::write(&p, "not a pem").unwrap();
        let e = client_config(&TlsOptions {
            ca_file: Some(&p),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(e.to_string().ends_with(": no PEM certificate found"), "{e}");
    }

    #[test]
    fn insecure_and_default_build() {
        let insecure = TlsOptions {
            insecure: true,
            ..TlsOptions::default()
        };
        assert!(client_config(&insecure).is_ok());
        assert!(client_config(&TlsOptions::default()).is_ok());
    }

    #[test]
    fn a_bad_server_name_and_missing_client_files_are_named() {
        let e = client_config(&TlsOptions {
            server_name: Some("not a name"),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"server_name "not a name": not a DNS name or IP address"#
        );
        let e = client_config(&TlsOptions {
            client_identity: Some((
                Path::new("/nonexistent/c.pem"),
                Path::new("/nonexistent/k.pem"),
            )),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("client_cert_file /nonexistent/c.pem: "),
            "{e}"
        );
    }
}

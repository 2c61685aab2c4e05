//! TLS for `-t/--tls` on rustls (ring provider): the server certificate chain and key from
//! PEM files, optional or required client certificates checked against `--tls-client-ca`.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use tokio_rustls::TlsAcceptor;

/// What the TLS command-line options ask for.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `-c/--certificate`: PEM, the server certificate first, then its chain.
    pub certificate: PathBuf,
    /// `-k/--private-key`: PEM, PKCS#8, PKCS#1 (RSA) or SEC1 (EC), unencrypted.
    pub private_key: PathBuf,
    /// `--tls-client-ca`: PEM bundle of CAs that client certificates must chain to.
    pub client_ca: Option<PathBuf>,
    /// `--tls-client-auth`: ask for a client certificate.
    pub client_auth: bool,
    /// `--tls-client-cert-optional`: accept clients without one (still verify one if sent).
    pub client_cert_optional: bool,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn open(path: &Path, what: &str) -> Result<BufReader<File>, String> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|err| format!("Cannot read {what} file {}: {err}", path.display()))
}

/// Every certificate in a PEM file, in order; an error if there is none.
pub fn load_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut reader = open(path, what)?;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("Invalid PEM in {what} file {}: {err}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "No certificate (BEGIN CERTIFICATE) found in {what} file {}",
            path.display()
        ));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let mut reader = open(path, "private key")?;
    rustls_pemfile::private_key(&mut reader)
        .map_err(|err| format!("Invalid PEM in private key file {}: {err}", path.display()))?
        .ok_or_else(|| {
            format!(
                "No unencrypted private key (PKCS#8, RSA or EC) found in {}",
                path.display()
            )
        })
}

/// The server-side TLS configuration the options describe.
pub fn server_config(cfg: &TlsSettings) -> Result<ServerConfig, String> {
    let certs = load_certificates(&cfg.certificate, "certificate")?;
    let key = load_private_key(&cfg.private_key)?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS setup failed: {err}"))?;
    let builder = if cfg.client_auth {
        let ca_path = cfg
            .client_ca
            .as_deref()
            .ok_or("--tls-client-auth needs --tls-client-ca to verify client certificates")?;
        let mut roots = RootCertStore::empty();
        for ca in load_certificates(ca_path, "client CA")? {
            roots
                .add(ca)
                .map_err(|err| format!("Bad CA certificate in {}: {err}", ca_path.display()))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if cfg.client_cert_optional {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        let verifier = verifier
            .build()
            .map_err(|err| format!("Client certificate verification setup failed: {err}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    builder.with_single_cert(certs, key).map_err(|err| {
        format!(
            "Certificate {} and private key {} do not make a usable pair: {err}",
            cfg.certificate.display(),
            cfg.private_key.display()
        )
    })
}

/// A TLS acceptor for the listening sockets; the error text is meant for a critical log line.
pub fn build_acceptor(cfg: &TlsSettings) -> Result<TlsAcceptor, String> {
    server_config(cfg).map(|config| TlsAcceptor::from(Arc::new(config)))
}

/// DER of the client's end-entity certificate, if it presented one.
pub fn peer_certificate(conn: &ServerConnection) -> Option<Vec<u8>> {
    conn.peer_certificates()?
        .first()
        .map(|cert| cert.as_ref().to_vec())
}

/// `TLSv1.3 TLS13_AES_128_GCM_SHA256` for the connection log (the original logs the cipher).
pub fn describe_session(conn: &ServerConnection) -> String {
    let version = conn
        .protocol_version()
        .and_then(|v| v.as_str())
        .map_or_else(|| "?".to_owned(), |v| v.replace('_', "."));
    let suite = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("?");
    format!("{version} {suite}")
}

#[cfg(test)]
mod tests;

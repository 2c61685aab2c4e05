//! Acceptors built from certificates made here, driven by a tokio-rustls client in process.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

/// A test CA, a server certificate for localhost and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    client_cert_der: CertificateDer<'static>,
    client_key_der: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
        let server_key = KeyPair::generate().expect("key");
        let server_params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let server_cert = server_params.signed_by(&server_key, &ca).expect("sign");
        let client_key = KeyPair::generate().expect("key");
        let client_params = CertificateParams::new(vec!["client".to_owned()]).expect("params");
        let client_cert = client_params.signed_by(&client_key, &ca).expect("sign");
        let write =
            |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
        write("ca.pem", &ca.pem());
        write("server.pem", &format!("{}{}", server_cert.pem(), ca.pem()));
        write("server.key", &server_key.serialize_pem());
        Pki {
            ca_der: ca.der().clone(),
            client_cert_der: client_cert.der().clone(),
            client_key_der: client_key.serialize_der(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn settings(&self) -> TlsSettings {
        TlsSettings {
            certificate: self.path("server.pem"),
            private_key: self.path("server.key"),
            ..TlsSettings::default()
        }
    }

    fn client(&self, with_certificate: bool) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("root");
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = if with_certificate {
            let key = PrivateKeyDer::try_from(self.client_key_der.clone()).expect("key der");
            builder
                .with_client_auth_cert(vec![self.client_cert_der.clone()], key)
                .expect("client cert")
        } else {
            builder.with_no_client_auth()
        };
        TlsConnector::from(Arc::new(config))
    }
}

/// Handshake over a duplex, echo one message; returns the server's view of the client cert.
async fn handshake(
    acceptor: TlsAcceptor,
    connector: TlsConnector,
) -> Result<Option<Vec<u8>>, String> {
    let (server_io, client_io) = tokio::io::duplex(16 * 1024);
    let server = async move {
        let mut tls = acceptor
            .accept(server_io)
            .await
            .map_err(|e| e.to_string())?;
        let peer = peer_certificate(tls.get_ref().1);
        let session = describe_session(tls.get_ref().1);
        assert!(session.starts_with("TLSv1.3 TLS13_"), "{session}");
        let mut buffer = [0u8; 5];
        tls.read_exact(&mut buffer)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(&buffer).await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(peer)
    };
    let client = async move {
        let name = ServerName::try_from("localhost").expect("name");
        let mut tls = connector
            .connect(name, client_io)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"hello").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut echoed = [0u8; 5];
        tls.read_exact(&mut echoed)
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(&echoed, b"hello");
        Ok::<_, String>(())
    };
    let (server_result, client_result) = tokio::join!(server, client);
    client_result?;
    server_result
}

#[tokio::test]
async fn serves_tls_without_client_auth() {
    let pki = Pki::new();
    let acceptor = build_acceptor(&pki.settings()).expect("acceptor");
    let peer = handshake(acceptor, pki.client(false))
        .await
        .expect("handshake");
    assert_eq!(peer, None);
}

#[tokio::test]
async fn required_client_certificate_is_verified_and_exposed() {
    let pki = Pki::new();
    let settings = TlsSettings {
        client_ca: Some(pki.path("ca.pem")),
        client_auth: true,
        ..pki.settings()
    };
    let acceptor = build_acceptor(&settings).expect("acceptor");
    let peer = handshake(acceptor.clone(), pki.client(true))
        .await
        .expect("handshake");
    assert_eq!(peer.as_deref(), Some(pki.client_cert_der.as_ref()));
    assert!(
        handshake(acceptor, pki.client(false)).await.is_err(),
        "no certificate: refused"
    );
}

#[tokio::test]
async fn optional_client_certificate() {
    let pki = Pki::new();
    let settings = TlsSettings {
        client_ca: Some(pki.path("ca.pem")),
        client_auth: true,
        client_cert_optional: true,
        ..pki.settings()
    };
    let acceptor = build_acceptor(&settings).expect("acceptor");
    assert_eq!(
        handshake(acceptor.clone(), pki.client(false))
            .await
            .expect("anonymous"),
        None
    );
    let peer = handshake(acceptor, pki.client(true))
        .await
        .expect("with certificate");
    assert_eq!(peer.as_deref(), Some(pki.client_cert_der.as_ref()));
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let other = Pki::new();
    let settings = TlsSettings {
        client_ca: Some(other.path("ca.pem")),
        client_auth: true,
        client_cert_optional: true,
        ..pki.settings()
    };
    let acceptor = build_acceptor(&settings).expect("acceptor");
    assert!(handshake(acceptor, pki.client(true)).await.is_err());
}

fn error_of(settings: &TlsSettings) -> String {
    match build_acceptor(settings) {
        Ok(_) => panic!("expected an error for {settings:?}"),
        Err(message) => message,
    }
}

#[test]
fn clear_errors_for_bad_files() {
    let pki = Pki::new();
    std::fs::write(pki.path("garbage.pem"), "not a pem file\n").expect("write");
    let missing = TlsSettings {
        certificate: pki.path("nope.pem"),
        ..pki.settings()
    };
    assert!(error_of(&missing).starts_with("Cannot read certificate file "));
    let no_cert = TlsSettings {
        certificate: pki.path("garbage.pem"),
        ..pki.settings()
    };
    assert!(error_of(&no_cert).starts_with("No certificate"));
    let no_key = TlsSettings {
        private_key: pki.path("server.pem"),
        ..pki.settings()
    };
    assert!(error_of(&no_key).starts_with("No unencrypted private key"));
    let other = Pki::new();
    let mismatched = TlsSettings {
        private_key: other.path("server.key"),
        ..pki.settings()
    };
    assert!(
        error_of(&mismatched).contains("do not make a usable pair"),
        "{}",
        error_of(&mismatched)
    );
    let no_ca = TlsSettings {
        client_auth: true,
        ..pki.settings()
    };
    assert!(error_of(&no_ca).contains("--tls-client-ca"));
    let bad_ca = TlsSettings {
        client_auth: true,
        client_ca: Some(pki.path("garbage.pem")),
        ..pki.settings()
    };
    assert!(error_of(&bad_ca).contains("client CA"));
}

/// Runs the openssl command-line tool (only to make key files in other encodings).
fn openssl(args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl tool is needed to make PKCS#1/SEC1 test keys");
    assert!(status.success(), "openssl {args:?}");
}

#[tokio::test]
async fn sec1_and_pkcs1_keys_load() {
    let pki = Pki::new();
    let path = |name: &str| pki.path(name).to_string_lossy().into_owned();
    openssl(&["ec", "-in", &path("server.key"), "-out", &path("sec1.key")]);
    let sec1 = std::fs::read_to_string(pki.path("sec1.key")).expect("read");
    assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let settings = TlsSettings {
        private_key: pki.path("sec1.key"),
        ..pki.settings()
    };
    let acceptor = build_acceptor(&settings).expect("SEC1 acceptor");
    handshake(acceptor, pki.client(false))
        .await
        .expect("SEC1 handshake");

    let subject = "/CN=localhost";
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        subject,
        "-days",
        "1",
        "-keyout",
        &path("rsa8.key"),
        "-out",
        &path("rsa.pem"),
    ]);
    openssl(&[
        "rsa",
        "-in",
        &path("rsa8.key"),
        "-traditional",
        "-out",
        &path("rsa1.key"),
    ]);
    let pkcs1 = std::fs::read_to_string(pki.path("rsa1.key")).expect("read");
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let settings = TlsSettings {
        certificate: pki.path("rsa.pem"),
        private_key: pki.path("rsa1.key"),
        ..TlsSettings::default()
    };
    build_acceptor(&settings).expect("PKCS#1 acceptor");
}

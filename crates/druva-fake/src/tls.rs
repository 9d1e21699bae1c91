//! The fake server's HTTPS mode: a CA generated for this server alone, a leaf
//! certificate it signed for `127.0.0.1` and `localhost`, served with rustls
//! (ring), and the CA as a PEM file that clients pass as `ca_bundle`.
//!
//! The CA is fresh per server and its key never leaves memory, so trusting
//! its PEM trusts nothing but this one server.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempDir;
use tokio_rustls::TlsAcceptor;

use druva_core::errors::{Error, Result};

/// What a TLS server needs, and the temp dir holding the CA PEM (removed when dropped).
pub(crate) struct TlsMaterial {
    pub acceptor: TlsAcceptor,
    pub ca_pem_path: PathBuf,
    pub dir: TempDir,
}

/// The leaf and its key, and the PEM of the CA that signed it.
struct Certificates {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

pub(crate) fn generate() -> Result<TlsMaterial> {
    let certificates =
        certificates().map_err(|error| tls_error("generate a certificate", error))?;
    let acceptor = acceptor(certificates.leaf, certificates.leaf_key)?;
    let dir = tempfile::Builder::new()
        .prefix("druva-fake-")
        .tempdir()
        .map_err(|error| tls_error("create a temporary directory", error))?;
    let ca_pem_path = dir.path().join("ca.pem");
    std::fs::write(&ca_pem_path, certificates.ca_pem)
        .map_err(|error| tls_error("write the CA certificate", error))?;
    Ok(TlsMaterial {
        acceptor,
        ca_pem_path,
        dir,
    })
}

fn certificates() -> Result<Certificates, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "druva fake server CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_pem = ca.self_signed(&ca_key)?.pem();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok(Certificates {
        ca_pem,
        leaf: leaf_cert.der().clone(),
        leaf_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    })
}

/// A rustls server on the ring provider, HTTP/1.1 only (see `server`).
fn acceptor(leaf: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error("choose TLS versions", error))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf], key)
        .map_err(|error| tls_error("load the certificate", error))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn tls_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Transport {
        message: format!("the fake server could not {what} for TLS: {error}"),
    }
}

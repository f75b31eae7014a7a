//! TLS for `wss://` with rustls on the `ring` crypto provider, chosen explicitly so no other
//! provider can be picked up by feature unification. Trust: the bundled Mozilla roots
//! (webpki-roots, identical on every machine) plus, when given, the certificates of `ca_file`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::url::Target;
use crate::config::ConnectConfig;
use crate::error::{Error, Result};

/// Runs the TLS handshake over `tcp`.
///
/// # Errors
/// [`Error::CaFile`] when `ca_file` is unusable; [`Error::Tls`] when the handshake fails.
pub async fn connect(
    config: &ConnectConfig,
    target: &Target,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>> {
    let client_config = match &config.ca_file {
        None => default_config(),
        Some(path) => config_with_ca_file(path).map_err(|reason| Error::CaFile {
            url: config.url.clone(),
            path: path.clone(),
            reason,
        })?,
    };
    let tls_error = |source| Error::Tls { url: config.url.clone(), source };
    let server_name = ServerName::try_from(target.host.clone())
        .map_err(|err| tls_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, err)))?;
    TlsConnector::from(client_config).connect(server_name, tcp).await.map_err(tls_error)
}

fn default_config() -> Arc<ClientConfig> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    DEFAULT.get_or_init(|| build(bundled_roots())).clone()
}

fn config_with_ca_file(path: &Path) -> std::result::Result<Arc<ClientConfig>, String> {
    let mut roots = bundled_roots();
    let mut added = 0_usize;
    for cert in CertificateDer::pem_file_iter(path).map_err(|err| err.to_string())? {
        let cert = cert.map_err(|err| err.to_string())?;
        roots.add(cert).map_err(|err| err.to_string())?;
        added += 1;
    }
    if added == 0 {
        return Err("no PEM certificate in the file".into());
    }
    Ok(build(roots))
}

fn bundled_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

fn build(roots: RootCertStore) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

//! The rustls client for `rediss://`: the built-in web PKI roots, or the PEM
//! certificates of `SETT_REDIS_CA_FILE` *instead* (a private CA must not add
//! to the public ones, nor they to it). Certificates are always checked
//! (`#insecure` is refused by the configuration).
//!
//! Built once from the configuration (the CA file is read and checked with
//! it, before the runtime starts), and shared by every reconnect.

use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

/// What the TLS handshake of one target needs.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    pub(super) config: Arc<ClientConfig>,
    pub(super) server_name: ServerName<'static>,
}

/// The client configuration for `host`, trusting `ca` (the certificates of
/// `SETT_REDIS_CA_FILE`) when given.
pub(super) fn settings(host: &str, ca: Option<&RootCertStore>) -> Result<TlsSettings, String> {
    let server_name = ServerName::try_from(host.to_string())
        .map_err(|_| "REDIS_URL: the host is not a valid TLS server name".to_string())?;
    let roots = match ca {
        Some(roots) => roots.clone(),
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let provider = Arc::new(ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsSettings {
        config: Arc::new(config),
        server_name,
    })
}

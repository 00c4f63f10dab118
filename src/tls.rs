//! The one rustls client set-up nudge uses for outbound TLS (SMTP's
//! implicit TLS, IMAP), so both trust the same roots the same way.

use std::sync::Arc;

use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The public web PKI: Mozilla's root store, built in (no system files).
pub(crate) fn web_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
}

/// A client config over `roots`: ring, the safe default protocol versions,
/// no client certificate.
pub(crate) fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, rustls::Error> {
    Ok(Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

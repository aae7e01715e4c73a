//! HTTPS listeners (`gateway.tls`, SPEC.md §1.3): rustls with HTTP/2 by ALPN, the certificate
//! and key re-read when their files change (a `tailscale cert` renewal) without dropping a
//! connection: new handshakes get the new certificate, open connections keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aperture_config::TlsFiles;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// How often the files are checked for changes.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);
/// The longest a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a certificate chain and its key into what rustls serves.
fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_file)
        .map_err(|e| format!("cannot read {}: {e}", files.cert_file.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", files.cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate",
            files.cert_file.display()
        ));
    }
    // The key's own text never goes into an error.
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|_| {
        format!(
            "cannot read a private key from {}",
            files.key_file.display()
        )
    })?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|_| {
        format!(
            "{} is not a supported private key",
            files.key_file.display()
        )
    })?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|_| "the certificate and the private key do not match".to_string())?;
    Ok(Arc::new(certified))
}

/// The certificate every new handshake gets, swapped when the files change.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|c| c.clone())
    }
}

/// When each file last changed, to notice a renewal.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// An acceptor for `files`, and a task that re-reads them when they change (a bad new pair is
/// logged and the old one kept). Fails when the files cannot be read now.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let current = Arc::new(Current(RwLock::new(load(files)?)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(current.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let watched = Arc::downgrade(&current);
    let files = files.clone();
    tokio::spawn(async move {
        let paths: [PathBuf; 2] = [files.cert_file.clone(), files.key_file.clone()];
        let mut seen = paths.clone().map(|p| stamp(&p));
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let Some(current) = watched.upgrade() else {
                return;
            };
            let now = paths.clone().map(|p| stamp(&p));
            if now == seen {
                continue;
            }
            match load(&files) {
                Ok(key) => {
                    if let Ok(mut c) = current.0.write() {
                        *c = key;
                    }
                    seen = now;
                    tracing::info!(cert = %files.cert_file.display(), "TLS certificate reloaded");
                }
                // Half-written during a renewal, perhaps: try again next time.
                Err(e) => tracing::warn!(error = %e, "keeping the previous TLS certificate"),
            }
        }
    });
    Ok(TlsAcceptor::from(Arc::new(config)))
}

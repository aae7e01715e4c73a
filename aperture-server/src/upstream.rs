//! The pooled upstream client: hyper with rustls, HTTP/1.1 and HTTP/2 by ALPN, TCP_NODELAY,
//! a connect timeout, no redirects, no decompression, no retries.

use std::time::Duration;

use aperture_config::{Gateway, TlsRoots};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::body::Body;

/// The client the proxy sends with.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Body>;

/// Builds the client from the `gateway` settings. The error says what is wrong.
pub fn build_client(gw: &Gateway) -> Result<UpstreamClient, String> {
    if gw.upstream_proxy.is_some() {
        return Err("gateway.upstream_proxy is not supported yet".into());
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(gw.timeouts.connect);
    http.set_keepalive(Some(Duration::from_secs(60)));

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let tls = match &gw.tls_roots {
        TlsRoots::Webpki => builder.with_webpki_roots().with_no_client_auth(),
        TlsRoots::Native => builder
            .with_native_roots()
            .map_err(|e| format!("gateway.tls_roots: cannot load the system roots: {e}"))?
            .with_no_client_auth(),
        TlsRoots::File(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("gateway.tls_roots: cannot read {}: {e}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("gateway.tls_roots: {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("gateway.tls_roots: {}: {e}", path.display()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https))
}

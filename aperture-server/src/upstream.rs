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
pub type UpstreamClient = Client<ConnectTimeout<HttpsConnector<HttpConnector>>, Body>;

/// Bounds the whole connect — TCP *and* the TLS handshake — by `gateway.timeouts.connect`, so
/// a provider that accepts but never finishes the handshake is a 502 (connect failure), not a
/// 504 after the response-header timeout.
#[derive(Debug, Clone)]
pub struct ConnectTimeout<C> {
    inner: C,
    limit: Option<Duration>,
}

impl<C> tower::Service<http::Uri> for ConnectTimeout<C>
where
    C: tower::Service<http::Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<crate::body::BoxError>,
{
    type Response = C::Response;
    type Error = crate::body::BoxError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<C::Response, crate::body::BoxError>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let fut = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match limit {
                Some(d) => match tokio::time::timeout(d, fut).await {
                    Ok(r) => r.map_err(Into::into),
                    Err(_) => Err("connect timed out (TCP or TLS handshake)".into()),
                },
                None => fut.await.map_err(Into::into),
            }
        })
    }
}

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
    let https = ConnectTimeout {
        inner: https,
        limit: gw.timeouts.connect,
    };
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https))
}

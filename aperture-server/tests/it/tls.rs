//! HTTPS listeners (`gateway.tls`): a self-signed certificate made by `openssl` for the test,
//! HTTP/1.1 and HTTP/2 by ALPN, and a replaced certificate picked up without a restart while an
//! open connection keeps working.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aperture_server::gateway::Gateway;
use bytes::Bytes;
use http::{StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::common;

/// Runs openssl; `None` when it is missing (SKIPPED, unless `APERTURE_OPENSSL_TEST=required`).
fn openssl(args: &[&str]) -> Option<()> {
    match std::process::Command::new("openssl").args(args).output() {
        Ok(o) if o.status.success() => Some(()),
        Ok(o) => panic!(
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ),
        Err(e) => {
            assert!(
                std::env::var("APERTURE_OPENSSL_TEST").as_deref() != Ok("required"),
                "openssl is required here: {e}"
            );
            eprintln!("SKIPPED: openssl not found: {e}");
            None
        }
    }
}

/// Issues `cert.pem` and `key.pem` for `localhost` and 127.0.0.1 (named `cn`) from a test CA
/// (`ca.pem`, made on first use), written into place as a renewal would.
fn make_cert(dir: &Path, cn: &str) -> bool {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    if !dir.join("ca.pem").exists() {
        let made = openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=aperture-test-ca",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ]);
        if made.is_none() {
            return false;
        }
    }
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let subject = format!("/CN={cn}");
    let steps: [&[&str]; 2] = [
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &subject,
            "-keyout",
            &p("key.tmp"),
            "-out",
            &p("leaf.csr"),
        ],
        &[
            "x509",
            "-req",
            "-in",
            &p("leaf.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("leaf.ext"),
            "-out",
            &p("cert.tmp"),
        ],
    ];
    for args in steps {
        if openssl(args).is_none() {
            return false;
        }
    }
    std::fs::rename(dir.join("key.tmp"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.tmp"), dir.join("cert.pem")).unwrap();
    true
}

fn client_config(trusted: &[&Path]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        for c in CertificateDer::pem_file_iter(cert).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The certificate a fresh handshake with `addr` presents (empty if the handshake fails).
async fn served_cert(addr: std::net::SocketAddr, trusted: &[&Path]) -> Vec<u8> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(trusted)));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    match connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
    {
        Ok(tls) => tls.get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_both_protocols_and_picks_up_a_renewed_certificate() {
    let dir = common::temp_dir("tls");
    std::fs::create_dir_all(&dir).unwrap();
    if !make_cert(&dir, "first") {
        return;
    }
    let (cert, key, ca) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    let text = format!(
        r#"{{"providers": {{"openai": {{"baseurl": "http://127.0.0.1:9", "models": ["gpt-5"]}}}},
            "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}}],
            "gateway": {{"data_dir": "{}", "tls": {{"cert_file": "{}", "key_file": "{}"}},
                         "identity": {{"tailscale": {{"enabled": false}}}}}}}}"#,
        dir.join("data").display(),
        cert.display(),
        key.display()
    );
    let gw = Gateway::with_source(
        common::load(&text, aperture_config::Mode::Strict),
        text.clone(),
        None,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(aperture_server::serve_gateway(
        listener,
        gw,
        std::future::pending(),
    ));
    let url = format!("https://localhost:{}/api/me", addr.port());

    let connector = |h2: bool| {
        let b = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(client_config(&[&ca]))
            .https_only();
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        if h2 {
            b.enable_http2().wrap_connector(http)
        } else {
            b.enable_http1().wrap_connector(http)
        }
    };
    for (h2, want) in [(false, Version::HTTP_11), (true, Version::HTTP_2)] {
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
            .http2_only(h2)
            .build(connector(h2));
        let res = client.get(url.parse().unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.version(), want);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("(loopback)"));
    }
    // Plain HTTP on an HTTPS port gets nothing useful.
    let plain: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        plain.get(
            format!("http://127.0.0.1:{}/healthz", addr.port())
                .parse()
                .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert!(res.is_err(), "no plaintext answer on an HTTPS listener");

    // An HTTP/2 connection opened before the renewal…
    let kept: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector(true));
    assert_eq!(
        kept.get(url.parse().unwrap()).await.unwrap().status(),
        StatusCode::OK
    );
    let first_der = CertificateDer::from_pem_file(&cert).unwrap().to_vec();
    assert_eq!(served_cert(addr, &[&ca]).await, first_der);

    // The files are replaced (a `tailscale cert` renewal): new handshakes get the new one.
    assert!(make_cert(&dir, "second"));
    let second_der = CertificateDer::from_pem_file(&cert).unwrap().to_vec();
    assert_ne!(first_der, second_der);
    let ca = ca.as_path();
    common::eventually("the renewed certificate", || {
        let want = second_der.clone();
        async move { (served_cert(addr, &[ca]).await == want).then_some(()) }
    })
    .await;
    // …still answers, on its old certificate.
    assert_eq!(
        kept.get(url.parse().unwrap()).await.unwrap().status(),
        StatusCode::OK
    );
    server.abort();
}

//! A client that never finishes its request head is dropped: it cannot hold a
//! connection (and a task) open for ever.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Options, Webhook};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// The webhook's HTTP/1.1 header read timeout (`server::HEADER_READ_TIMEOUT`).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_request_head_that_never_ends_is_dropped_after_the_header_timeout() {
    let w = Webhook::start(Options::default()).await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut w.ca.pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA cert");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(w.addr)
        .await
        .expect("connect");
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
        .expect("TLS handshake");

    // Half a request head, then silence.
    tls.write_all(b"POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .expect("write");
    tls.flush().await.expect("flush");
    let sent = Instant::now();

    let mut buf = Vec::new();
    let read = tokio::time::timeout(HEADER_READ_TIMEOUT * 3, tls.read_to_end(&mut buf)).await;
    let waited = sent.elapsed();
    assert!(
        read.is_ok(),
        "the connection was still open after {waited:?}"
    );
    // Closed because of the timeout, not at once for some other reason.
    assert!(
        waited >= HEADER_READ_TIMEOUT - Duration::from_secs(1),
        "closed after only {waited:?}: {:?}",
        String::from_utf8_lossy(&buf)
    );
    // The server is still serving everyone else.
    assert!(w.client.get(w.url("/healthz")).send().await.is_ok());
}

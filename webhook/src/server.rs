//! The HTTPS accept loop of the admission endpoints: `oam_traefik_serve::server`, shared
//! with the verifier, always over TLS.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

pub use oam_traefik_serve::server::{HEADER_READ_TIMEOUT, shutdown_signal};

/// The longest a drain waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// Serve `app` over TLS on `listener` until `shutdown` completes, then drain.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    oam_traefik_serve::server::serve(listener, Some(tls), app, DRAIN_TIMEOUT, shutdown).await;
}

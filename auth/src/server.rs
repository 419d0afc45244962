//! The accept loop of the verify endpoint: `oam_traefik_serve::server`, shared with the
//! webhook, over plain HTTP or TLS.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

pub use oam_traefik_serve::server::shutdown_signal;

/// The longest a drain waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Serve `app` on `listener` (over TLS with `tls`) until `shutdown` completes, then drain.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    oam_traefik_serve::server::serve(listener, tls, app, DRAIN_TIMEOUT, shutdown).await;
}

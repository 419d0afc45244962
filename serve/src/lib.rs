//! What the webhook and the verifier serve with, written once: the accept loop (TLS
//! handshakes off the accept path, HTTP/1.1 and HTTP/2, timeouts for slow or vanished
//! peers, a graceful drain) and PEM certificates for rustls.

pub mod server;
pub mod tls;

//! Free loopback ports.

use std::net::TcpListener;

use anyhow::{Context, Result};

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is released before the caller binds it; another process could take it in
/// between, which on a test machine is rare enough that a failed start says so.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

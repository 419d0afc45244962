//! The ceiling of the side-by-side benchmark: a bare server on the webhook's own stack
//! (the same accept loop, TLS configuration, HTTP settings and body limit, from
//! `oam_traefik_serve`) that reads the whole body, takes the request's uid from it and
//! answers a fixed AdmissionReview allowing the object. No rules, no log, no metrics: what
//! the transport alone can carry, against which the webhook's reviews/s are measured.
//!
//! cargo run --release -p oam-traefik-webhook --example ceiling -- \
//!     --listen 127.0.0.1:8443 --tls-cert tls.crt --tls-key tls.key

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Parser;
use oam_traefik_serve::server::{self, shutdown_signal};
use oam_traefik_serve::tls::{FixedCert, load_pair, server_config};
use oam_traefik_webhook::cli::DEFAULT_MAX_BODY_BYTES;
use oam_traefik_webhook::server::DRAIN_TIMEOUT;
use serde::Deserialize;

/// A bare HTTPS server answering every AdmissionReview with "allowed".
#[derive(Parser)]
struct Args {
    /// HTTPS address to serve /validate and /mutate on.
    #[arg(long)]
    listen: SocketAddr,
    /// PEM certificate chain.
    #[arg(long)]
    tls_cert: PathBuf,
    /// PEM private key of --tls-cert.
    #[arg(long)]
    tls_key: PathBuf,
}

/// Only the uid is read; serde skips the rest of the body, which it still scans whole
/// (as any server that answers a review must, to find the uid).
#[derive(Deserialize)]
struct Review<'a> {
    #[serde(borrow)]
    request: Request<'a>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    uid: std::borrow::Cow<'a, str>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pair = load_pair(&args.tls_cert, &args.tls_key)?;
    let tls = server_config(Arc::new(FixedCert(Arc::new(pair)))).context("configuring TLS")?;
    let app = Router::new()
        .route("/validate", post(review))
        .route("/mutate", post(review))
        .layer(DefaultBodyLimit::max(DEFAULT_MAX_BODY_BYTES));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("ceiling: serving on https://{}", listener.local_addr()?);
    server::serve(listener, Some(tls), app, DRAIN_TIMEOUT, shutdown_signal()).await;
    Ok(())
}

async fn review(body: Bytes) -> Response {
    let uid = match serde_json::from_slice::<Review>(&body) {
        Ok(review) => review.request.uid,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("malformed AdmissionReview: {e}"),
            )
                .into_response();
        }
    };
    let answer = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": true},
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

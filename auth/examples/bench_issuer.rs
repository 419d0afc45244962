//! The OpenID issuer and backend of the verifier's benchmark (`auth/scripts/bench.sh`):
//! the tests' issuer (discovery + JWKS over HTTPS on 127.0.0.1, its own CA) publishing one
//! ES256 and one RS256 key, tokens minted with them, and a plain HTTP backend for the
//! Traefik runs. It writes into DIR, then serves until killed:
//!
//! - `ca.crt`: the CA both programs are given to reach the issuer;
//! - `issuer`: the issuer URL; `backend`: the backend's `host:port`;
//! - `es256.one`, `rs256.one`: one valid token (the cache-hit runs);
//! - `es256.many`, `rs256.many`: MANY distinct valid tokens, one a line (the cache-miss runs);
//! - `policy.yaml`: an AdmissionPolicy whose `allowedIssuers` holds the issuer;
//! - `verify-query`: the rule's query as the chart's TraitDefinition writes it;
//! - `ready`: written last.
//!
//! Every token: `aud` orders, scope `orders:read`, group `team-orders`, an email that is
//! verified, one hour left; the many differ in `sub` and `jti`.
//!
//!   cargo run --release -p oam-traefik-auth --example bench_issuer -- DIR [MANY]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use jsonwebtoken::Algorithm;
use oam_traefik_policy::forward_auth;
use serde_json::{Value, json};
use support::{SigningKey, TestIssuer, ec, mint, now, rsa};

/// The claims of the `n`th token.
fn claims(issuer: &str, n: usize) -> Value {
    json!({"iss": issuer, "sub": format!("bench-{n}"), "aud": "orders", "jti": format!("{n}"),
           "email": format!("bench-{n}@example.com"), "email_verified": true,
           "iat": now(), "nbf": now(), "exp": now() + 3600,
           "scope": "openid orders:read", "groups": ["team-orders"]})
}

/// `count` tokens signed by `key`, minted on two threads (RSA signing is slow).
fn many(key: &SigningKey, issuer: &str, count: usize) -> String {
    let half = count / 2;
    let (first, second) = std::thread::scope(|s| {
        let a = s.spawn(|| mint_range(key, issuer, 1..1 + half));
        let b = s.spawn(|| mint_range(key, issuer, 1 + half..1 + count));
        (a.join().expect("minting"), b.join().expect("minting"))
    });
    first + &second
}

fn mint_range(key: &SigningKey, issuer: &str, range: std::ops::Range<usize>) -> String {
    range
        .map(|n| mint(key, &claims(issuer, n)) + "\n")
        .collect()
}

/// The backend: 200, naming the user that Traefik passed on.
async fn backend(headers: HeaderMap) -> String {
    let user = headers
        .get("x-forwarded-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    format!("backend: user {user}\n")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: bench_issuer DIR [MANY]: DIR receives ca.crt, tokens, policy")
    })?);
    let count: usize = match args.next() {
        Some(n) => n.parse().map_err(|e| anyhow::anyhow!("MANY {n:?}: {e}"))?,
        None => 3_000,
    };
    let es = ec("bench-es256", Algorithm::ES256);
    let rs = rsa("bench-rs256", Algorithm::RS256);
    let issuer = TestIssuer::start(&[&es, &rs]).await;
    let url = issuer.url().to_string();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text);
    write("ca.crt", issuer.ca.cert_pem())?;
    write("issuer", &url)?;
    write(
        "policy.yaml",
        &format!(
            "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  allowedIssuers: [\"{url}\"]\n"
        ),
    )?;
    // The rule as the identity trait writes it (one definition of the parameter names).
    let rule: oam_traefik_policy::IdentityRule = serde_json::from_value(json!({
        "version": "v1", "provider": "oidc", "issuer": url,
        "audiences": ["orders"], "scopes": ["orders:read"], "groups": ["team-orders"]
    }))?;
    let query = forward_auth::query(&rule)
        .ok_or_else(|| anyhow::anyhow!("an oidc rule has a verify query"))?;
    write("verify-query", &query)?;
    write("es256.one", &(mint(&es, &claims(&url, 0)) + "\n"))?;
    write("rs256.one", &(mint(&rs, &claims(&url, 0)) + "\n"))?;
    let started = std::time::Instant::now();
    write("es256.many", &many(&es, &url, count))?;
    write("rs256.many", &many(&rs, &url, count))?;
    eprintln!(
        "bench_issuer: {count} ES256 + {count} RS256 tokens minted in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    write("backend", &listener.local_addr()?.to_string())?;
    let app = Router::new().fallback(get(backend));
    write("ready", "")?;
    oam_traefik_auth::server::serve(listener, None, app, std::future::pending()).await;
    Ok(())
}

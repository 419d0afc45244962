//! What one expensive review costs the rest of the webhook: an Ingress whose middlewares
//! annotation holds N references is reviewed while `/healthz` is polled every 10 ms; prints
//! the review's median latency per N and the health check's latencies meanwhile.
//!
//! cargo run --release -p oam-traefik-webhook --example cost -- \
//!     --url https://127.0.0.1:8443 --ca ca.crt --refs 4000,40000

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;

/// Cost of large reviews for oam-traefik-webhook, and what they do to its health checks.
#[derive(Parser)]
struct Args {
    /// The webhook's base URL; must be a loopback address.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    url: String,
    /// CA certificate that signed the webhook's certificate.
    #[arg(long)]
    ca: std::path::PathBuf,
    /// Reference counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "4000,40000")]
    refs: Vec<usize>,
    /// Reviews per reference count (at most 50).
    #[arg(long, default_value_t = 9)]
    rounds: usize,
    /// Large reviews in flight at once.
    #[arg(long, default_value_t = 2)]
    concurrent: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(run(args))
}

/// An AdmissionReview creating an Ingress with `n` middleware references, every one distinct.
fn review(n: usize) -> Vec<u8> {
    let refs: Vec<String> = (0..n)
        .map(|i| format!("shop-mw-{i}@kubernetescrd"))
        .collect();
    let ingress = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "big", "namespace": "shop",
            "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": refs.join(",")}},
        "spec": {"ingressClassName": "traefik", "rules": [{"host": "big.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "big", "port": {"number": 80}}}}]}}]}
    });
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "cost", "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["devs"]}, "object": ingress}
    }))
    .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(args: Args) -> anyhow::Result<()> {
    let base = reqwest::Url::parse(&args.url).context("--url")?;
    let host = base.host_str().unwrap_or_default();
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--url must be a loopback address");
    }
    if args.rounds == 0 || args.rounds > 50 {
        bail!("--rounds must be between 1 and 50");
    }
    let ca = std::fs::read(&args.ca).with_context(|| format!("reading {}", args.ca.display()))?;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .timeout(Duration::from_secs(30))
        .build()?;
    let validate = base.join("/validate")?;
    let healthz = base.join("/healthz")?;
    let mut medians = Vec::new();
    println!("| references | review p50 | health p50 | health p99 | health max | answer |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for &n in &args.refs {
        let body = review(n);
        let stop = tokio::sync::watch::channel(false);
        let poll = {
            let client = client.clone();
            let healthz = healthz.clone();
            let mut stopped = stop.1.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !*stopped.borrow() {
                    let t = Instant::now();
                    if client.get(healthz.clone()).send().await.is_ok() {
                        seen.push(t.elapsed());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                        _ = stopped.changed() => {}
                    }
                }
                seen
            })
        };
        let mut latencies = Vec::new();
        let mut answer = String::new();
        for _ in 0..args.rounds {
            let started = Instant::now();
            let batch = (0..args.concurrent).map(|_| {
                client
                    .post(validate.clone())
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
            });
            for response in futures::future::join_all(batch).await {
                let v: serde_json::Value = response?.json().await?;
                answer = match v["response"]["allowed"].as_bool() {
                    Some(true) => "allowed".into(),
                    _ => format!("{}", v["response"]["status"]["code"]),
                };
            }
            latencies.push(started.elapsed());
        }
        let _ = stop.0.send(true);
        let mut health = poll.await?;
        latencies.sort();
        health.sort();
        let median = percentile(&latencies, 0.5);
        medians.push((n, median));
        println!(
            "| {n} | {:.1} ms | {:.2} ms | {:.2} ms | {:.2} ms | {answer} |",
            median.as_secs_f64() * 1e3,
            percentile(&health, 0.5).as_secs_f64() * 1e3,
            percentile(&health, 0.99).as_secs_f64() * 1e3,
            health.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
    if let [(a, ta), .., (b, tb)] = medians.as_slice() {
        println!(
            "cost ratio {b}/{a} references: {:.1}x (linear would be {:.1}x)",
            tb.as_secs_f64() / ta.as_secs_f64(),
            *b as f64 / *a as f64
        );
    }
    Ok(())
}

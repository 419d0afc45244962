//! Loopback load for the webhook: N keep-alive HTTPS connections posting one
//! AdmissionReview in a loop for a bounded time; prints reviews/s, p50, p99 and, given
//! the webhook's pid, its peak RSS (VmHWM). With `--print-review`, it prints the review
//! it would post and exits: the body of the side-by-side benchmark (`scripts/side-by-side.sh`).
//!
//! cargo run --release -p oam-traefik-webhook --example load -- \
//!     --url https://127.0.0.1:8443/validate --ca ca.crt --connections 64 --seconds 10 --pid PID

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;

/// Loopback HTTPS load for oam-traefik-webhook.
#[derive(Parser)]
struct Args {
    /// Endpoint to post to; must be a loopback address.
    #[arg(long, default_value = "https://127.0.0.1:8443/validate")]
    url: String,
    /// CA certificate that signed the webhook's certificate.
    #[arg(long, required_unless_present = "print_review")]
    ca: Option<std::path::PathBuf>,
    /// Keep-alive connections, one request in flight each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load (at most 120).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Components in the reviewed Application.
    #[arg(long, default_value_t = 1)]
    components: usize,
    /// Client worker threads (the webhook and this tool share the machine's cores).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The webhook's pid, to report its peak RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// Print the review of --components components (JSON, one line) and exit.
    #[arg(long)]
    print_review: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.print_review {
        println!("{}", review(args.components));
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?
        .block_on(load(args))
}

async fn load(args: Args) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(&args.url).context("--url")?;
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_matches(|c| c == '[' || c == ']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--url must be a loopback address");
    }
    if args.seconds == 0 || args.seconds > 120 || args.connections == 0 || args.connections > 1024 {
        bail!("--seconds must be 1..=120 and --connections 1..=1024");
    }
    let ca = std::fs::read(args.ca.as_ref().context("--ca is required")?).context("--ca")?;
    let body = Arc::new(serde_json::to_vec(&review(args.components))?);

    // Warm up: open every connection before measuring.
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        let c = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .http1_only()
            .pool_max_idle_per_host(1)
            .build()?;
        let r = c.post(url.clone()).body(body.to_vec()).send().await?;
        if !r.status().is_success() {
            bail!("warm-up request: HTTP {}", r.status());
        }
        r.bytes().await?;
        clients.push(c);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (url, body, stop) = (url.clone(), body.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match c.post(url.clone()).body(body.to_vec()).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(_) => latencies.push(t.elapsed().as_micros() as u32),
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i] as f64 / 1000.0
    };
    println!(
        "connections={} client_threads={} seconds={:.1} components={} reviews={} errors={} reviews/s={:.0} p50={:.2}ms p99={:.2}ms max={:.2}ms",
        args.connections,
        args.threads,
        elapsed,
        args.components,
        all.len(),
        errors,
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
    if let Some(pid) = args.pid {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        for line in status
            .lines()
            .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        {
            println!("webhook {line}");
        }
    }
    Ok(())
}

/// A validate review of an Application with `components` components, each with a
/// gateway trait and an identity rule: every rule runs and the verdict is allow.
fn review(components: usize) -> serde_json::Value {
    let components: Vec<_> = (0..components)
        .map(|i| {
            json!({
                "name": format!("web-{i}"),
                "type": "webservice",
                "properties": {"image": "example/orders:1", "port": 8080},
                "traits": [
                    {"type": "gateway", "properties": {"domain": format!("c{i}.example.com"), "http": {"/": 8080}, "class": "traefik"}},
                    {"type": "identity", "properties": {
                        "version": "v1", "provider": "oidc",
                        "issuer": "https://login.example.com/realms/prod",
                        "audiences": ["orders"], "scopes": ["orders:read"], "groups": ["team-orders"]
                    }}
                ]
            })
        })
        .collect();
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "load",
            "kind": {"group": "core.oam.dev", "version": "v1beta1", "kind": "Application"},
            "resource": {"group": "core.oam.dev", "version": "v1beta1", "resource": "applications"},
            "name": "orders",
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "load", "groups": ["system:authenticated"]},
            "object": {
                "apiVersion": "core.oam.dev/v1beta1",
                "kind": "Application",
                "metadata": {"name": "orders", "namespace": "shop"},
                "spec": {"components": components}
            },
            "dryRun": false
        }
    })
}

//! `kubectl oam-traefik`: a thin binary over the `policy` crate. The rules and the meaning
//! of a route live there; this file reads the command line, the cluster and the files.

mod check;
mod cli;
mod cluster;
mod documents;
mod sarif;
mod table;
mod views;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser};
use oam_traefik_policy::routes::{self, EffectiveRoute};
use oam_traefik_policy::{Object, Policy};

use crate::cli::{CheckArgs, CheckFormat, Cli, Command, ExplainArgs, ListArgs};
use crate::cluster::{Scope, Snapshot};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let is_check = matches!(cli.command, Command::Check(_));
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            // `check` promises 2 for a usage or read error; kubectl exits 1 on errors.
            ExitCode::from(if is_check { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    let policy = load_policy(cli.policy.as_deref())?;
    match cli.command {
        Command::Version => {
            print(&format!(
                "kubectl-oam_traefik {}\n",
                env!("CARGO_PKG_VERSION")
            ))?;
            Ok(0)
        }
        Command::Completion { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(
                shell,
                &mut cmd,
                "kubectl-oam_traefik",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Rules(args) => {
            print(&views::rules(
                &policy,
                args.output,
                args.no_headers,
                table::colour_stdout(),
            )?)?;
            Ok(0)
        }
        Command::Check(args) => check(&cli.cluster, &policy, &args),
        Command::Routes(args) => {
            let routes = block_on(cluster_routes(&cli.cluster, &policy, &args))??;
            print(&views::routes(
                &routes,
                args.output,
                args.no_headers,
                table::colour_stdout(),
            )?)?;
            Ok(0)
        }
        Command::Identities(args) => {
            let routes = block_on(cluster_routes(&cli.cluster, &policy, &args))??;
            let groups = routes::by_identity(&routes);
            print(&views::identities(
                &groups,
                args.output,
                args.no_headers,
                table::colour_stdout(),
            )?)?;
            Ok(0)
        }
        Command::Explain(args) => explain(&cli.cluster, &policy, &args),
    }
}

/// Run a future to completion on a small runtime: the plugin makes a handful of requests.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Write to stdout; a closed pipe (`| head`) ends quietly.
fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

fn load_policy(path: Option<&Path>) -> Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy {}", path.display()))?;
    Policy::from_yaml(&text).with_context(|| format!("policy {}", path.display()))
}

async fn load(cluster: &cli::ClusterArgs) -> Result<(Snapshot, String)> {
    let conn = cluster::connect(cluster).await?;
    let namespace = cluster
        .namespace
        .clone()
        .unwrap_or_else(|| conn.default_namespace.clone());
    let scope = if cluster.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(namespace.clone())
    };
    Ok((cluster::snapshot(&conn.client, &scope).await?, namespace))
}

/// Every route in the scope (of `APP`, when given), sorted.
async fn cluster_routes(
    cluster: &cli::ClusterArgs,
    policy: &Policy,
    args: &ListArgs,
) -> Result<Vec<EffectiveRoute>> {
    let (snapshot, _) = load(cluster).await?;
    let mut out: Vec<EffectiveRoute> = snapshot
        .objects
        .iter()
        .filter(|o| o.kind().is_route())
        .flat_map(|o| routes::effective_routes(o, "", policy, &snapshot.lookup))
        .filter(|r| args.app.is_none() || r.app == args.app)
        .collect();
    out.sort_by(|a, b| {
        (&a.namespace, &a.app, &a.component, &a.url, &a.object.name).cmp(&(
            &b.namespace,
            &b.app,
            &b.component,
            &b.url,
            &b.object.name,
        ))
    });
    Ok(out)
}

fn explain(cluster: &cli::ClusterArgs, policy: &Policy, args: &ExplainArgs) -> Result<u8> {
    let (app_name, component) = match args.target.split_once('/') {
        Some((a, c)) => (a, Some(c)),
        None => (args.target.as_str(), None),
    };
    if app_name.is_empty() || component == Some("") {
        bail!("expected APP or APP/COMPONENT, got {:?}", args.target);
    }
    let mut cluster = cluster.clone();
    cluster.all_namespaces = false;
    let (snapshot, namespace) = block_on(load(&cluster))??;
    let app = snapshot
        .objects
        .iter()
        .find_map(|o| match o {
            Object::Application(a)
                if a.metadata.name == app_name
                    && a.metadata.namespace_or(&namespace) == namespace =>
            {
                Some(a)
            }
            _ => None,
        })
        .with_context(|| format!("Application {namespace}/{app_name} not found"))?;
    if let Some(c) = component
        && app.component(c).is_none()
    {
        let names: Vec<&str> = app
            .spec
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        bail!(
            "Application {namespace}/{app_name} has no component {c:?} (it has: {})",
            names.join(", ")
        );
    }
    let route_objects: Vec<Object> = snapshot
        .objects
        .iter()
        .filter(|o| o.kind().is_route())
        .cloned()
        .collect();
    let explanation = routes::explain(
        app,
        &namespace,
        component,
        &route_objects,
        policy,
        &snapshot.lookup,
    );
    print(&views::explain(&explanation, args.output)?)?;
    Ok(0)
}

fn check(cluster: &cli::ClusterArgs, policy: &Policy, args: &CheckArgs) -> Result<u8> {
    let (docs, read_errors) = documents::read_all(&args.files, check::Content::of);
    let mut files: Vec<&str> = docs.iter().map(|d| d.file.as_str()).collect();
    files.extend(read_errors.iter().map(|e| e.file.as_str()));
    files.sort();
    files.dedup();
    let file_count = files.len();
    let fixed_namespace = cluster.namespace.clone();
    let report = if args.cluster {
        block_on(async {
            let conn = cluster::connect(cluster).await?;
            let namespace = fixed_namespace.unwrap_or(conn.default_namespace.clone());
            let parsed = check::parse(docs, &namespace);
            let namespaces = check::namespaces(&parsed, &namespace);
            let scope = match namespaces.iter().collect::<Vec<_>>().as_slice() {
                [only] => Scope::Namespace((*only).clone()),
                _ => Scope::All,
            };
            let snapshot = cluster::snapshot(&conn.client, &scope).await?;
            let lookup = check::Layered::new(&parsed.index, &snapshot.lookup);
            let report = check::run(
                &parsed,
                read_errors,
                file_count,
                &namespace,
                policy,
                &lookup,
                args.strict,
            );
            anyhow::Ok(report)
        })??
    } else {
        let namespace = fixed_namespace.unwrap_or_else(|| "default".to_string());
        let parsed = check::parse(docs, &namespace);
        check::run(
            &parsed,
            read_errors,
            file_count,
            &namespace,
            policy,
            &parsed.index,
            args.strict,
        )
    };
    let text = match args.output {
        CheckFormat::Text => check::text(&report, table::colour_stdout()),
        CheckFormat::Json => views::json(&report)?,
        CheckFormat::Sarif => views::json(&sarif::log(&report, policy))?,
    };
    print(&text)?;
    Ok(report.exit_code())
}

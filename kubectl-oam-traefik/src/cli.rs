//! The command line, with kubectl's conventions for the flags they share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kubectl oam-traefik: the routes Traefik serves per OAM app, who may reach them,
/// and an offline check with the admission webhook's rules.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-oam_traefik",
    bin_name = "kubectl oam-traefik",
    version
)]
pub struct Cli {
    /// Cluster access, as kubectl reads it.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The AdmissionPolicy file (the webhook's); safe defaults when absent.
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `--kubeconfig`, `--context`, `-n`, `-A`: which cluster and namespaces.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the context's).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One row per route that Traefik will serve, with its middlewares, identity and status.
    Routes(ListArgs),
    /// Per identity (issuer, audiences, scopes, groups), the routes it opens.
    Identities(ListArgs),
    /// The chain app → trait → route object → middlewares → identity, and every rule's verdict.
    Explain(ExplainArgs),
    /// Check manifests offline with the webhook's rules (exit 0 clean, 1 violation, 2 error).
    Check(CheckArgs),
    /// The rule catalogue: id, level, what it rejects, how to fix it.
    Rules(RulesArgs),
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the plugin's version.
    Version,
}

/// Output of the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns.
    Table,
    /// More columns: the route object and the reason for the status.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// `routes` and `identities`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this Application's routes.
    pub app: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: ListFormat,
    /// Leave out the header row.
    #[arg(long)]
    pub no_headers: bool,
}

/// Output of `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// Readable text.
    Text,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// `explain APP[/COMPONENT]`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// `APP` or `APP/COMPONENT`.
    pub target: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: ExplainFormat,
}

/// Output of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// One finding per line, with its hint.
    Text,
    /// JSON.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

/// `check -f PATH...`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A file, a directory (read recursively: *.yaml, *.yml, *.json) or `-` for stdin.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// Look up what the documents do not contain in the current context's cluster.
    #[arg(long)]
    pub cluster: bool,
    /// A reference that nobody can resolve is an error, not a warning.
    #[arg(long)]
    pub strict: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: CheckFormat,
}

/// Output of `rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// Aligned columns.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// `rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: RulesFormat,
    /// Leave out the header row.
    #[arg(long)]
    pub no_headers: bool,
}

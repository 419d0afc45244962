//! The workspace's own binaries (the webhook, the plugin), built for the running tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use crate::harness::repo_root;

/// The workspace binary `name`, built on first use in this test process; the environment
/// variable `env_override` names a prebuilt one instead.
///
/// The build runs `cargo test --workspace --no-run` (which builds every binary for its
/// package's own integration tests) with the target dir and profile of the running test
/// binary, so a plain `cargo test` on a clean checkout needs no step before it:
/// - no deadlock: `cargo test` releases the target-dir lock once it has compiled, before
///   it runs any test binary (checked with cargo 1.95; the nested call then waits only
///   for other cargo processes, as any build does);
/// - no rebuild: it is the README's test command itself, so under `cargo test` at the
///   root it finds everything fresh (about a second). A narrower `cargo build -p ...`
///   would resolve other features for the shared dependencies (the workspace's
///   dev-dependencies add some) and recompile kube, rustls and the binaries in the
///   middle of the suite, overwriting the outer build's artifacts.
///
/// A binary of another package cannot be a dependency on stable cargo (artifact
/// dependencies are unstable), hence the nested cargo.
pub fn workspace_binary(name: &str, env_override: &str) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(env_override) {
        return Ok(PathBuf::from(bin));
    }
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let profile_dir = BUILT
        .get_or_init(|| build_workspace().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)?;
    let bin = profile_dir.join(name);
    if !bin.is_file() {
        bail!("{} is missing after the build", bin.display());
    }
    Ok(bin)
}

/// Builds every workspace target; returns the profile dir the binaries are in.
fn build_workspace() -> Result<PathBuf> {
    // The test binary is <target-dir>/<profile-dir>/deps/<name>-<hash>.
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary is not in <target>/<profile>/deps")?;
    let target_dir = profile_dir.parent().context("no target dir")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--workspace", "--no-run", "--quiet"])
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(repo_root().join("Cargo.toml"));
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        // `cargo test`'s own default: the test profile, in target/debug.
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => bail!("odd profile dir {}", profile_dir.display()),
    }
    let status = cmd.status().context("running cargo test --no-run")?;
    if !status.success() {
        bail!("cargo test --workspace --no-run failed ({status})");
    }
    Ok(profile_dir.to_path_buf())
}

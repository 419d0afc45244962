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

/// The profile dir (`<target>/debug`) of a running test binary
/// (`<target>/<profile>/deps/<name>-<hash>`) or of a workspace binary such as the
/// playground (`<target>/<profile>/<name>`).
pub fn profile_dir(exe: &Path) -> Result<PathBuf> {
    let parent = exe.parent().context("the running binary has no folder")?;
    let dir = if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().context("no profile dir above deps/")?
    } else {
        parent
    };
    Ok(dir.to_owned())
}

/// Builds every workspace target; returns the profile dir the binaries are in.
fn build_workspace() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = profile_dir(&exe)?;
    let target_dir = profile_dir.parent().context("no target dir")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Cargo gives a running test (or `cargo run` binary) the variables it gives build
    // scripts: CARGO_MANIFEST_DIR, CARGO_PKG_NAME and the like. Build scripts that declare
    // `rerun-if-env-changed` on them (ring does) would see them changed from the outer
    // cargo's own environment, rerun, and rebuild ring, rustls and everything above them
    // in the middle of the suite, then again at the next `cargo test`.
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str()
            && is_cargo_crate_variable(name)
        {
            cmd.env_remove(name);
        }
    }
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

/// The variables cargo sets for the crate it compiles or runs (not the ones that
/// configure cargo itself, such as CARGO_HOME or CARGO_TARGET_DIR).
fn is_cargo_crate_variable(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_MANIFEST_LINKS"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
            | "OUT_DIR"
    ) || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_crate_variables_are_dropped_for_the_nested_build() {
        for dropped in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_BIN_EXE_x",
            "OUT_DIR",
        ] {
            assert!(is_cargo_crate_variable(dropped), "{dropped}");
        }
        for kept in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_TERM_COLOR",
            "PATH",
        ] {
            assert!(!is_cargo_crate_variable(kept), "{kept}");
        }
    }
}

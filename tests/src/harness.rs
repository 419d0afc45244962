//! The Go harness: kube-apiserver and etcd built from the module pinned in `tests/harness`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Result, bail};

/// Paths of the harness binaries.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The kube-apiserver binary.
    pub kube_apiserver: PathBuf,
    /// The etcd binary.
    pub etcd: PathBuf,
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests
        .parent()
        .map_or_else(|| tests.join(".."), Path::to_path_buf)
}

/// Folder of the harness sources (`tests/harness`).
pub fn harness_dir() -> PathBuf {
    repo_root().join("tests/harness")
}

/// Folder the binaries go to: `OAM_TRAEFIK_HARNESS_BIN`, else `<repo>/.cache/bin`.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("OAM_TRAEFIK_HARNESS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/bin"))
}

/// Runs `build.sh` once per test process (a no-op while the pins are unchanged).
pub fn ensure_built() -> Result<Binaries> {
    static BUILT: OnceLock<Result<Binaries, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn build() -> Result<Binaries> {
    let script = harness_dir().join("build.sh");
    // Output goes to the test's stderr: a cold build takes minutes and should say why.
    let status = Command::new("bash")
        .arg(&script)
        .env("OAM_TRAEFIK_HARNESS_BIN", bin_dir())
        .status()?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    let bin = bin_dir();
    Ok(Binaries {
        kube_apiserver: bin.join("kube-apiserver"),
        etcd: bin.join("etcd"),
    })
}

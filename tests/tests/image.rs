//! The OCI image, built without Docker by `image/build.sh` (go-containerregistry's crane) from
//! the binaries this test run built, then proven by running the binaries from the image's own
//! root filesystem: its layers unpacked from the OCI layout (every blob checked against its
//! digest), mounted read-only in a private mount namespace, entered with chroot as the
//! chart's user (`podSecurityContext.runAsUser`/`runAsGroup`), with nothing from the host
//! but a tmpfs at /tmp (an emptyDir) and a read-only policy file (the ConfigMap mount).
//!
//! Needs root (mount namespaces and chroot), as CI and the development machines have.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use oam_traefik_e2e::binaries::workspace_binary;
use oam_traefik_e2e::harness::repo_root;
use oam_traefik_e2e::ports::free_port;
use oam_traefik_e2e::process::Process;
use serde_json::Value;

/// The chart's pod user and group, read from its values.yaml.
fn chart_user() -> Result<(u32, u32)> {
    let values = std::fs::read_to_string(repo_root().join("charts/oam-traefik/values.yaml"))?;
    let field = |key: &str| -> Result<u32> {
        values
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
            .with_context(|| format!("no {key} in values.yaml"))?
            .trim()
            .parse()
            .with_context(|| format!("{key} is not a number"))
    };
    Ok((field("runAsUser")?, field("runAsGroup")?))
}

fn sh(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The blob `digest` of the OCI layout at `oci`, after checking that its content has it.
fn blob(oci: &Path, digest: &str) -> Result<PathBuf> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("not a sha256 digest: {digest}"))?;
    let path = oci.join("blobs/sha256").join(hex);
    let sum = sh(Command::new("sha256sum").arg(&path))?;
    ensure!(
        sum.split_whitespace().next() == Some(hex),
        "blob {digest} does not have its digest: {sum}"
    );
    Ok(path)
}

fn json_blob(oci: &Path, digest: &str) -> Result<Value> {
    Ok(serde_json::from_slice(&std::fs::read(blob(oci, digest)?)?)?)
}

/// Runs `/<binary> <args>` from `root`, read-only, as `user:group`, in its own mount namespace.
fn run_in_image(
    root: &Path,
    binary: &str,
    args: &[&str],
    policy_dir: &Path,
    user: (u32, u32),
    log: &Path,
) -> Result<Process> {
    // Mount points exist in the image's tree before it turns read-only, as a container
    // runtime makes them in the container's root.
    for dir in ["tmp", "etc/oam-traefik"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let script = r#"set -eu
root="$1"; policy="$2"; user="$3"; shift 3
mount --make-rprivate /
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount -t tmpfs -o mode=1777,size=16m,nosuid,nodev tmpfs "$root/tmp"
mount --bind "$policy" "$root/etc/oam-traefik"
mount -o remount,bind,ro "$root/etc/oam-traefik"
exec chroot --userspec="$user" "$root" "$@"
"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--", "sh", "-c", script, "sh"])
        .arg(root)
        .arg(policy_dir)
        .arg(format!("{}:{}", user.0, user.1))
        .arg(format!("/{binary}"))
        .args(args)
        // Nothing from the test's environment but the log level.
        .env_clear()
        .env("RUST_LOG", "info");
    Process::spawn(binary, cmd, log)
}

/// Waits for `GET url` to answer 200 (the webhook's certificate is its own, made at start).
fn wait_ok(process: &mut Process, url: &str) -> Result<String> {
    let client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if process.exited().is_some() {
            return Err(process.died());
        }
        if let Ok(r) = client.get(url).send()
            && r.status().is_success()
        {
            return Ok(r.text()?);
        }
        if Instant::now() > deadline {
            bail!("{url} never answered 200:\n{}", process.log_tail(30));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// What the kernel says about a process: its user and group ids, and whether `/` is read-only.
fn assert_confined(pid: u32, user: (u32, u32), binary: &str) -> Result<()> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let status = std::fs::read_to_string(proc_dir.join("status"))?;
    let ids = |key: &str| -> Vec<String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        ids("Uid:"),
        vec![user.0.to_string(); 4],
        "{binary}: {status}"
    );
    assert_eq!(
        ids("Gid:"),
        vec![user.1.to_string(); 4],
        "{binary}: {status}"
    );
    assert_eq!(
        ids("CapEff:"),
        vec!["0000000000000000"],
        "{binary}: {status}"
    );
    let exe = std::fs::read_link(proc_dir.join("exe"))?;
    assert!(exe.ends_with(binary), "{binary} runs {}", exe.display());
    // mountinfo fields: id parent major:minor root mount-point options ...
    let mountinfo = std::fs::read_to_string(proc_dir.join("mountinfo"))?;
    let root_options = mountinfo
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 5 && f[4] == "/")
        .map(|f| f[5].to_string())
        .next_back()
        .context("no / in mountinfo")?;
    assert!(
        root_options.split(',').any(|o| o == "ro"),
        "{binary}'s / is not read-only: {root_options}"
    );
    Ok(())
}

#[test]
fn the_image_built_without_docker_runs_as_the_charts_user_on_a_read_only_root() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("this test needs root (a mount namespace and chroot); CI runs as root");
    }
    let webhook = workspace_binary("oam-traefik-webhook", "OAM_TRAEFIK_WEBHOOK_BIN")?;
    let auth = workspace_binary("oam-traefik-auth", "OAM_TRAEFIK_AUTH_BIN")?;
    let bin_dir = webhook.parent().context("binary dir")?;
    ensure!(
        auth.parent() == Some(bin_dir),
        "the webhook and the verifier come from different folders"
    );
    let work = tempfile::tempdir()?;
    let out = work.path().join("image");
    let began = Instant::now();
    let built = sh(Command::new("bash")
        .arg(repo_root().join("image/build.sh"))
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(&out)
        .args(["--tag", "e2e"]))?;
    eprintln!("{} ({:.1} s)", built.trim(), began.elapsed().as_secs_f64());

    // The OCI layout: index -> manifest -> config and layers, every blob its digest.
    let oci = out.join("oci");
    let layout: Value = serde_json::from_slice(&std::fs::read(oci.join("oci-layout"))?)?;
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value = serde_json::from_slice(&std::fs::read(oci.join("index.json"))?)?;
    let manifests = index["manifests"].as_array().context("no manifests")?;
    assert_eq!(manifests.len(), 1, "{index}");
    let manifest = json_blob(&oci, manifests[0]["digest"].as_str().context("digest")?)?;
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let config = json_blob(
        &oci,
        manifest["config"]["digest"].as_str().context("config")?,
    )?;
    let (uid, gid) = chart_user()?;
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["config"]["User"], format!("{uid}:{gid}"));
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/oam-traefik-webhook"])
    );
    for port in ["8443/tcp", "9090/tcp", "8080/tcp", "9091/tcp"] {
        assert!(
            config["config"]["ExposedPorts"].get(port).is_some(),
            "{port}: {config}"
        );
    }
    let layers = manifest["layers"].as_array().context("no layers")?;
    ensure!(!layers.is_empty(), "no layers: {manifest}");
    let root = work.path().join("rootfs");
    std::fs::create_dir_all(&root)?;
    for layer in layers {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let file = blob(&oci, layer["digest"].as_str().context("layer digest")?)?;
        sh(Command::new("tar")
            .args(["--numeric-owner", "-xzf"])
            .arg(&file)
            .arg("-C")
            .arg(&root))?;
    }
    // From scratch: the binaries, what they load, the CA roots; no shell to exec into.
    for f in [
        "oam-traefik-webhook",
        "oam-traefik-auth",
        "etc/ssl/certs/ca-certificates.crt",
    ] {
        assert!(root.join(f).is_file(), "{f} is not in the image");
    }
    for absent in ["bin/sh", "usr/bin/env", "etc/passwd"] {
        assert!(!root.join(absent).exists(), "{absent} is in the image");
    }

    let policy_dir = work.path().join("policy");
    std::fs::create_dir_all(&policy_dir)?;
    std::fs::write(
        policy_dir.join("policy.yaml"),
        "apiVersion: oam-traefik.io/v1alpha1\nkind: AdmissionPolicy\nspec:\n  allowedIssuers: [https://login.example.com/]\n",
    )?;

    // The webhook as the README's try-out command runs it, and the verifier; each with the
    // chart's policy mount, answering /healthz from inside the image.
    let run = |binary: &str, scheme: &str, args: &[&str]| -> Result<Process> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut all = vec![
            "--listen",
            &listen,
            "--policy",
            "/etc/oam-traefik/policy.yaml",
        ];
        all.extend_from_slice(args);
        let log = work.path().join(format!("{binary}.log"));
        let mut p = run_in_image(&root, binary, &all, &policy_dir, (uid, gid), &log)?;
        let health = wait_ok(&mut p, &format!("{scheme}://{listen}/healthz"))?;
        assert_eq!(health.trim(), "ok", "{binary}");
        assert_confined(p.pid(), (uid, gid), binary)?;
        Ok(p)
    };
    let mut w = run("oam-traefik-webhook", "https", &["--dev-self-signed"])?;
    let mut a = run("oam-traefik-auth", "http", &[])?;

    // A write to the image's root is refused, for the chart's user and for root alike.
    let refused = Command::new("unshare")
        .args(["--mount", "--", "sh", "-c"])
        .arg(
            r#"mount --make-rprivate / && mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec chroot "$1" /oam-traefik-webhook --dev-self-signed --listen 127.0.0.1:1"#,
        )
        .args(["sh"])
        .arg(&root)
        .output()?;
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("Read-only file system") || said.contains("read-only"),
        "without a writable /tmp the try-out mode should fail to write its certificate: {said}"
    );

    w.stop();
    a.stop();
    Ok(())
}

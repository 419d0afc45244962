//! The README's first command, `cargo playground`, does what it says: it prints a
//! kubeconfig, a token and what to try, each step works as printed (the request path
//! through Traefik and the verifier included), and Ctrl-C stops everything it started.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A cold start builds nothing here (the suite already has the harness), but the API
/// server may take a while on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(240);

/// Stops the playground if an assertion fails first, so no control plane outlives the test.
struct Stop(std::process::Child);

impl Drop for Stop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn playground_prints_what_to_try_and_each_step_works_then_ctrl_c_stops_everything() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oam-traefik-playground"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the playground");
    let stdout = child.stdout.take().expect("stdout");
    let mut child = Stop(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut welcome = Vec::new();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains("Ctrl-C stops everything");
                welcome.push(line);
                if done {
                    break;
                }
            }
            Err(e) => {
                panic!("no welcome from the playground ({e}); printed so far:\n{welcome:#?}");
            }
        }
    }

    let exported = |var: &str| -> String {
        let prefix = format!("export {var}=");
        welcome
            .iter()
            .find_map(|l| l.trim().strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no `export {var}=` line in {welcome:#?}"))
            .split_whitespace()
            .next()
            .expect("a value")
            .trim_end_matches(":$PATH")
            .to_owned()
    };
    let kubeconfig = PathBuf::from(exported("KUBECONFIG"));
    let bin_dir = exported("PATH");
    let token = exported("TOKEN");
    assert_eq!(token.split('.').count(), 3, "TOKEN is not a JWT: {token}");
    assert!(
        kubeconfig.is_file(),
        "{} is not a file",
        kubeconfig.display()
    );
    assert!(
        PathBuf::from(&bin_dir)
            .join("kubectl-oam_traefik")
            .is_file(),
        "the plugin is not in the printed PATH folder {bin_dir}"
    );
    let folder = PathBuf::from(
        welcome
            .iter()
            .find_map(|l| l.strip_prefix("Logs and certificates: "))
            .expect("the folder line"),
    );

    // Run every printed `kubectl ...` and `curl ...` line as a user would paste it (with
    // the exports).
    let steps: Vec<&str> = welcome
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("kubectl ") || l.starts_with("curl "))
        .collect();
    assert!(steps.len() >= 8, "too few steps printed: {steps:#?}");
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let run = |line: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line)
            .env("KUBECONFIG", &kubeconfig)
            .env("PATH", &path)
            .env("TOKEN", &token)
            .output()
            .expect("run a printed step");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    for step in &steps {
        let (mut ok, mut text) = run(step);
        // Traefik serves a new route within seconds of seeing it; until then it answers
        // 404, and a person would try again.
        let deadline = Instant::now() + Duration::from_secs(60);
        while step.starts_with("curl ")
            && (text.trim() == "404" || text.contains("404 page not found"))
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(500));
            (ok, text) = run(step);
        }
        if step.contains("/bad/") {
            assert!(!ok, "`{step}` was accepted:\n{text}");
            assert!(
                text.contains("denied the request") && text.contains("OT006"),
                "`{step}` was not refused by the webhook's rule:\n{text}"
            );
        } else {
            assert!(ok, "`{step}` failed:\n{text}");
        }
        if step.contains("get application") {
            assert!(
                text.contains("shop-orders-api-identity@kubernetescrd"),
                "the app was not patched with its identity reference:\n{text}"
            );
        }
        if step.starts_with("curl ") && !step.contains("$TOKEN") {
            assert_eq!(
                text.trim(),
                "401",
                "`{step}`: Traefik let a request without a token through"
            );
        }
        if step.contains("$TOKEN") {
            let seen: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("`{step}` did not reach the backend ({e}):\n{text}"));
            assert!(
                seen["headers"]["x-forwarded-user"][0]
                    .as_str()
                    .is_some_and(|user| !user.is_empty()),
                "the backend did not see the caller's identity: {seen}"
            );
        }
        if step.contains("oam-traefik routes") {
            assert!(
                text.contains("https://admin.example.com") && text.contains("protected"),
                "the routes view does not show the protected route:\n{text}"
            );
            // The app's route, rendered by vela-core after the webhook patched the app.
            let app_route = text
                .lines()
                .find(|l| l.contains("orders.example.com"))
                .unwrap_or_else(|| panic!("no route of app orders in:\n{text}"));
            assert!(
                app_route.contains("orders") && app_route.contains("protected"),
                "the app's route is not shown protected: {app_route}"
            );
        }
    }

    // Ctrl-C: SIGINT to the playground (a terminal sends it to the whole group).
    // SAFETY: signalling our own child, not yet reaped.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the playground ignored Ctrl-C");
        thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "the playground exited with {status}");
    assert!(
        !folder.exists(),
        "the playground left its folder {} behind",
        folder.display()
    );
    let (ok, text) = run("kubectl get namespaces --request-timeout=3s");
    assert!(!ok, "the API server still answers after Ctrl-C:\n{text}");
}

//! Watching the certificate and policy files. Kubernetes updates mounted Secrets and
//! ConfigMaps by swapping a `..data` symlink, so the directories are watched, not the
//! files; bursts of events are debounced into one look, and a slow poll backs up the
//! watcher (inotify can miss changes on some volume types). Only events that can change
//! content count: the webhook's own reads (open, close) never wake it up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The file changed and the new content is in force.
    Applied,
    /// The file holds what is already in force, or what was already refused.
    Unchanged,
    /// The content changed and must stay the same this much longer before it is taken.
    Settling(Duration),
}

/// Quiet time after the last event before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// The longest a reload waits for quiet after the first event.
pub const MAX_DELAY: Duration = Duration::from_secs(1);
/// Reload check even without events.
pub const POLL: Duration = Duration::from_secs(30);

/// Keeps the watch alive; dropping it stops the watch.
pub struct Watching {
    _watcher: RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A hash of file content, to tell a real change from a look at the same bytes.
pub fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Whether `file` is mounted the kubelet's way (a symlink through the directory's `..data`
/// symlink), whose updates are atomic swaps: never half-written.
pub fn is_atomic_mount(file: &Path) -> bool {
    let data = file.parent().map(|d| d.join("..data"));
    std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink())
        && data
            .is_some_and(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.file_type().is_symlink()))
}

/// Call `on_change` after changes in the directories of `files` (debounced) and every
/// [`POLL`]; when it returns a duration, call it again after that long even without events
/// (a file that must stay the same for a while before it is taken).
pub fn watch<F>(files: &[&Path], on_change: F) -> notify::Result<Watching>
where
    F: Fn() -> Option<Duration> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let names = watched_names(files);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            // Opening and reading a file changes nothing (and the webhook reads them itself).
            Ok(e) if matches!(e.kind, EventKind::Access(_)) => false,
            Ok(e) => e.paths.iter().any(|p| concerns(p, &names)),
            // A failed watch may have missed a change: look again.
            Err(_) => true,
        };
        if relevant {
            // The receiver only goes away at shutdown.
            let _ = tx.send(());
        }
    })?;
    for dir in directories(files) {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    }
    let task = tokio::spawn(async move {
        let mut poll = tokio::time::Instant::now() + POLL;
        let mut again: Option<tokio::time::Instant> = None;
        loop {
            let wake = again.map_or(poll, |a| a.min(poll));
            tokio::select! {
                event = rx.recv() => {
                    if event.is_none() {
                        return;
                    }
                    // Wait until the writer is done (no event for DEBOUNCE), but not forever.
                    let deadline = tokio::time::Instant::now() + MAX_DELAY;
                    while tokio::time::Instant::now() < deadline {
                        match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                            Ok(Some(())) => continue,
                            _ => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            let now = tokio::time::Instant::now();
            if now >= poll {
                poll = now + POLL;
            }
            again = on_change().map(|d| now + d);
        }
    });
    Ok(Watching {
        _watcher: watcher,
        task,
    })
}

/// The file names that matter in the watched directories.
fn watched_names(files: &[&Path]) -> Vec<std::ffi::OsString> {
    files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_os_string()))
        .collect()
}

/// Whether an event on `path` may change a watched file: the file itself, or the
/// kubelet's `..data` symlink and `..<timestamp>` directories.
fn concerns(path: &Path, names: &[std::ffi::OsString]) -> bool {
    match path.file_name() {
        Some(name) => names.iter().any(|n| n == name) || name.to_string_lossy().starts_with(".."),
        None => true,
    }
}

/// The distinct directories that hold `files`.
fn directories(files: &[&Path]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_one_directory_are_watched_once() {
        let dirs = directories(&[
            Path::new("/etc/tls/tls.crt"),
            Path::new("/etc/tls/tls.key"),
            Path::new("policy.yaml"),
        ]);
        assert_eq!(dirs.len(), 2, "{dirs:?}");
        assert!(dirs.contains(&PathBuf::from("/etc/tls")) && dirs.contains(&PathBuf::from(".")));
    }

    #[test]
    fn other_files_in_the_directory_do_not_trigger_reloads() {
        let names = watched_names(&[Path::new("/etc/tls/tls.crt"), Path::new("/etc/tls/tls.key")]);
        assert!(concerns(Path::new("/etc/tls/tls.crt"), &names));
        assert!(concerns(Path::new("/etc/tls/..data"), &names));
        assert!(concerns(
            Path::new("/etc/tls/..2026_11_28_10_00_00.1"),
            &names
        ));
        assert!(!concerns(Path::new("/etc/tls/webhook.log"), &names));
    }

    #[tokio::test]
    async fn a_symlink_swap_triggers_one_call() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("..data_1");
        std::fs::create_dir(&data).expect("mkdir");
        std::fs::write(data.join("policy.yaml"), "a").expect("write");
        std::os::unix::fs::symlink("..data_1", dir.path().join("..data")).expect("symlink");
        std::os::unix::fs::symlink("..data/policy.yaml", dir.path().join("policy.yaml"))
            .expect("symlink");

        let (tx, mut rx) = mpsc::unbounded_channel();
        let file = dir.path().join("policy.yaml");
        let _w = watch(&[&file], move || {
            let _ = tx.send(());
            None
        })
        .expect("watch");

        // What the kubelet does: a new data dir, then an atomic rename of the symlink.
        let data2 = dir.path().join("..data_2");
        std::fs::create_dir(&data2).expect("mkdir");
        std::fs::write(data2.join("policy.yaml"), "b").expect("write");
        std::os::unix::fs::symlink("..data_2", dir.path().join("..data_tmp")).expect("symlink");
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).expect("rename");

        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("called within 5s");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "b");
        assert!(is_atomic_mount(&file));
    }

    #[tokio::test]
    async fn reading_the_files_does_not_wake_the_watch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("policy.yaml");
        std::fs::write(&file, "a").expect("write");
        assert!(!is_atomic_mount(&file));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reader = file.clone();
        // What a reload does: read the file. Were that an event, this would loop forever.
        let _w = watch(&[&file], move || {
            let _ = std::fs::read(&reader);
            let _ = tx.send(());
            None
        })
        .expect("watch");
        std::fs::write(&file, "b").expect("write");
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("called for the write");
        let more = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
        assert!(more.is_err(), "called again without a change");
    }
}

//! Logging: JSON lines on stdout, and one decision line per admission request.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::admission::{Decision, Endpoint, Request, describe_exemption};

/// How long a line may wait before the writer thread writes it.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Waiting lines past which the writer thread is woken at once.
const WAKE_AT: usize = 256 * 1024;
/// Waiting lines past which request handlers wait for the writer (no line is dropped).
const FULL_AT: usize = 8 * 1024 * 1024;

/// JSON lines on stdout; `RUST_LOG` filters (default `info`). Request handlers append their
/// line to a shared buffer and go on; a dedicated thread writes what has gathered every
/// [`FLUSH_EVERY`] (sooner past [`WAKE_AT`]) with one write(2), so that a busy webhook
/// neither makes a system call nor wakes a thread per decision. Keep the guard until exit:
/// dropping it writes what is left.
pub fn init() -> std::io::Result<LogGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = quiet_library_dumps(filter);
    let (writer, guard) = Batched::start(std::io::stdout())?;
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .init();
    Ok(guard)
}

/// The lines waiting for the writer thread.
struct Pending {
    lines: Mutex<Lines>,
    /// Signalled when the writer should write now (past `WAKE_AT`, or closing).
    wake: Condvar,
    /// Signalled when the writer has taken the lines (room for handlers waiting at `FULL_AT`).
    room: Condvar,
}

#[derive(Default)]
struct Lines {
    bytes: Vec<u8>,
    closing: bool,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Lines> {
        // A panic while holding the lock leaves whole lines (each is appended at once).
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `MakeWriter` of [`init`]: appends each formatted line to the pending lines.
#[derive(Clone)]
pub struct Batched(Arc<Pending>);

impl Batched {
    /// The writer and the guard that owns the thread writing to `out`.
    pub fn start<W: Write + Send + 'static>(out: W) -> std::io::Result<(Batched, LogGuard)> {
        let pending = Arc::new(Pending {
            lines: Mutex::new(Lines::default()),
            wake: Condvar::new(),
            room: Condvar::new(),
        });
        let (finished, done) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("oam-traefik-log".into())
            .spawn({
                let pending = pending.clone();
                move || {
                    write_lines(&pending, out);
                    let _ = finished.send(());
                }
            })?;
        let guard = LogGuard {
            pending: pending.clone(),
            thread: Some(thread),
            finished: done,
        };
        Ok((Batched(pending), guard))
    }
}

impl Write for Batched {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.0.lock();
        while lines.bytes.len() >= FULL_AT && !lines.closing {
            lines = self.0.room.wait(lines).unwrap_or_else(|e| e.into_inner());
        }
        let before = lines.bytes.len();
        lines.bytes.extend_from_slice(line);
        if before < WAKE_AT && lines.bytes.len() >= WAKE_AT {
            self.0.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Batched {
    type Writer = Batched;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The writer thread: takes whatever has gathered, writes it in one go, until closed and empty.
fn write_lines<W: Write>(pending: &Pending, mut out: W) {
    let mut taken = Vec::new();
    loop {
        let mut lines = pending.lock();
        if lines.bytes.len() < WAKE_AT && !lines.closing {
            lines = pending
                .wake
                .wait_timeout(lines, FLUSH_EVERY)
                .map(|(l, _)| l)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        std::mem::swap(&mut lines.bytes, &mut taken);
        let closing = lines.closing;
        drop(lines);
        pending.room.notify_all();
        if !taken.is_empty() {
            // Nowhere to report a failed write of the log itself; the next batch tries again.
            let _ = out.write_all(&taken).and_then(|()| out.flush());
            taken.clear();
            // Do not keep a burst's buffer for ever.
            taken.shrink_to(WAKE_AT * 2);
        }
        if closing && pending.lock().bytes.is_empty() {
            return;
        }
    }
}

/// Owns the log thread; dropping it writes every waiting line and stops the thread.
pub struct LogGuard {
    pending: Arc<Pending>,
    thread: Option<JoinHandle<()>>,
    /// Says when the thread has written everything.
    finished: std::sync::mpsc::Receiver<()>,
}

/// How long exiting waits for the last lines: a stdout nobody reads must not keep the
/// process (and a rollout) from ending.
const LAST_LINES_WAIT: Duration = Duration::from_secs(2);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.pending.lock().closing = true;
        self.pending.wake.notify_one();
        self.pending.room.notify_all();
        if self.finished.recv_timeout(LAST_LINES_WAIT).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

/// kube's client warns `eof in poll: Custom { kind: UnexpectedEof, .. }` (a Debug dump)
/// when a watch connection ends; the watch resumes by itself, and when it cannot, the
/// caches log the failure with its URL. Unless `RUST_LOG` names kube_client, keep its
/// client module to errors.
fn quiet_library_dumps(filter: EnvFilter) -> EnvFilter {
    let named = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("kube_client"));
    match "kube_client::client=error".parse() {
        Ok(directive) if !named => filter.add_directive(directive),
        _ => filter,
    }
}

/// The one line that records a decision: who asked, what, what was decided and why.
/// `stale` names the kinds whose cached answers the decision used while they were out of date.
pub fn decision(
    endpoint: Endpoint,
    request: &Request,
    decision: &Decision,
    stale: &[String],
    latency: Duration,
) {
    let verdict = decision.verdict.as_ref();
    let rules = verdict
        .map(|v| {
            v.rule_ids()
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let injected = verdict.map(|v| v.injected.join(",")).unwrap_or_default();
    let unresolved = verdict.map(|v| v.unresolved.join("; ")).unwrap_or_default();
    let exemption = verdict
        .and_then(|v| v.exemption.as_ref())
        .map(describe_exemption)
        .unwrap_or_default();
    let kind = decision
        .kind
        .map(|k| k.as_str().to_string())
        .unwrap_or_else(|| format!("{}/{}", request.kind.group, request.kind.kind));
    let name = match (&request.name, &decision.object_name) {
        (name, _) if !name.is_empty() => name.clone(),
        (_, Some(name)) => name.clone(),
        _ => object_name(request),
    };
    tracing::info!(
        target: "decision",
        webhook = endpoint.as_str(),
        uid = %request.uid,
        user = %request.user_info.username,
        groups = %request.user_info.groups.join(","),
        operation = %request.operation,
        kind = %kind,
        namespace = %request.namespace,
        name = %name,
        dry_run = request.dry_run.unwrap_or(false),
        allowed = decision.allowed(),
        decision = decision.outcome.as_str(),
        rules = %rules,
        injected = %injected,
        unresolved = %unresolved,
        exemption = %exemption,
        note = %decision.note.as_deref().unwrap_or(""),
        stale_cache = %stale.join("; "),
        latency_us = latency.as_micros() as u64,
        "admission decision"
    );
}

/// An error and its causes on one line, `what: why: root cause`, each said once (many
/// errors repeat their source's text in their own).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The object's name when the request carries none (CREATE with generateName).
fn object_name(request: &Request) -> String {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(default)]
        metadata: oam_traefik_policy::Meta,
    }
    request
        .object
        .as_deref()
        .and_then(|o| serde_json::from_str::<Named>(o.get()).ok())
        .filter(|n| !n.metadata.name.is_empty() || n.metadata.generate_name.is_some())
        .map(|n| n.metadata.display_name())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes the test can read, counting the writes it gets.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            s.0.extend_from_slice(b);
            s.1 += 1;
            Ok(b.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_and_in_batches() {
        let out = Shared::default();
        let (writer, guard) = Batched::start(out.clone()).expect("log thread");
        // From several threads, past the point where handlers wait for the writer.
        let lines_per_thread = 40_000;
        std::thread::scope(|s| {
            for t in 0..4 {
                let mut w = writer.clone();
                s.spawn(move || {
                    for i in 0..lines_per_thread {
                        w.write_all(format!("{t} {i:0>200}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(guard);
        let (bytes, writes) = out.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).expect("whole lines");
        let mut next = [0usize; 4];
        for line in text.lines() {
            let (t, i) = line.split_once(' ').expect("thread and number");
            let t: usize = t.parse().unwrap();
            assert_eq!(
                i.parse::<usize>().unwrap(),
                next[t],
                "line order of thread {t}"
            );
            next[t] += 1;
        }
        assert_eq!(next, [lines_per_thread; 4], "every line, none twice");
        assert!(
            writes < 4 * lines_per_thread / 10,
            "{writes} writes for {} lines: not batched",
            4 * lines_per_thread
        );
    }

    /// A `Write` that never returns, as a stdout nobody reads.
    struct Stuck;

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            std::thread::park();
            Ok(0)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn exiting_does_not_wait_for_ever_on_a_stuck_stdout() {
        let (mut writer, guard) = Batched::start(Stuck).expect("log thread");
        writer.write_all(b"a line nobody reads\n").unwrap();
        std::thread::sleep(FLUSH_EVERY * 3);
        let start = std::time::Instant::now();
        drop(guard);
        let waited = start.elapsed();
        assert!(
            waited >= LAST_LINES_WAIT / 2 && waited < LAST_LINES_WAIT * 2,
            "dropping the guard took {waited:?}"
        );
    }

    #[test]
    fn a_line_is_written_soon_without_more_traffic() {
        let out = Shared::default();
        let (mut writer, _guard) = Batched::start(out.clone()).expect("log thread");
        writer.write_all(b"one line\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().unwrap().0.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was never written"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(out.0.lock().unwrap().0, b"one line\n");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("watch of Middleware failed: {0}")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_says_each_cause_once() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(
            chain(&e),
            "watch of Middleware failed: connection refused",
            "the source is already in the text"
        );
    }
}

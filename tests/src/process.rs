//! Child processes that never outlive the test process.
//!
//! Three layers, because each covers a way of ending the other two miss:
//! - `Drop` stops a child (SIGTERM, then SIGKILL) when its owner goes, also on panic;
//! - an `atexit` hook stops the children of fixtures kept in statics (Rust never drops
//!   statics) when the test binary exits normally or with failures;
//! - `PR_SET_PDEATHSIG` makes the kernel SIGKILL a child when the test process is killed.
//!
//! The kernel sends the death signal when the *thread* that forked the child exits, and
//! libtest runs each test on its own short-lived thread. So every child is forked by one
//! spawner thread that lives as long as the process.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

/// How long a child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// A running child process, its log file, and the promise to stop it.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
        // functions (prctl, getppid).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::other("parent exited"));
                }
                Ok(())
            });
        }
        let child = spawn_on_spawner_thread(cmd).with_context(|| format!("starting {name}"))?;
        register(child.id());
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the child's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// An error that says the child died, with the end of its log.
    pub fn died(&mut self) -> anyhow::Error {
        let status = self
            .exited()
            .map_or_else(|| "is running".to_owned(), |s| s.to_string());
        anyhow!(
            "{} exited ({status}); last lines of {}:\n{}",
            self.name,
            self.log.display(),
            self.log_tail(30)
        )
    }

    /// Stops the child: SIGTERM, then SIGKILL after the grace period; reaps it.
    ///
    /// Waits through `Child` only, which remembers the status: a raw `waitpid` on a pid
    /// already reaped could reap an unrelated child (a kubectl) that reused it.
    pub fn stop(&mut self) {
        if self.exited().is_none() {
            // SAFETY: signalling our own child, not yet reaped, so its pid is still ours.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + GRACE;
            while self.exited().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            if self.exited().is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        unregister(self.child.id());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

fn spawn_on_spawner_thread(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnJob>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        thread::Builder::new()
            .name("e2e-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("the spawner thread starts");
        tx
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .send((cmd, reply))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("spawner thread is gone"))?
}

/// Children alive right now, and folders to remove, for the exit hook.
struct Leftovers {
    pids: BTreeSet<u32>,
    dirs: Vec<PathBuf>,
}

static LEFTOVERS: Mutex<Leftovers> = Mutex::new(Leftovers {
    pids: BTreeSet::new(),
    dirs: Vec::new(),
});

fn leftovers() -> std::sync::MutexGuard<'static, Leftovers> {
    LEFTOVERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn register(pid: u32) {
    install_exit_hook();
    leftovers().pids.insert(pid);
}

fn unregister(pid: u32) {
    leftovers().pids.remove(&pid);
}

/// Removes `dir` when the test process exits: for fixtures kept in statics.
pub fn remove_at_exit(dir: PathBuf) {
    install_exit_hook();
    leftovers().dirs.push(dir);
}

fn install_exit_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: registering a plain extern "C" function with the C runtime.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

extern "C" fn at_exit() {
    let (pids, dirs) = {
        let mut left = leftovers();
        (
            std::mem::take(&mut left.pids),
            std::mem::take(&mut left.dirs),
        )
    };
    let pids: Vec<u32> = pids.into_iter().collect();
    terminate(&pids);
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// At exit: SIGTERM to each pid, wait for all to exit (reaping them), SIGKILL the rest.
/// Their `Process` values live in statics and are never used again.
fn terminate(pids: &[u32]) {
    for &pid in pids {
        // SAFETY: signalling our own child by pid; it is not reaped yet, so the pid
        // cannot have been reused.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    let deadline = Instant::now() + GRACE;
    let mut alive: Vec<u32> = pids.to_vec();
    while !alive.is_empty() && Instant::now() < deadline {
        alive.retain(|&pid| !reaped(pid, libc::WNOHANG));
        if !alive.is_empty() {
            thread::sleep(Duration::from_millis(20));
        }
    }
    for &pid in &alive {
        // SAFETY: as above.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        reaped(pid, 0);
    }
}

/// Whether `pid` has exited (and is now reaped); `flags` is 0 to block.
fn reaped(pid: u32, flags: libc::c_int) -> bool {
    let mut status = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, flags) };
    // r == -1 (ECHILD) means someone else reaped it already: gone either way.
    r != 0
}

/// Polls `ready` every `every` until it says yes; fails early with the end of the
/// child's log if `process` dies, and after `timeout` with the same.
pub fn wait_until(
    process: &mut Process,
    timeout: Duration,
    every: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if process.exited().is_some() {
            return Err(process.died());
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "{} not ready after {timeout:?}; last log lines:\n{}",
                process.name,
                process.log_tail(30)
            ));
        }
        thread::sleep(every);
    }
}

//! The one background tokio runtime of the process.
//!
//! It does only what no caller should wait for on its own thread: name
//! resolution (getaddrinfo on tokio's blocking pool) and housekeeping. Socket
//! I/O never goes through it (see DESIGN.md, "Hot paths never wait on a
//! runtime thread").
//!
//! Built lazily, never dropped (LuaJIT may `dlclose` us; the library is linked
//! `-z nodelete` so its threads keep running valid code). After `fork()` the
//! child sees a new PID and builds a fresh runtime: the inherited one is
//! forgotten, because dropping it hangs on the parent's threads that do not
//! exist in the child.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use tokio::runtime::{Handle, Runtime};

static WORKERS: AtomicUsize = AtomicUsize::new(0);
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// Sets the number of runtime worker threads. Takes effect only before the
/// runtime is first used; returns false afterwards.
pub fn set_workers(n: usize) -> bool {
    let guard = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_some() {
        return false;
    }
    WORKERS.store(n.clamp(1, 64), Ordering::Relaxed);
    true
}

fn workers() -> usize {
    match WORKERS.load(Ordering::Relaxed) {
        0 => std::env::var("COSOCKET_WORKERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| (1..=64).contains(n))
            .unwrap_or(1),
        n => n,
    }
}

static PID: AtomicU32 = AtomicU32::new(0);
static ATFORK: Once = Once::new();

extern "C" fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

/// The current process id (changes in a forked child). Cached: glibc no
/// longer caches getpid(), and the pool asks on every put and take; a
/// pthread_atfork child handler clears the cache in a forked child.
pub fn pid() -> u32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic.
        unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) };
    });
    let p = std::process::id();
    PID.store(p, Ordering::Relaxed);
    p
}

/// A handle to the runtime, building it on first use (and again in a forked child).
pub fn handle() -> Handle {
    let mut guard = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let me = pid();
    if let Some((owner, rt)) = *guard
        && owner == me
    {
        return rt.handle().clone();
    }
    // A runtime owned by another PID is the parent's: leak it (never drop it).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .max_blocking_threads(16)
        .thread_name("cosocket-rt")
        .enable_all()
        .build()
        .expect("cosocket: cannot start the tokio runtime");
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *guard = Some((me, rt));
    rt.handle().clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn runtime_runs_tasks() {
        let h = super::handle();
        let (tx, rx) = std::sync::mpsc::channel();
        h.spawn(async move { tx.send(7).unwrap() });
        assert_eq!(rx.recv().unwrap(), 7);
    }
}

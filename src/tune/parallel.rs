//! Trials on several threads whose results do not depend on how many: each
//! worker takes the next index, and job `i`'s result lands in slot `i`.
//! Hosted targets only (`std`); the crate allocates nothing for it (the
//! threads are the standard library's).

use core::sync::atomic::{AtomicUsize, Ordering};

/// Runs `job(i)` for every slot `i` of `slots` on `threads` scoped threads
/// (at least one, at most one a slot), each taking the next index, and calls
/// `progress(i, &result)` as each job ends (in completion order, from the
/// worker). On return every slot holds its job's result, so the same jobs
/// fill the same slots on any number of threads; a job that panics panics
/// here. Where no thread can be started (wasm32-wasip1), the calling thread
/// runs every job.
///
/// ```
/// use tinyreg::tune::run_parallel;
///
/// let mut slots = [None; 10];
/// run_parallel(&mut slots, 3, |i| i * i, |_, _| {});
/// assert_eq!(slots[9], Some(81));
/// assert!(slots.iter().all(Option::is_some));
/// ```
pub fn run_parallel<T: Send>(
    slots: &mut [Option<T>],
    threads: usize,
    job: impl Fn(usize) -> T + Sync,
    progress: impl Fn(usize, &T) + Sync,
) {
    let n = slots.len();
    let next = AtomicUsize::new(0);
    let slots = std::sync::Mutex::new(slots);
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        let result = job(i);
        progress(i, &result);
        // Poisoned only if another worker panicked, which the scope raises
        // again when it ends.
        if let Ok(mut slots) = slots.lock() {
            slots[i] = Some(result);
        }
    };
    std::thread::scope(|scope| {
        let mut spawned = 0;
        for _ in 0..threads.clamp(1, n.max(1)) {
            match std::thread::Builder::new().spawn_scoped(scope, worker) {
                Ok(_) => spawned += 1,
                Err(_) => break,
            }
        }
        // A platform without threads (wasm32-wasip1) runs every job here.
        if spawned == 0 {
            worker();
        }
    });
}

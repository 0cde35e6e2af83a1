//! `tune::run_parallel`: every slot filled with its own job's result, the
//! same at any thread count, progress called once a job.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tinyreg::tune::run_parallel;

#[test]
fn run_parallel_fills_every_slot_with_its_job_at_any_thread_count() {
    let job = |i: usize| {
        // Later jobs finish first, so completion order differs from index order.
        std::thread::sleep(Duration::from_micros(((40 - i) * 50) as u64));
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    };
    let mut one: Vec<Option<u64>> = vec![None; 40];
    run_parallel(&mut one, 1, job, |_, _| {});
    for threads in [2, 3, 64, 0] {
        let calls = AtomicUsize::new(0);
        let mut slots: Vec<Option<u64>> = vec![None; 40];
        run_parallel(&mut slots, threads, job, |i, &r| {
            assert_eq!(r, job_value(i));
            calls.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(slots, one, "{threads} threads");
        assert_eq!(calls.into_inner(), 40);
    }
    assert!(one.iter().all(Option::is_some));
}

fn job_value(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[test]
fn run_parallel_of_no_slots_runs_nothing() {
    let mut slots: [Option<u8>; 0] = [];
    run_parallel(
        &mut slots,
        4,
        |_| panic!("no job"),
        |_, _| panic!("no progress"),
    );
}

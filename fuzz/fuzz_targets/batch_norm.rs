//! Fuzz batch norm alone: arbitrary features, batch, constants (any float
//! bits), inputs and buffer lengths, through forward (train and eval),
//! forward_deferred + commit_running and backward. Nothing may panic; an
//! error writes nothing; the two train paths agree bit for bit; with finite
//! inputs and valid constants the outputs are finite.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::{BatchNorm, BatchNormGrads, BatchNormState, Mode};

mod bytes;
use bytes::Bytes;

/// This target's sizes.
trait Draw {
    fn size(&mut self, small: u8) -> usize;
    fn len_near(&mut self, n: usize) -> usize;
}

impl Draw for Bytes<'_> {
    /// A small value, or now and then one that overflows sizes.
    fn size(&mut self, small: u8) -> usize {
        self.pick_size((usize::MAX / 2 + 1, 1 << 33), |b| (b % small) as usize)
    }
    /// A length near `n`: exact most of the time.
    fn len_near(&mut self, n: usize) -> usize {
        self.near(n, n)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let (features, batch) = (b.size(9), b.size(7));
    let (momentum, eps) = match b.u8() % 4 {
        0 => (b.f32(), b.f32()),
        _ => (0.1, 1e-5),
    };
    let bn = BatchNorm::with(features, momentum, eps);
    let valid = bn.validate().is_ok();
    let n = batch.saturating_mul(features);
    if n > 4096 || features > 64 {
        // Huge shapes must be refused without touching (or allocating) buffers.
        let mut none = [0f32; 0];
        let (g, bt) = ([1f32; 4], [0f32; 4]);
        assert!(bn
            .forward_deferred(batch, &g, &bt, &none.clone(), &mut none, &mut [])
            .is_err());
        return;
    }
    let input: Vec<f32> = (0..b.len_near(n)).map(|_| b.f32() / 1e30).collect();
    let gamma: Vec<f32> = (0..b.len_near(features))
        .map(|_| 1.0 + b.f32() / 1e38)
        .collect();
    let beta = vec![0.5f32; features];
    let saved_len = b.len_near(bn.saved_len(batch));
    let out_len = b.len_near(n);

    // forward(Train) against forward_deferred + commit_running.
    let (mut mean1, mut var1) = (vec![0.25f32; features], vec![2.0f32; features]);
    let (mut y1, mut s1) = (vec![7f32; out_len], vec![7f32; saved_len]);
    let state = BatchNormState {
        gamma: &gamma,
        beta: &beta,
        running_mean: &mut mean1,
        running_var: &mut var1,
    };
    let r1 = bn.forward(Mode::Train, batch, state, &input, &mut y1, &mut s1);
    let (mut mean2, mut var2) = (vec![0.25f32; features], vec![2.0f32; features]);
    let (mut y2, mut s2) = (vec![7f32; out_len], vec![7f32; saved_len]);
    let r2 = bn
        .forward_deferred(batch, &gamma, &beta, &input, &mut y2, &mut s2)
        .and_then(|()| bn.commit_running(batch, &s2, &mut mean2, &mut var2));
    match (&r1, &r2) {
        (Ok(()), Ok(())) => {
            let same =
                |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same(&y1, &y2) && same(&mean1, &mean2) && same(&var1, &var2));
            assert!(valid && batch >= 2);
            let finite = input.iter().all(|x| x.is_finite()) && gamma.iter().all(|x| x.is_finite());
            if finite {
                assert!(
                    y1.iter().all(|y| y.is_finite()),
                    "finite input, non-finite output"
                );
            }
        }
        (Err(_), _) => {
            // Nothing written.
            assert!(y1.iter().all(|&y| y == 7.0) && s1.iter().all(|&s| s == 7.0));
            assert!(mean1.iter().all(|&m| m == 0.25) && var1.iter().all(|&v| v == 2.0));
            assert!(r2.is_err() || s2.len() < bn.saved_len(batch) || r2.is_ok());
        }
        (Ok(()), Err(_)) => panic!("forward accepted what the deferred path refused"),
    }
    // Eval forward: nothing written on error.
    let mut y3 = vec![7f32; out_len];
    let state = BatchNormState {
        gamma: &gamma,
        beta: &beta,
        running_mean: &mut mean2,
        running_var: &mut var2,
    };
    if bn
        .forward(Mode::Eval, batch, state, &input, &mut y3, &mut [])
        .is_err()
    {
        assert!(y3.iter().all(|&y| y == 7.0));
    }
    // Backward from what the train forward saved (or from garbage).
    let grad_out: Vec<f32> = (0..b.len_near(n)).map(|_| b.f32() / 1e30).collect();
    let (mut dg, mut db) = (vec![5f32; b.len_near(features)], vec![5f32; features]);
    let mut dx = vec![5f32; b.len_near(n)];
    if bn
        .backward(
            batch,
            &gamma,
            &s1,
            &grad_out,
            BatchNormGrads {
                gamma: &mut dg,
                beta: &mut db,
            },
            &mut dx,
        )
        .is_err()
    {
        assert!(dg.iter().chain(&db).chain(&dx).all(|&v| v == 5.0));
    }
});

//! Fuzz the optimizers, weight decay, gradient clipping and the schedules
//! with any float bits and lengths. Nothing may panic; `Update::new` refuses
//! exactly the invalid settings; an update that is refused writes nothing;
//! `apply` and `apply_measured` update bit for bit alike; a valid schedule's
//! rate is finite and >= 0 at every step; clipping never flips a sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::trainer::optim::clip_grad_norm;
use tinyreg::{LearningRate, Optimizer, Schedule, Update, WeightDecay};

mod bytes;
use bytes::Bytes;

/// This target's rates.
trait Draw {
    fn rate(&mut self) -> f32;
}

impl Draw for Bytes<'_> {
    /// Mostly ordinary values, sometimes any bits.
    fn rate(&mut self) -> f32 {
        self.mostly(|k| k as f32 * 1e-3)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let optimizer = match b.u8() % 4 {
        0 => Optimizer::Sgd,
        1 => Optimizer::Momentum { momentum: b.rate() },
        2 => Optimizer::Nesterov { momentum: b.rate() },
        _ => Optimizer::Adam {
            beta1: b.rate(),
            beta2: b.rate(),
            eps: b.rate(),
        },
    };
    let decay = WeightDecay {
        l2: b.rate(),
        decoupled: b.u8() & 1 == 1,
        l1: b.rate(),
    };
    let lr = b.rate();
    let step = b.u32();
    let n = (b.u8() % 40) as usize;
    let params: Vec<f32> = (0..n).map(|_| b.f32() / 1e30).collect();
    let grads: Vec<f32> = (0..n + (b.u8() % 5 == 0) as usize)
        .map(|_| b.f32() / 1e30)
        .collect();
    if let Ok(update) = Update::new(optimizer, decay) {
        let state_len = update.optimizer.state_per_param() * n + (b.u8() % 7 == 0) as usize;
        let (mut p1, mut s1) = (params.clone(), vec![0f32; state_len]);
        let (mut p2, mut s2) = (params.clone(), vec![0f32; state_len]);
        let r1 = update.apply(lr, step, &mut p1, &grads, &mut s1);
        let r2 = update.apply_measured(lr, step, &mut p2, &grads, &mut s2);
        assert_eq!(r1.is_ok(), r2.is_ok());
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(
            same(&p1, &p2) && same(&s1, &s2),
            "apply and apply_measured differ"
        );
        if r1.is_err() {
            assert!(
                same(&p1, &params) && s1.iter().all(|&s| s == 0.0),
                "a refused update wrote"
            );
        }
    }

    // Schedules: a valid one gives a finite rate >= 0 at every step.
    let schedule = match b.u8() % 5 {
        0 => Schedule::Constant,
        1 => Schedule::Step {
            every: b.u32(),
            gamma: b.rate(),
        },
        2 => Schedule::Exponential { gamma: b.rate() },
        3 => Schedule::CosineWarmRestarts {
            first: b.u32(),
            mult: b.u32(),
            min: b.rate(),
        },
        _ => Schedule::Cosine {
            total: b.u32(),
            min: b.rate(),
        },
    };
    let rate = LearningRate {
        base: b.rate(),
        schedule,
        warmup: b.u32() % 1000,
    };
    if rate.validate().is_ok() {
        for t in [0, 1, 2, 999, 1000, 12345, b.u32(), u32::MAX] {
            let v = rate.at(t);
            assert!(v.is_finite() && v >= 0.0, "{rate:?} at {t}: {v}");
        }
    }

    // Clipping: the norm is reported, and no gradient changes sign.
    let max_norm = b.rate();
    let mut clipped = grads.clone();
    clip_grad_norm(&mut clipped, max_norm);
    for (c, g) in clipped.iter().zip(&grads) {
        assert!(!(c * g < 0.0), "clipping at {max_norm} flipped a sign");
    }
});

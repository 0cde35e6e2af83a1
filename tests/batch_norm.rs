//! `BatchNorm2d` (`BatchNorm::over_channels`): PyTorch's definition worked by
//! hand, the one-value-per-feature case equal to `BatchNorm1d` bit for bit,
//! and backward against central differences of an f64 forward.
use tinyreg::BatchNormGrads;
use tinyreg::{BatchNorm, BatchNormState, Error, Mode};

/// Batch 2, channels 2, planes of 1 x 2. Channel 0 holds {1, 2, 3, 6}: mean
/// 3, biased variance 3.5, unbiased 14/3; channel 1 holds {0, 4, 2, 2}: mean
/// 2, biased variance 2, unbiased 8/3 (`torch.nn.BatchNorm2d(2)` in train
/// mode normalizes with the biased variance and moves `running_var` with the
/// unbiased one, momentum 0.1).
#[test]
fn batch_norm_2d_follows_pytorch_worked_numbers() {
    let bn = BatchNorm::over_channels(2, 2);
    // (sample, channel, position)
    let x = [1.0f32, 2.0, 0.0, 4.0, 3.0, 6.0, 2.0, 2.0];
    let (gamma, beta) = ([2.0f32, 1.0], [0.5f32, -1.0]);
    let (mut mean, mut var) = ([0.0f32; 2], [1.0f32; 2]);
    let mut y = [0f32; 8];
    let mut saved = vec![0f32; bn.saved_len(2)];
    assert_eq!(saved.len(), 2 * 4 + 3 * 2);
    let state = BatchNormState {
        gamma: &gamma,
        beta: &beta,
        running_mean: &mut mean,
        running_var: &mut var,
    };
    bn.forward(Mode::Train, 2, state, &x, &mut y, &mut saved)
        .unwrap();
    let (m, v) = ([3.0f64, 2.0], [3.5f64, 2.0]);
    for (i, (&got, &xi)) in y.iter().zip(&x).enumerate() {
        let c = (i / 2) % 2;
        let want = gamma[c] as f64 * (xi as f64 - m[c]) / (v[c] + 1e-5).sqrt() + beta[c] as f64;
        assert!((got as f64 - want).abs() < 1e-6, "y[{i}] {got} vs {want}");
    }
    assert!((mean[0] - 0.3).abs() < 1e-7 && (mean[1] - 0.2).abs() < 1e-7);
    let want_var = [0.9 + 0.1 * 14.0 / 3.0, 0.9 + 0.1 * 8.0 / 3.0];
    for c in 0..2 {
        assert!((var[c] as f64 - want_var[c]).abs() < 1e-6, "{var:?}");
    }
    // Eval: the running statistics, per channel.
    let state = BatchNormState {
        gamma: &gamma,
        beta: &beta,
        running_mean: &mut mean,
        running_var: &mut var,
    };
    bn.forward(Mode::Eval, 2, state, &x, &mut y, &mut [])
        .unwrap();
    let want = 2.0 * (6.0 - 0.3) / (want_var[0] + 1e-5).sqrt() + 0.5;
    assert!((y[5] as f64 - want).abs() < 1e-5, "{} vs {want}", y[5]);
}

/// A plane of one value is `BatchNorm1d`: same outputs, statistics and
/// gradients, bit for bit.
#[test]
fn batch_norm_2d_with_unit_planes_is_batch_norm_1d() {
    let x: Vec<f32> = (0..12).map(|i| ((i * 7) % 5) as f32 - 1.5).collect();
    let g: Vec<f32> = (0..12).map(|i| ((i * 3) % 4) as f32 * 0.25 - 0.3).collect();
    let run = |bn: BatchNorm| {
        let (gamma, beta) = ([1.5f32, 0.5, 2.0], [0.1f32, 0.0, -0.2]);
        let (mut mean, mut var) = ([0.0f32; 3], [1.0f32; 3]);
        let mut y = vec![0f32; 12];
        let mut saved = vec![0f32; bn.saved_len(4)];
        let state = BatchNormState {
            gamma: &gamma,
            beta: &beta,
            running_mean: &mut mean,
            running_var: &mut var,
        };
        bn.forward(Mode::Train, 4, state, &x, &mut y, &mut saved)
            .unwrap();
        let (mut dg, mut db, mut dx) = ([0f32; 3], [0f32; 3], vec![0f32; 12]);
        bn.backward(
            4,
            &gamma,
            &saved,
            &g,
            BatchNormGrads {
                gamma: &mut dg,
                beta: &mut db,
            },
            &mut dx,
        )
        .unwrap();
        (y, mean, var, dg, db, dx)
    };
    assert_eq!(run(BatchNorm::new(3)), run(BatchNorm::over_channels(3, 1)));
}

/// Backward against central differences of an f64 forward, with
/// `L = sum(y * r)` for a fixed `r`.
#[test]
fn batch_norm_2d_backward_matches_finite_differences() {
    let (batch, channels, plane) = (3, 2, 4);
    let bn = BatchNorm::over_channels(channels, plane);
    let n = batch * channels * plane;
    let x: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64 - 5.0) * 0.3).collect();
    let r: Vec<f64> = (0..n).map(|i| ((i * 13 % 7) as f64 - 3.0) * 0.2).collect();
    let gamma = [1.3f64, -0.7];
    let beta = [0.2f64, 0.4];
    // The f64 forward of PyTorch's definition.
    let loss = |x: &[f64], gamma: &[f64; 2], beta: &[f64; 2]| -> f64 {
        let mut total = 0.0;
        for c in 0..channels {
            let idx: Vec<usize> = (0..batch)
                .flat_map(|b| (0..plane).map(move |p| (b * channels + c) * plane + p))
                .collect();
            let m = idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64;
            let v = idx.iter().map(|&i| (x[i] - m).powi(2)).sum::<f64>() / idx.len() as f64;
            for &i in &idx {
                total += (gamma[c] * (x[i] - m) / (v + 1e-5).sqrt() + beta[c]) * r[i];
            }
        }
        total
    };
    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let rf: Vec<f32> = r.iter().map(|&v| v as f32).collect();
    let (gf, bf) = (gamma.map(|v| v as f32), beta.map(|v| v as f32));
    let (mut mean, mut var) = ([0f32; 2], [1f32; 2]);
    let mut y = vec![0f32; n];
    let mut saved = vec![0f32; bn.saved_len(batch)];
    let state = BatchNormState {
        gamma: &gf,
        beta: &bf,
        running_mean: &mut mean,
        running_var: &mut var,
    };
    bn.forward(Mode::Train, batch, state, &xf, &mut y, &mut saved)
        .unwrap();
    let (mut dg, mut db, mut dx) = ([0f32; 2], [0f32; 2], vec![0f32; n]);
    bn.backward(
        batch,
        &gf,
        &saved,
        &rf,
        BatchNormGrads {
            gamma: &mut dg,
            beta: &mut db,
        },
        &mut dx,
    )
    .unwrap();
    let h = 1e-5;
    for i in 0..n {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&up, &gamma, &beta) - loss(&down, &gamma, &beta)) / (2.0 * h);
        assert!(
            (dx[i] as f64 - fd).abs() < 1e-4,
            "dx[{i}] {} vs {fd}",
            dx[i]
        );
    }
    for c in 0..2 {
        let (mut up, mut down) = (gamma, gamma);
        up[c] += h;
        down[c] -= h;
        let fd = (loss(&x, &up, &beta) - loss(&x, &down, &beta)) / (2.0 * h);
        assert!(
            (dg[c] as f64 - fd).abs() < 1e-4,
            "dgamma[{c}] {} vs {fd}",
            dg[c]
        );
        let (mut up, mut down) = (beta, beta);
        up[c] += h;
        down[c] -= h;
        let fd = (loss(&x, &gamma, &up) - loss(&x, &gamma, &down)) / (2.0 * h);
        assert!(
            (db[c] as f64 - fd).abs() < 1e-4,
            "dbeta[{c}] {} vs {fd}",
            db[c]
        );
    }
}

/// One value per channel in train mode has no variance: a typed error, and
/// nothing written.
#[test]
fn batch_norm_2d_refuses_a_single_value_per_channel() {
    let bn = BatchNorm::over_channels(2, 1);
    let (gamma, beta) = ([1f32; 2], [0f32; 2]);
    let (mut mean, mut var) = ([0f32; 2], [1f32; 2]);
    let mut y = [7f32; 2];
    let mut saved = vec![0f32; bn.saved_len(1)];
    let state = BatchNormState {
        gamma: &gamma,
        beta: &beta,
        running_mean: &mut mean,
        running_var: &mut var,
    };
    let err = bn.forward(Mode::Train, 1, state, &[1.0, 2.0], &mut y, &mut saved);
    assert!(matches!(err, Err(Error::InvalidConfig { .. })), "{err:?}");
    assert_eq!((y, mean, var), ([7f32; 2], [0f32; 2], [1f32; 2]));
    assert!(BatchNorm::over_channels(2, 0).validate().is_err());
}

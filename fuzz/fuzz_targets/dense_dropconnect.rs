//! Fuzz `Dense` with DropConnect: any shapes (small), keep, seed, kind, mode and
//! ReLU. It must never panic, must reject bad keeps and short buffers with an
//! error that writes nothing, and must match the f64 reference within the
//! stated dot-product tolerance, forward and backward.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::{
    reference, BackwardBuffers, Dense, DenseGrads, DenseParams, DropConnect, DropoutKind,
    ForwardBuffers, MaskRng, Mode,
};

fn close(fast: f32, exact: f32, magnitude: f64, k: usize) -> bool {
    if !fast.is_finite() || !exact.is_finite() {
        return true; // overflow paths are checked by the unit tests
    }
    (fast as f64 - exact as f64).abs() <= (2 * k + 4) as f64 * 2f64.powi(-24) * magnitude + 1e-30
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let seed = u64::from_le_bytes(data[0..8].try_into().unwrap());
    let keep = f32::from_le_bytes(data[8..12].try_into().unwrap());
    let flags = data[12];
    // Batches up to 39 and outputs up to 71: eval with a batch of a packed
    // panel or more and more outputs computes `(W x^T)^T` (the GEMM's
    // swapped path, panels of 16 here without AVX-512).
    let batch = (data[13] % 40) as usize;
    let ni = (data[14] % 80) as usize;
    let no = (data[15] % 72) as usize;
    let kind = if flags & 1 == 0 {
        DropoutKind::Vanilla
    } else {
        DropoutKind::Inverted
    };
    let mode = if flags & 2 == 0 {
        Mode::Train
    } else {
        Mode::Eval
    };
    let dense = if flags & 4 == 0 {
        Dense::new(ni, no)
    } else {
        Dense::new(ni, no).with_relu()
    };
    let short_mask = flags & 8 != 0;

    let Ok(dc) = DropConnect::new(kind, keep) else {
        return;
    };
    // Values from the rest of the input, scaled into [-2, 2).
    let mut bytes = data[16..].iter().cycle();
    let mut next = |len: usize| -> Vec<f32> {
        (0..len)
            .map(|_| bytes.next().map_or(0.5, |&b| b as f32 / 64.0 - 2.0))
            .collect()
    };
    let (x, w, b) = (next(batch * ni), next(ni * no), next(no));
    let params = DenseParams {
        weights: &w,
        bias: &b,
    };
    let mut scratch = vec![0f32; Dense::SCRATCH_LEN];
    let mask_len = dense
        .dropconnect_mask_bytes()
        .saturating_sub(short_mask as usize);
    let mut mask = vec![0xEEu8; mask_len];
    let mut y = vec![7.0f32; batch * no];
    let mut rng = MaskRng::seed_from_u64(seed);
    let result = dense.forward_dropconnect(
        &dc,
        mode,
        &mut rng,
        &mut mask,
        params,
        ForwardBuffers {
            batch,
            input: &x,
            output: &mut y,
            scratch: &mut scratch,
        },
    );
    if short_mask && mode == Mode::Train && ni * no > 0 {
        assert!(result.is_err());
        assert!(y.iter().all(|&v| v == 7.0) && mask.iter().all(|&m| m == 0xEE));
        return;
    }
    result.unwrap();

    let (mask_ref, scale) = match mode {
        Mode::Train => (Some(&mask[..]), dc.train_scale()),
        Mode::Eval => (None, dc.eval_scale()),
    };
    let mut y_ref = vec![0f32; batch * no];
    reference::dense_forward(&dense, batch, params, mask_ref, scale, &x, &mut y_ref);
    let bit = |i: usize| mask_ref.is_none_or(|m| m[i / 8] >> (i % 8) & 1 == 1);
    for bi in 0..batch {
        for o in 0..no {
            let mag: f64 = (0..ni)
                .filter(|&i| bit(o * ni + i))
                .map(|i| (x[bi * ni + i] * w[o * ni + i]).abs() as f64)
                .sum::<f64>()
                * scale as f64
                + b[o].abs() as f64;
            assert!(close(y[bi * no + o], y_ref[bi * no + o], mag, ni));
        }
    }

    let dy0 = next(batch * no);
    let (mut dy, mut dy_ref) = (dy0.clone(), dy0);
    let (mut dw, mut db, mut dx) = (vec![0f32; ni * no], vec![0f32; no], vec![0f32; batch * ni]);
    let (mut dw_ref, mut db_ref, mut dx_ref) = (dw.clone(), db.clone(), dx.clone());
    dense
        .backward_dropconnect(
            &dc,
            mode,
            &mask,
            params,
            DenseGrads {
                weights: &mut dw,
                bias: &mut db,
            },
            BackwardBuffers {
                batch,
                input: &x,
                output: &y,
                grad_output: &mut dy,
                grad_input: Some(&mut dx),
                scratch: &mut scratch,
            },
        )
        .unwrap();
    let grads_ref = DenseGrads {
        weights: &mut dw_ref,
        bias: &mut db_ref,
    };
    let io_ref = BackwardBuffers {
        batch,
        input: &x,
        output: &y,
        grad_output: &mut dy_ref,
        grad_input: Some(&mut dx_ref),
        scratch: &mut [],
    };
    reference::dense_backward(&dense, params, mask_ref, scale, grads_ref, io_ref);
    assert_eq!(dy, dy_ref);
    for o in 0..no {
        for i in 0..ni {
            let mag: f64 = (0..batch)
                .map(|bi| (dy[bi * no + o] * x[bi * ni + i]).abs() as f64)
                .sum::<f64>()
                * scale as f64;
            assert!(close(dw[o * ni + i], dw_ref[o * ni + i], mag, batch));
        }
    }
    for bi in 0..batch {
        for i in 0..ni {
            let mag: f64 = (0..no)
                .map(|o| (dy[bi * no + o] * w[o * ni + i]).abs() as f64)
                .sum::<f64>()
                * scale as f64;
            assert!(close(dx[bi * ni + i], dx_ref[bi * ni + i], mag, no));
        }
    }
});

//! Fuzz `Dropout`: any lengths, keep, seed, kind and mode. It must never panic,
//! must fail exactly when the reference fails (with the same error), and must
//! otherwise match the reference bit for bit, mask and gradients included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::{reference, Dropout, DropoutKind, MaskRng, Mode};

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (head, rest) = data.split_at(16);
    let seed = u64::from_le_bytes(head[0..8].try_into().unwrap());
    let keep = f32::from_le_bytes(head[8..12].try_into().unwrap());
    let flags = head[12];
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
    let out_delta = (head[13] % 5) as isize - 2; // output length off by -2..=2
    let mask_delta = (head[14] % 4) as isize - 2; // mask length off by -2..=1
                                                  // Inputs: the rest of the data as f32s (any bit pattern), up to 4096.
    let x: Vec<f32> = rest
        .chunks_exact(4)
        .take(4096)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = x.len();
    let out_len = (n as isize + out_delta).max(0) as usize;
    let mask_len = (Dropout::mask_bytes(n) as isize + mask_delta).max(0) as usize;

    let dropout = match Dropout::new(kind, keep) {
        Ok(d) => d,
        Err(_) => {
            assert!(keep.is_nan() || !(0.0..=1.0).contains(&keep) || kind == DropoutKind::Inverted);
            return;
        }
    };

    let mut y = vec![7.0f32; out_len];
    let mut mask = vec![0xEEu8; mask_len];
    let fast = dropout.forward(
        mode,
        &mut MaskRng::seed_from_u64(seed),
        &x,
        &mut y,
        &mut mask,
    );
    let mut y_ref = vec![7.0f32; out_len];
    let mut mask_ref = vec![0xEEu8; mask_len];
    let rule = reference::Rule { kind, keep };
    let slow = reference::dropout_forward(
        rule,
        mode,
        &mut reference::streams_from_seed(seed),
        &x,
        &mut y_ref,
        &mut mask_ref,
    );
    assert_eq!(fast, slow);
    if fast.is_err() {
        assert!(
            y.iter().all(|&v| v == 7.0) && mask.iter().all(|&b| b == 0xEE),
            "wrote on error"
        );
        return;
    }
    assert!(same_bits(&y, &y_ref));
    assert_eq!(mask, mask_ref);

    let mut dx = vec![0f32; n];
    let mut dx_ref = vec![0f32; n];
    dropout.backward(mode, &mask, &y, &mut dx).unwrap();
    reference::dropout_backward(rule, mode, &mask_ref, &y_ref, &mut dx_ref).unwrap();
    assert!(same_bits(&dx, &dx_ref));

    // The mask-free path regenerates the same mask.
    let mut y_free = vec![0f32; n];
    let saved = dropout
        .forward_mask_free(mode, &mut MaskRng::seed_from_u64(seed), &x, &mut y_free)
        .unwrap();
    assert!(same_bits(&y_free, &y_ref));
    let mut dx_free = vec![0f32; n];
    dropout
        .backward_regenerate(mode, &saved, &y, &mut dx_free)
        .unwrap();
    assert!(same_bits(&dx_free, &dx_ref));
});

//! A tour of tinyreg's dropout: exact keep probabilities, deterministic masks,
//! eval as the expectation of train, and the mask-free backward.
//!
//! Run: `cargo run --release --example dropout`

use tinyreg::{mask_bytes, Dropout, DropoutKind, Error, MaskRng, Mode};

const UNITS: usize = 4096;
const PASSES: usize = 2000;

fn main() -> Result<(), Error> {
    let x: Vec<f32> = (0..UNITS)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let mut y = vec![0f32; UNITS];
    let mut mask = vec![0u8; mask_bytes(UNITS)];

    println!("tinyreg dropout on {UNITS} units, {PASSES} train passes per row");
    println!(
        "{:<9} {:>6} {:>14} {:>12} {:>14} {:>16}",
        "kind", "keep", "q = t/2^32", "kept rate", "train scale", "max|E[y]-eval|/sd"
    );
    for kind in [DropoutKind::Vanilla, DropoutKind::Inverted] {
        for keep in [0.5f32, 0.8, 0.9] {
            let dropout = Dropout::new(kind, keep)?;
            let q = dropout.keep().probability();
            let mut rng = MaskRng::seed_from_u64(2026);
            let mut sum = vec![0f64; UNITS];
            let mut kept = 0u64;
            for _ in 0..PASSES {
                dropout.forward(Mode::Train, &mut rng, &x, &mut y, &mut mask)?;
                kept += mask.iter().map(|b| b.count_ones() as u64).sum::<u64>();
                for (s, &v) in sum.iter_mut().zip(&y) {
                    *s += v as f64;
                }
            }
            dropout.forward(Mode::Eval, &mut rng, &x, &mut y, &mut mask)?;
            // Largest deviation of the Monte Carlo mean from eval, in standard errors.
            let worst = sum
                .iter()
                .zip(&x)
                .zip(&y)
                .map(|((&s, &xi), &e)| {
                    let v = xi as f64 * dropout.train_scale() as f64;
                    let se = (v * v * q * (1.0 - q) / PASSES as f64)
                        .sqrt()
                        .max(f64::MIN_POSITIVE);
                    (s / PASSES as f64 - e as f64).abs() / se
                })
                .fold(0.0, f64::max);
            println!(
                "{:<9} {:>6} {:>14.10} {:>12.6} {:>14.9} {:>16.2}",
                format!("{kind:?}"),
                keep,
                q,
                kept as f64 / (PASSES * UNITS) as f64,
                dropout.train_scale(),
                worst
            );
        }
    }

    // Same seed, same mask: on this machine and on any other target.
    let dropout = Dropout::inverted(0.5)?;
    let mut a = [0u8; 4];
    let mut b = [0u8; 4];
    dropout.forward(
        Mode::Train,
        &mut MaskRng::seed_from_u64(7),
        &x[..32],
        &mut y[..32],
        &mut a,
    )?;
    dropout.forward(
        Mode::Train,
        &mut MaskRng::seed_from_u64(7),
        &x[..32],
        &mut y[..32],
        &mut b,
    )?;
    println!(
        "\nseed 7, first 32 mask bits: {:08b} {:08b} {:08b} {:08b} (twice: {})",
        a[0],
        a[1],
        a[2],
        a[3],
        a == b
    );

    // Mask-free: keep 256 bytes of generator state instead of one bit per unit.
    let mut rng = MaskRng::seed_from_u64(8);
    let saved = dropout.forward_mask_free(Mode::Train, &mut rng, &x, &mut y)?;
    let mut dx = vec![0f32; UNITS];
    dropout.backward_regenerate(Mode::Train, &saved, &vec![1.0; UNITS], &mut dx)?;
    let same = dx
        .iter()
        .zip(&y)
        .zip(&x)
        .all(|((&d, &yi), &xi)| yi == xi * d);
    println!(
        "mask-free backward: {} bytes of state instead of a {}-byte mask; gradient mask matches forward: {same}",
        tinyreg::STATE_BYTES,
        mask_bytes(UNITS)
    );
    Ok(())
}

//! Spatial dropout (`Dropout2d`): whole channels kept or dropped, eval the
//! exact expectation of train by enumerating every pattern of kept
//! channels, backward through the same mask, and bad input refused with
//! nothing written and no draw.
use tinyreg::layers::spatial_dropout::SpatialDropout;
use tinyreg::{mask_bytes, Dropout, Error, ImageShape, MaskRng, Mode};

const SHAPE: ImageShape = ImageShape {
    channels: 3,
    height: 2,
    width: 2,
};

fn input() -> Vec<f32> {
    (0..SHAPE.len()).map(|i| i as f32 * 0.5 - 1.25).collect()
}

/// Every train output is some pattern of whole channels, each kept one
/// scaled by the train scale; all 2^3 patterns occur; weighted by their
/// probabilities they average to the eval output exactly (up to rounding).
#[test]
fn spatial_dropout_eval_is_the_expectation_of_train_by_enumeration() {
    for dropout in [
        Dropout::inverted(0.6).unwrap(),
        Dropout::vanilla(0.6).unwrap(),
    ] {
        let sd = SpatialDropout {
            shape: SHAPE,
            dropout,
        };
        let x = input();
        let plane = 4;
        let mut rng = MaskRng::seed_from_u64(11);
        let mut seen: [Option<Vec<f32>>; 8] = Default::default();
        for _ in 0..400 {
            let mut y = vec![0f32; x.len()];
            let mut mask = vec![0u8; sd.mask_bytes(1)];
            sd.forward(Mode::Train, &mut rng, 1, &x, &mut y, &mut mask)
                .unwrap();
            let mut pattern = 0;
            for c in 0..3 {
                let kept = mask[0] >> c & 1 == 1;
                for p in 0..plane {
                    let i = c * plane + p;
                    let want = if kept {
                        x[i] * dropout.train_scale()
                    } else {
                        0.0
                    };
                    assert_eq!(y[i], want, "channel {c} value {p}");
                }
                pattern |= (kept as usize) << c;
            }
            seen[pattern] = Some(y);
        }
        let q = dropout.keep().probability();
        let mut expectation = vec![0f64; x.len()];
        for (pattern, y) in seen.iter().enumerate() {
            let y = y.as_ref().expect("every pattern of kept channels occurs");
            let kept = pattern.count_ones() as i32;
            let p = q.powi(kept) * (1.0 - q).powi(3 - kept);
            for (e, &v) in expectation.iter_mut().zip(y) {
                *e += p * v as f64;
            }
        }
        let mut eval = vec![0f32; x.len()];
        sd.forward(Mode::Eval, &mut rng, 1, &x, &mut eval, &mut [])
            .unwrap();
        for (e, &v) in expectation.iter().zip(&eval) {
            assert!((e - v as f64).abs() < 1e-6, "{dropout:?}: {e} vs {v}");
        }
    }
}

/// Backward passes the gradient through exactly the kept channels, with
/// the train scale.
#[test]
fn spatial_dropout_backward_uses_the_forward_mask() {
    let sd = SpatialDropout {
        shape: SHAPE,
        dropout: Dropout::inverted(0.5).unwrap(),
    };
    let batch = 5;
    let x: Vec<f32> = (0..batch * SHAPE.len()).map(|i| 1.0 + i as f32).collect();
    let mut y = vec![0f32; x.len()];
    let mut mask = vec![0u8; sd.mask_bytes(batch)];
    let mut rng = MaskRng::seed_from_u64(2);
    sd.forward(Mode::Train, &mut rng, batch, &x, &mut y, &mut mask)
        .unwrap();
    let g = vec![1f32; x.len()];
    let mut dx = vec![0f32; x.len()];
    sd.backward(batch, &mask, &g, &mut dx).unwrap();
    // y = x * m * s, so dy/dx = y / x for every (nonzero) x.
    for ((&d, &yi), &xi) in dx.iter().zip(&y).zip(&x) {
        assert_eq!(d, yi / xi);
    }
    let dropped = dx.iter().filter(|&&d| d == 0.0).count();
    assert!(dropped > 0 && dropped < dx.len() && dropped % 4 == 0);
}

/// Wrong lengths and a short mask are typed errors; nothing is written and
/// the generator does not move.
#[test]
fn spatial_dropout_refuses_bad_lengths_untouched() {
    let sd = SpatialDropout {
        shape: SHAPE,
        dropout: Dropout::inverted(0.5).unwrap(),
    };
    let x = input();
    let mut rng = MaskRng::seed_from_u64(5);
    let before = rng.state();
    let mut y = vec![9f32; x.len() - 1];
    let mut mask = vec![0u8; mask_bytes(3)];
    let err = sd.forward(Mode::Train, &mut rng, 1, &x, &mut y, &mut mask);
    assert!(matches!(err, Err(Error::LengthMismatch { .. })), "{err:?}");
    let mut y = vec![9f32; x.len()];
    let err = sd.forward(Mode::Train, &mut rng, 2, &x, &mut y, &mut mask);
    assert!(matches!(err, Err(Error::LengthMismatch { .. })), "{err:?}");
    let big: Vec<f32> = x.iter().chain(&x).chain(&x).copied().collect();
    let mut y3 = vec![9f32; big.len()];
    let mut short = vec![0u8; 1];
    let err = sd.forward(Mode::Train, &mut rng, 3, &big, &mut y3, &mut short);
    assert!(matches!(err, Err(Error::BufferTooSmall { .. })), "{err:?}");
    assert!(y.iter().chain(&y3).all(|&v| v == 9.0));
    assert_eq!(rng.state(), before);
}

//! RGB shapes and channels on real images: the first 20 CIFAR-10 test images
//! (`tests/data/cifar10-test20.bin`, see `tests/data/README.md`; kept out of
//! the published crate). Augmentations treat the three planes alike and never
//! mix them; a small CNN with average pooling, a 3-channel convolution and
//! fractional max pooling fits the 20 images (the overfit-a-small-sample
//! check of hyperparameter tuning).
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::augment::{cutout, hflip, random_crop};
use tinyreg::{
    Conv2d, Dense, FmpEval, FmpIncrements, FmpWindows, Icls, ImageShape, Layer, LearningRate, Mode,
    Network, Optimizer, TrainConfig, Trainer, Update, WeightDecay,
};

const CIFAR: &[u8] = include_bytes!("data/cifar10-test20.bin");
const RGB: ImageShape = ImageShape {
    channels: 3,
    height: 32,
    width: 32,
};
const PLANE: usize = 32 * 32;

fn images() -> (Vec<f32>, Vec<u32>) {
    let data = Icls::parse(CIFAR).unwrap();
    let mut x = vec![0f32; 20 * RGB.len()];
    let mut labels = vec![0u32; 20];
    let all: Vec<u32> = (0..20).collect();
    data.gather(&all, &mut x, &mut labels).unwrap();
    (x, labels)
}

#[test]
fn cifar_file_is_the_first_twenty_test_images() {
    let data = Icls::parse(CIFAR).unwrap();
    assert_eq!(
        (data.count, data.channels, data.rows, data.cols),
        (20, 3, 32, 32)
    );
    let (x, labels) = images();
    // The well-known first 20 CIFAR-10 test labels.
    assert_eq!(
        labels,
        [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]
    );
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    // Planes differ (a colour image, not a grey one copied three times).
    let first = &x[..RGB.len()];
    assert_ne!(&first[..PLANE], &first[PLANE..2 * PLANE]);
}

#[test]
fn cutout_zeroes_the_same_square_in_every_channel() {
    let (x, _) = images();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    for img in x.chunks_exact(RGB.len()) {
        let mut out = img.to_vec();
        let rect = cutout(&mut rng, RGB, 12, &mut out).unwrap();
        for c in 0..3 {
            for r in 0..32 {
                for col in 0..32 {
                    let i = c * PLANE + r * 32 + col;
                    let boxed = (rect.top..rect.bottom).contains(&r)
                        && (rect.left..rect.right).contains(&col);
                    assert_eq!(out[i], if boxed { 0.0 } else { img[i] });
                }
            }
        }
    }
}

#[test]
fn crop_and_flip_move_all_channels_alike() {
    let (x, _) = images();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    let pad = 4usize;
    let mut flips = 0;
    for img in x.chunks_exact(RGB.len()) {
        let mut out = vec![f32::NAN; RGB.len()];
        let (dy, dx) = random_crop(&mut rng, RGB, pad, img, &mut out).unwrap();
        let cropped = out.clone();
        let flipped = hflip(&mut rng, RGB, &mut out).unwrap();
        flips += flipped as u32;
        for c in 0..3 {
            for r in 0..32 {
                for col in 0..32 {
                    // Crop: output (r, col) is input (r + dy - pad, col + dx - pad).
                    let (sr, sc) = (
                        (r + dy) as isize - pad as isize,
                        (col + dx) as isize - pad as isize,
                    );
                    let want = if (0..32).contains(&sr) && (0..32).contains(&sc) {
                        img[c * PLANE + sr as usize * 32 + sc as usize]
                    } else {
                        0.0
                    };
                    assert_eq!(cropped[c * PLANE + r * 32 + col], want);
                    let mirrored = if flipped { 31 - col } else { col };
                    assert_eq!(
                        out[c * PLANE + r * 32 + col],
                        cropped[c * PLANE + r * 32 + mirrored]
                    );
                }
            }
        }
    }
    assert!((3..=17).contains(&flips), "{flips} flips of 20");
}

/// Average pooling 32 -> 16, conv 3 -> 8 channels, fractional max pooling
/// 16 -> 11 per channel (random boundaries), dense: 20 real RGB images are
/// fitted, every one classified right in eval mode.
#[test]
fn small_cnn_overfits_twenty_rgb_images() {
    let (x, labels) = images();
    let conv = Conv2d {
        in_channels: 3,
        out_channels: 8,
        height: 16,
        width: 16,
        k: 3,
        stride: 1,
        padding: 1,
    };
    let layers = [
        Layer::AvgPool {
            shape: RGB,
            k: 2,
            stride: 2,
        },
        Layer::Conv2d { conv, relu: true },
        Layer::FractionalMaxPool {
            shape: ImageShape {
                channels: 8,
                height: 16,
                width: 16,
            },
            out_height: 11,
            out_width: 11,
            windows: FmpWindows::Graham {
                increments: FmpIncrements::Random,
                overlapping: true,
            },
            per_plane: false,
            eval: FmpEval::Average(2),
        },
        Layer::Dense(Dense::new(8 * 11 * 11, 10)),
    ];
    let net = Network::new(&layers);
    let config = TrainConfig::new(20, LearningRate::constant(3e-3))
        .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap())
        .with_seed(1);
    let mut mem = vec![0f32; net.memory_len(20, Optimizer::ADAM.state_per_param(), false)];
    let mut trainer = Trainer::new(net, config, &mut mem).unwrap();
    let mut losses = Vec::new();
    for _ in 0..40 {
        losses.push(trainer.train_step_batch(&x, &labels, None).unwrap().loss);
    }
    // From about 3.1 (He-initialized weights on non-negative features) to
    // about 0.2 in 40 steps at this seed.
    assert!(
        losses[39] < 0.1 * losses[0],
        "train loss {} -> {}",
        losses[0],
        losses[39]
    );
    let mut logits = vec![0f32; 20 * 10];
    trainer.logits(&x, 20, Mode::Eval, &mut logits).unwrap();
    let correct = logits
        .chunks_exact(10)
        .zip(&labels)
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(0, |b, (k, &v)| if v > row[b] { k } else { b });
            best == label as usize
        })
        .count();
    assert_eq!(correct, 20, "losses {:?}", &losses[losses.len() - 5..]);
}

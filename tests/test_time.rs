//! Test-time augmentation: views against the training augmentations they
//! mirror, and `Trainer::predict_views` against the mean of its views.
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::augment::{hflip, random_crop, ImageShape};
use tinyreg::layers::test_time::{all_views, all_views_count, random_view, ten_crop, View};
use tinyreg::trainer::predict::Views;
use tinyreg::{Dense, Icls, Layer, LearningRate, Network, TrainConfig, Trainer};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");
const SHAPE: ImageShape = ImageShape {
    channels: 1,
    height: 8,
    width: 8,
};

fn image(seed: usize) -> Vec<f32> {
    (0..64).map(|i| ((i * 7 + seed * 13) % 17) as f32).collect()
}

/// The centre view is the image bit for bit; a random view is the crop and
/// flip that training draws from the same generator, and gives the same
/// pixels.
#[test]
fn test_time_views_are_the_training_augmentations() {
    let x = image(1);
    let mut out = vec![0f32; 64];
    View::identity(2).apply(SHAPE, 2, &x, &mut out).unwrap();
    assert_eq!(out, x);
    for seed in 0..50 {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
        let mut trained = vec![0f32; 64];
        let (dy, dx) = random_crop(&mut rng, SHAPE, 2, &x, &mut trained).unwrap();
        let flip = hflip(&mut rng, SHAPE, &mut trained).unwrap();
        let view = random_view(&mut Xoshiro128PlusPlus::seed_from_u64(seed), 2);
        let want = View {
            dy: dy as u16,
            dx: dx as u16,
            flip,
        };
        assert_eq!(view, want, "seed {seed}");
        view.apply(SHAPE, 2, &x, &mut out).unwrap();
        assert_eq!(out, trained, "seed {seed}");
    }
}

/// Ten-crop: the image first, ten distinct views inside the padding;
/// every view: `2 (2 pad + 1)^2` distinct ones, the image among them.
#[test]
fn test_time_ten_crop_and_all_views() {
    let ten = ten_crop(2);
    assert_eq!(ten[0], View::identity(2));
    for (i, a) in ten.iter().enumerate() {
        assert!(a.dy <= 4 && a.dx <= 4);
        assert!(ten[i + 1..].iter().all(|b| b != a), "{a:?} twice");
    }
    let n = all_views_count(2);
    assert_eq!(n, 50);
    let mut every = vec![View::identity(0); n];
    assert_eq!(all_views(2, &mut every).unwrap(), n);
    assert!(every.contains(&View::identity(2)));
    for (i, a) in every.iter().enumerate() {
        assert!(every[i + 1..].iter().all(|b| b != a));
    }
    assert!(matches!(
        all_views(2, &mut every[..49]),
        Err(tinyreg::Error::BufferTooSmall { .. })
    ));
}

fn trainer_on<'m>(mem: &'m mut Vec<f32>, layers: &'m [Layer]) -> Trainer<'m, 'm> {
    let net = Network::new(layers);
    mem.resize(net.memory_len(4, 0, false), 0.0);
    let mut trainer =
        Trainer::new(net, TrainConfig::new(4, LearningRate::constant(0.05)), mem).unwrap();
    let data = Icls::parse(TRAIN).unwrap();
    let idx: Vec<u32> = (0..4).collect();
    for _ in 0..20 {
        trainer.train_step(&data, &idx).unwrap();
    }
    trainer
}

/// `predict_views` with the image alone is `predict_proba` bit for bit; with
/// ten-crop it is the mean of the ten views' probabilities, summed in order,
/// bit for bit; bad views, shapes and buffers are refused with nothing
/// written.
#[test]
fn test_time_predict_views_is_the_mean_over_its_views() {
    let layers = [
        Layer::Dense(Dense::new(64, 32).with_relu()),
        Layer::Dense(Dense::new(32, 10)),
    ];
    let mut mem = Vec::new();
    let mut trainer = trainer_on(&mut mem, &layers);
    let rows = 3;
    let x: Vec<f32> = (0..rows).flat_map(image).collect();
    let (mut scratch, mut tmp) = (vec![0f32; x.len()], vec![0f32; rows * 10]);
    let mut got = vec![0f32; rows * 10];
    let identity = [View::identity(2)];
    let views = |list| Views {
        shape: SHAPE,
        pad: 2,
        list,
    };
    trainer
        .predict_views(&x, rows, views(&identity), &mut scratch, &mut tmp, &mut got)
        .unwrap();
    let mut plain = vec![0f32; rows * 10];
    trainer.predict_proba(&x, rows, 0, &mut plain).unwrap();
    assert_eq!(got, plain);

    let ten = ten_crop(2);
    trainer
        .predict_views(&x, rows, views(&ten), &mut scratch, &mut tmp, &mut got)
        .unwrap();
    let mut want = vec![0f32; rows * 10];
    let mut viewed = vec![0f32; x.len()];
    for view in &ten {
        for (img, out) in x.chunks_exact(64).zip(viewed.chunks_exact_mut(64)) {
            view.apply(SHAPE, 2, img, out).unwrap();
        }
        trainer.predict_proba(&viewed, rows, 0, &mut tmp).unwrap();
        for (w, &t) in want.iter_mut().zip(&tmp) {
            *w += t / 10.0;
        }
    }
    assert_eq!(got, want);
    for row in got.chunks_exact(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    assert_ne!(got, plain, "the views change the prediction");

    let far = [View {
        dy: 5,
        dx: 0,
        flip: false,
    }];
    let wide = Views {
        shape: ImageShape {
            channels: 1,
            height: 4,
            width: 16,
        },
        ..views(&ten)
    };
    let mut out = vec![7f32; rows * 10];
    for bad in [views(&[]), views(&far)] {
        assert!(matches!(
            trainer.predict_views(&x, rows, bad, &mut scratch, &mut tmp, &mut out),
            Err(tinyreg::Error::InvalidConfig { .. })
        ));
    }
    let narrow = Views {
        shape: ImageShape {
            channels: 1,
            height: 4,
            width: 4,
        },
        ..views(&ten)
    };
    assert!(trainer
        .predict_views(&x, rows, narrow, &mut scratch, &mut tmp, &mut out)
        .is_err());
    assert!(trainer
        .predict_views(&x, rows, views(&ten), &mut scratch[1..], &mut tmp, &mut out)
        .is_err());
    assert!(out.iter().all(|&v| v == 7.0), "written on error");
    // A 4 x 16 image has the 64 inputs: it is a shape the net accepts.
    trainer
        .predict_views(&x, rows, wide, &mut scratch, &mut tmp, &mut out)
        .unwrap();
}

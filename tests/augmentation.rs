//! Augmentation inside the training loop (`trainer::augmentation`): it
//! changes training, reproduces from the seed, resumes from a checkpoint
//! bit for bit, and refuses what does not fit before anything moves.

use tinyreg::layers::affine::RandomAffine;
use tinyreg::layers::color::ColorJitter;
use tinyreg::{
    shaped, Augmentation, Augmenter, BatchMix, EpochMetrics, Error, Icls, ImageShape, Layer,
    LayerDesc, LearningRate, Network, Optimizer, TrainConfig, Trainer, Update, WeightDecay,
};

const DIGITS: &[u8] = include_bytes!("../data/digits-train.bin");
/// The digits are 8x8 gray images.
const IMAGE: ImageShape = ImageShape {
    channels: 1,
    height: 8,
    width: 8,
};
const BATCH: usize = 16;
const LAYERS: [Layer; 4] = match shaped(
    IMAGE,
    10,
    [
        LayerDesc::Conv {
            filters: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            relu: true,
        },
        LayerDesc::MaxPool {
            kernel: 2,
            stride: 2,
        },
        LayerDesc::Dense {
            units: 16,
            relu: true,
            dropconnect: None,
        },
        LayerDesc::Dense {
            units: 10,
            relu: false,
            dropconnect: None,
        },
    ],
) {
    Ok(l) => l,
    Err(_) => panic!("the test network does not fit"),
};

fn config(seed: u64) -> TrainConfig {
    TrainConfig::new(BATCH, LearningRate::constant(1e-2))
        .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap())
        .with_seed(seed)
}

/// Every augmentation at once.
fn everything() -> Augmentation {
    Augmentation {
        crop_pad: 1,
        affine: Some(RandomAffine::rotation(10.0)),
        hflip: true,
        cutout: 3,
        jitter: Some(ColorJitter {
            brightness: 0.2,
            contrast: 0.2,
            saturation: 0.0,
            hue: 0.0,
        }),
        jitter_max: 16.0,
        mix: Some(BatchMix::Mixup { alpha: 0.4 }),
        ..Augmentation::none(IMAGE)
    }
}

/// The weights after `epochs` epochs from `seed` with `augmentation`.
fn train(seed: u64, augmentation: Option<Augmentation>, epochs: u32) -> Vec<f32> {
    let data = Icls::parse(DIGITS).unwrap();
    let (train, val) = (data.slice(0, 400).unwrap(), data.slice(400, 500).unwrap());
    let net = Network::new(&LAYERS);
    let mut memory = vec![0f32; net.memory_len(BATCH, 2, false)];
    let a = augmentation.unwrap_or(Augmentation::none(IMAGE));
    let (mut floats, mut labels) = (
        vec![0f32; a.floats_len(BATCH)],
        vec![0u32; a.labels_len(BATCH)],
    );
    let mut trainer = Trainer::new(net, config(seed), &mut memory).unwrap();
    if let Some(a) = augmentation {
        let augmenter = Augmenter::new(a, BATCH, &mut floats, &mut labels).unwrap();
        trainer.set_augmenter(Some(augmenter)).unwrap();
    }
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); epochs as usize];
    trainer
        .fit(&train, &val, epochs, &mut order, &mut history)
        .unwrap();
    trainer.params().to_vec()
}

#[test]
fn augmentation_with_nothing_on_trains_as_without() {
    assert_eq!(
        train(3, Some(Augmentation::none(IMAGE)), 1),
        train(3, None, 1)
    );
}

#[test]
fn augmentation_changes_training_and_reproduces_from_the_seed() {
    let plain = train(3, None, 1);
    let augmented = train(3, Some(everything()), 1);
    assert_ne!(augmented, plain);
    assert_eq!(train(3, Some(everything()), 1), augmented);
    assert_ne!(train(4, Some(everything()), 1), augmented);
    let cutmix = Augmentation {
        mix: Some(BatchMix::CutMix { alpha: 1.0 }),
        ..everything()
    };
    assert_ne!(train(3, Some(cutmix), 1), augmented);
}

#[test]
fn augmentation_resumes_from_a_checkpoint_bit_for_bit() {
    let data = Icls::parse(DIGITS).unwrap();
    let (train_set, val) = (data.slice(0, 400).unwrap(), data.slice(400, 500).unwrap());
    let net = Network::new(&LAYERS);
    let a = everything();
    let run = |memory: &mut Vec<f32>, resume: Option<&[u8]>, epochs: u32| {
        let (mut floats, mut labels) = (
            vec![0f32; a.floats_len(BATCH)],
            vec![0u32; a.labels_len(BATCH)],
        );
        let mut trainer = Trainer::new(net, config(5), memory).unwrap();
        if let Some(bytes) = resume {
            trainer.load_checkpoint(bytes).unwrap();
        }
        let augmenter = Augmenter::new(a, BATCH, &mut floats, &mut labels).unwrap();
        trainer.set_augmenter(Some(augmenter)).unwrap();
        let mut order = vec![0u32; train_set.count];
        let mut history = vec![EpochMetrics::default(); epochs as usize];
        trainer
            .fit(&train_set, &val, epochs, &mut order, &mut history)
            .unwrap();
        let mut bytes = vec![0u8; trainer.checkpoint_len(true).unwrap()];
        trainer.write_checkpoint(true, &mut bytes).unwrap();
        (trainer.params().to_vec(), bytes)
    };
    let mut memory = vec![0f32; net.memory_len(BATCH, 2, false)];
    let (unbroken, _) = run(&mut memory, None, 2);
    let (_, half) = run(&mut memory, None, 1);
    let (resumed, _) = run(&mut memory, Some(&half), 1);
    assert_eq!(resumed, unbroken);
}

#[test]
fn augmenter_refuses_what_does_not_fit() {
    let a = everything();
    let (mut floats, mut labels) = (
        vec![0f32; a.floats_len(BATCH)],
        vec![0u32; a.labels_len(BATCH)],
    );
    // Buffers for a smaller batch than asked for.
    assert!(matches!(
        Augmenter::new(a, BATCH + 1, &mut floats, &mut labels),
        Err(Error::BufferTooSmall { .. })
    ));
    // A mix without a positive alpha.
    let bad = Augmentation {
        mix: Some(BatchMix::Mixup { alpha: 0.0 }),
        ..a
    };
    assert!(Augmenter::new(bad, BATCH, &mut floats, &mut labels).is_err());
    // Images of another shape than the network's input, and buffers for
    // batches smaller than the trainer's, are refused by the trainer.
    let net = Network::new(&LAYERS);
    let mut memory = vec![0f32; net.memory_len(BATCH, 2, false)];
    let mut trainer = Trainer::new(net, config(1), &mut memory).unwrap();
    let wide = Augmentation::none(ImageShape { width: 9, ..IMAGE });
    let (mut f2, mut l2) = (vec![0f32; wide.floats_len(BATCH)], vec![0u32; BATCH * 2]);
    let augmenter = Augmenter::new(wide, BATCH, &mut f2, &mut l2).unwrap();
    assert!(matches!(
        trainer.set_augmenter(Some(augmenter)),
        Err(Error::LengthMismatch {
            expected: 64,
            got: 72
        })
    ));
    let small = Augmenter::new(a, BATCH - 1, &mut floats, &mut labels).unwrap();
    assert!(matches!(
        trainer.set_augmenter(Some(small)),
        Err(Error::BufferTooSmall { .. })
    ));
    assert!(!trainer.augmenting());
}

#[test]
fn overfit_small_sample_refuses_an_augmenting_trainer() {
    let data = Icls::parse(DIGITS).unwrap();
    let a = everything();
    let (mut floats, mut labels) = (
        vec![0f32; a.floats_len(BATCH)],
        vec![0u32; a.labels_len(BATCH)],
    );
    let net = Network::new(&LAYERS);
    let mut memory = vec![0f32; net.memory_len(BATCH, 2, false)];
    let mut trainer = Trainer::new(net, config(1), &mut memory).unwrap();
    let augmenter = Augmenter::new(a, BATCH, &mut floats, &mut labels).unwrap();
    trainer.set_augmenter(Some(augmenter)).unwrap();
    let mut order = [0u32; 32];
    let refused = tinyreg::tune::overfit_small_sample(&mut trainer, &data, 32, 10, &mut order);
    assert!(matches!(refused, Err(Error::InvalidConfig { .. })));
    trainer.set_augmenter(None).unwrap();
    assert!(tinyreg::tune::overfit_small_sample(&mut trainer, &data, 32, 10, &mut order).is_ok());
}

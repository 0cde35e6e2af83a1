//! Data augmentation inside the training loop: what [`Augmentation`] says is
//! done to every batch [`crate::Trainer::train_step`] (and so
//! [`crate::Trainer::fit`]) loads, before its forward pass.
//!
//! Per image, in torchvision's usual order: a random resized crop, a padded
//! random crop, a random affine transform, a left-right flip, color jitter,
//! cutout; then, over the batch, mixup or CutMix. Eval sees the images as
//! they are.
//!
//! The draws of step `s` come from a generator seeded by the training seed
//! and `s` alone, so augmentation keeps no state: a checkpoint resumes it
//! exactly, and it does not move the mask or shuffling streams (a run with
//! augmentation off draws the same masks as before). The buffers are the
//! caller's ([`Augmentation::floats_len`], [`Augmentation::labels_len`]).

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::error::{check_setting, Error};
use crate::layers::affine::{random_affine, RandomAffine};
use crate::layers::augment::{cutmix, cutout, hflip, random_crop, ImageShape};
use crate::layers::color::{color_jitter, ColorJitter};
use crate::layers::mixup::Mixup;
use crate::layers::resized_crop::{random_resized_crop, ResizedCrop};

/// Mixing pairs of images of a batch (each image with the one before it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BatchMix {
    /// Mixup (Zhang et al. 2018): `lambda x_i + (1 - lambda) x_j`, the loss
    /// mixed alike, `lambda ~ Beta(alpha, alpha)`.
    Mixup {
        /// Beta's parameter, positive.
        alpha: f32,
    },
    /// CutMix (Yun et al. 2019): a box of area `1 - lambda` of `x_j` pasted
    /// into `x_i`, the loss weighed by the pasted area (the batch's mean).
    CutMix {
        /// Beta's parameter, positive.
        alpha: f32,
    },
}

/// What is done to each training batch; every part is off by default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// The shape of the samples, which must be the network's input.
    pub shape: ImageShape,
    /// Pad by this many zeros and crop back at a random offset (0: off).
    pub crop_pad: usize,
    /// A random resized crop (Inception's), if set.
    pub resized_crop: Option<ResizedCrop>,
    /// A random rotation, translation, scale and shear, if set.
    pub affine: Option<RandomAffine>,
    /// Mirror left-right with probability 1/2.
    pub hflip: bool,
    /// Color jitter of images in `[0, jitter_max]`, if set.
    pub jitter: Option<ColorJitter>,
    /// The largest pixel value, for color jitter.
    pub jitter_max: f32,
    /// Zero a square of this side at a random centre (0: off).
    pub cutout: usize,
    /// Mixup or CutMix over the batch, if set.
    pub mix: Option<BatchMix>,
}

/// Offsets the augmentation stream's seed from the mask and shuffling seeds.
const AUGMENT_SEED: u64 = 0x6175_676d_656e_7431;

impl Augmentation {
    /// Nothing done to `shape` images; set the fields wanted.
    pub const fn none(shape: ImageShape) -> Self {
        Augmentation {
            shape,
            crop_pad: 0,
            resized_crop: None,
            affine: None,
            hflip: false,
            jitter: None,
            jitter_max: 1.0,
            cutout: 0,
            mix: None,
        }
    }

    /// Floats of scratch [`Augmenter::new`] needs for batches of `batch`:
    /// one copy of the batch (the source of each image's transform and of
    /// the partners of a mix).
    pub const fn floats_len(&self, batch: usize) -> usize {
        crate::size::mul(batch, self.shape.len())
    }

    /// Labels of scratch it needs: the partners' labels and the pairing.
    pub const fn labels_len(&self, batch: usize) -> usize {
        crate::size::mul(batch, 2)
    }

    /// Checks every part: the shape not empty, each transform's ranges, the
    /// mix's `alpha`, a crop padding up to 65535.
    pub fn validate(&self) -> Result<(), Error> {
        if self.shape.is_empty() {
            return Err(Error::InvalidConfig {
                reason: "augmentation needs a non-empty image shape",
            });
        }
        let pad = self.crop_pad <= u16::MAX as usize;
        check_setting(pad, "crop_pad", "a crop's padding is at most 65535")?;
        if let Some(crop) = &self.resized_crop {
            crop.validate()?;
        }
        if let Some(affine) = &self.affine {
            affine.validate()?;
        }
        if let Some(jitter) = &self.jitter {
            jitter.validate()?;
            if !(self.jitter_max > 0.0 && self.jitter_max.is_finite()) {
                return Err(Error::InvalidSetting {
                    setting: "jitter_max",
                    rule: "color jitter's largest pixel value must be positive and finite",
                });
            }
        }
        if let Some(BatchMix::Mixup { alpha } | BatchMix::CutMix { alpha }) = self.mix {
            Mixup::new(alpha)?;
        }
        Ok(())
    }
}

/// What [`Augmenter::apply`] returns: the partners' labels and the weight of
/// the samples' own labels when the batch was mixed.
type Mixed<'b> = Result<Option<(&'b [u32], f32)>, Error>;

/// An [`Augmenter`]'s work, called through a pointer: only
/// [`Augmenter::new`] names the function, so firmware that never augments
/// does not link the transforms (63 KB of flash on the Cortex-M4F).
type Apply<'a> =
    for<'b, 'c> fn(&'b mut Augmenter<'a>, u64, u32, &'c mut [f32], &'c [u32]) -> Mixed<'b>;

/// An [`Augmentation`] with its buffers, for [`crate::Trainer::set_augmenter`].
///
/// ```
/// use tinyreg::{Augmentation, Augmenter, BatchMix, Dense, EpochMetrics, Icls, ImageShape, Layer,
///               LearningRate, Network, TrainConfig, Trainer};
///
/// fn main() -> Result<(), tinyreg::Error> {
///     let data = Icls::parse(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits-train.bin")))?;
///     let (train, val) = (data.slice(0, 200)?, data.slice(200, 300)?);
///     let layers = [Layer::Dense(Dense::new(64, 10))];
///     let config = TrainConfig::new(16, LearningRate::constant(0.05));
///     let mut memory = vec![0.0; Network::new(&layers).memory_len_for(&config)];
///     let mut trainer = Trainer::new(Network::new(&layers), config, &mut memory)?;
///
///     // Crops padded by 1, flips and mixup on the 8x8 digits.
///     let augmentation = Augmentation {
///         crop_pad: 1,
///         hflip: true,
///         mix: Some(BatchMix::Mixup { alpha: 0.2 }),
///         ..Augmentation::none(ImageShape { channels: 1, height: 8, width: 8 })
///     };
///     let mut floats = vec![0.0; augmentation.floats_len(16)];
///     let mut labels = vec![0; augmentation.labels_len(16)];
///     trainer.set_augmenter(Some(Augmenter::new(augmentation, 16, &mut floats, &mut labels)?))?;
///
///     let (mut order, mut history) = (vec![0; train.count], [EpochMetrics::default(); 2]);
///     trainer.fit(&train, &val, 2, &mut order, &mut history)?; // eval sees the images as they are
///     assert!(history[1].val.loss.is_finite());
///     Ok(())
/// }
/// ```
pub struct Augmenter<'a> {
    augmentation: Augmentation,
    batch: usize,
    copy: &'a mut [f32],
    labels: &'a mut [u32],
    run: Apply<'a>,
}

impl core::fmt::Debug for Augmenter<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Augmenter")
            .field("augmentation", &self.augmentation)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl<'a> Augmenter<'a> {
    /// Checks `augmentation` and that the buffers hold batches of up to
    /// `batch` ([`Augmentation::floats_len`], [`Augmentation::labels_len`]).
    pub fn new(
        augmentation: Augmentation,
        batch: usize,
        floats: &'a mut [f32],
        labels: &'a mut [u32],
    ) -> Result<Self, Error> {
        augmentation.validate()?;
        for (needed, got) in [
            (augmentation.floats_len(batch), floats.len()),
            (augmentation.labels_len(batch), labels.len()),
        ] {
            if got < needed {
                return Err(Error::BufferTooSmall { needed, got });
            }
        }
        Ok(Augmenter {
            augmentation,
            batch,
            copy: floats,
            labels,
            run: Self::augment,
        })
    }

    /// The settings.
    pub fn augmentation(&self) -> &Augmentation {
        &self.augmentation
    }

    /// Batches of up to this many samples fit the buffers.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Augments `input` (`labels.len()` rows) for step `step` of a training
    /// seeded `seed`; returns the partners' labels and the weight of the
    /// samples' own labels when the batch was mixed.
    pub(crate) fn apply(
        &mut self,
        seed: u64,
        step: u32,
        input: &mut [f32],
        labels: &[u32],
    ) -> Mixed<'_> {
        (self.run)(self, seed, step, input, labels)
    }

    fn augment(&mut self, seed: u64, step: u32, input: &mut [f32], labels: &[u32]) -> Mixed<'_> {
        let a = self.augmentation;
        let rows = labels.len();
        let len = a.shape.len();
        if rows > self.batch || input.len() != rows * len {
            return Err(Error::LengthMismatch {
                expected: rows * len,
                got: input.len(),
            });
        }
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(
            seed ^ AUGMENT_SEED ^ u64::from(step).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let copy = &mut self.copy[..rows * len];
        let geometric = a.resized_crop.is_some() || a.crop_pad > 0 || a.affine.is_some();
        for (image, scratch) in input.chunks_exact_mut(len).zip(copy.chunks_exact_mut(len)) {
            if geometric {
                if let Some(crop) = &a.resized_crop {
                    scratch.copy_from_slice(image);
                    random_resized_crop(&mut rng, a.shape, crop, scratch, image)?;
                }
                if a.crop_pad > 0 {
                    scratch.copy_from_slice(image);
                    random_crop(&mut rng, a.shape, a.crop_pad, scratch, image)?;
                }
                if let Some(affine) = &a.affine {
                    scratch.copy_from_slice(image);
                    random_affine(&mut rng, a.shape, affine, scratch, image)?;
                }
            }
            if a.hflip {
                hflip(&mut rng, a.shape, image)?;
            }
            if let Some(jitter) = &a.jitter {
                color_jitter(&mut rng, a.shape, jitter, a.jitter_max, image)?;
            }
            if a.cutout > 0 {
                cutout(&mut rng, a.shape, a.cutout, image)?;
            }
        }
        let Some(mix) = a.mix else {
            return Ok(None);
        };
        let (partners, pairs) = self.labels.split_at_mut(self.batch);
        let (partners, pairs) = (&mut partners[..rows], &mut pairs[..rows]);
        // Both draw lambda ~ Beta(alpha, alpha) and pair each image with the
        // one before it.
        let (BatchMix::Mixup { alpha } | BatchMix::CutMix { alpha }) = mix;
        let mixup = Mixup::new(alpha)?;
        let lambda = mixup.sample(&mut rng, pairs)?;
        copy.copy_from_slice(input);
        let own = match mix {
            BatchMix::Mixup { .. } => {
                mixup.mix(lambda, pairs, len, copy, input)?;
                lambda
            }
            BatchMix::CutMix { .. } => {
                let mut pasted = 0.0f32;
                for (i, image) in input.chunks_exact_mut(len).enumerate() {
                    let j = pairs[i] as usize;
                    let (_, fraction) = cutmix(
                        &mut rng,
                        a.shape,
                        lambda,
                        &copy[j * len..(j + 1) * len],
                        image,
                    )?;
                    pasted += fraction;
                }
                1.0 - pasted / rows as f32
            }
        };
        for (p, &j) in partners.iter_mut().zip(pairs.iter()) {
            *p = labels[j as usize];
        }
        Ok(Some((&self.labels[..rows], own)))
    }
}

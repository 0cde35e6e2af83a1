//! Fuzz the shape-inferring builders `build_layers` and `shaped` with
//! arbitrary descriptions (any sizes, any float bits), input shapes and class
//! counts. Nothing may panic; a list `build_layers` accepts is one `shaped`
//! accepts too, with the same layers, every layer valid and its memory
//! computable; a refusal names a layer within the list (or the list's end).
#![no_main]

use libfuzzer_sys::arbitrary::{Error, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyreg::{
    build_layers, shaped, DepthScaling, Dropout, FmpEval, FmpIncrements, FmpWindows, ImageShape,
    Layer, LayerDesc, Network, StochasticDepth,
};

/// Mostly small sizes, sometimes huge ones.
fn size(u: &mut Unstructured) -> Result<usize> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => usize::MAX,
        1 => 1 << 40,
        _ => u.int_in_range(0usize..=40)?,
    })
}

/// Mostly ordinary probabilities, sometimes any bits.
fn probability(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => f32::from_bits(u.arbitrary()?),
        k => k as f32 / 7.0,
    })
}

fn dropout(u: &mut Unstructured) -> Result<Dropout> {
    let keep = probability(u)?;
    // A keep the crate refuses cannot make a `Dropout`: such input is skipped.
    Dropout::inverted(keep).map_err(|_| Error::IncorrectFormat)
}

fn desc(u: &mut Unstructured) -> Result<LayerDesc> {
    Ok(match u.int_in_range(0u8..=13)? {
        0 => LayerDesc::Dense {
            units: size(u)?,
            relu: u.arbitrary()?,
            dropconnect: if u.arbitrary()? {
                Some(dropout(u)?)
            } else {
                None
            },
        },
        1 => LayerDesc::Relu,
        2 => LayerDesc::Dropout(dropout(u)?),
        3 => LayerDesc::BatchNorm {
            momentum: probability(u)?,
        },
        4 => LayerDesc::BatchNorm2d {
            momentum: probability(u)?,
        },
        5 => LayerDesc::Conv {
            filters: size(u)?,
            kernel: size(u)?,
            stride: size(u)?,
            padding: size(u)?,
            relu: u.arbitrary()?,
        },
        6 => LayerDesc::MaxPool {
            kernel: size(u)?,
            stride: size(u)?,
        },
        7 => LayerDesc::AvgPool {
            kernel: size(u)?,
            stride: size(u)?,
        },
        8 => LayerDesc::FractionalMaxPool {
            out: size(u)?,
            windows: if u.arbitrary()? {
                FmpWindows::PyTorch {
                    kernel: u.arbitrary()?,
                }
            } else {
                FmpWindows::Graham {
                    increments: if u.arbitrary()? {
                        FmpIncrements::Random
                    } else {
                        FmpIncrements::Pseudorandom
                    },
                    overlapping: u.arbitrary()?,
                }
            },
            per_plane: u.arbitrary()?,
            eval: if u.arbitrary()? {
                FmpEval::Exact
            } else {
                FmpEval::Average(u.arbitrary()?)
            },
        },
        9 => LayerDesc::SpatialDropout(dropout(u)?),
        10 => LayerDesc::GlobalAvgPool,
        11 => LayerDesc::Residual {
            hidden: size(u)?,
            survival: probability(u)?,
            scaling: if u.arbitrary()? {
                DepthScaling::Paper
            } else {
                DepthScaling::Inverted
            },
        },
        12 => LayerDesc::BlockStart(StochasticDepth {
            survival: probability(u)?,
            scaling: DepthScaling::Inverted,
            per_row: u.arbitrary()?,
        }),
        _ => LayerDesc::BlockEnd,
    })
}

const N: usize = 6;

fn check(u: &mut Unstructured) -> Result<()> {
    let input = ImageShape {
        channels: size(u)?,
        height: size(u)?,
        width: size(u)?,
    };
    let classes = size(u)?;
    let mut descs = [LayerDesc::Relu; N];
    for d in descs.iter_mut() {
        *d = desc(u)?;
    }
    let mut out = [Layer::Relu { features: 0 }; N];
    let built = build_layers(input, classes, &descs, &mut out).map(|l| l.to_vec());
    let constant = shaped(input, classes, descs);
    match built {
        Ok(layers) => {
            assert_eq!(
                constant.map(|l| l.to_vec()),
                Ok(layers.clone()),
                "shaped disagrees"
            );
            for layer in &layers {
                assert!(layer.validate().is_ok());
            }
            let _ = Network::new(&layers).memory_len(16, 2, true);
        }
        Err(e) => assert!(e.layer <= N, "{e}"),
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = check(&mut Unstructured::new(data));
});

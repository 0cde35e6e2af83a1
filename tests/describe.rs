//! `LayerDesc`, `build_layers` and `shaped`: every kind gives the layer a
//! hand-written list gives, the runtime and `const` builders agree, and a
//! refusal names the layer, its kind and the field.

use tinyreg::{
    build_layers, shaped, BatchNorm, Conv2d, Dense, DepthScaling, Dropout, DropoutKind, Error,
    FmpEval, FmpIncrements, FmpWindows, ImageShape, Layer, LayerDesc, Projection, StochasticDepth,
};

const IMAGE: ImageShape = ImageShape {
    channels: 2,
    height: 12,
    width: 12,
};

const fn inverted(keep: f32) -> Dropout {
    match Dropout::inverted(keep) {
        Ok(d) => d,
        Err(_) => panic!("keep out of range"),
    }
}

const DEPTH: StochasticDepth = StochasticDepth {
    survival: 0.8,
    scaling: DepthScaling::Inverted,
    per_row: true,
};
const GRAHAM: FmpWindows = FmpWindows::Graham {
    increments: FmpIncrements::Random,
    overlapping: true,
};

/// Every kind of description, in a network that uses each once.
const EVERY_KIND: [LayerDesc; 15] = [
    LayerDesc::Conv {
        filters: 4,
        kernel: 3,
        stride: 1,
        padding: 1,
        relu: true,
    },
    LayerDesc::BatchNorm2d { momentum: 0.2 },
    LayerDesc::FractionalMaxPool {
        out: 8,
        windows: GRAHAM,
        per_plane: true,
        eval: FmpEval::Average(2),
    },
    LayerDesc::SpatialDropout(inverted(0.9)),
    LayerDesc::BlockStart(DEPTH),
    LayerDesc::Conv {
        filters: 6,
        kernel: 3,
        stride: 2,
        padding: 1,
        relu: false,
    },
    LayerDesc::BlockEnd,
    LayerDesc::MaxPool {
        kernel: 2,
        stride: 2,
    },
    LayerDesc::AvgPool {
        kernel: 2,
        stride: 1,
    },
    LayerDesc::GlobalAvgPool,
    LayerDesc::Dense {
        units: 16,
        relu: false,
        dropconnect: Some(inverted(0.7)),
    },
    LayerDesc::BATCH_NORM,
    LayerDesc::Relu,
    LayerDesc::Residual {
        hidden: 8,
        survival: 0.9,
        scaling: DepthScaling::Paper,
    },
    LayerDesc::Dense {
        units: 3,
        relu: false,
        dropconnect: None,
    },
];

/// The same network written layer by layer with every size by hand.
fn every_kind_by_hand() -> [Layer; 15] {
    let image = |channels, side| ImageShape {
        channels,
        height: side,
        width: side,
    };
    let conv = |in_channels, out_channels, side, stride| Conv2d {
        in_channels,
        out_channels,
        height: side,
        width: side,
        k: 3,
        stride,
        padding: 1,
    };
    [
        Layer::Conv2d {
            conv: conv(2, 4, 12, 1),
            relu: true,
        },
        Layer::BatchNorm(BatchNorm::over_channels(4, 144).with_constants(0.2, 1e-5)),
        Layer::FractionalMaxPool {
            shape: image(4, 12),
            out_height: 8,
            out_width: 8,
            windows: GRAHAM,
            per_plane: true,
            eval: FmpEval::Average(2),
        },
        Layer::SpatialDropout(tinyreg::layers::spatial_dropout::SpatialDropout {
            shape: image(4, 8),
            dropout: inverted(0.9),
        }),
        Layer::ResidualStart {
            features: 256,
            depth: DEPTH,
        },
        Layer::Conv2d {
            conv: conv(4, 6, 8, 2),
            relu: false,
        },
        Layer::ResidualEnd {
            features: 96,
            projection: Some(Projection::Conv(Conv2d {
                in_channels: 4,
                out_channels: 6,
                height: 8,
                width: 8,
                k: 1,
                stride: 2,
                padding: 0,
            })),
        },
        Layer::MaxPool {
            shape: image(6, 4),
            k: 2,
            stride: 2,
        },
        Layer::AvgPool {
            shape: image(6, 2),
            k: 2,
            stride: 1,
        },
        Layer::GlobalAvgPool { shape: image(6, 1) },
        Layer::DenseDropConnect(Dense::new(6, 16), inverted(0.7)),
        Layer::BatchNorm(BatchNorm::new(16)),
        Layer::Relu { features: 16 },
        Layer::Residual {
            features: 16,
            hidden: 8,
            survival: 0.9,
            scaling: DepthScaling::Paper,
        },
        Layer::Dense(Dense::new(16, 3)),
    ]
}

#[test]
fn build_layers_gives_the_hand_written_layers_for_every_kind() {
    let mut out = [Layer::Relu { features: 0 }; 15];
    let built = build_layers(IMAGE, 3, &EVERY_KIND, &mut out).unwrap();
    assert_eq!(built, &every_kind_by_hand()[..]);
}

#[test]
fn shaped_in_a_const_equals_build_layers() {
    const LAYERS: [Layer; 15] = match shaped(IMAGE, 3, EVERY_KIND) {
        Ok(layers) => layers,
        Err(_) => panic!("the test network does not fit"),
    };
    assert_eq!(LAYERS, every_kind_by_hand());
}

/// A network with one layer changed at `at`.
fn with(at: usize, desc: LayerDesc) -> [LayerDesc; 15] {
    let mut descs = EVERY_KIND;
    descs[at] = desc;
    descs
}

#[test]
fn build_layers_refusals_name_the_layer_kind_and_field() {
    let mut out = [Layer::Relu { features: 0 }; 15];
    let mut refused = |descs: &[LayerDesc], classes| {
        let e = build_layers(IMAGE, classes, descs, &mut out).unwrap_err();
        (e.layer, e.kind, e.field)
    };
    let dense = |units| LayerDesc::Dense {
        units,
        relu: false,
        dropconnect: None,
    };
    assert_eq!(
        refused(&with(14, dense(0)), 3),
        (14, "dense", Some("units"))
    );
    assert_eq!(
        refused(&with(1, LayerDesc::BatchNorm2d { momentum: 1.5 }), 3),
        (1, "batch_norm_2d", Some("momentum"))
    );
    let pool = LayerDesc::MaxPool {
        kernel: 5,
        stride: 1,
    };
    assert_eq!(refused(&with(8, pool), 3), (8, "max_pool", Some("kernel")));
    let block = LayerDesc::BlockStart(StochasticDepth {
        survival: 0.0,
        ..DEPTH
    });
    assert_eq!(
        refused(&with(4, block), 3),
        (4, "block_start", Some("survival"))
    );
    // A conv after global pooling has no image; a fractional pooling that
    // does not shrink is refused by the layer's own rules (no one field).
    let conv = with(
        10,
        LayerDesc::Conv {
            filters: 1,
            kernel: 1,
            stride: 1,
            padding: 0,
            relu: false,
        },
    );
    assert_eq!(refused(&conv, 3), (10, "conv", None));
    let fmp = with(
        2,
        LayerDesc::FractionalMaxPool {
            out: 12,
            windows: GRAHAM,
            per_plane: false,
            eval: FmpEval::Exact,
        },
    );
    assert_eq!(refused(&fmp, 3), (2, "fractional_max_pool", None));
    // The list as a whole: the wrong number of classes, a block left open.
    assert_eq!(refused(&EVERY_KIND, 4), (15, "network", None));
    assert_eq!(refused(&EVERY_KIND[..6], 96), (6, "network", None));
    let e = build_layers(IMAGE, 4, &EVERY_KIND, &mut out).unwrap_err();
    assert_eq!(
        e.error,
        Error::LengthMismatch {
            expected: 4,
            got: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "layer 15 (network): length mismatch: expected 4 elements, got 3"
    );
}

#[test]
fn vanilla_dropout_keeps_the_crates_rule_everywhere() {
    // Keep 0 is vanilla dropout's "drop everything", valid in the crate and
    // so in every description; inverted dropout cannot divide by it.
    assert!(Dropout::new(DropoutKind::Vanilla, 0.0).is_ok());
    assert!(Dropout::new(DropoutKind::Inverted, 0.0).is_err());
    let descs = [
        LayerDesc::Dropout(Dropout::vanilla(0.0).unwrap()),
        LayerDesc::Dense {
            units: 3,
            relu: false,
            dropconnect: None,
        },
    ];
    let mut out = [Layer::Relu { features: 0 }; 2];
    assert!(build_layers(ImageShape::features(5), 3, &descs, &mut out).is_ok());
}

//! The C ABI from Rust: status codes for bad input, and a short training run.
//! (`cargo test --features capi --test capi`; scripts/check-c-example.sh runs
//! the same functions from C.)
#![cfg(feature = "capi")]

use tinyreg::capi::net::*;
use tinyreg::capi::*;

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

fn config() -> TinyregMlpConfig {
    TinyregMlpConfig {
        inputs: 64,
        hidden: 16,
        classes: 10,
        batch: 8,
        keep: 0.9,
        optimizer: TINYREG_ADAM,
        learning_rate: 3e-3,
        seed: 1,
    }
}

fn digits() -> TinyregDataset {
    TinyregDataset {
        images: TRAIN[32..].as_ptr(),
        labels: TRAIN[32 + 1437 * 64..].as_ptr(),
        count: 1437,
        features: 64,
        max_value: 16,
    }
}

#[test]
fn capi_reports_bad_input_with_status_codes() {
    let cfg = config();
    // SAFETY (whole test): every pointer is valid or null, as the contract asks.
    unsafe {
        assert_eq!(tinyreg_mlp_memory_bytes(core::ptr::null()), 0);
        let bad = TinyregMlpConfig {
            keep: f32::NAN,
            ..cfg
        };
        assert_eq!(tinyreg_mlp_memory_bytes(&bad), 0);
        let bad = TinyregMlpConfig {
            optimizer: 7,
            ..cfg
        };
        assert_eq!(tinyreg_mlp_memory_bytes(&bad), 0);
        // Sizes whose memory overflows: 0, not a wrapped size.
        let huge = TinyregMlpConfig {
            inputs: u32::MAX,
            hidden: u32::MAX,
            classes: u32::MAX,
            batch: u32::MAX,
            ..cfg
        };
        assert_eq!(tinyreg_mlp_memory_bytes(&huge), 0);
        let mut small = vec![0f32; 3000];
        let mut m: TinyregMlp = core::mem::zeroed();
        assert_ne!(
            tinyreg_mlp_init(&mut m, &huge, small.as_mut_ptr(), 12_000),
            TINYREG_OK
        );
        let bytes = tinyreg_mlp_memory_bytes(&cfg);
        assert!(bytes > 0 && bytes.is_multiple_of(4));
        let mut memory = vec![0f32; bytes / 4];
        let mut mlp: TinyregMlp = core::mem::zeroed();
        assert_eq!(
            tinyreg_mlp_init(&mut mlp, &cfg, memory.as_mut_ptr(), bytes - 4),
            TINYREG_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(
            tinyreg_mlp_init(core::ptr::null_mut(), &cfg, memory.as_mut_ptr(), bytes),
            TINYREG_ERR_NULL
        );
        assert_eq!(
            tinyreg_mlp_init(&mut mlp, &cfg, core::ptr::null_mut(), bytes),
            TINYREG_ERR_NULL
        );
        // Never initialized: a zeroed model is refused.
        // `order` holds `data.count` entries, as the contract asks.
        let mut order = vec![0u32; 1437];
        let data = digits();
        assert_eq!(
            tinyreg_mlp_train_epoch(
                &mut mlp,
                &data,
                order.as_mut_ptr(),
                core::ptr::null_mut(),
                core::ptr::null_mut()
            ),
            TINYREG_ERR_STATE
        );
        assert_eq!(
            tinyreg_mlp_init(&mut mlp, &cfg, memory.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        let wrong = TinyregDataset {
            features: 63,
            ..data
        };
        assert_eq!(
            tinyreg_mlp_train_epoch(
                &mut mlp,
                &wrong,
                order.as_mut_ptr(),
                core::ptr::null_mut(),
                core::ptr::null_mut()
            ),
            TINYREG_ERR_LENGTH
        );
        let labels = [0u8, 12];
        let bad_labels = TinyregDataset {
            labels: labels.as_ptr(),
            count: 2,
            ..data
        };
        assert_eq!(
            tinyreg_mlp_evaluate(
                &mut mlp,
                &bad_labels,
                core::ptr::null_mut(),
                core::ptr::null_mut()
            ),
            TINYREG_ERR_DATA
        );
        let mut probs = [0f32; 90];
        assert_eq!(
            tinyreg_mlp_predict(&mut mlp, [0f32; 9 * 64].as_ptr(), 9, probs.as_mut_ptr()),
            TINYREG_ERR_LENGTH
        );
    }
}

#[test]
fn capi_trains_digits() {
    let cfg = config();
    // SAFETY: valid pointers throughout.
    unsafe {
        let bytes = tinyreg_mlp_memory_bytes(&cfg);
        let mut memory = vec![0f32; bytes / 4];
        let mut mlp: TinyregMlp = core::mem::zeroed();
        assert_eq!(
            tinyreg_mlp_init(&mut mlp, &cfg, memory.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        let data = digits();
        // `data.count` entries, as the contract asks (this test once handed
        // in 400 for 1437 samples, and the shuffle wrote past them).
        let mut order = vec![0u32; 1437];
        let (mut first, mut loss, mut acc) = (0f32, 0f32, 0f32);
        for epoch in 0..3 {
            assert_eq!(
                tinyreg_mlp_train_epoch(&mut mlp, &data, order.as_mut_ptr(), &mut loss, &mut acc),
                TINYREG_OK
            );
            if epoch == 0 {
                first = loss;
            }
        }
        assert!(loss < first / 2.0, "loss {first} -> {loss}");
        assert_eq!(
            tinyreg_mlp_evaluate(&mut mlp, &data, &mut loss, &mut acc),
            TINYREG_OK
        );
        assert!(acc > 0.9, "train accuracy {acc}");
        let x: Vec<f32> = TRAIN[32..32 + 64]
            .iter()
            .map(|&v| v as f32 / 16.0)
            .collect();
        let mut probs = [0f32; 10];
        assert_eq!(
            tinyreg_mlp_predict(&mut mlp, x.as_ptr(), 1, probs.as_mut_ptr()),
            TINYREG_OK
        );
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

/// A descriptor with only the fields a kind uses set.
fn layer(kind: u32, size: u32, kernel: u32, flags: u32, p: f32) -> TinyregLayer {
    TinyregLayer {
        kind,
        size,
        kernel,
        stride: 1,
        padding: kernel / 2,
        flags,
        p,
        samplings: 0,
    }
}

/// 400 digits (the network tests run unoptimized).
fn digits400() -> TinyregDataset {
    TinyregDataset {
        count: 400,
        labels: TRAIN[32 + 1437 * 64..].as_ptr(),
        ..digits()
    }
}

/// Trains `net` three epochs on `data`: the loss falls by a tenth and the
/// train accuracy beats 0.3 (chance is 0.1; the C example trains to its
/// accuracy bar optimized).
///
/// # Safety
/// `net` was initialized over memory that still lives; `data` is valid.
unsafe fn train_three_epochs(net: &mut TinyregNet, data: &TinyregDataset) {
    let mut order = vec![0u32; data.count as usize];
    let (mut first, mut loss, mut acc) = (0f32, 0f32, 0f32);
    for epoch in 0..3 {
        // SAFETY: per the contract above.
        let status = unsafe {
            tinyreg_net_train_epoch(
                net,
                data,
                order.as_mut_ptr(),
                order.len() as u32,
                &mut loss,
                &mut acc,
            )
        };
        assert_eq!(status, TINYREG_OK);
        if epoch == 0 {
            first = loss;
        }
    }
    assert!(loss < 0.9 * first, "loss {first} -> {loss}");
    // SAFETY: as above.
    let status = unsafe { tinyreg_net_evaluate(net, data, &mut loss, &mut acc) };
    assert_eq!(status, TINYREG_OK);
    assert!(acc > 0.3, "train accuracy {acc}");
}

/// A small residual CNN on the 8x8 digits: conv + BatchNorm2d + ReLU, a
/// block (conv + BatchNorm2d, stochastic depth 0.9), spatial dropout, max
/// pooling, dense. (Global average pooling of so few channels learns too
/// slowly for an unoptimized test; the C example uses it.)
fn cnn() -> [TinyregLayer; 10] {
    [
        layer(TINYREG_LAYER_CONV, 8, 3, 0, 0.0),
        layer(TINYREG_LAYER_BATCH_NORM_2D, 0, 0, 0, 0.0),
        layer(TINYREG_LAYER_RELU, 0, 0, 0, 0.0),
        layer(TINYREG_LAYER_BLOCK_START, 0, 0, 0, 0.9),
        layer(TINYREG_LAYER_CONV, 8, 3, 0, 0.0),
        layer(TINYREG_LAYER_BATCH_NORM_2D, 0, 0, 0, 0.0),
        layer(TINYREG_LAYER_BLOCK_END, 0, 0, 0, 0.0),
        layer(TINYREG_LAYER_SPATIAL_DROPOUT, 0, 0, 0, 0.9),
        TinyregLayer {
            stride: 2,
            padding: 0,
            ..layer(TINYREG_LAYER_MAX_POOL, 0, 2, 0, 0.0)
        },
        layer(TINYREG_LAYER_DENSE, 10, 0, 0, 0.0),
    ]
}

fn net_config(layers: &[TinyregLayer]) -> TinyregNetConfig {
    TinyregNetConfig {
        layers: layers.as_ptr(),
        count: layers.len() as u32,
        channels: 1,
        height: 8,
        width: 8,
        classes: 10,
        batch: 16,
        optimizer: TINYREG_ADAM,
        learning_rate: 1e-2,
        seed: 3,
    }
}

/// The network from descriptors trains (the loss falls, accuracy well
/// above chance, in three unoptimized epochs on 400 images), predicts probabilities that sum to 1, and its parameters
/// read out and back in give the same predictions in a fresh model.
#[test]
fn capi_net_from_descriptors_trains_a_residual_cnn() {
    let layers = cnn();
    let cfg = net_config(&layers);
    let data = digits400();
    // SAFETY (whole test): every pointer is valid, as the contract asks.
    unsafe {
        let bytes = tinyreg_net_memory_bytes(&cfg);
        assert!(bytes > 0);
        let mut memory = vec![0f32; bytes / 4];
        let mut net: TinyregNet = core::mem::zeroed();
        assert_eq!(
            tinyreg_net_init(&mut net, &cfg, memory.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        train_three_epochs(&mut net, &data);
        let x: Vec<f32> = TRAIN[32..32 + 2 * 64]
            .iter()
            .map(|&v| v as f32 / 16.0)
            .collect();
        let mut probs = [0f32; 20];
        assert_eq!(
            tinyreg_net_predict(&mut net, x.as_ptr(), 2, probs.as_mut_ptr()),
            TINYREG_OK
        );
        for row in probs.chunks(10) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        // Parameters out of one model and into a fresh one.
        let n = tinyreg_net_params_len(&net);
        assert!(n > 0);
        let mut params = vec![0f32; n];
        assert_eq!(
            tinyreg_net_get_params(&mut net, params.as_mut_ptr(), n),
            TINYREG_OK
        );
        assert_eq!(
            tinyreg_net_get_params(&mut net, params.as_mut_ptr(), n - 1),
            TINYREG_ERR_LENGTH
        );
        let mut memory2 = vec![0f32; bytes / 4];
        let mut fresh: TinyregNet = core::mem::zeroed();
        assert_eq!(
            tinyreg_net_init(&mut fresh, &cfg, memory2.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        assert_eq!(
            tinyreg_net_set_params(&mut fresh, params.as_ptr(), n),
            TINYREG_OK
        );
        // Batch norm's running statistics are buffers, not parameters: the
        // fresh model's eval differs until it has seen data; the weights match.
        let mut back = vec![0f32; n];
        assert_eq!(
            tinyreg_net_get_params(&mut fresh, back.as_mut_ptr(), n),
            TINYREG_OK
        );
        assert_eq!(back, params);
    }
}

/// A trained batch-norm CNN through a checkpoint: a fresh model with the
/// same descriptors loads its weights and running statistics and predicts
/// bit for bit as the trained one (its parameters alone do not); with the
/// training state, one more epoch on each gives the same parameters. A
/// damaged checkpoint, a wrong length and a null buffer are refused and
/// change nothing.
#[test]
fn capi_net_checkpoint_carries_a_trained_batch_norm_cnn() {
    let layers = cnn();
    let cfg = net_config(&layers);
    let data = digits400();
    let x: Vec<f32> = TRAIN[32..32 + 4 * 64]
        .iter()
        .map(|&v| v as f32 / 16.0)
        .collect();
    // SAFETY (whole test): every pointer is valid, as the contract asks.
    unsafe {
        let bytes = tinyreg_net_memory_bytes(&cfg);
        let (mut memory, mut memory2) = (vec![0f32; bytes / 4], vec![0f32; bytes / 4]);
        let mut net: TinyregNet = core::mem::zeroed();
        assert_eq!(
            tinyreg_net_init(&mut net, &cfg, memory.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        train_three_epochs(&mut net, &data);
        let predict = |net: &mut TinyregNet| {
            let mut probs = [0f32; 40];
            assert_eq!(
                tinyreg_net_predict(net, x.as_ptr(), 4, probs.as_mut_ptr()),
                TINYREG_OK
            );
            probs
        };
        let trained = predict(&mut net);

        let len = tinyreg_net_checkpoint_bytes(&mut net, false);
        assert!(len > 0 && len < tinyreg_net_checkpoint_bytes(&mut net, true));
        let mut file = vec![0u8; len];
        assert_eq!(
            tinyreg_net_save(&mut net, false, file.as_mut_ptr(), len - 1),
            TINYREG_ERR_LENGTH
        );
        assert_eq!(
            tinyreg_net_save(&mut net, false, core::ptr::null_mut(), len),
            TINYREG_ERR_NULL
        );
        assert_eq!(
            tinyreg_net_save(&mut net, false, file.as_mut_ptr(), len),
            TINYREG_OK
        );

        let mut fresh: TinyregNet = core::mem::zeroed();
        assert_eq!(
            tinyreg_net_init(&mut fresh, &cfg, memory2.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        let untrained = predict(&mut fresh);
        // One flipped bit: refused, and the model is as it was.
        file[400] ^= 1;
        assert_eq!(
            tinyreg_net_load(&mut fresh, file.as_ptr(), len),
            TINYREG_ERR_DATA
        );
        assert_eq!(predict(&mut fresh), untrained);
        file[400] ^= 1;
        assert_eq!(
            tinyreg_net_load(&mut fresh, file.as_ptr(), len - 1),
            TINYREG_ERR_DATA
        );
        assert_eq!(tinyreg_net_load(&mut fresh, file.as_ptr(), len), TINYREG_OK);
        assert_eq!(
            predict(&mut fresh),
            trained,
            "the loaded model predicts as the trained one"
        );

        // The parameters alone leave the running statistics behind.
        let n = tinyreg_net_params_len(&net);
        let mut params = vec![0f32; n];
        assert_eq!(
            tinyreg_net_get_params(&mut net, params.as_mut_ptr(), n),
            TINYREG_OK
        );
        let mut memory3 = vec![0f32; bytes / 4];
        let mut params_only: TinyregNet = core::mem::zeroed();
        assert_eq!(
            tinyreg_net_init(&mut params_only, &cfg, memory3.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        assert_eq!(
            tinyreg_net_set_params(&mut params_only, params.as_ptr(), n),
            TINYREG_OK
        );
        assert_ne!(predict(&mut params_only), trained);

        // With the training state, training goes on identically.
        let len = tinyreg_net_checkpoint_bytes(&mut net, true);
        let mut state = vec![0u8; len];
        assert_eq!(
            tinyreg_net_save(&mut net, true, state.as_mut_ptr(), len),
            TINYREG_OK
        );
        assert_eq!(
            tinyreg_net_load(&mut fresh, state.as_ptr(), len),
            TINYREG_OK
        );
        let mut order = vec![0u32; data.count as usize];
        let (mut loss, mut acc) = (0f32, 0f32);
        for model in [&mut net, &mut fresh] {
            let status = tinyreg_net_train_epoch(
                model,
                &data,
                order.as_mut_ptr(),
                order.len() as u32,
                &mut loss,
                &mut acc,
            );
            assert_eq!(status, TINYREG_OK);
        }
        let mut after = vec![0f32; n];
        assert_eq!(
            tinyreg_net_get_params(&mut net, params.as_mut_ptr(), n),
            TINYREG_OK
        );
        assert_eq!(
            tinyreg_net_get_params(&mut fresh, after.as_mut_ptr(), n),
            TINYREG_OK
        );
        assert_eq!(params, after);
    }
}

/// Every status code has a message; an unknown one says so.
#[test]
fn capi_error_message_names_every_status() {
    let codes = [
        TINYREG_OK,
        TINYREG_ERR_NULL,
        TINYREG_ERR_CONFIG,
        TINYREG_ERR_BUFFER_TOO_SMALL,
        TINYREG_ERR_LENGTH,
        TINYREG_ERR_DATA,
        TINYREG_ERR_NOT_FINITE,
        TINYREG_ERR_STATE,
        TINYREG_ERR_ALIGNMENT,
    ];
    let text = |code| {
        // SAFETY: the function returns a static NUL-terminated string.
        unsafe { core::ffi::CStr::from_ptr(tinyreg_error_message(code)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    let messages: Vec<String> = codes.iter().map(|&c| text(c)).collect();
    for (i, m) in messages.iter().enumerate() {
        assert!(!m.is_empty() && m != "unknown status");
        assert!(!messages[..i].contains(m), "two codes share {m}");
    }
    assert_eq!(text(-99), "unknown status");
}

/// Fractional max pooling from descriptors: PyTorch's 2x2 windows drawn per
/// plane (8 -> 5) and Graham's random overlapping regions with exact eval
/// (5 -> 4) train; windows that do not fit and exact evals with too many
/// samplings are refused at init.
#[test]
fn capi_net_fractional_max_pool_from_descriptors() {
    let layers = [
        layer(TINYREG_LAYER_CONV, 4, 3, TINYREG_RELU, 0.0),
        TinyregLayer {
            samplings: 2,
            ..layer(
                TINYREG_LAYER_FRACTIONAL_MAX_POOL,
                5,
                2,
                TINYREG_PER_PLANE,
                0.0,
            )
        },
        layer(
            TINYREG_LAYER_FRACTIONAL_MAX_POOL,
            4,
            0,
            TINYREG_RANDOM_REGIONS | TINYREG_OVERLAPPING | TINYREG_EXACT_EVAL,
            0.0,
        ),
        layer(TINYREG_LAYER_DENSE, 10, 0, 0, 0.0),
    ];
    let cfg = net_config(&layers);
    let data = digits400();
    // SAFETY (whole test): every pointer is valid, as the contract asks.
    unsafe {
        let bytes = tinyreg_net_memory_bytes(&cfg);
        assert!(bytes > 0);
        let mut memory = vec![0f32; bytes / 4];
        let mut net: TinyregNet = core::mem::zeroed();
        assert_eq!(
            tinyreg_net_init(&mut net, &cfg, memory.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        train_three_epochs(&mut net, &data);
        // 8 -> 7 with 3x3 windows needs 7 + 3 - 1 <= 8; 32 -> 22 random
        // exact would be C(22, 10)^2 samplings.
        let mut too_wide = layers;
        too_wide[1].size = 7;
        too_wide[1].kernel = 3;
        let too_many = [
            layers[0],
            layer(
                TINYREG_LAYER_FRACTIONAL_MAX_POOL,
                22,
                0,
                TINYREG_RANDOM_REGIONS | TINYREG_EXACT_EVAL,
                0.0,
            ),
            layers[3],
        ];
        let wide_cfg = TinyregNetConfig {
            height: 32,
            width: 32,
            ..net_config(&too_many)
        };
        for cfg in [net_config(&too_wide), wide_cfg] {
            let bytes = tinyreg_net_memory_bytes(&cfg);
            let mut memory = vec![0f32; bytes.max(4) / 4];
            let mut net: TinyregNet = core::mem::zeroed();
            assert_ne!(
                tinyreg_net_init(&mut net, &cfg, memory.as_mut_ptr(), bytes),
                TINYREG_OK
            );
        }
    }
}

/// Descriptions the Rust side refuses get status codes, and the model is
/// not touched.
#[test]
fn capi_net_refuses_bad_descriptions() {
    let good = cnn();
    let mut open = good;
    open[6] = layer(TINYREG_LAYER_RELU, 0, 0, 0, 0.0);
    let mut unknown = good;
    unknown[2].kind = 99;
    let mut bad_keep = good;
    bad_keep[7].p = 1.5;
    let mut image_after_dense = good;
    image_after_dense[0] = layer(TINYREG_LAYER_DENSE, 64, 0, 0, 0.0);
    let mut wrong_classes = good;
    wrong_classes[9].size = 9;
    // SAFETY (whole test): every pointer is valid or null, as the contract asks.
    unsafe {
        // Each with the index of the descriptor at fault (-1: none is).
        for (name, layers, want, index) in [
            ("open block", &open[..], TINYREG_ERR_CONFIG, 9),
            ("unknown kind", &unknown[..], TINYREG_ERR_CONFIG, 2),
            ("keep 1.5", &bad_keep[..], TINYREG_ERR_CONFIG, 7),
            (
                "conv after dense",
                &image_after_dense[..],
                TINYREG_ERR_CONFIG,
                1,
            ),
            (
                "9 outputs for 10 classes",
                &wrong_classes[..],
                TINYREG_ERR_LENGTH,
                9,
            ),
            ("no layers", &good[..0], TINYREG_ERR_CONFIG, -1),
        ] {
            let cfg = net_config(layers);
            assert_eq!(tinyreg_net_memory_bytes(&cfg), 0, "{name}");
            assert_eq!(tinyreg_net_refused_layer(&cfg), index, "{name}");
            let mut memory = vec![0f32; 1 << 16];
            let mut net: TinyregNet = core::mem::zeroed();
            let before: [u8; core::mem::size_of::<TinyregNet>()] = core::mem::transmute(net);
            let status = tinyreg_net_init(&mut net, &cfg, memory.as_mut_ptr(), 1 << 18);
            assert_eq!(status, want, "{name}");
            let after: [u8; core::mem::size_of::<TinyregNet>()] = core::mem::transmute(net);
            assert_eq!(before, after, "{name}");
        }
        let cfg = net_config(&good);
        assert_eq!(tinyreg_net_refused_layer(&cfg), -1);
        assert_eq!(tinyreg_net_refused_layer(core::ptr::null()), -1);
        let bytes = tinyreg_net_memory_bytes(&cfg);
        let mut memory = vec![0f32; bytes / 4 + 1];
        let mut net: TinyregNet = core::mem::zeroed();
        assert_eq!(
            tinyreg_net_init(&mut net, &cfg, memory.as_mut_ptr(), bytes - 4),
            TINYREG_ERR_BUFFER_TOO_SMALL
        );
        // Memory one byte off a float's alignment has its own code.
        let misaligned = memory
            .as_mut_ptr()
            .cast::<u8>()
            .wrapping_add(1)
            .cast::<f32>();
        assert_eq!(
            tinyreg_net_init(&mut net, &cfg, misaligned, bytes),
            TINYREG_ERR_ALIGNMENT
        );
        assert_eq!(tinyreg_net_params_len(&net), 0);
        // An order buffer shorter than the data is refused, not written past.
        assert_eq!(
            tinyreg_net_init(&mut net, &cfg, memory.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        let mut short = vec![0u32; 10];
        let data = digits();
        assert_eq!(
            tinyreg_net_train_epoch(
                &mut net,
                &data,
                short.as_mut_ptr(),
                10,
                core::ptr::null_mut(),
                core::ptr::null_mut()
            ),
            TINYREG_ERR_LENGTH
        );
        assert!(short.iter().all(|&i| i == 0));
        let mut zeroed: TinyregNet = core::mem::zeroed();
        let mut probs = [0f32; 10];
        let x = [0f32; 64];
        assert_eq!(
            tinyreg_net_predict(&mut zeroed, x.as_ptr(), 1, probs.as_mut_ptr()),
            TINYREG_ERR_STATE
        );
    }
}

/// Flag bits a kind does not read, zero sizes, NaN parameters, data sets
/// with fewer than two samples and descriptors edited after init: each gets
/// its status code and changes nothing.
#[test]
fn capi_net_refuses_stray_flags_zero_sizes_nan_params_tiny_data_and_edited_descriptors() {
    let good = cnn();
    let mut relu_flag = good;
    relu_flag[2].flags = TINYREG_VANILLA; // ReLU reads no flag
    let mut stray_bit = good;
    stray_bit[9].flags = 1 << 20;
    let mut zero_units = good;
    zero_units[9] = layer(TINYREG_LAYER_DENSE, 0, 0, 0, 0.0);
    // SAFETY (whole test): every pointer is valid or null, as the contract asks.
    unsafe {
        for (name, layers) in [
            ("a flag relu does not read", &relu_flag),
            ("an unknown bit", &stray_bit),
            ("zero units", &zero_units),
        ] {
            let cfg = net_config(layers);
            assert_eq!(tinyreg_net_memory_bytes(&cfg), 0, "{name}");
        }
        let zero_height = TinyregNetConfig {
            height: 0,
            ..net_config(&good)
        };
        assert_eq!(tinyreg_net_memory_bytes(&zero_height), 0);

        // The descriptors are reached only through `edit` from here on (a C
        // caller's array behind the config's pointer).
        let mut layers = good;
        let edit = layers.as_mut_ptr();
        let cfg = TinyregNetConfig {
            layers: edit,
            ..net_config(&good)
        };
        let bytes = tinyreg_net_memory_bytes(&cfg);
        let mut memory = vec![0f32; bytes / 4];
        let mut net: TinyregNet = core::mem::zeroed();
        assert_eq!(
            tinyreg_net_init(&mut net, &cfg, memory.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        let n = tinyreg_net_params_len(&net);
        let mut params = vec![0f32; n];
        assert_eq!(
            tinyreg_net_get_params(&mut net, params.as_mut_ptr(), n),
            TINYREG_OK
        );
        for bad in [f32::NAN, f32::INFINITY] {
            let mut poisoned = params.clone();
            poisoned[n / 2] = bad;
            assert_eq!(
                tinyreg_net_set_params(&mut net, poisoned.as_ptr(), n),
                TINYREG_ERR_DATA
            );
        }
        let mut now = vec![0f32; n];
        tinyreg_net_get_params(&mut net, now.as_mut_ptr(), n);
        assert_eq!(now, params, "a refused set_params changed nothing");

        for count in [0u32, 1] {
            let data = TinyregDataset { count, ..digits() };
            let mut order = [0u32; 1];
            let (mut loss, mut acc) = (-1f32, -1f32);
            assert_eq!(
                tinyreg_net_train_epoch(
                    &mut net,
                    &data,
                    order.as_mut_ptr(),
                    count,
                    &mut loss,
                    &mut acc
                ),
                TINYREG_ERR_DATA,
                "{count} samples"
            );
            assert_eq!((loss, acc), (-1.0, -1.0), "nothing written");
        }

        // The descriptors are read at every call: an edit since init is
        // refused rather than reinterpreting the memory.
        (*edit.add(9)).size = 12;
        let x = [0f32; 64];
        let mut probs = [0f32; 10];
        assert_eq!(
            tinyreg_net_predict(&mut net, x.as_ptr(), 1, probs.as_mut_ptr()),
            TINYREG_ERR_STATE
        );
        (*edit.add(9)).size = 10;
        assert_eq!(
            tinyreg_net_predict(&mut net, x.as_ptr(), 1, probs.as_mut_ptr()),
            TINYREG_OK
        );
    }
}

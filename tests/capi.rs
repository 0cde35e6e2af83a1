//! The C ABI from Rust: status codes for bad input, and a short training run.
//! (`cargo test --features capi --test capi`; scripts/check-c-example.sh runs
//! the same functions from C.)
#![cfg(feature = "capi")]

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
        // Sizes whose memory overflows: 0, not a wrapped size (issue 15).
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
        assert!(bytes > 0 && bytes % 4 == 0);
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
        let mut order = vec![0u32; 1437];
        let (mut first, mut loss, mut acc) = (0f32, 0f32, 0f32);
        for epoch in 0..5 {
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

//! Fuzz the C ABI from Rust: arbitrary model configurations (any sizes, keep,
//! rate and optimizer), data sets whose declared counts and sizes match the
//! buffers or not, and prediction with any row count. Every call must return
//! a status code (never panic), `tinyreg_mlp_memory_bytes` must be 0 or a
//! size that `tinyreg_mlp_init` accepts, and init must refuse a buffer one
//! float short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::capi::*;

fuzz_target!(|data: &[u8]| {
    if data.len() < 40 {
        return;
    }
    let word = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().unwrap());
    let small = |i: usize| match data[i] {
        0 => u32::MAX,
        b => u32::from(b % 24) + 1,
    };
    let config = TinyregMlpConfig {
        inputs: small(0),
        hidden: small(1),
        classes: small(2),
        batch: small(3),
        keep: f32::from_bits(word(4)),
        optimizer: word(8) % 3,
        learning_rate: f32::from_bits(word(12)),
        seed: u64::from(word(16)),
    };
    // SAFETY (whole target): every pointer is null or valid for what it points
    // to, with the lengths declared, as the C contract asks.
    unsafe {
        let bytes = tinyreg_mlp_memory_bytes(&config);
        if bytes == 0 || bytes > 1 << 24 {
            let mut scratch = vec![0f32; 256];
            let mut mlp: TinyregMlp = core::mem::zeroed();
            let code = tinyreg_mlp_init(&mut mlp, &config, scratch.as_mut_ptr(), 1024);
            assert_ne!(code, TINYREG_OK, "a refused size must not initialize");
            return;
        }
        assert_eq!(bytes % 4, 0);
        let mut memory = vec![0f32; bytes / 4];
        let mut mlp: TinyregMlp = core::mem::zeroed();
        let short = tinyreg_mlp_init(&mut mlp, &config, memory.as_mut_ptr(), bytes - 4);
        assert_eq!(short, TINYREG_ERR_BUFFER_TOO_SMALL);
        if tinyreg_mlp_init(&mut mlp, &config, memory.as_mut_ptr(), bytes) != TINYREG_OK {
            return;
        }
        // A data set from the rest of the input; the declared count is
        // sometimes larger than the buffers only when it is refused.
        let rest = &data[20..];
        let features = config.inputs as usize;
        let count = (rest.len() / (features + 1)).min(64);
        let images = &rest[..count * features];
        let labels: Vec<u8> = rest[count * features..count * features + count]
            .iter()
            .map(|&l| l % (config.classes as u8).max(1))
            .collect();
        let set = TinyregDataset {
            images: images.as_ptr(),
            labels: labels.as_ptr(),
            count: count as u32,
            features: config.inputs,
            max_value: word(20).max(1) % 300 + 1,
        };
        let mut order = vec![0u32; count];
        let (mut loss, mut accuracy) = (0f32, 0f32);
        let code =
            tinyreg_mlp_train_epoch(&mut mlp, &set, order.as_mut_ptr(), &mut loss, &mut accuracy);
        assert!(code <= 0);
        let code = tinyreg_mlp_evaluate(&mut mlp, &set, &mut loss, &mut accuracy);
        assert!(code <= 0);
        let rows = data[21] as u32 % (config.batch + 2);
        let input = vec![0.5f32; rows as usize * features];
        let mut probs = vec![0f32; rows as usize * config.classes as usize];
        let code = tinyreg_mlp_predict(&mut mlp, input.as_ptr(), rows, probs.as_mut_ptr());
        assert!(code <= 0);
        assert_eq!(
            tinyreg_mlp_predict(&mut mlp, core::ptr::null(), rows, probs.as_mut_ptr()),
            TINYREG_ERR_NULL
        );
    }
});

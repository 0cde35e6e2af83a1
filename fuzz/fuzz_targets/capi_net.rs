//! Fuzz the C ABI's networks from descriptors: arbitrary descriptor arrays
//! (any kind, size, window, flags and probability, blocks well formed or
//! not), input shapes and settings. Every call returns a status code (never
//! panics); `tinyreg_net_memory_bytes` is 0 or a size `tinyreg_net_init`
//! accepts and a size one float short is refused; an accepted network
//! trains an epoch, predicts probabilities that sum to 1, and its
//! parameters go out and back in unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::capi::net::*;
use tinyreg::capi::*;

fuzz_target!(|data: &[u8]| {
    if data.len() < 24 {
        return;
    }
    let (head, rest) = data.split_at(24);
    let small = |b: u8| u32::from(b % 9) + 1;
    let layers: Vec<TinyregLayer> = rest
        .chunks_exact(9)
        .take(TINYREG_MAX_LAYERS + 1)
        .map(|c| TinyregLayer {
            kind: u32::from(c[0] % 15),
            size: if c[1] == 255 { u32::MAX } else { small(c[1]) },
            kernel: u32::from(c[2] % 5),
            stride: u32::from(c[3] % 3),
            padding: u32::from(c[4] % 3),
            flags: u32::from(c[5]),
            p: match c[6] % 4 {
                0 => 1.0,
                1 => 0.5,
                2 => f32::from_bits(u32::from_le_bytes([c[6], c[7], c[8], c[1]])),
                _ => 0.9,
            },
            samplings: u32::from(c[7] % 4),
        })
        .collect();
    let config = TinyregNetConfig {
        layers: layers.as_ptr(),
        count: layers.len() as u32,
        channels: small(head[0]),
        height: small(head[1]),
        width: small(head[2]),
        classes: small(head[3]),
        batch: u32::from(head[4] % 6),
        optimizer: u32::from(head[5] % 3),
        learning_rate: if head[6] & 1 == 0 {
            1e-2
        } else {
            f32::from_bits(u32::from_le_bytes([head[7], head[8], head[9], head[10]]))
        },
        seed: u64::from(head[11]),
    };
    // SAFETY (whole target): every pointer is valid for the lengths declared,
    // as the C contract asks.
    unsafe {
        let bytes = tinyreg_net_memory_bytes(&config);
        let mut net: TinyregNet = core::mem::zeroed();
        if bytes == 0 || bytes > 1 << 24 {
            let mut scratch = vec![0f32; 256];
            let code = tinyreg_net_init(&mut net, &config, scratch.as_mut_ptr(), 1024);
            assert_ne!(
                code, TINYREG_OK,
                "a refused description must not initialize"
            );
            return;
        }
        let mut memory = vec![0f32; bytes / 4];
        assert_eq!(
            tinyreg_net_init(&mut net, &config, memory.as_mut_ptr(), bytes - 4),
            TINYREG_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(
            tinyreg_net_init(&mut net, &config, memory.as_mut_ptr(), bytes),
            TINYREG_OK
        );
        let features = (config.channels * config.height * config.width) as usize;
        let count = 2 * config.batch.max(1) as usize;
        let images: Vec<u8> = (0..count * features)
            .map(|i| (i * 37 % 251) as u8)
            .collect();
        let labels: Vec<u8> = (0..count)
            .map(|i| (i as u32 % config.classes) as u8)
            .collect();
        let set = TinyregDataset {
            images: images.as_ptr(),
            labels: labels.as_ptr(),
            count: count as u32,
            features: features as u32,
            max_value: 255,
        };
        let mut order = vec![0u32; count];
        let code = tinyreg_net_train_epoch(
            &mut net,
            &set,
            order.as_mut_ptr(),
            count as u32,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        );
        assert!(code <= 0);
        let x: Vec<f32> = images[..features]
            .iter()
            .map(|&v| v as f32 / 255.0)
            .collect();
        let mut probs = vec![0f32; config.classes as usize];
        if tinyreg_net_predict(&mut net, x.as_ptr(), 1, probs.as_mut_ptr()) == TINYREG_OK
            && probs.iter().all(|p| p.is_finite())
        {
            assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{probs:?}");
        }
        let n = tinyreg_net_params_len(&net);
        let mut params = vec![0f32; n];
        assert_eq!(
            tinyreg_net_get_params(&mut net, params.as_mut_ptr(), n),
            TINYREG_OK
        );
        // Training may have driven a weight to infinity: set_params refuses
        // non-finite values and changes nothing.
        let finite = params.iter().all(|p| p.is_finite());
        assert_eq!(
            tinyreg_net_set_params(&mut net, params.as_ptr(), n),
            if finite { TINYREG_OK } else { TINYREG_ERR_DATA }
        );
        let mut back = vec![0f32; n];
        assert_eq!(
            tinyreg_net_get_params(&mut net, back.as_mut_ptr(), n),
            TINYREG_OK
        );
        assert!(params
            .iter()
            .zip(&back)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
});

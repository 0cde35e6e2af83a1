//! Fuzz the samplers with any parameter bits: `uniform_below` (32 and 64-bit
//! bounds), `gamma`, `beta`, `normal`, `shuffle`. Nothing may panic or hang;
//! draws stay in range; `gamma` fails exactly for shapes that are not
//! positive and finite, and then draws nothing.
#![no_main]

use std::num::{NonZeroU32, NonZeroU64};

use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::distributions::{beta, gamma, normal, uniform_below, uniform_below_u64};
use tinyreg::trainer::data::shuffle;

fuzz_target!(|data: &[u8]| {
    if data.len() < 24 {
        return;
    }
    let word = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().unwrap());
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(u64::from(word(0)));
    if let Some(bound) = NonZeroU32::new(word(4)) {
        assert!(uniform_below(&mut rng, bound) < bound.get());
    }
    let wide = u64::from(word(8)) << 32 | u64::from(word(4));
    if let Some(bound) = NonZeroU64::new(wide) {
        assert!(uniform_below_u64(&mut rng, bound) < bound.get());
    }
    let (a, b) = (f32::from_bits(word(12)), f32::from_bits(word(16)));
    let before = rng.clone();
    match gamma(&mut rng, a) {
        Ok(x) => assert!(
            a > 0.0 && a.is_finite() && x >= 0.0 && !x.is_nan(),
            "{a} -> {x}"
        ),
        Err(_) => {
            assert!(!(a > 0.0 && a.is_finite()));
            assert_eq!(rng, before);
        }
    }
    if let Ok(x) = beta(&mut rng, a, b) {
        assert!((0.0..=1.0).contains(&x), "Beta({a}, {b}) = {x}");
    }
    assert!(normal(&mut rng).is_finite());
    let mut items: Vec<u8> = data[20..].to_vec();
    let mut sorted = items.clone();
    shuffle(&mut rng, &mut items);
    items.sort();
    sorted.sort();
    assert_eq!(items, sorted);
});

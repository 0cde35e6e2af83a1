//! Fuzz the data set reader: `Icls::parse` of arbitrary bytes, then slices,
//! gathers and the seeded validation split of what it accepts, with
//! arbitrary indices and buffer sizes. Nothing may panic; a gather either
//! fails and writes nothing or writes every value scaled into [0, 1] and
//! every label below the class count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::tune::validation_split;
use tinyreg::Icls;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, file) = data.split_at(4);
    // Half the time a well-formed header around the input, so parsing succeeds.
    let built;
    let bytes = if head[0] & 1 == 0 {
        file
    } else {
        let (rows, cols) = ((head[1] % 5) as usize + 1, (head[2] % 5) as usize + 1);
        let per = rows * cols + 1;
        let count = file.len() / per;
        let mut v = Vec::with_capacity(32 + count * per);
        v.extend_from_slice(b"ICLS");
        for x in [1, count, rows, cols, 1, 256, (head[3] as usize).max(1)] {
            v.extend_from_slice(&(x as u32).to_le_bytes());
        }
        v.extend_from_slice(&file[..count * per]);
        built = v;
        &built[..]
    };
    let Ok(set) = Icls::parse(bytes) else {
        return;
    };
    let f = set.features();
    let start = head[1] as usize % (set.count + 2);
    let end = head[2] as usize % (set.count + 2);
    if let Ok(part) = set.slice(start, end) {
        assert_eq!(part.count, end - start);
    }
    let indices: Vec<u32> = file
        .iter()
        .take(16)
        .map(|&b| b as u32 % (set.count as u32 + 2))
        .collect();
    // A wrong-sized buffer now and then. A header may declare huge images
    // with no samples: the harness only allocates batches it can hold.
    let extra = (head[3] % 3) as usize;
    let Some(len) = indices.len().checked_mul(f).filter(|&n| n <= 1 << 20) else {
        return;
    };
    let mut batch = vec![-1.0f32; len + extra];
    let mut labels = vec![u32::MAX; indices.len()];
    match set.gather(&indices, &mut batch, &mut labels) {
        Ok(()) => {
            assert!(batch
                .iter()
                .all(|x| (0.0..=1.0).contains(x) || set.max_value < 255));
            assert!(labels.iter().all(|&l| (l as usize) < set.classes));
        }
        Err(_) => {
            assert!(batch.iter().all(|&x| x == -1.0));
            assert!(labels.iter().all(|&l| l == u32::MAX));
        }
    }
    let (mut images, mut split_labels) = (vec![0u8; set.images.len()], vec![0u8; set.count]);
    let val = head[2] as usize % (set.count + 2);
    if let Ok((train, val_set)) =
        validation_split(&set, val, head[3] as u64, &mut images, &mut split_labels)
    {
        assert_eq!(train.count + val_set.count, set.count);
    }
});

//! Fuzz `region_max_pool_forward`, `region_max_pool_eval` and
//! `region_max_pool_backward`: any plane
//! shape, any regions (in or out of the plane, empty, oversized, in any order),
//! any input bits and output lengths off by a little. They must never panic,
//! must fail exactly when the reference fails (with the same error) and write
//! nothing then, and must otherwise match the reference bit for bit, argmax
//! included (the eval pooling: the same outputs, the same errors); backward
//! must put every output gradient on its argmax.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::layers::pool::{
    region_max_pool_backward, region_max_pool_eval, region_max_pool_forward, PoolRegions, Region,
};
use tinyreg::reference;

fn regions(bytes: &[u8]) -> Vec<Region> {
    bytes
        .chunks_exact(2)
        .map(|b| ((b[0] % 64) as u16, (b[1] % 20) as u16))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, rest) = data.split_at(8);
    let planes = (head[0] % 4) as usize;
    let height = (head[1] % 40) as usize;
    let width = (head[2] % 70) as usize;
    let (n_rows, n_cols) = ((head[3] % 24) as usize, (head[4] % 24) as usize);
    let out_delta = (head[5] % 3) as isize - 1;
    let (row_bytes, rest) = rest.split_at((2 * n_rows).min(rest.len()));
    let (col_bytes, rest) = rest.split_at((2 * n_cols).min(rest.len()));
    let (rows, cols) = (regions(row_bytes), regions(col_bytes));
    // Input: the rest as f32 bits, cycled to the plane size.
    let n_in = planes * height * width;
    let words: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let x: Vec<f32> = (0..n_in)
        .map(|i| {
            if words.is_empty() {
                i as f32
            } else {
                words[i % words.len()]
            }
        })
        .collect();
    let n_out = ((planes * rows.len() * cols.len()) as isize + out_delta).max(0) as usize;

    let (mut y, mut arg) = (vec![7.0f32; n_out], vec![0xEEu8; n_out]);
    let (mut y_ref, mut arg_ref) = (vec![7.0f32; n_out], vec![0xEEu8; n_out]);
    let regions = PoolRegions {
        planes,
        height,
        width,
        rows: &rows,
        cols: &cols,
    };
    let fast = region_max_pool_forward(regions, &x, &mut y, &mut arg);
    let slow = reference::region_max_pool(regions, &x, &mut y_ref, &mut arg_ref);
    assert_eq!(fast, slow);
    let mut y_eval = vec![7.0f32; n_out];
    let eval = region_max_pool_eval(regions, &x, &mut y_eval);
    assert_eq!(eval.is_err(), fast.is_err());
    if fast.is_err() {
        assert!(y.iter().all(|&v| v == 7.0) && arg.iter().all(|&a| a == 0xEE));
        assert!(y_eval.iter().all(|&v| v == 7.0));
        return;
    }
    for i in 0..n_out {
        assert!(
            y[i].to_bits() == y_ref[i].to_bits() || (y[i].is_nan() && y_ref[i].is_nan()),
            "output {i}"
        );
        assert_eq!(arg[i], arg_ref[i], "argmax {i}");
        assert!(
            y_eval[i].to_bits() == y[i].to_bits() || (y_eval[i].is_nan() && y[i].is_nan()),
            "eval output {i}"
        );
    }
    // Backward: gradient k lands at the input element holding output k's max.
    let dy: Vec<f32> = (0..n_out).map(|k| (k + 1) as f32).collect();
    let mut dx = vec![0f32; n_in];
    region_max_pool_backward(regions, &arg, &dy, &mut dx).unwrap();
    let mut want = vec![0f32; n_in];
    let per_plane = rows.len() * cols.len();
    for (k, &g) in dy.iter().enumerate() {
        let (p, i, j) = (k / per_plane, k % per_plane / cols.len(), k % cols.len());
        let ((r0, _), (c0, cl)) = (rows[i], cols[j]);
        let (dr, dc) = (arg[k] as usize / cl as usize, arg[k] as usize % cl as usize);
        want[p * height * width + (r0 as usize + dr) * width + c0 as usize + dc] += g;
    }
    assert_eq!(dx, want);
});

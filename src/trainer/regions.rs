//! Where each layer's regions sit in the trainer's one buffer, and the
//! disjoint slices a pass hands a layer: the plan's offsets walked layer by
//! layer, carved into a [`ForwardIo`] or [`BackwardIo`].

use super::network::{Network, Plan};
use crate::layers::layer::Layer;
use crate::layers::pass::{BackwardIo, ForwardIo};

/// Offsets of one layer's regions.
#[derive(Clone, Copy)]
pub(super) struct At {
    pub params: usize,
    pub buffers: usize,
    pub act: usize,
    pub saved: usize,
}

/// Disjoint mutable slices of `mem` at `(start, len)` ranges, which the plan
/// guarantees do not overlap (empty ranges may sit anywhere).
pub(super) fn carve<'a, const N: usize>(
    mem: &'a mut [f32],
    ranges: [(usize, usize); N],
) -> [&'a mut [f32]; N] {
    let mut order: [usize; N] = core::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| ranges[i].0);
    let mut out: [Option<&'a mut [f32]>; N] = core::array::from_fn(|_| None);
    let mut rest = mem;
    let mut offset = 0;
    for &i in &order {
        let (start, len) = ranges[i];
        if len == 0 {
            continue; // stays None: an empty slice, wherever it would start
        }
        let (_, tail) = core::mem::take(&mut rest).split_at_mut(start - offset);
        let (mine, tail) = tail.split_at_mut(len);
        out[i] = Some(mine);
        rest = tail;
        offset = start + len;
    }
    out.map(|s| s.unwrap_or_default())
}

/// Where each layer's regions start, in layer order.
pub(super) fn offsets(net: Network<'_>, plan: Plan, batch: usize) -> impl Iterator<Item = At> + '_ {
    let mut at = At {
        params: plan.params,
        buffers: plan.buffers,
        act: plan.acts,
        saved: plan.saved,
    };
    net.layers().iter().map(move |layer| {
        let here = at;
        at.params += layer.params_len();
        at.buffers += layer.buffers_len();
        at.act += batch * layer.outputs();
        at.saved += layer.saved_len(batch);
        here
    })
}

/// A residual block end's `(skip, block_scales)` ranges: its start's output
/// and saved multipliers (empty for every other layer).
pub(super) fn block_regions(
    layer: &Layer,
    open: Option<(At, Layer)>,
    rows: usize,
) -> ((usize, usize), (usize, usize)) {
    match (layer, open) {
        (Layer::ResidualEnd { .. }, Some((at, start))) => (
            (at.act, rows * start.outputs()),
            (at.saved, start.saved_len(rows)),
        ),
        _ => ((0, 0), (0, 0)),
    }
}

/// One layer's place for a pass: the layer, its regions, where its input
/// starts and how much of it there is, for `rows` samples.
#[derive(Clone, Copy)]
pub(super) struct Site {
    pub layer: Layer,
    pub at: At,
    pub input_at: usize,
    pub input_len: usize,
    pub rows: usize,
}

/// A layer's regions for a forward pass, carved from `mem`.
pub(super) fn forward_io<'a>(
    mem: &'a mut [f32],
    plan: Plan,
    site: Site,
    open: Option<(At, Layer)>,
) -> ForwardIo<'a> {
    let Site {
        layer,
        at,
        input_at,
        input_len,
        rows,
    } = site;
    let o = layer.outputs();
    let is_fmp = matches!(layer, Layer::FractionalMaxPool { .. });
    let (skip, block_scales) = block_regions(&layer, open, rows);
    let [input, output, params, saved, scratch, buffers, tmp, skip, block_scales] = carve(
        mem,
        [
            (input_at, input_len),
            (at.act, rows * o),
            (at.params, layer.params_len()),
            (at.saved, layer.saved_len(rows)),
            (plan.scratch, plan.end - plan.scratch),
            (at.buffers, layer.buffers_len()),
            // Eval-mode fractional pooling averages samplings through here.
            (plan.grad_b, if is_fmp { rows * o } else { 0 }),
            skip,
            block_scales,
        ],
    );
    ForwardIo {
        rows,
        input,
        output,
        params,
        buffers,
        saved,
        scratch,
        tmp,
        skip,
        block_scales,
    }
}

/// A layer's regions for a backward pass, carved from `mem`: `gradients`
/// is where the output gradient starts and the input gradient's `(start,
/// len)`.
pub(super) fn backward_io<'a>(
    mem: &'a mut [f32],
    plan: Plan,
    site: Site,
    (grad_out_at, (grad_in_at, grad_in_len)): (usize, (usize, usize)),
    open: Option<(At, Layer)>,
) -> BackwardIo<'a> {
    let Site {
        layer,
        at,
        input_at,
        input_len,
        rows,
    } = site;
    let o = layer.outputs();
    let grads_at = plan.grads + (at.params - plan.params);
    let (skip, block_scales) = block_regions(&layer, open, rows);
    let [input, output, params, saved, scratch, grads, grad_out, grad_in, spare, skip, block_scales] =
        carve(
            mem,
            [
                (input_at, input_len),
                (at.act, rows * o),
                (at.params, layer.params_len()),
                (at.saved, layer.saved_len(rows)),
                (plan.scratch, plan.end - plan.scratch),
                (grads_at, layer.params_len()),
                (grad_out_at, rows * o),
                (grad_in_at, grad_in_len),
                // The third gradient buffer serves residual blocks only.
                (plan.grad_c, rows * layer.spare_len()),
                skip,
                block_scales,
            ],
        );
    BackwardIo {
        rows,
        input,
        output,
        params,
        saved,
        scratch,
        grads,
        grad_out,
        grad_in,
        need_input_grad: false,
        spare,
        skip,
        block_scales,
    }
}

/// Whether a block's start (whose saved region begins `saved`) dropped its
/// branch for the whole batch: then the branch's layers did not run.
pub(super) fn branch_dropped(start: &Layer, saved: &[f32]) -> bool {
    matches!(start, Layer::ResidualStart { depth, .. } if !depth.per_row)
        && saved.first() == Some(&0.0)
}

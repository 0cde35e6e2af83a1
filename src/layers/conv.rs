//! 2-D convolution (cross-correlation, as in every framework) over
//! `(batch, channels, height, width)` images, through the dense GEMM: each
//! sample is unrolled into columns (im2col, `C k k x H' W'`), then
//! `y = W · cols + b` with `W: (K, C k k)` (PyTorch's `(K, C, k, k)` layout);
//! backward `dW += dy · cols^T`, `db += sum dy`, and `dx` by folding
//! `W^T · dy` back (col2im). With SIMD and stride 1, direct kernels run
//! instead (`kernels::direct_conv`): the forward, `dW` over output channels,
//! and `dx` as the forward of the flipped, transposed weights. Scratch:
//! [`Conv2d::scratch_len`]. The trainer's layer is [`crate::layers::layer::Layer::Conv2d`].

use crate::error::Error;
use crate::kernels::direct_conv::{
    channel_lanes_have_kernel, channel_lanes_pay, copy_row, direct_conv_channels,
    direct_conv_sample, direct_weight_grad, shift_channel, shifted_layout_pays,
    transpose_output_grad, transpose_weight_grad, transposed_channel_stride,
    weight_grad_has_kernel, DirectOperands, DirectShape, InputLayout, WeightGradShape,
    DIRECT_AVAILABLE, DIRECT_OC, LOAD_SLACK,
};
use crate::kernels::gemm::{gemm, AMat, BMat, Epilogue, GEMM_SCRATCH_LEN};
use crate::kernels::reduce::relu_mask_and_sum;
use crate::layers::buffers::{BackwardBuffers, ForwardBuffers};
use crate::layers::pass::{BackwardIo, ForwardIo};
use crate::size;

const fn out_size(size: usize, padding: usize, k: usize, stride: usize) -> usize {
    let padded = size::add(size, size::mul(2, padding));
    if stride == 0 || k == 0 || padded < k {
        0
    } else {
        (padded - k) / stride + 1
    }
}

/// A convolution's shape: `k x k` kernels, `stride`, zero `padding`.
///
/// ```
/// use tinyreg::{Conv2d, ForwardBuffers};
///
/// // One 4x4 gray image, two 3x3 filters, padding 1: the output keeps 4x4.
/// let conv = Conv2d { in_channels: 1, out_channels: 2, height: 4, width: 4, k: 3, stride: 1, padding: 1 };
/// assert_eq!((conv.out_height(), conv.out_width()), (4, 4));
/// let mut weights = vec![0.0f32; conv.weights_len()]; // (out, in, k, k), PyTorch's layout
/// weights[4] = 1.0;                                  // filter 0: the centre tap, a copy
/// let bias = [0.0, 0.5];                             // filter 1: all zero weights, bias 0.5
/// let image: Vec<f32> = (0..16).map(|i| i as f32).collect();
/// let mut output = vec![0.0f32; 2 * 16];
/// let mut scratch = vec![0.0f32; conv.scratch_len()];
/// let io = ForwardBuffers { batch: 1, input: &image, output: &mut output, scratch: &mut scratch };
/// conv.forward(&weights, &bias, false, io)?;
/// assert_eq!(&output[..16], &image[..]);
/// assert!(output[16..].iter().all(|&y| y == 0.5));
/// # Ok::<(), tinyreg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
}

impl Conv2d {
    /// Output height `(H + 2p - k) / s + 1` (0 for shapes that do not fit).
    pub const fn out_height(&self) -> usize {
        out_size(self.height, self.padding, self.k, self.stride)
    }

    /// Output width (0 for shapes that do not fit).
    pub const fn out_width(&self) -> usize {
        out_size(self.width, self.padding, self.k, self.stride)
    }

    /// Floats of `W`: `K * C * k * k`.
    pub const fn weights_len(&self) -> usize {
        size::mul(
            size::mul(self.out_channels, self.in_channels),
            size::mul(self.k, self.k),
        )
    }

    const fn patch(&self) -> usize {
        size::mul(self.in_channels, size::mul(self.k, self.k))
    }

    const fn positions(&self) -> usize {
        size::mul(self.out_height(), self.out_width())
    }

    /// Floats of scratch: one sample's columns plus the GEMM panel, or what
    /// the direct forward or backward needs if more.
    pub const fn scratch_len(&self) -> usize {
        let im2col = size::add(size::mul(self.patch(), self.positions()), GEMM_SCRATCH_LEN);
        let direct = self.direct_scratch_len();
        let backward = if self.direct_backward_available() {
            self.direct_backward_scratch_len()
        } else {
            0
        };
        let most = if im2col > direct { im2col } else { direct };
        if backward > most {
            backward
        } else {
            most
        }
    }

    /// Checks the shape: non-zero sizes and a kernel that fits the padded input.
    pub fn validate(&self) -> Result<(), Error> {
        self.check()
    }

    fn check(&self) -> Result<(), Error> {
        // An empty image with padding has outputs but no input: refused (its
        // zero-sized samples panicked in a chunking loop; found by fuzzing).
        let ok = self.in_channels > 0
            && self.out_channels > 0
            && self.height > 0
            && self.width > 0
            && self.k > 0
            && self.stride > 0
            && self.out_height() > 0
            && self.out_width() > 0;
        if !ok {
            return Err(Error::InvalidConfig {
                reason: "convolution needs non-zero sizes (image included) and a kernel that fits the padded input",
            });
        }
        // Every size the kernels use, checked once (a 2^32 x 2^32 image
        // wrapped to 0 and panicked in a chunking loop).
        size::fits(self.scratch_len())?;
        size::fits(self.sample_lens().0)?;
        size::fits(size::mul(self.out_channels, self.positions()))?;
        Ok(())
    }

    /// Floats of one input and one output sample (saturating).
    const fn sample_lens(&self) -> (usize, usize) {
        (
            size::mul(size::mul(self.in_channels, self.height), self.width),
            size::mul(self.out_channels, self.positions()),
        )
    }

    fn check_lens(&self, pairs: &[(usize, usize)]) -> Result<(), Error> {
        for &(expected, got) in pairs {
            if expected != got {
                return Err(Error::LengthMismatch { expected, got });
            }
        }
        Ok(())
    }

    /// Unrolls one sample into `cols` (`C k k` rows of `H' W'`), zeros for padding.
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let (oh, ow, p) = (self.out_height(), self.out_width(), self.padding as isize);
        let mut row = 0;
        for c in 0..self.in_channels {
            let plane = &x[c * self.height * self.width..(c + 1) * self.height * self.width];
            for ky in 0..self.k {
                for kx in 0..self.k {
                    let dst = &mut cols[row * oh * ow..(row + 1) * oh * ow];
                    for oy in 0..oh {
                        let y = (oy * self.stride + ky) as isize - p;
                        for ox in 0..ow {
                            let xx = (ox * self.stride + kx) as isize - p;
                            dst[oy * ow + ox] = if (0..self.height as isize).contains(&y)
                                && (0..self.width as isize).contains(&xx)
                            {
                                plane[y as usize * self.width + xx as usize]
                            } else {
                                0.0
                            };
                        }
                    }
                    row += 1;
                }
            }
        }
    }

    /// Floats of one zero-padded input plane.
    const fn padded_plane(&self) -> usize {
        let pad = size::mul(2, self.padding);
        size::mul(size::add(self.height, pad), size::add(self.width, pad))
    }

    /// Whether the direct forward runs with output channels in the lanes
    /// ([`direct_conv_channels`]): stride 1, output rows of whole tiles, and
    /// fewer lanes wasted than with positions in them (32 channels of 14 x
    /// 14 outputs: none, against 6%).
    const fn channel_lanes(&self) -> bool {
        self.stride == 1
            && channel_lanes_have_kernel(self.k)
            && channel_lanes_pay(
                self.out_channels,
                self.out_height(),
                self.out_width(),
                self.same_size(),
            )
    }

    /// Whether the output is as large as the input (stride 1, `2p + 1 =
    /// k`, the kernel no wider than the image).
    const fn same_size(&self) -> bool {
        self.stride == 1
            && size::add(size::mul(2, self.padding), 1) == self.k
            && self.k <= self.width
    }

    /// Whether the direct kernels read the input as shifted copies
    /// ([`InputLayout::Shifted`]): a convolution whose output is as large
    /// as its input, with rows that do not fill whole vectors, and whose
    /// output channels do not go in the lanes instead.
    const fn shifted_input(&self) -> bool {
        DIRECT_AVAILABLE
            && self.same_size()
            && shifted_layout_pays(self.width)
            && !self.channel_lanes()
    }

    /// Floats of the direct forward's packed weights: tap-major rows of the
    /// output channels rounded up to vectors with channels in the lanes.
    const fn direct_packed_len(&self) -> usize {
        if self.channel_lanes() {
            size::mul(self.patch(), transposed_channel_stride(self.out_channels))
        } else {
            self.weights_len()
        }
    }

    /// Floats of one shifted copy of an input channel: the rows of the
    /// padded input, as wide as the image.
    const fn shifted_plane(&self) -> usize {
        size::mul(
            size::add(self.height, size::mul(2, self.padding)),
            self.width,
        )
    }

    /// Floats of one sample laid out for the direct kernels, with the slack
    /// their loads run into.
    const fn direct_input_len(&self) -> usize {
        let sample = if self.shifted_input() {
            size::mul(size::mul(self.in_channels, self.k), self.shifted_plane())
        } else {
            size::mul(self.in_channels, self.padded_plane())
        };
        size::add(sample, LOAD_SLACK)
    }

    /// Floats of the direct forward's scratch: the laid-out sample and the
    /// packed weights.
    const fn direct_scratch_len(&self) -> usize {
        size::add(self.direct_input_len(), self.direct_packed_len())
    }

    /// The direct forward's scratch as (laid-out sample, packed weights).
    fn split_direct<'s>(&self, scratch: &'s mut [f32]) -> (&'s mut [f32], &'s mut [f32]) {
        let (laid_out, rest) = scratch.split_at_mut(self.direct_input_len());
        (laid_out, &mut rest[..self.direct_packed_len()])
    }

    /// Packs `weight(o, tap)` for the direct kernel that runs: tap by tap
    /// with channels in the lanes, else [`pack_direct`]'s blocks.
    fn pack_for_direct(&self, packed: &mut [f32], weight: impl Fn(usize, usize) -> f32) {
        if self.channel_lanes() {
            let stride = transposed_channel_stride(self.out_channels);
            packed.fill(0.0);
            for (tap, row) in packed.chunks_exact_mut(stride).enumerate() {
                for (o, w) in row[..self.out_channels].iter_mut().enumerate() {
                    *w = weight(o, tap);
                }
            }
        } else {
            pack_direct(self.out_channels, self.patch(), packed, weight);
        }
    }

    /// Stride-1 forward without im2col, which measures faster at the CNN
    /// example's shapes (`--bench pool`, group `conv`). Once per call, the
    /// weights are packed for the kernel and the input buffer zeroed; per
    /// sample, the input is laid out in it ([`Self::direct_run`]), then
    /// blocks of output channels x positions accumulate in registers.
    fn direct_forward(&self, args: ForwardArgs<'_>, output: &mut [f32], scratch: &mut [f32]) {
        let ForwardArgs {
            sizes: (n_in, n_out),
            weights,
            bias,
            relu,
            input,
        } = args;
        let (laid_out, packed) = self.split_direct(scratch);
        self.pack_for_direct(packed, |o, t| weights[o * self.patch() + t]);
        let operands = DirectOperands {
            input: &[],
            packed,
            bias: Some(bias),
            relu,
        };
        self.direct_run((n_in, n_out), operands, input, output, laid_out);
    }

    /// The direct forward of every sample with packed weights (`operands`,
    /// whose `input` is ignored: `laid_out`, of [`Self::direct_input_len`],
    /// is the buffer it stands for).
    fn direct_run(
        &self,
        (n_in, n_out): (usize, usize),
        operands: DirectOperands<'_>,
        input: &[f32],
        output: &mut [f32],
        laid_out: &mut [f32],
    ) {
        let shape = self.direct_shape();
        let stride = transposed_channel_stride(self.out_channels);
        let (shifted, channel_lanes) = (self.shifted_input(), self.channel_lanes());
        // Samples write only what is not padding, so it stays zero.
        laid_out.fill(0.0);
        for (x, y) in input.chunks_exact(n_in).zip(output.chunks_exact_mut(n_out)) {
            if shifted {
                self.shift_into(x, laid_out);
            } else {
                self.pad_into(x, laid_out);
            }
            let operands = DirectOperands {
                input: laid_out,
                ..operands
            };
            if channel_lanes {
                direct_conv_channels(&shape, operands, stride, y);
            } else {
                direct_conv_sample(&shape, operands, y);
            }
        }
    }

    /// The direct kernels' view of one sample.
    const fn direct_shape(&self) -> DirectShape {
        DirectShape {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            k: self.k,
            out_height: self.out_height(),
            out_width: self.out_width(),
            input: if self.shifted_input() {
                InputLayout::Shifted {
                    plane: self.shifted_plane(),
                }
            } else {
                InputLayout::Padded {
                    width: self.width + 2 * self.padding,
                    plane: self.padded_plane(),
                }
            },
        }
    }

    /// Copies one sample inside the zero border of `padded`.
    fn pad_into(&self, x: &[f32], padded: &mut [f32]) {
        let (h, w, p) = (self.height, self.width, self.padding);
        let (pw, plane) = (w + 2 * p, self.padded_plane());
        for (c, src) in x.chunks_exact(h * w).enumerate() {
            for (r, row) in src.chunks_exact(w).enumerate() {
                copy_row(&mut padded[c * plane + (r + p) * pw + p..][..w], row);
            }
        }
    }

    /// Lays one sample out as [`InputLayout::Shifted`] in `shifted`, whose
    /// top and bottom `p` rows of each copy are zero (see [`shift_channel`]).
    fn shift_into(&self, x: &[f32], shifted: &mut [f32]) {
        let (hw, k) = (self.height * self.width, self.k);
        let copies = size::mul(k, self.shifted_plane());
        for (src, dst) in x.chunks_exact(hw).zip(shifted.chunks_exact_mut(copies)) {
            shift_channel(src, dst, self.width, self.padding, k);
        }
    }

    /// Whether backward runs direct kernels: SIMD, stride 1, a side with a
    /// weight-gradient kernel, and padding below the side (so the input
    /// gradient is a convolution of the padded output gradient).
    const fn direct_backward_available(&self) -> bool {
        DIRECT_AVAILABLE
            && self.stride == 1
            && self.padding < self.k
            && weight_grad_has_kernel(self.k)
    }

    /// The convolution whose forward is this one's input gradient: the
    /// output gradient padded by `k - 1 - p`, through the weights flipped and
    /// transposed (`W'[c][o][ky][kx] = W[o][c][k-1-ky][k-1-kx]`).
    const fn input_grad_conv(&self) -> Conv2d {
        Conv2d {
            in_channels: self.out_channels,
            out_channels: self.in_channels,
            height: self.out_height(),
            width: self.out_width(),
            k: self.k,
            stride: 1,
            padding: self.k.saturating_sub(1 + self.padding),
        }
    }

    /// Floats of the direct backward's scratch: the flipped weights packed,
    /// the padded output gradient, the transposed output gradient, the
    /// padded input and the tap-major weight gradient.
    const fn direct_backward_scratch_len(&self) -> usize {
        let t = self.input_grad_conv();
        let channel_stride = transposed_channel_stride(self.out_channels);
        let taps = size::mul(self.patch(), channel_stride);
        size::add(
            taps,
            size::add(
                t.direct_scratch_len(),
                size::add(
                    size::mul(self.positions(), channel_stride),
                    size::add(size::mul(self.in_channels, self.padded_plane()), LOAD_SLACK),
                ),
            ),
        )
    }

    /// Backward without im2col (see [`Self::direct_backward_available`]): per
    /// sample, `dW` by [`direct_weight_grad`] and `dx` by the direct forward
    /// of [`Self::input_grad_conv`].
    fn direct_backward(
        &self,
        (n_in, n_out): (usize, usize),
        (weights, input): (&[f32], &[f32]),
        masked: Masked<'_>,
        grad_weights: &mut [f32],
        grad_input: Option<&mut [f32]>,
        scratch: &mut [f32],
    ) {
        let Masked {
            relu,
            output,
            grad_output,
            grad_bias,
        } = masked;
        let t = self.input_grad_conv();
        let (k, kk, ic) = (self.k, self.k * self.k, self.in_channels);
        let channel_stride = transposed_channel_stride(self.out_channels);
        let (t_scratch, rest) = scratch.split_at_mut(t.direct_scratch_len());
        let (dy_t, rest) = rest.split_at_mut(self.positions() * channel_stride);
        let (padded_x, rest) = rest.split_at_mut(ic * self.padded_plane() + LOAD_SLACK);
        let dw_t = &mut rest[..self.patch() * channel_stride];
        let shape = WeightGradShape {
            in_channels: ic,
            out_channels: self.out_channels,
            k,
            out_height: self.out_height(),
            out_width: self.out_width(),
            padded_width: self.width + 2 * self.padding,
            padded_plane: self.padded_plane(),
            channel_stride,
        };
        // Zero borders and channel tails, written inside only from here on.
        padded_x.fill(0.0);
        dy_t.fill(0.0);
        dw_t.fill(0.0);
        transpose_weight_grad(grad_weights, dw_t, self.patch(), channel_stride, true);
        let positions = self.positions();
        for ((x, dy), y) in input
            .chunks_exact(n_in)
            .zip(grad_output.chunks_exact_mut(n_out))
            .zip(output.chunks_exact(n_out))
        {
            self.bias_and_relu_sample(relu, y, dy, grad_bias);
            self.pad_into(x, padded_x);
            transpose_output_grad(dy, positions, self.out_channels, channel_stride, dy_t);
            direct_weight_grad(&shape, padded_x, dy_t, dw_t);
        }
        transpose_weight_grad(grad_weights, dw_t, self.patch(), channel_stride, false);
        if let Some(grad_input) = grad_input {
            let (laid_out_dy, packed) = t.split_direct(t_scratch);
            t.pack_for_direct(packed, |c, tap| {
                let (o, ky, kx) = (tap / kk, tap / k % k, tap % k);
                weights[(o * ic + c) * kk + (k - 1 - ky) * k + (k - 1 - kx)]
            });
            let operands = DirectOperands {
                input: &[],
                packed,
                bias: None,
                relu: false,
            };
            t.direct_run(
                (n_out, n_in),
                operands,
                grad_output,
                grad_input,
                laid_out_dy,
            );
        }
    }

    /// Adds the columns back into one sample's gradient (the transpose of im2col).
    fn col2im(&self, cols: &[f32], dx: &mut [f32]) {
        let (oh, ow, p) = (self.out_height(), self.out_width(), self.padding as isize);
        let mut row = 0;
        for c in 0..self.in_channels {
            let plane = &mut dx[c * self.height * self.width..(c + 1) * self.height * self.width];
            for ky in 0..self.k {
                for kx in 0..self.k {
                    let src = &cols[row * oh * ow..(row + 1) * oh * ow];
                    for oy in 0..oh {
                        let y = (oy * self.stride + ky) as isize - p;
                        if !(0..self.height as isize).contains(&y) {
                            continue;
                        }
                        for ox in 0..ow {
                            let xx = (ox * self.stride + kx) as isize - p;
                            if (0..self.width as isize).contains(&xx) {
                                plane[y as usize * self.width + xx as usize] += src[oy * ow + ox];
                            }
                        }
                    }
                    row += 1;
                }
            }
        }
    }

    /// The forward passes' checks; returns the per-sample input and output sizes.
    fn check_forward(
        &self,
        weights: &[f32],
        bias: &[f32],
        io: &ForwardBuffers<'_>,
    ) -> Result<(usize, usize), Error> {
        self.check()?;
        let (n_in, n_out) = self.sample_lens();
        self.check_lens(&[
            (size::mul(io.batch, n_in), io.input.len()),
            (size::mul(io.batch, n_out), io.output.len()),
            (self.weights_len(), weights.len()),
            (self.out_channels, bias.len()),
        ])?;
        if io.scratch.len() < self.scratch_len() {
            return Err(Error::BufferTooSmall {
                needed: self.scratch_len(),
                got: io.scratch.len(),
            });
        }
        Ok((n_in, n_out))
    }

    /// `output = W * input + b` per sample (optionally ReLU): the direct
    /// kernel for stride 1 on SIMD targets (faster at the sizes measured,
    /// `--bench pool`, group `conv`), else [`Self::forward_im2col`].
    pub fn forward(
        &self,
        weights: &[f32],
        bias: &[f32],
        relu: bool,
        io: ForwardBuffers<'_>,
    ) -> Result<(), Error> {
        let sizes = self.check_forward(weights, bias, &io)?;
        let args = ForwardArgs {
            sizes,
            weights,
            bias,
            relu,
            input: io.input,
        };
        if DIRECT_AVAILABLE && self.stride == 1 {
            self.direct_forward(args, io.output, io.scratch);
        } else {
            self.im2col_forward(args, io.output, io.scratch);
        }
        Ok(())
    }

    /// The same as [`Self::forward`] through im2col and the dense GEMM, for
    /// any stride and target (public so the two can be compared).
    pub fn forward_im2col(
        &self,
        weights: &[f32],
        bias: &[f32],
        relu: bool,
        io: ForwardBuffers<'_>,
    ) -> Result<(), Error> {
        let sizes = self.check_forward(weights, bias, &io)?;
        let args = ForwardArgs {
            sizes,
            weights,
            bias,
            relu,
            input: io.input,
        };
        self.im2col_forward(args, io.output, io.scratch);
        Ok(())
    }

    /// [`Self::forward_im2col`] after its checks.
    fn im2col_forward(&self, args: ForwardArgs<'_>, output: &mut [f32], scratch: &mut [f32]) {
        let ForwardArgs {
            sizes: (n_in, n_out),
            weights,
            bias,
            relu,
            input,
        } = args;
        let (cols, panel) = scratch.split_at_mut(self.patch() * self.positions());
        let positions = self.positions();
        for (x, y) in input.chunks_exact(n_in).zip(output.chunks_exact_mut(n_out)) {
            self.im2col(x, cols);
            gemm(
                self.out_channels,
                positions,
                self.patch(),
                AMat::RowMajor {
                    data: weights,
                    ld: self.patch(),
                },
                BMat {
                    data: cols,
                    ld: positions,
                    transposed: false,
                    mask: None,
                },
                y,
                positions,
                panel,
                Epilogue {
                    alpha: 1.0,
                    overwrite_with_bias: Some(&[]),
                    mask: None,
                    relu: false,
                },
            );
            for (plane, &b) in y.chunks_exact_mut(positions).zip(bias) {
                for v in plane.iter_mut() {
                    let z = *v + b;
                    *v = if relu && z < 0.0 { 0.0 } else { z };
                }
            }
        }
    }

    /// Backward: masks `io.grad_output` by the ReLU (from `io.output`) if
    /// `relu`, accumulates `grad_weights` and `grad_bias`, and overwrites
    /// `io.grad_input` unless it is `None` (a network's first layer needs
    /// none). With SIMD and stride 1 it runs direct kernels (`--bench pool`,
    /// group `conv_backward`), else [`Self::backward_im2col`].
    pub fn backward(
        &self,
        weights: &[f32],
        relu: bool,
        grad_weights: &mut [f32],
        grad_bias: &mut [f32],
        io: BackwardBuffers<'_>,
    ) -> Result<(), Error> {
        let direct = self.direct_backward_available();
        self.run_backward(direct, weights, relu, (grad_weights, grad_bias), io)
    }

    /// The same as [`Self::backward`] through im2col and the dense GEMM, for
    /// any stride and target (public so the two can be compared).
    pub fn backward_im2col(
        &self,
        weights: &[f32],
        relu: bool,
        grad_weights: &mut [f32],
        grad_bias: &mut [f32],
        io: BackwardBuffers<'_>,
    ) -> Result<(), Error> {
        self.run_backward(false, weights, relu, (grad_weights, grad_bias), io)
    }

    /// Both backward paths: the checks, the ReLU and bias, then the direct
    /// kernels or im2col + GEMM.
    fn run_backward(
        &self,
        direct: bool,
        weights: &[f32],
        relu: bool,
        (grad_weights, grad_bias): (&mut [f32], &mut [f32]),
        io: BackwardBuffers<'_>,
    ) -> Result<(), Error> {
        let sizes = self.check_backward(weights, (grad_weights.len(), grad_bias.len()), &io)?;
        let BackwardBuffers {
            input,
            output,
            grad_output,
            grad_input,
            scratch,
            ..
        } = io;
        if direct {
            // Masks each sample's gradient where the sample is used, while
            // it is in cache (a separate pass read and wrote the whole
            // batch's gradient once more from memory).
            let masked = Masked {
                relu,
                output,
                grad_output,
                grad_bias,
            };
            let operands = (weights, input);
            self.direct_backward(sizes, operands, masked, grad_weights, grad_input, scratch);
        } else {
            self.bias_and_relu_backward(relu, output, grad_output, grad_bias);
            let args = BackwardArgs {
                sizes,
                weights,
                input,
                grad_output,
            };
            self.im2col_backward(args, grad_weights, grad_input, scratch);
        }
        Ok(())
    }

    /// The backward passes' checks; returns the per-sample input and output sizes.
    fn check_backward(
        &self,
        weights: &[f32],
        (grad_weights, grad_bias): (usize, usize),
        io: &BackwardBuffers<'_>,
    ) -> Result<(usize, usize), Error> {
        self.check()?;
        let (n_in, n_out) = self.sample_lens();
        let batch = io.batch;
        self.check_lens(&[
            (size::mul(batch, n_in), io.input.len()),
            (size::mul(batch, n_out), io.output.len()),
            (size::mul(batch, n_out), io.grad_output.len()),
            (self.weights_len(), weights.len()),
            (self.weights_len(), grad_weights),
            (self.out_channels, grad_bias),
        ])?;
        if let Some(got) = io.grad_input.as_deref().map(<[f32]>::len) {
            self.check_lens(&[(size::mul(batch, n_in), got)])?;
        }
        if io.scratch.len() < self.scratch_len() {
            return Err(Error::BufferTooSmall {
                needed: self.scratch_len(),
                got: io.scratch.len(),
            });
        }
        Ok((n_in, n_out))
    }

    /// The ReLU's mask on `grad_output` (from `output`) and `db += sum dy`.
    fn bias_and_relu_backward(
        &self,
        relu: bool,
        output: &[f32],
        grad_output: &mut [f32],
        grad_bias: &mut [f32],
    ) {
        let positions = self.positions();
        for (dy, y) in grad_output
            .chunks_exact_mut(self.out_channels * positions)
            .zip(output.chunks_exact(self.out_channels * positions))
        {
            self.bias_and_relu_sample(relu, y, dy, grad_bias);
        }
    }

    /// [`Self::bias_and_relu_backward`] of one sample (the sums added in the
    /// same order, sample after sample).
    fn bias_and_relu_sample(&self, relu: bool, y: &[f32], dy: &mut [f32], grad_bias: &mut [f32]) {
        let positions = self.positions();
        for ((g, dy), y) in grad_bias
            .iter_mut()
            .zip(dy.chunks_exact_mut(positions))
            .zip(y.chunks_exact(positions))
        {
            *g += relu_mask_and_sum(relu, y, dy);
        }
    }

    /// [`Self::backward_im2col`] after its checks, bias and ReLU.
    fn im2col_backward(
        &self,
        args: BackwardArgs<'_>,
        grad_weights: &mut [f32],
        mut grad_input: Option<&mut [f32]>,
        scratch: &mut [f32],
    ) {
        let BackwardArgs {
            sizes: (n_in, n_out),
            weights,
            input,
            grad_output,
        } = args;
        let (cols, panel) = scratch.split_at_mut(self.patch() * self.positions());
        let (positions, patch) = (self.positions(), self.patch());
        for (s, (x, dy)) in input
            .chunks_exact(n_in)
            .zip(grad_output.chunks_exact(n_out))
            .enumerate()
        {
            // dW (K x Ckk) += dy (K x HW) * cols^T: B(k = pos, n = ckk) = cols[ckk][pos].
            self.im2col(x, cols);
            gemm(
                self.out_channels,
                patch,
                positions,
                AMat::RowMajor {
                    data: dy,
                    ld: positions,
                },
                BMat {
                    data: cols,
                    ld: positions,
                    transposed: true,
                    mask: None,
                },
                grad_weights,
                patch,
                panel,
                Epilogue {
                    alpha: 1.0,
                    overwrite_with_bias: None,
                    mask: None,
                    relu: false,
                },
            );
            let Some(grad_input) = grad_input.as_deref_mut() else {
                continue;
            };
            // cols = W^T (Ckk x K) * dy (K x HW), then folded into dx.
            gemm(
                patch,
                positions,
                self.out_channels,
                AMat::ColMajor {
                    data: weights,
                    ld: patch,
                },
                BMat {
                    data: dy,
                    ld: positions,
                    transposed: false,
                    mask: None,
                },
                cols,
                positions,
                panel,
                Epilogue {
                    alpha: 1.0,
                    overwrite_with_bias: Some(&[]),
                    mask: None,
                    relu: false,
                },
            );
            let dx = &mut grad_input[s * n_in..(s + 1) * n_in];
            dx.fill(0.0);
            self.col2im(cols, dx);
        }
    }
}

/// A checked forward call's inputs: per-sample sizes, weights, bias, ReLU.
#[derive(Clone, Copy)]
struct ForwardArgs<'a> {
    sizes: (usize, usize),
    weights: &'a [f32],
    bias: &'a [f32],
    relu: bool,
    input: &'a [f32],
}

/// What the direct backward masks and sums sample by sample: `grad_output`
/// by the ReLU's mask from `output` (if `relu`), its sums into `grad_bias`.
struct Masked<'a> {
    relu: bool,
    output: &'a [f32],
    grad_output: &'a mut [f32],
    grad_bias: &'a mut [f32],
}

/// A checked backward call's inputs (the output gradient after the ReLU).
#[derive(Clone, Copy)]
struct BackwardArgs<'a> {
    sizes: (usize, usize),
    weights: &'a [f32],
    input: &'a [f32],
    grad_output: &'a [f32],
}

/// Packs `out_channels` filters of `patch` taps (`weight(o, t)`) for the
/// direct kernel: each block of [`DIRECT_OC`] channels tap by tap, its
/// channels side by side; the channels after the last block as they are.
fn pack_direct(
    out_channels: usize,
    patch: usize,
    packed: &mut [f32],
    weight: impl Fn(usize, usize) -> f32,
) {
    let full = out_channels / DIRECT_OC * DIRECT_OC;
    for (block, dst) in packed[..full * patch]
        .chunks_exact_mut(DIRECT_OC * patch)
        .enumerate()
    {
        for (t, taps) in dst.chunks_exact_mut(DIRECT_OC).enumerate() {
            for (o, wv) in taps.iter_mut().enumerate() {
                *wv = weight(block * DIRECT_OC + o, t);
            }
        }
    }
    for (o, filter) in packed[full * patch..out_channels * patch]
        .chunks_exact_mut(patch)
        .enumerate()
    {
        for (t, wv) in filter.iter_mut().enumerate() {
            *wv = weight(full + o, t);
        }
    }
}

/// A convolution in a network: parameters the weights, then the bias.
impl Conv2d {
    pub(crate) fn forward_pass(&self, relu: bool, io: ForwardIo<'_>) -> Result<(), Error> {
        let (weights, bias) = io.params.split_at(self.weights_len());
        self.forward(weights, bias, relu, io.buffers())
    }

    pub(crate) fn backward_pass(&self, relu: bool, io: BackwardIo<'_>) -> Result<(), Error> {
        let weights = &io.params[..self.weights_len()];
        let (buffers, grads) = io.buffers_and_grads();
        let (dw, db) = grads.split_at_mut(self.weights_len());
        self.backward(weights, relu, dw, db, buffers)
    }
}

//! Layers: shapes, modes and validation over the kernels.

pub(crate) mod activation;
pub mod affine;
pub mod augment;
pub mod batch_norm;
pub mod buffers;
pub mod color;
pub mod conv;
pub mod dense;
pub mod describe;
pub mod dropout;
pub mod layer;
pub mod loss;
pub mod mixup;
pub mod mode;
pub(crate) mod pass;
pub mod pool;
pub(crate) mod residual;
pub mod resized_crop;
pub mod spatial_dropout;
pub mod test_time;

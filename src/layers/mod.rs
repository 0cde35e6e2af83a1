//! Layers: shapes, modes and validation over the kernels.

pub mod augment;
pub mod batch_norm;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod loss;
pub mod mixup;
pub mod pool;

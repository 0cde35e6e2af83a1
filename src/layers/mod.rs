//! Layers: shapes, modes and validation over the kernels.

pub mod dense;
pub mod dropout;
pub mod loss;

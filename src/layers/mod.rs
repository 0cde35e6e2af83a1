//! Layers: shapes, modes and validation over the kernels.

pub mod dropout;

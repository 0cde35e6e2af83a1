//! Train or eval: the one switch every stochastic layer takes.

/// Training or evaluation: every stochastic layer takes it explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Inject noise (draw masks) and save what backward needs.
    Train,
    /// Deterministic: return the expectation of train mode where it exists.
    Eval,
}

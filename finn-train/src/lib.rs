//! # finn-train: fitting fixed-integral networks on a workstation
//!
//! Exact gradients of losses that involve the mixed partial f = d_1...d_n F, with respect to
//! every parameter ([`grad`]); argmin solvers over those losses; model files that
//! `finn-core` and `finn-embedded` load ([`model`]).

// Index loops mirror the formulas (jets by subset, layers by unit).
#![allow(clippy::needless_range_loop)]

pub mod eval;
pub mod grad;
pub mod loss;
pub mod model;
pub mod solve;
pub mod trajectory;
pub mod trajectory_file;

/// Why training could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A finn-core error (shape, non-finite input, degenerate constraint, overflow).
    #[error(transparent)]
    Core(#[from] finn_core::Error),
    /// Bad training data.
    #[error("data: {0}")]
    Data(String),
    /// The solver failed.
    #[error("solver: {0}")]
    Solver(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

//! # finn-train: fitting fixed-integral networks on a workstation
//!
//! Training is a library call: read a TOML config, run it, get the model blob, plots and a
//! report. The `application` key picks what is trained, and each application is one module
//! here, with the same name in `finn-core` (its math) and `finn-embedded` (its player):
//!
//! | application | here | on the device |
//! | --- | --- | --- |
//! | `fit`: regression on f or F with an exact integral constraint | [`fit`] | `finn_embedded::fit` |
//! | `trajectory`: exact start and end states, obstacles, limits, dynamics | [`trajectory`] | `finn_embedded::trajectory` |
//! | `density`: a probability density learned from samples, normalised exactly | [`density`] | (the blob is a `fit` model: `finn_embedded::fit`) |
//! | `softq`: a soft Q-function with the exact soft value, learned on Pendulum-v1 | [`softq`] | (not yet: `finn_core::softq` evaluates it without allocation) |
//!
//! Every config key is listed in `docs/config.md`. A project's own `xtask` that trains from a
//! config is a few lines (this is `examples/train_from_config.rs`):
//!
#![doc = concat!("```no_run\n", include_str!("../examples/train_from_config.rs"), "```")]
//!
//! Underneath: exact gradients of losses that involve the mixed partial f = d_1...d_n F with
//! respect to every parameter ([`grad`]); argmin quasi-Newton solvers over those losses
//! ([`solve`]); model files that `finn-core` and `finn-embedded` load ([`model`], [`eval`]).

// Index loops mirror the formulas (jets by subset, layers by unit).
#![allow(clippy::needless_range_loop)]

/// Implements argmin's `CostFunction` and `Gradient` for a loss type with inherent
/// `loss(&[f64])` and `loss_and_gradient(&[f64], &mut [f64])` (both `Result<f64, TrainError>`),
/// so the solver sees every loss the same way.
macro_rules! argmin_loss {
    ($t:ty) => {
        impl argmin::core::CostFunction for $t {
            type Param = Vec<f64>;
            type Output = f64;
            fn cost(&self, param: &Vec<f64>) -> Result<f64, argmin::core::Error> {
                Ok(self.loss(param)?)
            }
        }

        impl argmin::core::Gradient for $t {
            type Param = Vec<f64>;
            type Gradient = Vec<f64>;
            fn gradient(&self, param: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
                let mut g = vec![0.0; param.len()];
                self.loss_and_gradient(param, &mut g)?;
                Ok(g)
            }
        }
    };
}

pub mod config;
pub mod density;
pub mod deviation;
pub mod eval;
pub mod fit;
pub mod grad;
pub mod model;
pub mod observer;
pub mod parallel;
pub mod plot;
pub mod quadrature;
mod random;
pub mod softq;
pub mod solve;
pub mod stopping;
pub mod supremum;
pub mod trajectory;

/// Why training could not proceed, or what it found unmet.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A finn-core error (shape, non-finite input, degenerate constraint, overflow).
    #[error(transparent)]
    Core(#[from] finn_core::Error),
    /// A config file that cannot be read or is invalid; the message names the file and key.
    #[error("{0}")]
    Config(String),
    /// Bad training data.
    #[error("data: {0}")]
    Data(String),
    /// The solver failed.
    #[error("solver: {0}")]
    Solver(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Drawing a plot failed.
    #[error("plot: {0}")]
    Plot(String),
    /// A quantity asked for cannot be computed exactly by this model (e.g. the probability of
    /// an axis-aligned x-box on a mapped domain such as a disk); the message says what to use
    /// instead.
    #[error("not exact: {0}")]
    Inexact(String),
    /// The run finished, but a requirement it states does not hold (files are written).
    #[error("not met: {0}")]
    Unmet(String),
}

/// The application guides' code blocks, compiled (and run where not `no_run`) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/trajectory.md")]
#[doc = include_str!("../../docs/fit.md")]
#[doc = include_str!("../../docs/deviation.md")]
#[doc = include_str!("../../docs/density.md")]
#[doc = include_str!("../../docs/softq.md")]
pub struct GuideDoctests;

//! # finn-train: fitting fixed-integral networks on a workstation
//!
//! Exact gradients of losses that involve the mixed partial f = d_1...d_n F, with respect to
//! every parameter ([`grad`]); argmin solvers over those losses; model files that
//! `finn-core` and `finn-embedded` load ([`model`]).

pub mod grad;
pub mod model;

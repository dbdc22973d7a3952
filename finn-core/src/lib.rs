//! # finn-core: fixed-integral neural networks, exact and allocation-free
//!
//! A network parametrises an antiderivative F; the learned function is its mixed partial
//! f = d_1...d_n F (paper Eq. 1-2). Integrals of f over boxes are then exact (Eq. 4), integral
//! constraints hold by construction ([`Finn`], [`Constraint`]), and positive networks make
//! f >= 0 ([`Kind::Positive`]).
//!
//! The crate is `#![no_std]`, never allocates, and reports every bad input as an [`Error`].
//! It is generic over [`Real`] (`f32` and `f64`).
//!
//! Where each concept lives: the activation sigma_n in [`activation`], jets in [`jet`],
//! double-double scalars for the host-side constants in [`dd`], the
//! network in [`network`], boxes and integrals in [`domain`], constraints in [`constraint`],
//! densities in [`density`] and [`domain_map`], mixtures of them in [`density_mixture`],
//! bounded-deviation models in [`deviation`],
//! soft Q-functions with exact soft values and policy sampling in [`softq`],
//! trajectories in [`trajectory`], rigorous enclosures of f over a box (interval jets, for
//! proving bounds such as "this density never exceeds 3.2") in [`enclosure`].
//!
//! ```
//! use finn_core::{Antiderivative, Bound, Constraint, Domain, Finn, Method, Network};
//! // A positive network on [0,1]^2 constrained to integrate to 2.
//! let params: Vec<f64> = (0..parameter_len()).map(|i| (i as f64 * 0.37).sin()).collect();
//! # fn parameter_len() -> usize { finn_core::parameter_count(2, &[8, 8]) }
//! let net = Network::<f64, 2, 8, 2>::positive(&[8, 8], &params).unwrap();
//! let domain = Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap();
//! let model = Finn::new(net, domain, Some(Constraint::new(Bound::Equal, Method::Scale, 2.0))).unwrap();
//! assert!((model.integral().unwrap() - 2.0).abs() < 1e-13);
//! assert!(model.integrand(&[0.5, 0.5]).unwrap() >= 0.0);
//! ```
#![no_std]
#![deny(missing_docs)]
// One `asm!` block (`multiply_add`) is allowed by name; nothing else may be unsafe.
#![deny(unsafe_code)]
// Index loops mirror the formulas (jets by subset, layers by unit); iterator chains over
// several arrays at once read worse here.
#![allow(clippy::needless_range_loop)]

pub mod activation;
mod bound;
pub mod constraint;
pub mod dd;
pub mod density;
pub mod density_mixture;
pub mod deviation;
pub mod domain;
pub mod domain_map;
pub mod enclosure;
mod error;
pub mod format;
pub mod jet;
pub mod mapped_finn;
mod multiply_add;
pub mod network;
mod real;
pub mod softq;
pub mod tanh;
pub mod trajectory;

pub use activation::Activation;
pub use constraint::{Bound, Bounded, Constraint, Finn, Method, Resolved};
pub use density::{Density, SampleStats};
pub use density_mixture::{DensityMixture, MixtureComponent, MixtureMap, MixtureSupport};
pub use deviation::{BoundedDeviation, MappedDeviation, NetworkDirection, Polynomial};
pub use domain::Domain;
pub use domain_map::{
    AffineBox, Ball, DomainMap, MapReal, MappedDensity, Polar, RealSpace, Simplex,
};
pub use enclosure::Interval;
pub use error::{ConstantsProblem, Error};
pub use mapped_finn::MappedFinn;
pub use network::{parameter_count, Depth, HiddenBlocks, Kind, Network};
pub use real::{convert, Real};

/// Anything that has an antiderivative F, an integrand f = d_1...d_n F, and therefore exact
/// box integrals.
///
/// ```
/// use finn_core::{Antiderivative, Activation, Network};
/// let net = Network::<f64, 1, 2, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, 1.0]).unwrap();
/// // F = tanh(x), so the integral of f over [0, 1] is tanh(1).
/// let i = net.integral_over(&[0.0], &[1.0]).unwrap();
/// assert!((i - 1.0f64.tanh()).abs() < 1e-15);
/// ```
pub trait Antiderivative<T: Real> {
    /// The input dimension n.
    fn dim(&self) -> usize;

    /// F(x). Errors: `DimensionMismatch`, `NonFiniteInput`, `Overflow`.
    fn antiderivative(&self, x: &[T]) -> Result<T, Error>;

    /// f(x) = d_1...d_n F(x), exact. Errors as for [`Antiderivative::antiderivative`].
    fn integrand(&self, x: &[T]) -> Result<T, Error>;

    /// The exact integral of f over the box [lower, upper] (Eq. 4).
    ///
    /// Errors: `DimensionMismatch`, `NonFiniteInput`, `EmptyInterval` (lower >= upper),
    /// `Overflow`.
    fn integral_over(&self, lower: &[T], upper: &[T]) -> Result<T, Error> {
        if lower.len() != self.dim() || upper.len() != self.dim() {
            return Err(Error::DimensionMismatch {
                expected: self.dim(),
                found: if lower.len() != self.dim() {
                    lower.len()
                } else {
                    upper.len()
                },
            });
        }
        domain::vertex_sum(lower, upper, |v| self.antiderivative(v))
    }
}

/// Copies a slice into a point of dimension N, rejecting wrong lengths and non-finite values.
pub(crate) fn point<T: Real, const N: usize>(x: &[T]) -> Result<[T; N], Error> {
    if x.len() != N {
        return Err(Error::DimensionMismatch {
            expected: N,
            found: x.len(),
        });
    }
    let mut p = [T::ZERO; N];
    for (o, v) in p.iter_mut().zip(x) {
        if !v.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        *o = *v;
    }
    Ok(p)
}

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

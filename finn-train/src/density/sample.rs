//! Host-side sampling from a 1-D density by inverting its exact CDF with bisection.
//!
//! The CDF of a density on [a, b] is C(x) = the integral of the pdf over [a, x], an exact
//! difference of F (Eq. 4 in one dimension). C is non-decreasing, so bisection on C(x) = u
//! converges from the bracket [a, b]: after k halvings the bracket is (b - a) / 2^k wide, and
//! [`steps`] gives the k that reaches a tolerance. (finn-core's sampler for n dimensions, by
//! conditional CDFs, is separate; this helper serves the host's Figure 4.)

use crate::eval::Evaluator;
use crate::random::SplitMix64;
use crate::TrainError;

/// Bisection steps that shrink a bracket of width `width` below `tolerance`:
/// ceil(log2(width / tolerance)).
///
/// ```
/// assert_eq!(finn_train::density::sample::steps(1.0, 1.0 / 1024.0), 10);
/// ```
pub fn steps(width: f64, tolerance: f64) -> u32 {
    (width / tolerance).log2().ceil().max(0.0) as u32
}

/// The exact CDF of a 1-D model at x (0 below the support, 1 - its normalisation error above).
///
/// Errors: `NonFiniteInput`, `DimensionMismatch` for a model that is not 1-D.
pub fn cdf(eval: &Evaluator, x: f64) -> Result<f64, TrainError> {
    if eval.dim() != 1 {
        return Err(finn_core::Error::DimensionMismatch {
            expected: 1,
            found: eval.dim(),
        }
        .into());
    }
    if !x.is_finite() {
        return Err(finn_core::Error::NonFiniteInput.into());
    }
    let (a, b) = (eval.domain_lower()[0], eval.domain_upper()[0]);
    if x <= a {
        return Ok(0.0);
    }
    Ok(eval.integral_over(&[a], &[x.min(b)])?)
}

/// The x in the support with CDF(x) = u, by bisection to `tolerance` in x (the midpoint of the
/// final bracket). u is clamped to [0, 1].
///
/// ```
/// use finn_core::{Activation, Kind, Resolved};
/// use finn_train::{density::sample, eval::Evaluator, model::Architecture};
/// // F(x) = sigma_1(x) = (1 + erf x)/2 on [-3, 3]: the scale makes it a density.
/// let arch = Architecture { n: 1, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![1] };
/// let params = [1.0, 0.0, 1.0];
/// let raw = Evaluator::from_parts(&arch, &params, &[-3.0], &[3.0], Resolved::scaled(1.0)).unwrap();
/// let z = raw.integral().unwrap();
/// let e = Evaluator::from_parts(&arch, &params, &[-3.0], &[3.0], Resolved::scaled(1.0 / z)).unwrap();
/// let x = sample::inverse_cdf(&e, 0.5, 1e-12).unwrap();
/// assert!(x.abs() < 1e-11); // symmetric
/// assert!((sample::cdf(&e, x).unwrap() - 0.5).abs() < 1e-11);
/// ```
pub fn inverse_cdf(eval: &Evaluator, u: f64, tolerance: f64) -> Result<f64, TrainError> {
    let u = u.clamp(0.0, 1.0);
    let (mut lo, mut hi) = (eval.domain_lower()[0], eval.domain_upper()[0]);
    for _ in 0..steps(hi - lo, tolerance.max(f64::EPSILON * (hi - lo))) {
        let mid = 0.5 * (lo + hi);
        if cdf(eval, mid)? < u {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// `count` samples from a 1-D model: uniforms from a SplitMix64 stream seeded by `seed`, each
/// mapped through [`inverse_cdf`].
pub fn sample(
    eval: &Evaluator,
    count: usize,
    seed: u64,
    tolerance: f64,
) -> Result<Vec<f64>, TrainError> {
    let mut rng = SplitMix64::new(seed ^ 0x6A09_E667_F3BC_C909);
    (0..count)
        .map(|_| inverse_cdf(eval, rng.unit(), tolerance))
        .collect()
}

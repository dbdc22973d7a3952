//! [`StatePolicy`]: Q, V and the policy at one state, for repeated queries.

use super::{check_in_box, log_integrand};
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks};
use crate::{error::finite, Density, Error, Real};

/// Q, V and the policy at one state: the action network built once, for repeated queries
/// ([`SoftQ::at`](super::SoftQ::at)).
///
/// ```
/// # use finn_core::{softq::SoftQ, Domain};
/// # let n = SoftQ::<f64, 2, 3, 7, 1, 4, 1>::parameter_count(2, &[3], &[2]);
/// # let params: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
/// # let q = SoftQ::<f64, 2, 3, 7, 1, 4, 1>::new(&[3], &[2], Domain::new([-2.0], [2.0]).unwrap(), 2.0, 10.0, &params).unwrap();
/// let at = q.at(&[0.3, -0.7]).unwrap();
/// // log pi(a|s) = beta (Q(s, a) - V(s)).
/// let a = [0.5];
/// let lp = at.log_policy_pdf(&a).unwrap();
/// assert!((lp - 2.0 * (at.q(&a).unwrap() - at.v())).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct StatePolicy<T: Real, const M: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    pub(super) policy: Density<T, M, W, L>,
    pub(super) c: T,
    pub(super) log_mass: T,
    pub(super) beta: T,
}

impl<T: Real, const M: usize, const W: usize, const L: usize> StatePolicy<T, M, W, L>
where
    Dim<M>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// V(s), exact.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let at = q.at(&[0.0]).unwrap();
    /// assert!((at.v() - q.v(&[0.0]).unwrap()).abs() < 1e-14);
    /// ```
    pub fn v(&self) -> T {
        (self.c + self.log_mass) / self.beta
    }

    /// The log-scale c(s).
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let at = q.at(&[0.0]).unwrap();
    /// assert_eq!(at.log_scale(), 0.0); // the c head's bias is 0
    /// ```
    pub fn log_scale(&self) -> T {
        self.c
    }

    /// ln of the integral of f~(s, .) over A (so beta V = c + this).
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let at = q.at(&[0.0]).unwrap();
    /// assert_eq!(at.log_mass(), at.v()); // beta = 1, c = 0
    /// ```
    pub fn log_mass(&self) -> T {
        self.log_mass
    }

    /// Q(s, a) for a in A. Errors: `ActionOutsideBox`, `DimensionMismatch`,
    /// `NonFiniteInput`, `Overflow`.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let at = q.at(&[0.0]).unwrap();
    /// assert_eq!(at.q(&[0.5]).unwrap(), q.q(&[0.0], &[0.5]).unwrap());
    /// ```
    pub fn q(&self, a: &[T]) -> Result<T, Error> {
        let a = crate::point::<T, M>(a)?;
        check_in_box(self.policy.support(), &a)?;
        let l = log_integrand(self.policy.finn().network(), &a)?;
        finite((self.c + l) / self.beta)
    }

    /// ln pi(a | s); -inf outside A. Errors: `DimensionMismatch`, `NonFiniteInput` (NaN),
    /// `Overflow`.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let at = q.at(&[0.0]).unwrap();
    /// assert!((at.log_policy_pdf(&[0.5]).unwrap() - (at.q(&[0.5]).unwrap() - at.v())).abs() < 1e-12);
    /// ```
    pub fn log_policy_pdf(&self, a: &[T]) -> Result<T, Error> {
        let a = point_allow_inf::<T, M>(a)?;
        self.policy.log_pdf(&a)
    }

    /// pi(a | s); 0 outside A. Errors as for [`StatePolicy::log_policy_pdf`].
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let at = q.at(&[0.0]).unwrap();
    /// assert_eq!(at.policy_pdf(&[3.0]).unwrap(), 0.0);
    /// ```
    pub fn policy_pdf(&self, a: &[T]) -> Result<T, Error> {
        let a = point_allow_inf::<T, M>(a)?;
        self.policy.pdf(&a)
    }

    /// The policy as a density over A (CDFs, box probabilities, marginals).
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let at = q.at(&[0.0]).unwrap();
    /// assert!((at.density().cdf(&[2.0]).unwrap() - 1.0).abs() < 1e-12);
    /// ```
    pub fn density(&self) -> &Density<T, M, W, L> {
        &self.policy
    }

    /// An exact sample of pi(. | s) from uniforms ([`Density::sample`]).
    /// Errors: `NonFiniteInput`, `Overflow`.
    ///
    /// ```
    /// # use finn_core::{softq::SoftQ, Domain};
    /// # const NEAR_UNIFORM: [f64; 10] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 0.0, 1.0, 0.0];
    /// # let q = SoftQ::<f64, 1, 1, 4, 1, 1, 1>::new(&[1], &[1], Domain::new([-2.0], [2.0]).unwrap(), 1.0, 1.0, &NEAR_UNIFORM).unwrap();
    /// let at = q.at(&[0.0]).unwrap();
    /// let a = at.sample(&[0.3]).unwrap();
    /// assert!((at.density().cdf(&a).unwrap() - 0.3).abs() < 1e-12);
    /// ```
    pub fn sample(&self, uniforms: &[T; M]) -> Result<[T; M], Error> {
        self.policy.sample(uniforms)
    }
}

/// A point of length M whose entries may be infinite (outside every box) but not NaN.
fn point_allow_inf<T: Real, const M: usize>(a: &[T]) -> Result<[T; M], Error> {
    if a.len() != M {
        return Err(Error::DimensionMismatch {
            expected: M,
            found: a.len(),
        });
    }
    let mut p = [T::ZERO; M];
    for (o, v) in p.iter_mut().zip(a) {
        if v.is_nan() {
            return Err(Error::NonFiniteInput);
        }
        *o = *v;
    }
    Ok(p)
}

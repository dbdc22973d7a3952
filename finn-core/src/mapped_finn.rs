//! A constrained FINN on an arbitrary domain by u-substitution (paper §3.2).
//!
//! The network learns f_u on the unit box of u; a [`DomainMap`] x = r(u) places it on the
//! domain (a disk, a ball, a simplex, all of R^n...) as
//!
//! ```text
//! f(x) = f_u(r^-1(x)) / |det dr/du|,
//! ```
//!
//! so that the integral of f over the image of any u-box is the integral of f_u over that
//! u-box: a corner sum of F_u, exact up to its rounding. In particular an integral constraint
//! (integral of f_u over its domain = eps) holds for f over the image of that domain, whatever
//! shape it has. Axis-aligned boxes in x are in general not images of u-boxes, so their
//! integrals are not offered. [`MappedDensity`](crate::MappedDensity) is the same construction
//! for densities and [`MappedDeviation`](crate::MappedDeviation) for bounded deviations.

use crate::constraint::Finn;
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks};
use crate::{Antiderivative, DomainMap, Error, Real};

/// A [`Finn`] learned on (part of) the unit box of u, placed on a domain by a [`DomainMap`].
///
/// ```
/// use finn_core::{Antiderivative, Bound, Constraint, Domain, Finn, MappedFinn, Method, Network, Polar};
/// let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
/// let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
/// let unit = Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap();
/// // f integrates to 3 over its domain ...
/// let three = Constraint::new(Bound::Equal, Method::Scale, 3.0);
/// let f = MappedFinn::new(Finn::new(net, unit, Some(three)).unwrap(), Polar::disk([0.0, 0.0], 2.0).unwrap()).unwrap();
/// // ... which is now the disk of radius 2: exactly 3 over the disk.
/// assert!((f.integral().unwrap() - 3.0).abs() < 1e-12);
/// assert_eq!(f.integrand(&[3.0, 0.0]).unwrap(), 0.0); // outside the disk
/// assert!(f.integrand(&[0.5, 0.5]).unwrap() > 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct MappedFinn<T: Real, M, const N: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    finn: Finn<T, N, W, L>,
    map: M,
}

impl<T, M, const N: usize, const W: usize, const L: usize> MappedFinn<T, M, N, W, L>
where
    T: Real,
    M: DomainMap<T, N>,
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Places `finn` (a function of u) on the map's domain. Its domain must lie inside the
    /// unit box [0, 1]^N, where maps are defined; a smaller domain covers the image of that
    /// sub-box only.
    ///
    /// Errors: `NotOnUnitBox` when the domain leaves the unit box.
    ///
    /// ```
    /// use finn_core::{Activation, AffineBox, Domain, Error, Finn, MappedFinn, Network};
    /// let net = Network::<f64, 1, 4, 1>::signed(Activation::Tanh, &[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let f = Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), None).unwrap();
    /// let m = AffineBox::new([0.0], [1.0]).unwrap();
    /// assert_eq!(MappedFinn::new(f, m).unwrap_err(), Error::NotOnUnitBox);
    /// ```
    pub fn new(finn: Finn<T, N, W, L>, map: M) -> Result<Self, Error> {
        let d = finn.domain();
        if d.lower().iter().any(|a| *a < T::ZERO) || d.upper().iter().any(|b| *b > T::ONE) {
            return Err(Error::NotOnUnitBox);
        }
        Ok(MappedFinn { finn, map })
    }

    /// The model in u.
    pub fn finn(&self) -> &Finn<T, N, W, L> {
        &self.finn
    }

    /// The domain map.
    pub fn map(&self) -> &M {
        &self.map
    }

    /// f(x) = f_u(u) / |det dr/du(u)| at u = r^-1(x); 0 outside the image of the model's
    /// domain.
    ///
    /// Errors: `NonFiniteInput` (NaN), `Overflow` (also where the Jacobian vanishes under a
    /// non-zero f_u: f is unbounded there; prefer maps with a constant |det|, such as
    /// [`Polar`](crate::Polar)'s area-preserving r = sqrt(u_1)).
    ///
    /// ```
    /// # use finn_core::{Activation, Domain, Finn, MappedFinn, Network, RealSpace};
    /// let net = Network::<f64, 1, 4, 1>::signed(Activation::Tanh, &[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let f = Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), None).unwrap();
    /// let m = MappedFinn::new(f, RealSpace::new([0.0], [1.0]).unwrap()).unwrap();
    /// // All of R: far out, f_u(u) / |det| decays with the map's logistic tails.
    /// assert!(m.integrand(&[40.0]).unwrap().abs() < 1e-15);
    /// ```
    pub fn integrand(&self, x: &[T; N]) -> Result<T, Error> {
        if x.iter().any(|v| v.is_nan()) {
            return Err(Error::NonFiniteInput);
        }
        let Some(u) = self
            .map
            .inverse(x)
            .filter(|u| self.finn.domain().contains(u))
        else {
            return Ok(T::ZERO);
        };
        let f = self.finn.integrand(&u)?;
        let j = self.map.jacobian(&u);
        if f == T::ZERO {
            return Ok(T::ZERO);
        }
        if j.is_nan() || j <= T::ZERO {
            return Err(Error::Overflow);
        }
        let v = f / j;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::Overflow)
        }
    }

    /// The integral of f over the whole domain: that of f_u over the model's domain, so an
    /// integral constraint's eps up to the corner sum's rounding.
    ///
    /// Errors as for [`Finn::integral`].
    pub fn integral(&self) -> Result<T, Error> {
        self.finn.integral()
    }

    /// The exact integral of f over the image r([lo, hi]) of a u-box: the corner sum of F_u
    /// ([`Antiderivative::integral_over`] of the model in u).
    ///
    /// ```
    /// # use finn_core::{Antiderivative, Bound, Constraint, Domain, Finn, MappedFinn, Method, Network, Polar};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.3).cos()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let unit = Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap();
    /// let f = MappedFinn::new(Finn::new(net, unit, None).unwrap(), Polar::disk([0.0, 0.0], 1.0).unwrap()).unwrap();
    /// // The inner disk of radius 1/sqrt 2 and the outer ring make up the whole disk.
    /// let inner = f.image_integral(&[0.0, 0.0], &[0.5, 1.0]).unwrap();
    /// let outer = f.image_integral(&[0.5, 0.0], &[1.0, 1.0]).unwrap();
    /// assert!((inner + outer - f.integral().unwrap()).abs() < 1e-12);
    /// ```
    ///
    /// Errors as for [`Antiderivative::integral_over`].
    pub fn image_integral(&self, lo: &[T; N], hi: &[T; N]) -> Result<T, Error> {
        self.finn.integral_over(lo, hi)
    }
}

//! Mixtures of reflected densities on one u-box, placed on a box or on all of R^N: what the
//! density application trains, in a form a device can hold.
//!
//! With u = r^-1(x) the support map's coordinates (u = x on a box support; the per-axis
//! logistic of [`RealSpace`] on R^N) and y_k the reflection of u about the centre of the u-box
//! on component k's flagged axes,
//!
//! ```text
//! p(x) = sum_k w_k p_k(y_k) / |det dr/du(u)|.
//! ```
//!
//! Each p_k is a [`Density`] whose support is the common u-box. Reflection and `RealSpace` act
//! per axis and are monotone, so the image of an x-box is a u-box and every box probability
//! is a weighted sum of the components' exact corner sums ([`DensityMixture::box_probability`]).
//!
//! The components live in a fixed array of capacity `K` with a count, not in a growing
//! collection: a loader fills each slot in place, so a
//! mixture in a `static` is loaded without a copy of any component on the stack.

use crate::constraint::Bounded;
use crate::density::Density;
use crate::domain_map::{MapReal, RealSpace};
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks};
use crate::{Domain, Error, Real};

/// Why a set of components is not a mixture density ([`Error::NotAMixture`]).
///
/// ```
/// use finn_core::{density_mixture::MixtureProblem, Error};
/// let e = Error::NotAMixture(MixtureProblem::WeightSum);
/// assert!(e.to_string().contains("sum"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MixtureProblem {
    /// No component, or more than the capacity K.
    ComponentCount,
    /// A weight is NaN, infinite or negative.
    BadWeight,
    /// The weights do not sum to 1 within the tolerance ([`weight_tolerance`]).
    WeightSum,
    /// The components do not all have the same u-box (support).
    DifferentBoxes,
    /// A component is unloaded.
    Unloaded,
}

impl core::fmt::Display for MixtureProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            MixtureProblem::ComponentCount => "no components, or more than the capacity",
            MixtureProblem::BadWeight => "a weight is not finite and >= 0",
            MixtureProblem::WeightSum => "the weights do not sum to 1",
            MixtureProblem::DifferentBoxes => "the components are not all on the same u-box",
            MixtureProblem::Unloaded => "a component is unloaded",
        })
    }
}

/// How far the weights of `count` components may sum from 1 in `T`: 1e-9, or 32 (count + 1)
/// ulps of 1 when that is larger (f32). Loose enough for weights that were normalised in f64
/// on the host (1e-12 there) and then rounded to `T` one by one, tight enough that a
/// probability of the whole support still reads as 1 to the precision a user expects.
///
/// ```
/// use finn_core::density_mixture::weight_tolerance;
/// assert_eq!(weight_tolerance::<f64>(4), 1e-9);
/// assert!(weight_tolerance::<f32>(4) > 1e-5 && weight_tolerance::<f32>(4) < 1e-4);
/// ```
pub fn weight_tolerance<T: Real>(count: usize) -> T {
    let ulps = T::EPSILON * T::from_usize(32 * (count + 1));
    ulps.max(T::from_f64(1e-9))
}

/// Where a mixture lives in x.
///
/// ```
/// use finn_core::{density_mixture::MixtureMap, RealSpace};
/// let m = MixtureMap::RealSpace(RealSpace::new([0.0f64], [2.0]).unwrap());
/// assert_ne!(m, MixtureMap::Box);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MixtureMap<T: Real, const N: usize> {
    /// u = x: the components' box is the support; the density is 0 outside it.
    Box,
    /// All of R^N by [`RealSpace`]; the components' box must lie in [0, 1]^N.
    RealSpace(RealSpace<T, N>),
}

/// The support of a loaded mixture, as [`DensityMixture::support`] reports it.
///
/// ```
/// use finn_core::{density_mixture::MixtureSupport, Domain};
/// let s = MixtureSupport::Box(Domain::new([0.0f32], [1.0]).unwrap());
/// assert!(matches!(s, MixtureSupport::Box(d) if d.upper() == &[1.0]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MixtureSupport<T: Real, const N: usize> {
    /// The box: the density is 0 outside it.
    Box(Domain<T, N>),
    /// All of R^N, by this map from the u-box.
    RealSpace(RealSpace<T, N>),
}

/// One component: its weight, the axes it reflects and its density on the u-box.
///
/// ```
/// use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
/// use finn_core::density_mixture::MixtureComponent;
/// let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
/// let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
/// let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
/// let c = MixtureComponent::new(0.5, [true], p);
/// assert_eq!((c.weight(), c.reflect()), (0.5, &[true]));
/// ```
#[derive(Clone, Debug)]
pub struct MixtureComponent<T: Real, const N: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    pub(crate) weight: T,
    pub(crate) reflect: [bool; N],
    pub(crate) density: Density<T, N, W, L>,
}

impl<T: Real, const N: usize, const W: usize, const L: usize> MixtureComponent<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// A component; the mixture checks it ([`DensityMixture::new`]).
    pub fn new(weight: T, reflect: [bool; N], density: Density<T, N, W, L>) -> Self {
        MixtureComponent {
            weight,
            reflect,
            density,
        }
    }

    /// An empty slot (all zero, so an array of them lives in `.bss`).
    pub const UNLOADED: Self = MixtureComponent {
        weight: T::ZERO,
        reflect: [false; N],
        density: Density::unloaded(),
    };

    /// Its mixing weight.
    pub fn weight(&self) -> T {
        self.weight
    }

    /// The axes reflected about the centre of the u-box.
    pub fn reflect(&self) -> &[bool; N] {
        &self.reflect
    }

    /// Its density on the u-box.
    pub fn density(&self) -> &Density<T, N, W, L> {
        &self.density
    }

    /// The reflected point, clamped to the box (lo + hi - v can round just outside it).
    fn reflected(&self, lo: &[T; N], hi: &[T; N], v: &[T; N]) -> [T; N] {
        core::array::from_fn(|i| {
            if self.reflect[i] {
                (lo[i] + hi[i] - v[i]).max(lo[i]).min(hi[i])
            } else {
                v[i]
            }
        })
    }
}

/// A mixture of up to `K` reflected densities of `N` inputs on one u-box (networks of up to
/// `W` units in `L` layers), on a box or on R^N. See the [module documentation](self).
///
/// ```
/// use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
/// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap};
/// let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
/// let unit = Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap();
/// let params: Vec<f64> = (0..finn_core::parameter_count(2, &[3])).map(|i| (i as f64 * 0.7).sin()).collect();
/// let net = Network::<f64, 2, 4, 1>::positive(&[3], &params).unwrap();
/// let p = Density::new(Finn::new(net, unit, Some(one)).unwrap()).unwrap();
/// let parts = [
///     MixtureComponent::new(0.25, [false, false], p.clone()),
///     MixtureComponent::new(0.75, [true, false], p),
/// ];
/// let m = DensityMixture::<f64, 2, 4, 1, 4>::new(MixtureMap::Box, parts).unwrap();
/// let all = m.box_probability(&[-1.0; 2], &[2.0; 2]).unwrap();
/// assert!((all - 1.0).abs() < 1e-13);
/// assert_eq!(m.pdf(&[1.5, 0.5]).unwrap(), 0.0);
/// let x = m.sample(&[0.3, 0.6]).unwrap();
/// assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
/// ```
#[derive(Clone, Debug)]
pub struct DensityMixture<T: Real, const N: usize, const W: usize, const L: usize, const K: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    components: [MixtureComponent<T, N, W, L>; K],
    len: usize,
    map: MixtureMap<T, N>,
}

/// The x-bound `v` of one axis in u: itself on a box, its logistic under `RealSpace`
/// (infinite bounds to 0 and 1).
fn bound_to_u<T: MapReal>(v: T, centre: T, scale: T) -> T {
    if v == T::ONE / T::ZERO {
        return T::ONE;
    }
    if v == -(T::ONE / T::ZERO) {
        return T::ZERO;
    }
    logistic((v - centre) / scale)
}

/// 1 / (1 + e^-t) without overflow on either side.
fn logistic<T: MapReal>(t: T) -> T {
    let e = (-t.abs()).exp();
    if t >= T::ZERO {
        T::ONE / (T::ONE + e)
    } else {
        e / (T::ONE + e)
    }
}

/// ln(1 + e^t) without overflow.
fn softplus<T: MapReal>(t: T) -> T {
    if t > T::ZERO {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

fn check_no_nan<T: Real>(x: &[T]) -> Result<(), Error> {
    if x.iter().any(|v| v.is_nan()) {
        Err(Error::NonFiniteInput)
    } else {
        Ok(())
    }
}

impl<T: MapReal, const N: usize, const W: usize, const L: usize, const K: usize>
    DensityMixture<T, N, W, L, K>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// A mixture of `components` (taken in order) on `map`.
    ///
    /// Errors: `NotAMixture` with the [`MixtureProblem`] (no components or more than `K`, a
    /// weight that is not finite and >= 0, weights not summing to 1 within
    /// [`weight_tolerance`], components on different boxes, an unloaded component);
    /// `NotADensity` when `map` is `RealSpace` and the u-box leaves [0, 1]^N (as
    /// [`MappedDensity::new`](crate::MappedDensity::new)).
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Error, Finn, Method, Network};
    /// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap, MixtureProblem};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let parts = [
    ///     MixtureComponent::new(0.5, [false], p.clone()),
    ///     MixtureComponent::new(0.4, [true], p),
    /// ];
    /// let e = DensityMixture::<f64, 1, 4, 1, 2>::new(MixtureMap::Box, parts).unwrap_err();
    /// assert_eq!(e, Error::NotAMixture(MixtureProblem::WeightSum));
    /// ```
    pub fn new(
        map: MixtureMap<T, N>,
        components: impl IntoIterator<Item = MixtureComponent<T, N, W, L>>,
    ) -> Result<Self, Error> {
        let mut mixture = Self::unloaded();
        for c in components {
            let slot = mixture
                .component_slot()
                .ok_or(Error::NotAMixture(MixtureProblem::ComponentCount))?;
            *slot = c;
        }
        mixture.finish(map)?;
        Ok(mixture)
    }

    /// A mixture with nothing loaded, for a `static` that a blob is loaded into in place
    /// ([`DensityMixtureView::load_density_mixture_into`](crate::format::DensityMixtureView::load_density_mixture_into)):
    /// every byte is zero, so the static lives in `.bss`. Evaluating it is an error
    /// (`InvalidShape`).
    ///
    /// ```
    /// use finn_core::{density_mixture::DensityMixture, Error};
    /// static EMPTY: DensityMixture<f32, 2, 8, 2, 4> = DensityMixture::unloaded();
    /// assert_eq!(EMPTY.pdf(&[0.5, 0.5]).unwrap_err(), Error::InvalidShape);
    /// assert_eq!(EMPTY.len(), 0);
    /// ```
    pub const fn unloaded() -> Self {
        DensityMixture {
            components: [MixtureComponent::UNLOADED; K],
            len: 0,
            map: MixtureMap::Box,
        }
    }

    /// Marks the mixture unloaded (evaluating it is then an error), without touching the
    /// weights of the networks.
    ///
    /// ```
    /// use finn_core::density_mixture::DensityMixture;
    /// let mut m = DensityMixture::<f32, 1, 2, 1, 2>::unloaded();
    /// m.unload();
    /// assert!(m.is_empty());
    /// ```
    pub fn unload(&mut self) {
        self.len = 0;
        self.map = MixtureMap::Box;
    }

    /// The next free component slot, counted as in use (unloaded until it is filled), or
    /// `None` when all `K` are in use. A loader fills it in place and then calls
    /// [`DensityMixture::finish`]; until then the mixture is not usable.
    pub(crate) fn component_slot(&mut self) -> Option<&mut MixtureComponent<T, N, W, L>> {
        let slot = self.components.get_mut(self.len)?;
        slot.density.unload();
        slot.weight = T::ZERO;
        slot.reflect = [false; N];
        self.len += 1;
        Some(slot)
    }

    /// Checks the filled components and sets the map; on an error the mixture is unloaded.
    pub(crate) fn finish(&mut self, map: MixtureMap<T, N>) -> Result<(), Error> {
        let result = self.check(map);
        match result {
            Ok(()) => self.map = map,
            Err(_) => self.unload(),
        }
        result
    }

    fn check(&self, map: MixtureMap<T, N>) -> Result<(), Error> {
        let parts = self.components();
        let Some(first) = parts.first() else {
            return Err(Error::NotAMixture(MixtureProblem::ComponentCount));
        };
        let mut total = T::ZERO;
        for c in parts {
            if c.density.finn().check_loaded().is_err() {
                return Err(Error::NotAMixture(MixtureProblem::Unloaded));
            }
            if !(c.weight.is_finite() && c.weight >= T::ZERO) {
                return Err(Error::NotAMixture(MixtureProblem::BadWeight));
            }
            if c.density.support() != first.density.support() {
                return Err(Error::NotAMixture(MixtureProblem::DifferentBoxes));
            }
            total += c.weight;
        }
        // Written so that a NaN sum fails too.
        let within = (total - T::ONE).abs() <= weight_tolerance::<T>(parts.len());
        if !within {
            return Err(Error::NotAMixture(MixtureProblem::WeightSum));
        }
        if let MixtureMap::RealSpace(_) = map {
            let s = first.density.support();
            if s.lower().iter().any(|a| *a < T::ZERO) || s.upper().iter().any(|b| *b > T::ONE) {
                return Err(Error::NotADensity);
            }
        }
        Ok(())
    }

    /// The components in use (empty when unloaded).
    ///
    /// ```
    /// use finn_core::density_mixture::DensityMixture;
    /// assert!(DensityMixture::<f64, 1, 2, 1, 3>::unloaded().components().is_empty());
    /// ```
    pub fn components(&self) -> &[MixtureComponent<T, N, W, L>] {
        self.components.get(..self.len).unwrap_or(&[])
    }

    /// The number of components (0 when unloaded).
    pub fn len(&self) -> usize {
        self.components().len()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The support map.
    ///
    /// ```
    /// use finn_core::density_mixture::{DensityMixture, MixtureMap};
    /// assert_eq!(DensityMixture::<f64, 1, 2, 1, 3>::unloaded().map(), &MixtureMap::Box);
    /// ```
    pub fn map(&self) -> &MixtureMap<T, N> {
        &self.map
    }

    /// The components' common box in u, `InvalidShape` when unloaded.
    fn u_box(&self) -> Result<&Domain<T, N>, Error> {
        self.components()
            .first()
            .map(|c| c.density.support())
            .ok_or(Error::InvalidShape)
    }

    /// Where the density lives: the box (0 outside it), or R^N by its map.
    ///
    /// Errors: `InvalidShape` (unloaded).
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap, MixtureSupport};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let m = DensityMixture::<f64, 1, 4, 1, 1>::new(MixtureMap::Box, [MixtureComponent::new(1.0, [false], p)]).unwrap();
    /// assert!(matches!(m.support().unwrap(), MixtureSupport::Box(d) if d.upper() == &[1.0]));
    /// ```
    pub fn support(&self) -> Result<MixtureSupport<T, N>, Error> {
        let b = self.u_box()?;
        Ok(match self.map {
            MixtureMap::Box => MixtureSupport::Box(*b),
            MixtureMap::RealSpace(r) => MixtureSupport::RealSpace(r),
        })
    }

    /// u = r^-1(x) and ln |det dr/du| there; `None` outside a box support.
    fn to_u(&self, x: &[T; N]) -> Result<Option<([T; N], T)>, Error> {
        check_no_nan(x)?;
        let b = self.u_box()?;
        match &self.map {
            MixtureMap::Box => Ok(b.contains(x).then_some((*x, T::ZERO))),
            MixtureMap::RealSpace(r) => {
                let (c, s) = (r.centre(), r.scale());
                let mut u = [T::ZERO; N];
                let mut log_det = T::ZERO;
                for i in 0..N {
                    if !x[i].is_finite() {
                        return Ok(None);
                    }
                    let t = (x[i] - c[i]) / s[i];
                    u[i] = logistic(t);
                    // ln(u (1 - u)) = -softplus(-t) - softplus(t), finite where u rounds to 1.
                    log_det += s[i].ln() + softplus(-t) + softplus(t);
                }
                Ok(b.contains(&u).then_some((u, log_det)))
            }
        }
    }

    /// sum_k w_k p_k(y_k), the mixture in u.
    fn pdf_u(&self, u: &[T; N]) -> Result<T, Error> {
        let b = self.u_box()?;
        let mut p = T::ZERO;
        for c in self.components() {
            if c.weight > T::ZERO {
                p += c.weight * c.density.pdf(&c.reflected(b.lower(), b.upper(), u))?;
            }
        }
        Ok(p)
    }

    /// The density at `x`: 0 outside a box support (infinite coordinates are outside), never
    /// negative. Under `RealSpace` it is p_u / |det| and underflows to 0 far in the tails,
    /// where [`DensityMixture::log_pdf`] stays finite.
    ///
    /// Errors: `NonFiniteInput` (NaN), `Overflow`, `InvalidShape` (unloaded).
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network, RealSpace};
    /// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let map = MixtureMap::RealSpace(RealSpace::new([0.0], [1.0]).unwrap());
    /// let m = DensityMixture::<f64, 1, 4, 1, 2>::new(map, [MixtureComponent::new(1.0, [true], p)]).unwrap();
    /// assert!(m.pdf(&[30.0]).unwrap() > 0.0); // all of R
    /// assert!(m.pdf(&[f64::NAN]).is_err());
    /// ```
    pub fn pdf(&self, x: &[T; N]) -> Result<T, Error> {
        let Some((u, log_det)) = self.to_u(x)? else {
            return Ok(T::ZERO);
        };
        let p = self.pdf_u(&u)?;
        let v = match &self.map {
            MixtureMap::Box => p,
            MixtureMap::RealSpace(_) => p * (-log_det).exp(),
        };
        if v.is_finite() {
            Ok(v.max(T::ZERO))
        } else {
            Err(Error::Overflow)
        }
    }

    /// ln pdf(x): -inf outside a box support and where every component is 0. A log-sum-exp
    /// of the components' [`Density::log_pdf`], so it stays finite where the pdf underflows
    /// (in the tails of R^N, or where one-layer components are tiny).
    ///
    /// Errors: as for [`DensityMixture::pdf`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network, RealSpace};
    /// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let map = MixtureMap::RealSpace(RealSpace::new([0.0], [1.0]).unwrap());
    /// let m = DensityMixture::<f64, 1, 4, 1, 2>::new(map, [MixtureComponent::new(1.0, [false], p)]).unwrap();
    /// assert!((m.log_pdf(&[0.4]).unwrap() - m.pdf(&[0.4]).unwrap().ln()).abs() < 1e-13);
    /// let far = m.log_pdf(&[-800.0]).unwrap(); // the pdf itself underflows here
    /// assert!(far.is_finite() && far < -700.0);
    /// ```
    pub fn log_pdf(&self, x: &[T; N]) -> Result<T, Error> {
        let neg_inf = -(T::ONE / T::ZERO);
        let Some((u, log_det)) = self.to_u(x)? else {
            return Ok(neg_inf);
        };
        let b = self.u_box()?;
        let mut max = neg_inf;
        let mut terms = [neg_inf; K];
        for (c, t) in self.components().iter().zip(terms.iter_mut()) {
            if c.weight > T::ZERO {
                let l = c.density.log_pdf(&c.reflected(b.lower(), b.upper(), &u))?;
                *t = c.weight.ln() + l;
                if *t > max {
                    max = *t;
                }
            }
        }
        if max == neg_inf {
            return Ok(neg_inf);
        }
        let mut sum = T::ZERO;
        for t in terms.iter().take(self.len) {
            sum += (*t - max).exp();
        }
        let v = max + sum.ln() - log_det;
        if v.is_nan() {
            Err(Error::Overflow)
        } else {
            Ok(v)
        }
    }

    /// P(X <= x): the probability of the box from -inf (or the support's lower corner) to
    /// `x`.
    ///
    /// Errors: as for [`DensityMixture::box_probability`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let m = DensityMixture::<f64, 1, 4, 1, 2>::new(MixtureMap::Box, [MixtureComponent::new(1.0, [true], p)]).unwrap();
    /// assert_eq!(m.cdf(&[-1.0]).unwrap(), 0.0);
    /// assert!((m.cdf(&[2.0]).unwrap() - 1.0).abs() < 1e-14);
    /// ```
    pub fn cdf(&self, x: &[T; N]) -> Result<T, Error> {
        check_no_nan(x)?;
        self.box_probability(&[-(T::ONE / T::ZERO); N], x)
    }

    /// P(X in [lo, hi]) for any x-box (infinite bounds allowed): the box mapped to u per
    /// axis, clipped to the u-box, then sum_k w_k times component k's exact
    /// [`Density::box_probability`] over the box reflected on its axes; 0 when the clipped box
    /// is empty; clamped to [0, 1].
    ///
    /// Errors: `NonFiniteInput` (NaN), `Overflow`, `InvalidShape` (unloaded).
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let parts = [MixtureComponent::new(0.5, [true], p.clone()), MixtureComponent::new(0.5, [false], p)];
    /// let m = DensityMixture::<f64, 1, 4, 1, 2>::new(MixtureMap::Box, parts).unwrap();
    /// let left = m.box_probability(&[f64::NEG_INFINITY], &[0.3]).unwrap();
    /// let right = m.box_probability(&[0.3], &[1.0]).unwrap();
    /// assert!((left + right - 1.0).abs() < 1e-14);
    /// ```
    pub fn box_probability(&self, lo: &[T; N], hi: &[T; N]) -> Result<T, Error> {
        self.box_probability_with_bound(lo, hi).map(|b| b.value)
    }

    /// [`DensityMixture::box_probability`] with its error bound: the weighted sum of the
    /// components' [`Density::box_probability_with_bound`] errors (the exact probability of
    /// these parameters lies within `error` of the unclamped value). The corner sums cancel,
    /// so this, not a fixed tolerance, says how far two ways of summing the same mass may
    /// differ.
    ///
    /// Errors as for [`DensityMixture::box_probability`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let m = DensityMixture::<f64, 1, 4, 1, 2>::new(MixtureMap::Box, [MixtureComponent::new(1.0, [true], p)]).unwrap();
    /// let b = m.box_probability_with_bound(&[0.2], &[0.3]).unwrap();
    /// assert!(b.value > 0.0 && b.error < 1e-9);
    /// ```
    pub fn box_probability_with_bound(
        &self,
        lo: &[T; N],
        hi: &[T; N],
    ) -> Result<Bounded<T>, Error> {
        check_no_nan(lo)?;
        check_no_nan(hi)?;
        let b = self.u_box()?;
        let (ulo, uhi) = (b.lower(), b.upper());
        let mut out = Bounded {
            value: T::ZERO,
            error: T::ZERO,
            by_quadrature: false,
        };
        let mut a = [T::ZERO; N];
        let mut z = [T::ZERO; N];
        for i in 0..N {
            let (p, q) = match &self.map {
                MixtureMap::Box => (lo[i], hi[i]),
                MixtureMap::RealSpace(r) => {
                    let (c, s) = (r.centre()[i], r.scale()[i]);
                    (bound_to_u(lo[i], c, s), bound_to_u(hi[i], c, s))
                }
            };
            a[i] = p.max(ulo[i]);
            z[i] = q.min(uhi[i]);
            if a[i] >= z[i] {
                return Ok(out);
            }
        }
        for c in self.components() {
            if c.weight > T::ZERO {
                let (ra, rz) = (c.reflected(ulo, uhi, &a), c.reflected(ulo, uhi, &z));
                let p: [T; N] = core::array::from_fn(|i| ra[i].min(rz[i]));
                let q: [T; N] = core::array::from_fn(|i| ra[i].max(rz[i]));
                let r = c.density.box_probability_with_bound(&p, &q)?;
                out.value += c.weight * r.value;
                out.error += c.weight * r.error;
                out.by_quadrature |= r.by_quadrature;
            }
        }
        if !out.value.is_finite() {
            return Err(Error::Overflow);
        }
        out.value = out.value.max(T::ZERO).min(T::ONE);
        Ok(out)
    }

    /// A sample from N uniforms in [0, 1], deterministic: `uniforms[0]` picks component k by
    /// the cumulative weights and is then rescaled within k's weight interval to a fresh
    /// uniform (clamped to [0, 1]), which with the others goes to k's [`Density::sample`];
    /// the result is reflected back and mapped to x. Always in the support (for `RealSpace`,
    /// finite: [`RealSpace`] clamps u away from 0 and 1), never NaN. One uniform fewer than
    /// a separate component draw would need, at the cost of the pick's resolution: a
    /// component of weight w gets about w / ulp(1) distinct first coordinates.
    ///
    /// Errors: `NonFiniteInput` (a uniform that is NaN), `InvalidShape` (unloaded), and those
    /// of [`Density::sample`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// use finn_core::density_mixture::{DensityMixture, MixtureComponent, MixtureMap};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let parts = [MixtureComponent::new(0.5, [false], p.clone()), MixtureComponent::new(0.5, [true], p.clone())];
    /// let m = DensityMixture::<f64, 1, 4, 1, 2>::new(MixtureMap::Box, parts).unwrap();
    /// // 0.2 picks the first component and becomes its uniform 0.4.
    /// let x = m.sample(&[0.2]).unwrap();
    /// assert!((x[0] - p.sample(&[0.4]).unwrap()[0]).abs() < 1e-15);
    /// // 0.7 picks the second (reflected) one with uniform 0.4.
    /// let y = m.sample(&[0.7]).unwrap();
    /// assert!((y[0] - (1.0 - p.sample(&[0.4]).unwrap()[0])).abs() < 1e-12);
    /// ```
    pub fn sample(&self, uniforms: &[T; N]) -> Result<[T; N], Error> {
        check_no_nan(uniforms)?;
        let b = self.u_box()?;
        let parts = self.components();
        let u0 = uniforms[0];
        // The last component of positive weight takes what the rounding of the cumulative
        // sum leaves above it.
        let mut pick = None;
        let mut start = T::ZERO;
        for c in parts {
            if c.weight > T::ZERO {
                pick = Some((c, start));
                if u0 < start + c.weight {
                    break;
                }
                start += c.weight;
            }
        }
        let Some((c, start)) = pick else {
            return Err(Error::InvalidShape);
        };
        let mut v = *uniforms;
        v[0] = ((u0 - start) / c.weight).max(T::ZERO).min(T::ONE);
        let y = c.density.sample(&v)?;
        let u = c.reflected(b.lower(), b.upper(), &y);
        Ok(match &self.map {
            MixtureMap::Box => u,
            MixtureMap::RealSpace(r) => crate::DomainMap::forward(r, &u),
        })
    }
}

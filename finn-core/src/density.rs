//! Probability densities (paper §4.3): a positive FINN whose integral over its support is 1.
//!
//! The model is p(x) = s f'(x) on its support, a box D = [a, b], and 0 outside it, with f' the
//! mixed partial of a positive network F' (so p >= 0 everywhere) and s = 1 / (integral of f'
//! over D), the scale constraint of [`Finn`]. The support is part of the model: nothing is
//! implicit about what happens outside D.
//!
//! What is exact (up to rounding) and how it is computed:
//!
//! * [`Density::cdf`] and [`Density::box_probability`]: the corner sum of F over the box
//!   clipped to D (paper Eq. 4), with the rigorous error bound and the quadrature fallback of
//!   [`Finn::integral_over_with_bound`], clamped to [0, 1].
//! * Marginals (math.md §5): the density of the coordinates in a subset S is the mixed partial
//!   d_S F with the other coordinates summed over the corners of D (upper minus lower, as in
//!   Eq. 4): p_S(x_S) = sum over corners c of the rest, (-1)^(lower coordinates of c)
//!   d_S F(x_S, c). [`Network::partials`] gives every d_S F at a point from one jet pass.
//! * Conditionals for sampling: with the prefix x_0..x_(k-1) fixed,
//!   C_k(t) = G_k(t) / G_k(b_k), G_k(t) = the mixed partial over 0..k-1 of the corner sum over
//!   [a_k, t] x [a_(k+1), b_(k+1)] x ... It is non-decreasing in t, so [`Density::sample`]
//!   inverts it by bracketed Newton with bisection.
//!
//! # Accuracy (measured; `cargo test -p finn-core --test density`)
//!
//! The corner sums cancel: their rounding is a few ulps of the sum of the corner magnitudes,
//! not of the result (math.md §8), and it is large where F is large and f' nearly constant
//! along the summed axes (small weights give a large scale s). Every quantity that is a corner
//! sum therefore comes with its error: [`Density::box_probability_with_bound`] (rigorous),
//! [`Density::marginal_pdf_with_bound`] and [`Density::conditional_cdf_with_bound`]
//! (estimates from the measured activation error). The tests check every figure against
//! these errors, on random positive networks (1 or 2 hidden layers of width <= 4, weight
//! magnitudes 0.2 to 2, supports of side 0.5 to 2.5, n = 1..3):
//!
//! * subset partials d_S F against nested dual numbers: 1e-12 relative (f64);
//! * marginal pdfs against Gauss-Legendre quadrature of the pdf over the other axes, and
//!   conditional CDFs against ratios of quadratures: within their error plus 1e-10 (1e-9);
//! * total probability 1 and box additivity within the bounds; the marginal densities
//!   integrate to 1 within the normalisation's own bound (a scale resolved in f64 from a
//!   cancelling corner sum can be 2.5e-9 off on such models: math.md §8);
//! * `log_pdf` = ln(pdf) within 1e-12 relative wherever pdf is normal; an f32 one-layer
//!   model's `log_pdf` within 2e-6 relative of the f64 one where its f32 pdf is already 0.
//!
//! Sampler (10,000 samples on each of 200 random n = 2 models, release build): |C_k(x_k) -
//! u_k| at most 3.7e-12 (one hidden layer) and 1.3e-10 (two) in f64, always within the
//! conditional CDF's error; in f32 within that error too, which reaches 2.6e-3 (one layer)
//! and 0.17 (two layers, badly conditioned models: resolve the constants in f64). Mean 9.6
//! CDF evaluations per 2-D sample, at most 11 on one axis, never the cap. 100,000 samples
//! of a two-layer model pass a chi-square test against its own box probabilities on an 8 x 8
//! grid (chi^2 = 69.8 at 63 degrees of freedom) in 2.7 s.
//!
//! Trained models can cancel far more: F's gauge terms (functions of fewer coordinates, which
//! cancel in every vertex sum) grow large next to a thin slice's mass. On a ring mixture
//! trained by finn-train (before its start's fix of 2026-12-03) f64's bound of C_k exceeded
//! 1e-6 on 11 % of 100,000 samples, and the worst sample missed its uniform by 2.3e-3; on the
//! shipped mixtures the worst miss is 1.8e-6 (proven by recomputing C_k in double-double:
//! finn-train's `density::sampling`, docs/density.md).

use crate::activation::MAX_DIM;
use crate::constraint::{Bound, Bounded, Method};
use crate::jet::{compose, weight_products, Dim, JetDim};
use crate::network::{Depth, HiddenBlocks, Kind, Network};
use crate::{error::finite, Antiderivative, Domain, Error, Finn, Real};

/// The jet of every mixed partial d_S F over the subsets S of the N inputs (`[T; 2^N]`).
pub type Partials<T, const N: usize> = <Dim<N> as JetDim>::Jet<T>;

impl<T: Real, const N: usize, const W: usize, const L: usize> Network<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Every mixed partial of F at `x`: entry S (bit i set when input i is in S) is
    /// d_S F(x), the derivative once in each input of S, the others held at their values.
    /// Entry 0 is F(x), the last entry is f(x). Marginal and conditional densities need the
    /// partials over proper subsets ([`Density::marginal_pdf`]).
    ///
    /// One pass of the jet machinery ([`crate::jet`]): the first layer in closed form,
    /// Faa di Bruno ([`compose`]) through deeper layers. For a positive network every entry
    /// but F itself is >= 0 (math.md §2).
    ///
    /// Errors as for [`Antiderivative::integrand`].
    ///
    /// ```
    /// use finn_core::{Antiderivative, Network};
    /// let params = [0.5, 1.0, 2.0, 0.3, 0.1, -0.2, 1.0, 0.7];
    /// let net = Network::<f64, 2, 4, 1>::positive(&[2], &params).unwrap();
    /// let d = net.partials(&[0.1, 0.2]).unwrap();
    /// assert_eq!(d.len(), 4);
    /// assert!((d[0] - net.antiderivative(&[0.1, 0.2]).unwrap()).abs() < 1e-15);
    /// assert!((d[3] - net.integrand(&[0.1, 0.2]).unwrap()).abs() < 1e-15);
    /// assert!(d[1] >= 0.0 && d[2] >= 0.0);
    /// ```
    pub fn partials(&self, x: &[T]) -> Result<Partials<T, N>, Error> {
        self.partials_at(&crate::point::<T, N>(x)?)
    }

    /// [`Network::partials`] at a checked point.
    pub(crate) fn partials_at(&self, x: &[T; N]) -> Result<Partials<T, N>, Error> {
        let zero = <Dim<N> as JetDim>::zero::<T>();
        let mut out = zero;
        let mut d = [T::ZERO; MAX_DIM + 1];
        let w0 = self.first_width();
        if self.widths.len() <= 1 {
            // One hidden layer: [sigma(z_j)]_S = sigma^(|S|)(z_j) prod_(i in S) w_ji.
            let mut wp = zero;
            for j in 0..w0 {
                let z = self.first_preactivation(j, x);
                self.activation.derivatives(N, z, &mut d[..N + 1])?;
                weight_products(&self.first[j], wp.as_mut())?;
                let a = self.output[j];
                for (s, (o, w)) in out.as_mut().iter_mut().zip(wp.as_ref()).enumerate() {
                    *o += a * d[s.count_ones() as usize] * *w;
                }
            }
        } else {
            let mut prev = [zero; W];
            for (j, jet) in prev.iter_mut().enumerate().take(w0) {
                let z = self.first_preactivation(j, x);
                self.activation.derivatives(N, z, &mut d[..N + 1])?;
                let jet = jet.as_mut();
                weight_products(&self.first[j], jet)?;
                for (s, c) in jet.iter_mut().enumerate() {
                    *c *= d[s.count_ones() as usize];
                }
            }
            let mut next = [zero; W];
            let widths = self.layers();
            for l in 1..widths.len() {
                let fan_in = widths[l - 1];
                for k in 0..widths[l] {
                    let mut u = zero;
                    let uu = u.as_mut();
                    uu[0] = self.biases[l][k];
                    for (w, pj) in self.weights_into(l)[k].iter().zip(&prev).take(fan_in) {
                        for (c, p) in uu.iter_mut().zip(pj.as_ref()) {
                            *c += *w * *p;
                        }
                    }
                    self.activation.derivatives(N, uu[0], &mut d[..N + 1])?;
                    compose_outlined::<T, N>(&d, uu, next[k].as_mut())?;
                }
                core::mem::swap(&mut prev, &mut next);
            }
            for (a, pj) in self.output.iter().zip(&prev).take(self.last_width()) {
                for (o, p) in out.as_mut().iter_mut().zip(pj.as_ref()) {
                    *o += *a * *p;
                }
            }
        }
        for v in out.as_ref() {
            finite(*v)?;
        }
        Ok(out)
    }

    /// ln f(x) for a positive network with one hidden layer, without forming f:
    /// f = sum_j a_j exp(-z_j^2) / sqrt(pi) prod_i w_ji, so ln f is a log-sum-exp of
    /// ln a_j + sum_i ln w_ji - z_j^2 - ln(pi)/2, finite far beyond where f underflows.
    /// `None` for other networks.
    pub(crate) fn log_integrand_one_layer(&self, x: &[T; N]) -> Option<T> {
        if self.widths.len() > 1 || self.kind != Kind::Positive {
            return None;
        }
        let mut terms = [T::ZERO; W];
        let mut alive = [false; W];
        let mut max = T::ZERO;
        let mut any = false;
        for j in 0..self.first_width() {
            let a = self.output[j];
            if a <= T::ZERO || self.first[j].iter().any(|w| *w <= T::ZERO) {
                continue;
            }
            let z = self.first_preactivation(j, x);
            let mut t = a.ln() - z * z;
            for w in &self.first[j] {
                t += w.ln();
            }
            if !t.is_finite() {
                continue;
            }
            terms[j] = t;
            alive[j] = true;
            if !any || t > max {
                max = t;
            }
            any = true;
        }
        if !any {
            return Some(T::ZERO.ln());
        }
        let mut sum = T::ZERO;
        for j in 0..self.first_width() {
            if alive[j] {
                sum += (terms[j] - max).exp();
            }
        }
        let half_ln_pi = T::from_f64(0.572_364_942_924_700_1);
        Some(max + sum.ln() - half_ln_pi)
    }
}

/// [`compose`] (not the last layer) as a call. Inlined into the subset partials, whose loops
/// the compiler now unrolls over the layers, its temporaries added some 170 bytes to the
/// deepest frame of a density sample on the device (`Density::axis_terms`).
#[inline(never)]
fn compose_outlined<T: Real, const N: usize>(d: &[T], u: &[T], out: &mut [T]) -> Result<(), Error>
where
    Dim<N>: JetDim,
{
    compose::<T, N>(d, u, out, false)
}

/// Counters of one call of [`Density::sample_with_stats`].
///
/// ```
/// let s = finn_core::SampleStats::default();
/// assert_eq!(s.evaluations, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Evaluations of the conditional CDF (one jet per corner each), over all axes.
    pub evaluations: usize,
    /// The most evaluations spent on one axis.
    pub max_axis_evaluations: usize,
    /// Axes whose conditional mass was zero (within rounding): sampled uniformly instead.
    pub degenerate_axes: usize,
    /// Axes that stopped at the iteration cap before meeting the tolerance (the result is
    /// still inside the bracket, hence inside the support).
    pub capped_axes: usize,
}

/// A probability density: a positive [`Finn`] whose integral over its support (the model's
/// [`Domain`]) is fixed to 1 by the scale constraint; 0 outside the support.
///
/// See the [module documentation](self) for the formulas and measured accuracy.
///
/// ```
/// use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
/// let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
/// let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
/// let support = Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap();
/// let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
/// let p = Density::new(Finn::new(net, support, Some(one)).unwrap()).unwrap();
/// assert!((p.box_probability(&[-5.0, -5.0], &[5.0, 5.0]).unwrap() - 1.0).abs() < 1e-13);
/// assert_eq!(p.pdf(&[3.0, 0.0]).unwrap(), 0.0);
/// let x = p.sample(&[0.3, 0.8]).unwrap();
/// assert!(p.support().contains(&x));
/// ```
#[derive(Clone, Debug)]
pub struct Density<T: Real, const N: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    model: Finn<T, N, W, L>,
}

/// Neumaier's compensated sum, for the corner sums of marginals and conditionals.
#[derive(Clone, Copy)]
struct Sum<T: Real> {
    sum: T,
    comp: T,
    magnitude: T,
}

impl<T: Real> Sum<T> {
    fn new() -> Self {
        Sum {
            sum: T::ZERO,
            comp: T::ZERO,
            magnitude: T::ZERO,
        }
    }
    fn add(&mut self, term: T) {
        self.magnitude += term.abs();
        let t = self.sum + term;
        self.comp += if self.sum.abs() >= term.abs() {
            (self.sum - t) + term
        } else {
            (term - t) + self.sum
        };
        self.sum = t;
    }
    fn value(&self) -> T {
        self.sum + self.comp
    }
}

/// The corner sums of one axis of the sampler at one value t: the conditional CDF's numerator
/// part G(t) + G(a) and its derivative in t, with their magnitudes.
#[derive(Clone, Copy)]
struct AxisTerms<T: Real> {
    value: T,
    slope: T,
    magnitude: T,
}

/// An axis's conditional CDF, set up once per prefix: C(t) = (terms(t) - at_lower) / mass.
#[derive(Clone, Copy)]
struct Axis<T: Real> {
    at_lower: T,
    mass: T,
    magnitude: T,
    degenerate: bool,
}

fn check_no_nan<T: Real>(x: &[T]) -> Result<(), Error> {
    if x.iter().any(|v| v.is_nan()) {
        Err(Error::NonFiniteInput)
    } else {
        Ok(())
    }
}

/// Mantissa bits of `T` (52 or 23), from its epsilon.
fn mantissa_bits<T: Real>() -> usize {
    if T::EPSILON.to_f64() < 1e-10 {
        52
    } else {
        23
    }
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Density<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Wraps a model that is a density: a positive network, with the constraint
    /// `Bound::Equal`, `Method::Scale`, eps = 1 over its domain (the support).
    ///
    /// Errors: `NotADensity` otherwise (a signed network, no constraint, another bound,
    /// method or eps).
    ///
    /// ```
    /// use finn_core::{Bound, Constraint, Density, Domain, Error, Finn, Method, Network};
    /// let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let d = Domain::new([0.0], [2.0]).unwrap();
    /// let two = Constraint::new(Bound::Equal, Method::Scale, 2.0);
    /// let model = Finn::new(net, d, Some(two)).unwrap();
    /// assert_eq!(Density::new(model).unwrap_err(), Error::NotADensity);
    /// ```
    pub fn new(model: Finn<T, N, W, L>) -> Result<Self, Error> {
        if Self::is_density(&model) {
            Ok(Density { model })
        } else {
            Err(Error::NotADensity)
        }
    }

    /// Whether `model` is a density: positive, `Equal`, `Scale`, eps = 1, a positive scale.
    pub(crate) fn is_density(model: &Finn<T, N, W, L>) -> bool {
        model.network().kind() == Kind::Positive
            && matches!(
                model.constraint(),
                Some(c) if c.bound == Bound::Equal && c.method == Method::Scale && c.eps == T::ONE
            )
            && model.constants().scale > T::ZERO
    }

    /// A density with nothing loaded, for a `static` that a density blob is loaded into in
    /// place ([`ModelView::load_density_into`](crate::format::ModelView::load_density_into)):
    /// every byte is zero, so the static lives in `.bss`. Evaluating it before a successful
    /// load is an error (`InvalidShape`).
    ///
    /// ```
    /// use finn_core::{Density, Error};
    /// let p = Density::<f32, 2, 8, 2>::unloaded();
    /// assert_eq!(p.pdf(&[0.5, 0.5]).unwrap_err(), Error::InvalidShape);
    /// assert_eq!(p.sample(&[0.5, 0.5]).unwrap_err(), Error::InvalidShape);
    /// ```
    pub const fn unloaded() -> Self {
        Density {
            model: Finn::unloaded(),
        }
    }

    /// The model, to load in place (the loader checks [`Density::is_density`] after).
    pub(crate) fn finn_mut(&mut self) -> &mut Finn<T, N, W, L> {
        &mut self.model
    }

    /// Marks the density unloaded (evaluating it is then an error), without touching the
    /// weights.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Error, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// let mut p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// assert!(p.pdf(&[1.0]).is_ok());
    /// p.unload();
    /// assert_eq!(p.pdf(&[1.0]).unwrap_err(), Error::InvalidShape);
    /// ```
    pub fn unload(&mut self) {
        self.model.unload();
    }

    /// The underlying model (F, f, integrals).
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network, Antiderivative};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// assert!((p.finn().integral().unwrap() - 1.0).abs() < 1e-14);
    /// ```
    pub fn finn(&self) -> &Finn<T, N, W, L> {
        &self.model
    }

    /// The support D: pdf = 0 outside it.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// assert_eq!(p.support().upper(), &[2.0]);
    /// ```
    pub fn support(&self) -> &Domain<T, N> {
        self.model.domain()
    }

    /// All mixed partials of the scaled F = s F' at a point.
    fn jet(&self, x: &[T; N]) -> Result<Partials<T, N>, Error> {
        let s = self.model.constants().scale;
        let mut j = self.model.network().partials_at(x)?;
        for v in j.as_mut() {
            *v = finite(*v * s)?;
        }
        Ok(j)
    }

    /// The density at `x`: s f'(x) in the (closed) support, 0 outside it (infinite
    /// coordinates are outside). Never negative.
    ///
    /// Errors: `NonFiniteInput` for NaN, `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// assert!(p.pdf(&[1.0]).unwrap() > 0.0);
    /// assert_eq!(p.pdf(&[-0.1]).unwrap(), 0.0);
    /// assert_eq!(p.pdf(&[f64::INFINITY]).unwrap(), 0.0);
    /// assert!(p.pdf(&[f64::NAN]).is_err());
    /// ```
    pub fn pdf(&self, x: &[T; N]) -> Result<T, Error> {
        self.model.check_loaded()?;
        check_no_nan(x)?;
        if !self.support().contains(x) {
            return Ok(T::ZERO);
        }
        Ok(self.model.integrand(x)?.max(T::ZERO))
    }

    /// ln pdf(x): -inf outside the support (and where the density is exactly 0).
    ///
    /// For a network with one hidden layer it is computed without forming f, as a
    /// log-sum-exp over the hidden units, so it stays finite and accurate (to a few ulps of
    /// the largest |z_j|^2) where f itself underflows: an f32 model keeps an accurate
    /// `log_pdf` down to densities around e^-(10^37). Deeper networks return ln(pdf): exact
    /// to a few ulps while pdf is a normal number, and -inf once it underflows (never NaN).
    ///
    /// Errors: `NonFiniteInput` for NaN, `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let l = p.log_pdf(&[1.0]).unwrap();
    /// assert!((l - p.pdf(&[1.0]).unwrap().ln()).abs() < 1e-14);
    /// assert_eq!(p.log_pdf(&[5.0]).unwrap(), f64::NEG_INFINITY);
    /// ```
    pub fn log_pdf(&self, x: &[T; N]) -> Result<T, Error> {
        self.model.check_loaded()?;
        check_no_nan(x)?;
        let neg_inf = -(T::ONE / T::ZERO);
        if !self.support().contains(x) {
            return Ok(neg_inf);
        }
        if let Some(l) = self.model.network().log_integrand_one_layer(x) {
            let v = self.model.constants().scale.ln() + l;
            return if v.is_nan() {
                Err(Error::Overflow)
            } else {
                Ok(v)
            };
        }
        let p = self.pdf(x)?;
        Ok(if p > T::ZERO { p.ln() } else { neg_inf })
    }

    /// P(X <= x): the probability of the box [a, x] clipped to the support (0 when some
    /// x_i <= a_i, 1 when x >= b).
    ///
    /// Errors: `NonFiniteInput` for NaN, `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// assert_eq!(p.cdf(&[-1.0]).unwrap(), 0.0);
    /// assert!((p.cdf(&[9.0]).unwrap() - 1.0).abs() < 1e-14);
    /// let c = p.cdf(&[1.0]).unwrap();
    /// assert!(c > 0.0 && c < 1.0);
    /// ```
    pub fn cdf(&self, x: &[T; N]) -> Result<T, Error> {
        check_no_nan(x)?;
        self.box_probability(self.support().lower(), x)
    }

    /// P(X in [lo, hi]) for any box: clipped to the support, 0 when the clipped box is empty
    /// (including lo >= hi on some axis), clamped to [0, 1]. Infinite bounds are allowed.
    ///
    /// Errors: `NonFiniteInput` for NaN, `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let left = p.box_probability(&[f64::NEG_INFINITY], &[0.7]).unwrap();
    /// let right = p.box_probability(&[0.7], &[3.0]).unwrap();
    /// assert!((left + right - 1.0).abs() < 1e-14);
    /// assert_eq!(p.box_probability(&[5.0], &[6.0]).unwrap(), 0.0);
    /// ```
    pub fn box_probability(&self, lo: &[T; N], hi: &[T; N]) -> Result<T, Error> {
        self.box_probability_with_bound(lo, hi).map(|b| b.value)
    }

    /// [`Density::box_probability`] with the error bound of
    /// [`Finn::integral_over_with_bound`] (the exact probability of this model's parameters
    /// lies within `error` of the unclamped value; clamping to [0, 1] only moves it closer).
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let b = p.box_probability_with_bound(&[0.5], &[0.5001]).unwrap();
    /// assert!(b.value >= 0.0 && b.error < 1e-12);
    /// ```
    pub fn box_probability_with_bound(
        &self,
        lo: &[T; N],
        hi: &[T; N],
    ) -> Result<Bounded<T>, Error> {
        self.model.check_loaded()?;
        check_no_nan(lo)?;
        check_no_nan(hi)?;
        let (a, b) = (self.support().lower(), self.support().upper());
        let l: [T; N] = core::array::from_fn(|i| lo[i].max(a[i]));
        let h: [T; N] = core::array::from_fn(|i| hi[i].min(b[i]));
        if (0..N).any(|i| l[i] >= h[i]) {
            return Ok(Bounded {
                value: T::ZERO,
                error: T::ZERO,
                by_quadrature: false,
            });
        }
        let mut r = self.model.integral_over_with_bound(&l, &h)?;
        r.value = r.value.max(T::ZERO).min(T::ONE);
        Ok(r)
    }

    /// Checks a coordinate mask (bit i = coordinate i) against N.
    fn check_mask(mask: usize) -> Result<(), Error> {
        if N < usize::BITS as usize && mask >> N != 0 {
            return Err(Error::DimensionMismatch {
                expected: N,
                found: (usize::BITS - mask.leading_zeros()) as usize,
            });
        }
        Ok(())
    }

    /// The marginal density of the coordinates in `mask` (bit i set for coordinate i) at
    /// those coordinates of `x` (the others are ignored): the mixed partial over the subset
    /// of F, summed over the corners of the support in the other coordinates (module docs).
    /// 0 when a masked coordinate is outside the support. `mask` = all coordinates gives
    /// [`Density::pdf`]; an empty mask gives the total probability (1).
    ///
    /// Exact up to the rounding of a corner sum of 2^(n - |mask|) terms (measured in the
    /// module docs); a tiny negative result of cancellation is returned as 0.
    ///
    /// Errors: `DimensionMismatch` (a bit at or above N), `NonFiniteInput` (a masked NaN),
    /// `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// // The marginal of x_0 at 0.2, by the midpoint rule over x_1 as a rough check.
    /// let m = p.marginal_pdf(0b01, &[0.2, 123.0]).unwrap();
    /// let steps = 2000;
    /// let q: f64 = (0..steps).map(|i| p.pdf(&[0.2, -1.0 + (i as f64 + 0.5) * 2.0 / steps as f64]).unwrap()).sum::<f64>() * 2.0 / steps as f64;
    /// assert!((m - q).abs() < 1e-5);
    /// assert!((p.marginal_pdf(0, &[0.0, 0.0]).unwrap() - 1.0).abs() < 1e-13);
    /// ```
    pub fn marginal_pdf(&self, mask: usize, x: &[T; N]) -> Result<T, Error> {
        self.marginal_pdf_with_bound(mask, x).map(|b| b.value)
    }

    /// [`Density::marginal_pdf`] with an estimate of its rounding error:
    /// e M + 2 u_T |value|, M the sum of the corner terms' magnitudes and e the relative error
    /// of one jet entry (the activation's measured error plus (8 m + 64 (n + depth)) u_T for
    /// m corner terms). An estimate, not a proof: it rests on the measured activation error.
    /// It is large exactly where the corner sum cancels (f' nearly constant along the summed
    /// axes while F is large: math.md §8).
    ///
    /// Errors as for [`Density::marginal_pdf`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let m = p.marginal_pdf_with_bound(0b10, &[0.0, 0.4]).unwrap();
    /// assert!(m.value > 0.0 && m.error < 1e-9 * m.value);
    /// ```
    pub fn marginal_pdf_with_bound(&self, mask: usize, x: &[T; N]) -> Result<Bounded<T>, Error> {
        self.model.check_loaded()?;
        Self::check_mask(mask)?;
        let (a, b) = (self.support().lower(), self.support().upper());
        let mut point = [T::ZERO; N];
        let zero = Bounded {
            value: T::ZERO,
            error: T::ZERO,
            by_quadrature: false,
        };
        for i in 0..N {
            if mask >> i & 1 == 1 {
                if x[i].is_nan() {
                    return Err(Error::NonFiniteInput);
                }
                if x[i] < a[i] || x[i] > b[i] {
                    return Ok(zero);
                }
                point[i] = x[i];
            }
        }
        let rest = !mask & ((1usize << N) - 1);
        let mut sum = Sum::new();
        let mut c = rest;
        loop {
            for i in 0..N {
                if rest >> i & 1 == 1 {
                    point[i] = if c >> i & 1 == 1 { b[i] } else { a[i] };
                }
            }
            let v = self.jet(&point)?.as_ref()[mask];
            let lower_count = (rest & !c).count_ones();
            sum.add(if lower_count % 2 == 1 { -v } else { v });
            if c == 0 {
                break;
            }
            c = (c - 1) & rest;
        }
        let value = finite(sum.value())?;
        let terms = 1usize << rest.count_ones();
        let error =
            self.term_error(terms) * sum.magnitude + T::from_f64(2.0) * T::EPSILON * value.abs();
        Ok(Bounded {
            value: value.max(T::ZERO),
            error: finite(error)?,
            by_quadrature: false,
        })
    }

    /// The relative error of one jet entry in a corner sum of `terms` terms (see
    /// [`Density::marginal_pdf_with_bound`]).
    fn term_error(&self, terms: usize) -> T {
        let net = self.model.network();
        let ops = 8 * terms + 64 * (N + net.widths().len());
        crate::bound::activation_error::<T>(net.activation()) + T::from_usize(ops) * T::EPSILON
    }

    /// The marginal CDF of the coordinates in `mask`: P(X_i <= x_i for i in mask), the
    /// probability of the box that is [a_i, x_i] on the masked axes and the whole support on
    /// the others ([`Density::box_probability`]).
    ///
    /// Errors: `DimensionMismatch` (a bit at or above N), `NonFiniteInput` (a masked NaN),
    /// `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let c = p.marginal_cdf(0b10, &[f64::NAN, 0.3]).unwrap();
    /// assert_eq!(c, p.cdf(&[1.0, 0.3]).unwrap());
    /// ```
    pub fn marginal_cdf(&self, mask: usize, x: &[T; N]) -> Result<T, Error> {
        Self::check_mask(mask)?;
        let b = *self.support().upper();
        let mut hi = b;
        for i in 0..N {
            if mask >> i & 1 == 1 {
                if x[i].is_nan() {
                    return Err(Error::NonFiniteInput);
                }
                hi[i] = x[i];
            }
        }
        self.box_probability(self.support().lower(), &hi)
    }

    /// The corner sums of axis `k` at `point` (coordinates 0..k-1 the prefix, k the value
    /// t; the rest are overwritten with corners): sum over the corners c of axes > k of
    /// (-1)^(lower coordinates of c) d_P F, and of d_(P+k) F, P = {0..k-1}.
    fn axis_terms(&self, k: usize, point: &mut [T; N]) -> Result<AxisTerms<T>, Error> {
        let (a, b) = (self.support().lower(), self.support().upper());
        let prefix = (1usize << k) - 1;
        let with_k = prefix | 1 << k;
        let rest_count = N - k - 1;
        let (mut value, mut slope) = (Sum::new(), Sum::new());
        for c in 0..(1usize << rest_count) {
            for r in 0..rest_count {
                let i = k + 1 + r;
                point[i] = if c >> r & 1 == 1 { b[i] } else { a[i] };
            }
            let j = self.jet(point)?;
            let negative = (rest_count - c.count_ones() as usize) % 2 == 1;
            let (v, s) = (j.as_ref()[prefix], j.as_ref()[with_k]);
            value.add(if negative { -v } else { v });
            slope.add(if negative { -s } else { s });
        }
        Ok(AxisTerms {
            value: finite(value.value())?,
            slope: finite(slope.value())?,
            magnitude: finite(value.magnitude)?,
        })
    }

    /// Sets up the conditional CDF of axis `k` given the prefix in `point[..k]`.
    fn axis(&self, k: usize, point: &mut [T; N]) -> Result<Axis<T>, Error> {
        let (a, b) = (self.support().lower(), self.support().upper());
        point[k] = a[k];
        let low = self.axis_terms(k, point)?;
        point[k] = b[k];
        let high = self.axis_terms(k, point)?;
        let mass = finite(high.value - low.value)?;
        let magnitude = low.magnitude + high.magnitude;
        let terms = T::from_usize(1usize << (N - k));
        // Mass within the rounding of its own corner sum is indistinguishable from 0.
        let degenerate =
            !(mass.is_finite() && mass > T::from_f64(8.0) * terms * T::EPSILON * magnitude);
        Ok(Axis {
            at_lower: low.value,
            mass,
            magnitude,
            degenerate,
        })
    }

    /// The conditional CDF of coordinate `k` given coordinates 0..k-1:
    /// C_k(x_k | x_0..x_(k-1)), read from `x[..=k]` (later entries are ignored; the prefix is
    /// clipped to the support). 0 below the support, 1 above it, non-decreasing in x_k. Where
    /// the prefix has zero mass (within rounding) the conditional is taken as uniform on
    /// [a_k, b_k], as [`Density::sample`] does.
    ///
    /// Errors: `DimensionMismatch` (k >= N), `NonFiniteInput` (NaN in `x[..=k]`), `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// // k = 0 is the marginal CDF of x_0.
    /// let c0 = p.conditional_cdf(0, &[0.3, 0.0]).unwrap();
    /// assert!((c0 - p.marginal_cdf(0b01, &[0.3, 0.0]).unwrap()).abs() < 1e-13);
    /// let c1 = p.conditional_cdf(1, &[0.3, 0.5]).unwrap();
    /// assert!(c1 > 0.0 && c1 < 1.0);
    /// ```
    pub fn conditional_cdf(&self, k: usize, x: &[T; N]) -> Result<T, Error> {
        self.conditional_cdf_with_bound(k, x).map(|b| b.value)
    }

    /// [`Density::conditional_cdf`] with an estimate of its rounding error, as for
    /// [`Density::marginal_pdf_with_bound`]: (e M_num + C e M_den) / mass for the corner sums
    /// of numerator and denominator. 0 at and beyond the ends of the axis; 1 (no information)
    /// where the prefix has zero mass and the uniform stands in. The sampler meets
    /// C_k(x_k) = u_k to within this error.
    ///
    /// Errors as for [`Density::conditional_cdf`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let c = p.conditional_cdf_with_bound(1, &[0.3, 0.5]).unwrap();
    /// assert!(c.error < 1e-9);
    /// ```
    pub fn conditional_cdf_with_bound(&self, k: usize, x: &[T; N]) -> Result<Bounded<T>, Error> {
        self.model.check_loaded()?;
        if k >= N {
            return Err(Error::DimensionMismatch {
                expected: N,
                found: k + 1,
            });
        }
        check_no_nan(&x[..=k])?;
        let (a, b) = (self.support().lower(), self.support().upper());
        let exact = |value| Bounded {
            value,
            error: T::ZERO,
            by_quadrature: false,
        };
        let t = x[k];
        if t <= a[k] {
            return Ok(exact(T::ZERO));
        }
        if t >= b[k] {
            return Ok(exact(T::ONE));
        }
        let mut point: [T; N] = core::array::from_fn(|i| x[i].max(a[i]).min(b[i]));
        let axis = self.axis(k, &mut point)?;
        if axis.degenerate {
            return Ok(Bounded {
                value: (t - a[k]) / (b[k] - a[k]),
                error: T::ONE,
                by_quadrature: false,
            });
        }
        point[k] = t;
        let at = self.axis_terms(k, &mut point)?;
        let value = ((at.value - axis.at_lower) / axis.mass)
            .max(T::ZERO)
            .min(T::ONE);
        let e = self.term_error(2usize << (N - k - 1));
        let error = e * (at.magnitude + axis.magnitude * (T::ONE + value)) / axis.mass
            + T::from_f64(4.0) * T::EPSILON;
        Ok(Bounded {
            value,
            error: finite(error)?,
            by_quadrature: false,
        })
    }

    /// A sample from n uniforms in [0, 1] by sequential inversion: x_0 = C_0^-1(u_0), then
    /// x_k = C_k^-1(u_k | x_0..x_(k-1)). Deterministic; the result is always inside the
    /// support and never NaN. Uniforms are clamped to [0, 1] (u = 0 gives the lower end of
    /// the axis, u = 1 the upper end).
    ///
    /// Each axis is solved by bracketed Newton (Numerical Recipes' `rtsafe` rule: a Newton
    /// step is taken when it stays inside the bracket and at least halves the previous
    /// step, otherwise the bracket is bisected) and stops when
    /// * |G(t) - u G(b)| <= 8 m u_T M (m corner terms, u_T the unit roundoff, M their
    ///   magnitude: the CDF is met to its own rounding), or
    /// * the bracket or the last step is below tol_x = 4 u_T max(b - a, |a|, |b|), or
    /// * after the cap of 2 (p + 4) evaluations (p = 52 for f64, 23 for f32). Plain bisection
    ///   would need ceil(log2((b - a) / tol_x)) <= p - 2 steps (zuko's ceil(log2(2B/eps)));
    ///   Newton needs about 5 on smooth densities (measured in the module docs).
    ///
    /// An axis whose conditional mass is zero within rounding (a zero-mass slab) is sampled
    /// uniformly: x_k = a_k + u_k (b_k - a_k).
    ///
    /// Errors: `NonFiniteInput` (a NaN or infinite uniform), `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let u = [0.25, 0.75];
    /// let x = p.sample(&u).unwrap();
    /// assert!((p.conditional_cdf(0, &x).unwrap() - u[0]).abs() < 1e-12);
    /// assert!((p.conditional_cdf(1, &x).unwrap() - u[1]).abs() < 1e-12);
    /// ```
    pub fn sample(&self, uniforms: &[T; N]) -> Result<[T; N], Error> {
        self.sample_with_stats(uniforms).map(|(x, _)| x)
    }

    /// [`Density::sample`] with the solver's counters.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let (x, stats) = p.sample_with_stats(&[0.4]).unwrap();
    /// assert!(stats.max_axis_evaluations <= 12 && stats.capped_axes == 0);
    /// assert!((p.cdf(&x).unwrap() - 0.4).abs() < 1e-12);
    /// ```
    pub fn sample_with_stats(&self, uniforms: &[T; N]) -> Result<([T; N], SampleStats), Error> {
        self.model.check_loaded()?;
        if uniforms.iter().any(|u| !u.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        let (a, b) = (*self.support().lower(), *self.support().upper());
        let mut stats = SampleStats::default();
        let mut point = a;
        let cap = 2 * (mantissa_bits::<T>() + 4);
        let half = T::from_f64(0.5);
        for k in 0..N {
            let u = uniforms[k].max(T::ZERO).min(T::ONE);
            let (ak, bk) = (a[k], b[k]);
            let axis = self.axis(k, &mut point)?;
            if axis.degenerate {
                point[k] = (ak + u * (bk - ak)).max(ak).min(bk);
                stats.degenerate_axes += 1;
                continue;
            }
            let target = u * axis.mass;
            let tol_x = T::from_f64(4.0) * T::EPSILON * (bk - ak).max(ak.abs()).max(bk.abs());
            let terms = T::from_usize(1usize << (N - k));
            let (mut lo, mut hi) = (ak, bk);
            let mut t = (ak + u * (bk - ak)).max(ak).min(bk);
            let (mut step, mut step_before) = (bk - ak, bk - ak);
            let mut evaluations = 0;
            let mut met = false;
            while evaluations < cap {
                evaluations += 1;
                point[k] = t;
                let at = self.axis_terms(k, &mut point)?;
                let r = (at.value - axis.at_lower) - target;
                let tol_g = T::from_f64(8.0) * terms * T::EPSILON * (at.magnitude + axis.magnitude);
                if r < T::ZERO {
                    lo = t;
                } else if r > T::ZERO {
                    hi = t;
                }
                if r.abs() <= tol_g || hi - lo <= tol_x || step.abs() <= tol_x {
                    met = true;
                    break;
                }
                let newton = t - r / at.slope;
                let accept = at.slope > T::ZERO
                    && newton.is_finite()
                    && newton > lo
                    && newton < hi
                    && (r / at.slope).abs() * T::from_f64(2.0) <= step_before.abs();
                step_before = step;
                if accept {
                    step = t - newton;
                    t = newton;
                } else {
                    step = (hi - lo) * half;
                    t = lo + step;
                }
            }
            if !met {
                stats.capped_axes += 1;
            }
            point[k] = t.max(ak).min(bk);
            stats.evaluations += evaluations;
            stats.max_axis_evaluations = stats.max_axis_evaluations.max(evaluations);
        }
        Ok((point, stats))
    }
}

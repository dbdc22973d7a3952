//! Bounded-deviation models (paper §4.1): phi(x) = psi(x) + f(x) d(x), a base psi corrected by a
//! positive FINN f times a direction d with |d| <= 1, so that the total deviation
//!
//! J(psi, phi) = integral over the domain of |phi(x) - psi(x)| dx
//!             = integral of f(x) |d(x)| dx <= integral of f = at most eps
//!
//! holds by construction, whatever the parameters.
//!
//! * The base psi: R^n -> R^m is a [`Base`]: a [`Polynomial`] of any total degree (affine is
//!   degree 1), or your own type.
//! * The magnitude f is a positive [`Finn`] (f >= 0 everywhere, math.md §2) with the integral
//!   constraint "at most eps" imposed by scaling, so its integral over the domain is exact and
//!   at most eps ([`BoundedDeviation::deviation_bound`] recomputes it, with its rounding
//!   error).
//! * The direction is a [`Direction`]: the built-in [`NetworkDirection`] maps m signed
//!   networks nu(x) to d = nu / sqrt(|nu|^2 + s^2), a smooth stand-in for nu / |nu| that is
//!   safe where nu = 0 (the paper's nu / |nu| is undefined there). Whatever a direction
//!   returns, the model rescales it to |d| <= 1 before use, so the guarantee holds for user
//!   directions too.
//!
//! Erratum (math.md §5): the paper constrains the integral of f to sqrt(eps), which gives
//! J <= sqrt(eps) > eps when eps < 1; here the integral of f is constrained to eps itself.
//!
//! Outside its domain the model is its base (the correction lives on the domain, like a
//! density's support): J over all of R^n is the same bound. A mapped domain
//! ([`crate::DomainMap`], paper §3.2) is [`MappedDeviation`].
//!
//! ```
//! use finn_core::deviation::{BoundedDeviation, NetworkDirection, Polynomial};
//! use finn_core::{Activation, Bound, Constraint, Domain, Finn, Method, Network};
//! // psi(x) = 1 + 2 x on [0, 1]; a correction of total size at most 0.1.
//! let base = Polynomial::<f64, 1, 1, 2>::affine(&[[2.0]], &[1.0]).unwrap();
//! let f = Network::<f64, 1, 4, 1>::positive(&[2], &[3.0, -1.0, 1.0, 0.5, 1.0, 1.0]).unwrap();
//! let at_most = Constraint::new(Bound::AtMost, Method::Scale, 0.1);
//! let magnitude = Finn::new(f, Domain::new([0.0], [1.0]).unwrap(), Some(at_most)).unwrap();
//! let nu = Network::<f64, 1, 4, 1>::signed(Activation::Tanh, &[1], &[4.0, -2.0, 1.0]).unwrap();
//! let direction = NetworkDirection::new([nu], 0.05).unwrap();
//! let model = BoundedDeviation::new(base, direction, magnitude).unwrap();
//! let phi = model.value(&[0.25]).unwrap();
//! assert!((phi[0] - 1.5).abs() <= model.magnitude(&[0.25]).unwrap());
//! let j = model.deviation_bound().unwrap();
//! assert!((j.value - 0.1).abs() <= j.error.max(1e-15)); // the integral is eps, to rounding
//! ```

use crate::constraint::{Bound, Bounded, Method};
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks, Kind, Network};
use crate::{error::finite, Antiderivative, DomainMap, Error, Finn, Real};

/// The number of monomials of total degree at most `degree` in `n` variables,
/// C(n + degree, degree); `usize::MAX` when it does not fit.
///
/// ```
/// assert_eq!(finn_core::deviation::monomial_count(2, 2), 6); // 1, x, y, x^2, xy, y^2
/// assert_eq!(finn_core::deviation::monomial_count(3, 1), 4);
/// ```
pub fn monomial_count(n: usize, degree: usize) -> usize {
    // C(n + d, d) built up as prod_{k=1..d} (n + k) / k: every partial product is an integer.
    let mut c: usize = 1;
    for k in 1..=degree {
        c = match c.checked_mul(n + k) {
            Some(v) => v / k,
            None => return usize::MAX,
        };
    }
    c
}

/// A base function psi: R^N -> R^M that a bounded-deviation model corrects.
///
/// Implement it for your own base (a physics formula, an explainable model). `value` must
/// be finite wherever the model is evaluated; [`Base::check_over`] is where a base proves
/// that over the model's domain when the model is built.
///
/// ```
/// use finn_core::{deviation::Base, Error};
/// struct Pendulum;
/// impl Base<f64, 1, 1> for Pendulum {
///     fn value(&self, x: &[f64; 1]) -> Result<[f64; 1], Error> {
///         Ok([x[0].sin()])
///     }
/// }
/// assert_eq!(Pendulum.value(&[0.0]).unwrap(), [0.0]);
/// ```
pub trait Base<T: Real, const N: usize, const M: usize> {
    /// psi(x).
    fn value(&self, x: &[T; N]) -> Result<[T; M], Error>;

    /// Proves psi finite over the box [lower, upper], with room to add a correction:
    /// `Overflow` otherwise. The default accepts (a user base answers for itself).
    fn check_over(&self, lower: &[T; N], upper: &[T; N]) -> Result<(), Error> {
        let _ = (lower, upper);
        Ok(())
    }
}

/// A direction field d: R^N -> R^M. The model rescales whatever it returns to |d| <= 1.
///
/// ```
/// use finn_core::{deviation::Direction, Error};
/// struct Up;
/// impl Direction<f64, 2, 2> for Up {
///     fn direction(&self, _x: &[f64; 2]) -> Result<[f64; 2], Error> {
///         Ok([0.0, 1.0])
///     }
/// }
/// assert_eq!(Up.direction(&[0.3, 0.4]).unwrap(), [0.0, 1.0]);
/// ```
pub trait Direction<T: Real, const N: usize, const M: usize> {
    /// d(x), any finite vector (rescaled to norm <= 1 by the model).
    fn direction(&self, x: &[T; N]) -> Result<[T; M], Error>;

    /// Proves d finite over the box [lower, upper]: `Overflow` otherwise. The default
    /// accepts.
    fn check_over(&self, lower: &[T; N], upper: &[T; N]) -> Result<(), Error> {
        let _ = (lower, upper);
        Ok(())
    }
}

/// A polynomial base psi: R^N -> R^M of total degree at most `degree`, with room for `K`
/// monomials ([`monomial_count`] gives how many a degree needs).
///
/// Monomials are ordered by degree; within a degree, x_i times every monomial of degree - 1
/// whose variables all have index >= i, for i = 0, 1, ... So for n = 2, degree 2:
/// 1, x0, x1, x0^2, x0 x1, x1^2. Coefficients are given output by output, in that order.
///
/// ```
/// use finn_core::deviation::{Base, Polynomial};
/// // psi(x, y) = 1 + 2x + 3y + 4x^2 + 5xy + 6y^2.
/// let p = Polynomial::<f64, 2, 1, 6>::new(2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(p.value(&[1.0, 2.0]).unwrap(), [1.0 + 2.0 + 6.0 + 4.0 + 10.0 + 24.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Polynomial<T: Real, const N: usize, const M: usize, const K: usize> {
    degree: usize,
    terms: usize,
    coefficients: [[T; K]; M],
}

impl<T: Real, const N: usize, const M: usize, const K: usize> Polynomial<T, N, M, K> {
    /// The zero polynomial of degree 0 with no monomials stored, for a `static` that a blob
    /// loader fills in place (every field is zero, so it lives in `.bss`).
    ///
    /// ```
    /// use finn_core::deviation::Polynomial;
    /// static EMPTY: Polynomial<f32, 2, 1, 6> = Polynomial::unloaded();
    /// assert_eq!(EMPTY.terms(), 0);
    /// ```
    pub const fn unloaded() -> Self {
        Polynomial {
            degree: 0,
            terms: 0,
            coefficients: [[T::ZERO; K]; M],
        }
    }

    /// As [`Polynomial::from_coefficients`], in place; on an error the polynomial is left
    /// with no monomials.
    pub(crate) fn load(
        &mut self,
        degree: usize,
        coefficients: impl IntoIterator<Item = T>,
    ) -> Result<(), Error> {
        self.degree = 0;
        self.terms = 0;
        let terms = monomial_count(N, degree);
        if terms > K || N == 0 || M == 0 {
            return Err(Error::InvalidShape);
        }
        let mut found = 0usize;
        for c in coefficients {
            if found < M * terms {
                if !c.is_finite() {
                    return Err(Error::NonFiniteParameter);
                }
                self.coefficients[found / terms][found % terms] = c;
            }
            found = found.saturating_add(1);
        }
        if found != M * terms {
            return Err(Error::DimensionMismatch {
                expected: M * terms,
                found,
            });
        }
        self.degree = degree;
        self.terms = terms;
        Ok(())
    }

    /// A polynomial of total degree `degree` with `M * monomial_count(N, degree)`
    /// coefficients, output-major.
    ///
    /// Errors: `InvalidShape` when the monomials do not fit in `K`, `DimensionMismatch` for
    /// a wrong number of coefficients, `NonFiniteParameter`.
    pub fn new(degree: usize, coefficients: &[T]) -> Result<Self, Error> {
        Self::from_coefficients(degree, coefficients.iter().copied())
    }

    /// As [`Polynomial::new`], streaming the coefficients (for a blob loader).
    ///
    /// ```
    /// use finn_core::{deviation::Polynomial, Error};
    /// let too_few = Polynomial::<f32, 1, 1, 3>::from_coefficients(2, [1.0f32, 2.0]);
    /// assert!(matches!(too_few, Err(Error::DimensionMismatch { expected: 3, found: 2 })));
    /// ```
    pub fn from_coefficients(
        degree: usize,
        coefficients: impl IntoIterator<Item = T>,
    ) -> Result<Self, Error> {
        let terms = monomial_count(N, degree);
        if terms > K || N == 0 || M == 0 {
            return Err(Error::InvalidShape);
        }
        let mut poly = Self::unloaded();
        poly.load(degree, coefficients)?;
        Ok(poly)
    }

    /// The affine base psi(x) = A x + b (degree 1), `matrix` row by output.
    ///
    /// Errors: `InvalidShape` when `K < N + 1`, `NonFiniteParameter`.
    ///
    /// ```
    /// use finn_core::deviation::{Base, Polynomial};
    /// let p = Polynomial::<f64, 2, 2, 3>::affine(&[[1.0, 2.0], [0.0, -1.0]], &[0.5, 0.0]).unwrap();
    /// assert_eq!(p.value(&[1.0, 1.0]).unwrap(), [3.5, -1.0]);
    /// ```
    pub fn affine(matrix: &[[T; N]; M], offset: &[T; M]) -> Result<Self, Error> {
        let rows = matrix.iter().zip(offset);
        Self::from_coefficients(
            1,
            rows.flat_map(|(row, b)| core::iter::once(*b).chain(row.iter().copied())),
        )
    }

    /// The total degree.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// The number of monomials (coefficients per output).
    pub fn terms(&self) -> usize {
        self.terms
    }

    /// The coefficients of output `k` (empty for k >= M).
    pub fn coefficients(&self, k: usize) -> &[T] {
        match self.coefficients.get(k) {
            Some(row) => &row[..self.terms.min(K)],
            None => &[],
        }
    }

    /// Every monomial at `x`, in the order of the type's docs, into `out[..terms]`; returns
    /// the number written. Least-squares fitting of a base uses these as features.
    ///
    /// Errors: `DimensionMismatch` when `out` is shorter than [`Polynomial::terms`].
    ///
    /// ```
    /// use finn_core::deviation::Polynomial;
    /// let p = Polynomial::<f64, 2, 1, 6>::new(2, &[0.0; 6]).unwrap();
    /// let mut m = [0.0; 6];
    /// assert_eq!(p.monomials(&[2.0, 3.0], &mut m).unwrap(), 6);
    /// assert_eq!(m, [1.0, 2.0, 3.0, 4.0, 6.0, 9.0]);
    /// ```
    pub fn monomials(&self, x: &[T; N], out: &mut [T]) -> Result<usize, Error> {
        monomials(self.degree, x, out)
    }

    /// An upper bound on |psi_k(x)| over the box, for every output k: sum_j |c_kj|
    /// prod |x_i|^e_ij <= sum_j |c_kj| m_j(x*) with x*_i the largest |x_i| on the box.
    fn bound_over(&self, lower: &[T; N], upper: &[T; N]) -> Result<T, Error> {
        let mut corner = [T::ZERO; N];
        for ((c, a), b) in corner.iter_mut().zip(lower).zip(upper) {
            *c = a.abs().max(b.abs());
        }
        let mut m = [T::ZERO; K];
        let terms = monomials(self.degree, &corner, &mut m)?;
        let mut worst = T::ZERO;
        for row in &self.coefficients {
            let mut s = T::ZERO;
            for (c, v) in row.iter().zip(&m).take(terms) {
                s += c.abs() * *v;
            }
            worst = worst.max(finite(s)?);
        }
        Ok(worst)
    }
}

/// The monomials of total degree <= `degree` at x, in [`Polynomial`]'s order.
fn monomials<T: Real, const N: usize>(
    degree: usize,
    x: &[T; N],
    out: &mut [T],
) -> Result<usize, Error> {
    let terms = monomial_count(N, degree);
    if out.len() < terms {
        return Err(Error::DimensionMismatch {
            expected: terms,
            found: out.len(),
        });
    }
    out[0] = T::ONE;
    // start[i]: where the previous degree's monomials whose variables are all >= i begin;
    // they end at `end`. Degree 0 is the single monomial 1, which qualifies for every i.
    let mut start = [0usize; N];
    let mut end = 1usize;
    for _ in 0..degree {
        let mut pos = end;
        let mut next = [0usize; N];
        for i in 0..N {
            next[i] = pos;
            for k in start[i]..end {
                // pos < terms <= out.len(): the blocks add up to monomial_count.
                let v = x[i] * out[k];
                if let Some(o) = out.get_mut(pos) {
                    *o = v;
                }
                pos += 1;
            }
        }
        start = next;
        end = pos;
    }
    Ok(terms)
}

impl<T: Real, const N: usize, const M: usize, const K: usize> Base<T, N, M>
    for Polynomial<T, N, M, K>
{
    fn value(&self, x: &[T; N]) -> Result<[T; M], Error> {
        let mut m = [T::ZERO; K];
        let terms = monomials(self.degree, x, &mut m)?;
        let mut out = [T::ZERO; M];
        for (o, row) in out.iter_mut().zip(&self.coefficients) {
            let mut s = T::ZERO;
            for (c, v) in row.iter().zip(&m).take(terms) {
                s += *c * *v;
            }
            *o = finite(s)?;
        }
        Ok(out)
    }

    fn check_over(&self, lower: &[T; N], upper: &[T; N]) -> Result<(), Error> {
        // Half of MAX leaves room for the correction (|f d| <= f, itself proved finite).
        let b = self.bound_over(lower, upper)?;
        if b < T::MAX / T::from_f64(2.0) {
            Ok(())
        } else {
            Err(Error::Overflow)
        }
    }
}

/// The built-in direction: `M` signed networks nu_k(x) (their values F_k(x), plain MLPs)
/// mapped to d = nu / sqrt(|nu|^2 + s^2), with softness s > 0.
///
/// |d| < 1 everywhere and d is smooth, so it is safe where nu = 0 (the paper's nu / |nu| is
/// not); for M = 1 it is a smooth sign in (-1, 1). Where |nu| >> s, |d| -> 1 and the
/// deviation budget is spent almost fully; a smaller s sharpens sign changes.
///
/// ```
/// use finn_core::deviation::{Direction, NetworkDirection};
/// use finn_core::{Activation, Network};
/// let nu = Network::<f64, 1, 1, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, 3.0]).unwrap();
/// let d = NetworkDirection::new([nu], 0.1).unwrap();
/// let v = d.direction(&[1.0]).unwrap()[0];
/// let z = 3.0 * 1.0f64.tanh();
/// assert!((v - z / (z * z + 0.01).sqrt()).abs() < 1e-15);
/// ```
#[derive(Clone, Debug)]
pub struct NetworkDirection<T: Real, const N: usize, const M: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    networks: [Network<T, N, W, L>; M],
    softness: T,
}

impl<T: Real, const N: usize, const M: usize, const W: usize, const L: usize>
    NetworkDirection<T, N, M, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// The direction of `networks` with softness `softness`.
    ///
    /// Errors: `NotADeviation` unless softness is finite and > 0.
    pub fn new(networks: [Network<T, N, W, L>; M], softness: T) -> Result<Self, Error> {
        if !(softness.is_finite() && softness > T::ZERO) {
            return Err(Error::NotADeviation);
        }
        Ok(NetworkDirection { networks, softness })
    }

    /// A direction of unloaded networks (softness 0, so it is not a valid direction until a
    /// blob loader fills it in place), for a `static`.
    ///
    /// ```
    /// use finn_core::deviation::NetworkDirection;
    /// static EMPTY: NetworkDirection<f32, 2, 1, 8, 2> = NetworkDirection::unloaded();
    /// assert_eq!(EMPTY.softness(), 0.0);
    /// ```
    pub const fn unloaded() -> Self {
        NetworkDirection {
            networks: [const { Network::unloaded() }; M],
            softness: T::ZERO,
        }
    }

    /// The networks and the softness, to load in place.
    pub(crate) fn parts_mut(&mut self) -> (&mut [Network<T, N, W, L>; M], &mut T) {
        (&mut self.networks, &mut self.softness)
    }

    /// The networks nu_k.
    pub fn networks(&self) -> &[Network<T, N, W, L>; M] {
        &self.networks
    }

    /// The softness s.
    pub fn softness(&self) -> T {
        self.softness
    }

    /// nu(x), the networks' raw values.
    pub fn raw(&self, x: &[T; N]) -> Result<[T; M], Error> {
        let mut nu = [T::ZERO; M];
        for (v, net) in nu.iter_mut().zip(&self.networks) {
            *v = net.antiderivative(x)?;
        }
        Ok(nu)
    }
}

impl<T: Real, const N: usize, const M: usize, const W: usize, const L: usize> Direction<T, N, M>
    for NetworkDirection<T, N, M, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    fn direction(&self, x: &[T; N]) -> Result<[T; M], Error> {
        let mut nu = self.raw(x)?;
        // Scale by the largest |nu_k| (or s) first so that |nu|^2 cannot overflow.
        let mut big = self.softness;
        for v in &nu {
            big = big.max(v.abs());
        }
        let s = self.softness / big;
        let mut norm2 = s * s;
        for v in nu.iter_mut() {
            *v /= big;
            norm2 += *v * *v;
        }
        let norm = norm2.sqrt();
        for v in nu.iter_mut() {
            *v /= norm;
        }
        Ok(nu)
    }

    fn check_over(&self, lower: &[T; N], upper: &[T; N]) -> Result<(), Error> {
        for net in &self.networks {
            net.bounds_over(lower, upper)?;
        }
        Ok(())
    }
}

/// Rescales d to norm <= 1 (it is returned unchanged when already so).
fn at_most_unit<T: Real, const M: usize>(mut d: [T; M]) -> Result<[T; M], Error> {
    let mut big = T::ZERO;
    for v in &d {
        if !v.is_finite() {
            return Err(Error::Overflow);
        }
        big = big.max(v.abs());
    }
    if big == T::ZERO {
        return Ok(d);
    }
    let mut norm2 = T::ZERO;
    for v in &d {
        let r = *v / big;
        norm2 += r * r;
    }
    let norm = big * norm2.sqrt();
    if norm > T::ONE {
        for v in d.iter_mut() {
            *v /= norm;
        }
        // Rounding can leave the norm a few ulps above 1; shrink by those ulps.
        let shrink = T::ONE - T::from_f64(4.0) * T::EPSILON;
        for v in d.iter_mut() {
            *v *= shrink;
        }
    }
    Ok(d)
}

/// The magnitude must be a positive network whose integral is constrained to at most eps > 0
/// (or exactly eps) by scaling.
fn check_magnitude<T: Real, const N: usize, const W: usize, const L: usize>(
    magnitude: &Finn<T, N, W, L>,
) -> Result<T, Error>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    let ok = magnitude.network().kind() == Kind::Positive
        && matches!(
            magnitude.constraint(),
            Some(c) if c.method == Method::Scale
                && matches!(c.bound, Bound::AtMost | Bound::Equal)
                && c.eps > T::ZERO
        );
    match magnitude.constraint() {
        Some(c) if ok => Ok(c.eps),
        _ => Err(Error::NotADeviation),
    }
}

/// A bounded-deviation model phi = psi + f d over a box domain (module docs).
///
/// `B` is the base, `D` the direction, and the magnitude f is a positive [`Finn`] with up to
/// `L` hidden layers of `W` units over `N` inputs; `M` is the output dimension.
#[derive(Clone, Debug)]
pub struct BoundedDeviation<
    T: Real,
    B,
    D,
    const N: usize,
    const M: usize,
    const W: usize,
    const L: usize,
> where
    Depth<L>: HiddenBlocks<T, W>,
{
    base: B,
    direction: D,
    magnitude: Finn<T, N, W, L>,
    eps: T,
}

impl<T, B, D, const N: usize, const M: usize, const W: usize, const L: usize>
    BoundedDeviation<T, B, D, N, M, W, L>
where
    T: Real,
    B: Base<T, N, M>,
    D: Direction<T, N, M>,
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Assembles a model over the magnitude's domain.
    ///
    /// Errors: `NotADeviation` unless the magnitude is a positive network scaled to an
    /// integral at most (or equal to) eps > 0; the base's and the direction's `check_over`
    /// errors (`Overflow` when one cannot be proved finite over the domain).
    pub fn new(base: B, direction: D, magnitude: Finn<T, N, W, L>) -> Result<Self, Error> {
        let eps = check_magnitude(&magnitude)?;
        let (lo, hi) = (magnitude.domain().lower(), magnitude.domain().upper());
        base.check_over(lo, hi)?;
        direction.check_over(lo, hi)?;
        Ok(BoundedDeviation {
            base,
            direction,
            magnitude,
            eps,
        })
    }

    /// The base psi.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// The direction.
    pub fn direction(&self) -> &D {
        &self.direction
    }

    /// The magnitude f, a positive FINN with its constraint.
    pub fn magnitude_model(&self) -> &Finn<T, N, W, L> {
        &self.magnitude
    }

    /// The deviation budget eps.
    pub fn eps(&self) -> T {
        self.eps
    }

    /// f(x) = |phi(x) - psi(x)| / |d(x)|: the magnitude, >= 0, and 0 outside the domain.
    ///
    /// Errors: `NonFiniteInput` (NaN or infinite x inside no domain is an error too),
    /// `Overflow`, `InvalidShape` (an unloaded model, [`BoundedDeviation::unloaded`]).
    pub fn magnitude(&self, x: &[T; N]) -> Result<T, Error> {
        crate::point::<T, N>(x)?;
        self.magnitude.check_loaded()?;
        if !self.magnitude.domain().contains(x) {
            return Ok(T::ZERO);
        }
        Ok(self.magnitude.integrand(x)?.max(T::ZERO))
    }

    /// The correction phi(x) - psi(x) = f(x) d(x), with |d| <= 1; 0 outside the domain.
    ///
    /// Errors as for [`BoundedDeviation::magnitude`], and the direction's.
    pub fn correction(&self, x: &[T; N]) -> Result<[T; M], Error> {
        let f = self.magnitude(x)?;
        if f == T::ZERO {
            return Ok([T::ZERO; M]);
        }
        let d = at_most_unit(self.direction.direction(x)?)?;
        Ok(d.map(|v| v * f))
    }

    /// phi(x) = psi(x) + f(x) d(x).
    ///
    /// Errors: `NonFiniteInput`, `Overflow`, and the base's and direction's errors.
    pub fn value(&self, x: &[T; N]) -> Result<[T; M], Error> {
        let c = self.correction(x)?;
        let mut y = self.base.value(x)?;
        for (v, c) in y.iter_mut().zip(c) {
            *v = finite(*v + c)?;
        }
        Ok(y)
    }

    /// The integral of f over the domain, an upper bound on J(psi, phi), with a rigorous
    /// bound on its rounding error ([`Finn::integral_over_with_bound`]): J <= value + error.
    /// By construction the exact integral is at most eps; in f32 the corner sum that
    /// recomputes it can lose digits (math.md §8), which `error` accounts for.
    pub fn deviation_bound(&self) -> Result<Bounded<T>, Error> {
        let d = self.magnitude.domain();
        self.magnitude
            .integral_over_with_bound(d.lower(), d.upper())
    }
}

impl<T, const N: usize, const M: usize, const W: usize, const L: usize, const K: usize>
    BoundedDeviation<T, Polynomial<T, N, M, K>, NetworkDirection<T, N, M, W, L>, N, M, W, L>
where
    T: Real,
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// A model with nothing loaded, for a `static` that a blob loader
    /// ([`crate::format::DeviationView::load_deviation_into`]) fills in place: every field is
    /// zero, so it lives in `.bss`. Evaluating it is `InvalidShape`.
    ///
    /// ```
    /// use finn_core::deviation::{BoundedDeviation, NetworkDirection, Polynomial};
    /// use finn_core::Error;
    /// type Model = BoundedDeviation<f32, Polynomial<f32, 1, 1, 3>, NetworkDirection<f32, 1, 1, 8, 2>, 1, 1, 8, 2>;
    /// static EMPTY: Model = Model::unloaded();
    /// assert_eq!(EMPTY.value(&[0.5]).unwrap_err(), Error::InvalidShape);
    /// ```
    pub const fn unloaded() -> Self {
        BoundedDeviation {
            base: Polynomial::unloaded(),
            direction: NetworkDirection::unloaded(),
            magnitude: Finn::unloaded(),
            eps: T::ZERO,
        }
    }

    /// Marks the model unloaded (evaluating it is then an error).
    pub fn unload(&mut self) {
        self.magnitude.unload();
    }

    /// The parts, to load in place; the model is unloaded until [`Self::finish_load`].
    pub(crate) fn parts_mut(
        &mut self,
    ) -> (
        &mut Polynomial<T, N, M, K>,
        &mut NetworkDirection<T, N, M, W, L>,
        &mut Finn<T, N, W, L>,
    ) {
        self.magnitude.unload();
        (&mut self.base, &mut self.direction, &mut self.magnitude)
    }

    /// Runs the checks of [`BoundedDeviation::new`] on parts loaded in place (the magnitude
    /// already reloaded); on an error the model is left unloaded.
    pub(crate) fn finish_load(&mut self) -> Result<(), Error> {
        let result = self.check_parts();
        if result.is_err() {
            self.magnitude.unload();
        }
        result
    }

    fn check_parts(&mut self) -> Result<(), Error> {
        self.magnitude.check_loaded()?;
        let s = self.direction.softness;
        if !(s.is_finite() && s > T::ZERO) {
            return Err(Error::NotADeviation);
        }
        self.eps = check_magnitude(&self.magnitude)?;
        let (lo, hi) = (
            self.magnitude.domain().lower(),
            self.magnitude.domain().upper(),
        );
        self.base.check_over(lo, hi)?;
        self.direction.check_over(lo, hi)?;
        Ok(())
    }
}

/// A bounded-deviation model on a mapped domain (paper §3.2): the magnitude lives on u in
/// the unit box and f(x) = f_u(r^-1(x)) / |det dr/du|, so the integral of f over the domain
/// in x is the integral of f_u over the unit box: still at most eps, exactly.
///
/// Prefer maps with a Jacobian bounded away from 0 (the area-preserving ones of
/// [`crate::domain_map`]): where |det| -> 0 the magnitude in x is unbounded.
///
/// ```
/// use finn_core::deviation::{BoundedDeviation, MappedDeviation, NetworkDirection, Polynomial};
/// use finn_core::{Activation, Bound, Constraint, Domain, Finn, Method, Network, Polar};
/// let base = Polynomial::<f64, 2, 1, 1>::new(0, &[1.0]).unwrap();
/// let f = Network::<f64, 2, 4, 1>::positive(&[2], &[1.0, 1.0, 0.5, 2.0, 0.0, 0.3, 1.0, 1.0]).unwrap();
/// let unit = Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap();
/// let m = Finn::new(f, unit, Some(Constraint::new(Bound::AtMost, Method::Scale, 0.2))).unwrap();
/// let nu = Network::<f64, 2, 4, 1>::signed(Activation::Tanh, &[1], &[1.0, -1.0, 0.0, 1.0]).unwrap();
/// let model = BoundedDeviation::new(base, NetworkDirection::new([nu], 0.1).unwrap(), m).unwrap();
/// let disk = MappedDeviation::new(model, Polar::disk([0.0, 0.0], 1.0).unwrap()).unwrap();
/// assert_eq!(disk.value(&[2.0, 0.0]).unwrap(), [1.0]); // outside the disk: the base
/// assert!((disk.value(&[0.3, 0.1]).unwrap()[0] - 1.0).abs() > 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct MappedDeviation<
    T: Real,
    B,
    D,
    R,
    const N: usize,
    const M: usize,
    const W: usize,
    const L: usize,
> where
    Depth<L>: HiddenBlocks<T, W>,
{
    model: BoundedDeviation<T, B, D, N, M, W, L>,
    map: R,
}

impl<T, B, D, R, const N: usize, const M: usize, const W: usize, const L: usize>
    MappedDeviation<T, B, D, R, N, M, W, L>
where
    T: Real,
    B: Base<T, N, M>,
    D: Direction<T, N, M>,
    R: DomainMap<T, N>,
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Places `model` (whose magnitude's domain must be the unit box, the map's u-domain)
    /// on the map's image.
    ///
    /// Errors: `NotADeviation` when the magnitude's domain is not [0, 1]^N.
    pub fn new(model: BoundedDeviation<T, B, D, N, M, W, L>, map: R) -> Result<Self, Error> {
        let d = model.magnitude.domain();
        let unit =
            d.lower().iter().all(|v| *v == T::ZERO) && d.upper().iter().all(|v| *v == T::ONE);
        if !unit {
            return Err(Error::NotADeviation);
        }
        Ok(MappedDeviation { model, map })
    }

    /// The model in u coordinates (its base and direction take x).
    pub fn model(&self) -> &BoundedDeviation<T, B, D, N, M, W, L> {
        &self.model
    }

    /// The domain map.
    pub fn map(&self) -> &R {
        &self.map
    }

    /// f(x) = f_u(u) / |det dr/du| at u = r^-1(x); 0 outside the domain.
    ///
    /// Errors: `NonFiniteInput`, `Overflow` (also where the Jacobian vanishes).
    pub fn magnitude(&self, x: &[T; N]) -> Result<T, Error> {
        crate::point::<T, N>(x)?;
        let Some(u) = self.map.inverse(x) else {
            return Ok(T::ZERO);
        };
        let fu = self.model.magnitude(&u)?;
        if fu == T::ZERO {
            return Ok(T::ZERO);
        }
        let j = self.map.jacobian(&u);
        if j.is_nan() || j <= T::ZERO {
            return Err(Error::Overflow);
        }
        finite(fu / j)
    }

    /// phi(x) = psi(x) + f(x) d(x), psi and d evaluated at x.
    ///
    /// Errors as for [`MappedDeviation::magnitude`] and the base's and direction's.
    pub fn value(&self, x: &[T; N]) -> Result<[T; M], Error> {
        let f = self.magnitude(x)?;
        let mut y = self.model.base.value(x)?;
        if f > T::ZERO {
            let d = at_most_unit(self.model.direction.direction(x)?)?;
            for (v, d) in y.iter_mut().zip(d) {
                *v = finite(*v + f * d)?;
            }
        }
        Ok(y)
    }

    /// The integral of f over the domain (that of f_u over the unit box) with its error
    /// bound, as [`BoundedDeviation::deviation_bound`].
    pub fn deviation_bound(&self) -> Result<Bounded<T>, Error> {
        self.model.deviation_bound()
    }
}

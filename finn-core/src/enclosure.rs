//! Rigorous enclosures of f over a box, by interval jets: an interval that holds f(x) for
//! **every** x in the box, not a value at sample points (math.md §9).
//!
//! [`Network::integrand_enclosure`] runs the evaluation of f ([`crate::network`]) on
//! [`Interval`] coefficients:
//!
//! * **First layer, exact.** A unit's preactivation z = b + sum_i w_i x_i over the box is the
//!   interval [b + sum_i min(w_i l_i, w_i u_i), b + sum_i max(w_i l_i, w_i u_i)] (weights
//!   split by sign), and its jet is [g(z)]_S = g^(|S|)(z) prod_(i in S) w_i (math.md §6), with
//!   the activation's derivatives enclosed over that interval.
//! * **Activation derivatives over an interval.** sigma_n^(j) for j < n is increasing
//!   (its derivative sigma_n^(j+1) >= 0), so its range is [sigma_n^(j)(lo), sigma_n^(j)(hi)];
//!   sigma_n^(n) = exp(-z^2)/sqrt(pi) is unimodal (largest at 0). tanh is increasing, sech^2
//!   unimodal; a higher derivative tanh^(k) = sech^2 Q_k(tanh) is enclosed by interval Horner
//!   over the interval of tanh, intersected with its Taylor forms around the midpoint m
//!   (value at m plus sup |tanh^(k+1)| r, and value and slope at m plus
//!   sup |tanh^(k+2)| r^2 / 2, r the half-width) and with its global bound sup |tanh^(k)|.
//! * **Deeper layers.** Linear maps act on interval jets coefficient by coefficient, and the
//!   activation by the same Faa di Bruno code as the point path ([`crate::jet::compose`] is
//!   generic over [`Coefficient`]).
//!
//! Every step is an interval extension of a Lipschitz function, so the width of the result
//! shrinks linearly with the box (tested in `finn-core/tests/enclosure.rs`); for a positive
//! network every jet coefficient is >= 0 and the products stay tight.
//!
//! **Slopes and the centred form.** The same jets on dual numbers over intervals (an interval
//! and the interval of its derivative along one axis; the activation then needs its
//! derivative of order n + 1 too, enclosed the same way) enclose the gradient of f over the
//! box ([`Network::integrand_gradient_enclosure`]). With f at the box's centre m they give the
//! mean-value form f(m) + sum_i \[d_i f\](box) (x_i - m_i), intersected with the plain enclosure
//! in [`Network::integrand_enclosure_centred`]: near a maximum, where the gradient is small,
//! its overestimate shrinks quadratically with the box, which is what proving
//! `sup f <= delta` close to the supremum needs (`finn_train::supremum`).
//!
//! # Rounding
//!
//! Every interval operation rounds outward: its result is widened by 2 ulps of itself plus
//! the smallest normal number of `T` ([`Real::MIN_POSITIVE`]) on each side, which covers the
//! round-to-nearest error of one IEEE operation (f32 and f64; not meant for
//! [`DoubleDouble`](crate::dd::DoubleDouble)). The activations' own values are not correctly
//! rounded (libm, recurrences, and in f32 tanh and sech^2 from [`crate::tanh`], measured
//! within 2 and 4.5 ulps over every input) and are widened by a documented allowance: 4 times the error measured against the 25-digit reference for sigma_n
//! (`bound::activation_error`: 4e-12 relative in f64, 4e-5 in f32) plus `MIN_POSITIVE`, and
//! 64 ulps relative plus 4 ulps of 1 absolute for tanh and sech^2 (whose magnitudes are at
//! most 1). So the enclosure holds the exact f of the stored parameters, as rigorously as
//! those measured allowances and the tabulated sup |tanh^(k)| (a grid maximum plus 1 %).
//!
//! ```
//! use finn_core::{Antiderivative, Network};
//! let params = [0.5, 1.0, 2.0, 0.3, 0.1, -0.2, 1.0, 0.7];
//! let net = Network::<f64, 2, 4, 1>::positive(&[2], &params).unwrap();
//! let e = net.integrand_enclosure(&[0.0, 0.0], &[0.1, 0.1]).unwrap();
//! for x in [[0.0, 0.0], [0.05, 0.02], [0.1, 0.1]] {
//!     assert!(e.contains(net.integrand(&x).unwrap()));
//! }
//! ```

use crate::activation::{Activation, MAX_DIM};
use crate::jet::{compose, Coefficient, Dim, JetDim};
use crate::network::{Depth, HiddenBlocks, Network};
use crate::{Density, Error, Finn, Real};
use core::ops::{Add, AddAssign, Mul, Neg, Sub};

/// A closed interval [lo, hi] of real numbers (lo <= hi), with outward-rounded arithmetic:
/// the result of `+`, `-` and `*` holds every exact result of the operation on members of the
/// operands. A non-finite endpoint (overflow) makes products NaN, which every enclosure
/// function reports as [`Error::Overflow`].
///
/// ```
/// use finn_core::Interval;
/// let a = Interval::new(1.0f64, 2.0).unwrap();
/// let b = Interval::new(-3.0, 0.5).unwrap();
/// let p = a * b;
/// assert!(p.lo <= -6.0 && p.hi >= 1.0 && p.hi < 1.0 + 1e-15);
/// assert!(Interval::new(2.0, 1.0).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval<T> {
    /// The lower end.
    pub lo: T,
    /// The upper end.
    pub hi: T,
}

/// The largest float below x by at least 2 ulps of x plus `MIN_POSITIVE`: below every real
/// that rounds to nearest to x (normal or subnormal). Infinite or NaN x is returned as is.
#[inline(always)]
fn down<T: Real>(x: T) -> T {
    if x.is_finite() {
        x - (x.abs() * (T::EPSILON + T::EPSILON) + T::MIN_POSITIVE)
    } else {
        x
    }
}

/// See [`down`].
#[inline(always)]
fn up<T: Real>(x: T) -> T {
    if x.is_finite() {
        x + (x.abs() * (T::EPSILON + T::EPSILON) + T::MIN_POSITIVE)
    } else {
        x
    }
}

/// The smaller of two numbers, NaN if either is.
#[inline(always)]
fn min_nan<T: Real>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        a + b
    } else {
        a.min(b)
    }
}

/// The larger of two numbers, NaN if either is.
#[inline(always)]
fn max_nan<T: Real>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        a + b
    } else {
        a.max(b)
    }
}

impl<T: Real> Interval<T> {
    /// The interval [lo, hi]. Infinite ends are allowed.
    ///
    /// Errors: `NonFiniteInput` for a NaN end, `EmptyInterval { axis: 0 }` when lo > hi.
    pub fn new(lo: T, hi: T) -> Result<Self, Error> {
        if lo.is_nan() || hi.is_nan() {
            return Err(Error::NonFiniteInput);
        }
        if lo > hi {
            return Err(Error::EmptyInterval { axis: 0 });
        }
        Ok(Interval { lo, hi })
    }

    /// The degenerate interval [v, v].
    ///
    /// ```
    /// assert_eq!(finn_core::Interval::point(2.0f32).hi, 2.0);
    /// ```
    pub const fn point(v: T) -> Self {
        Interval { lo: v, hi: v }
    }

    /// hi - lo, rounded up (a bound on the width).
    ///
    /// ```
    /// assert!(finn_core::Interval::new(1.0f64, 3.0).unwrap().width() >= 2.0);
    /// ```
    pub fn width(&self) -> T {
        up(self.hi - self.lo)
    }

    /// Whether lo <= v <= hi.
    pub fn contains(&self, v: T) -> bool {
        self.lo <= v && v <= self.hi
    }

    /// The largest |v| over the interval: max(|lo|, |hi|).
    pub fn magnitude(&self) -> T {
        max_nan(self.lo.abs(), self.hi.abs())
    }

    /// The interval of |v| for v in the interval (for a bound on a magnitude such as
    /// |phi - psi|): [0, max(|lo|, |hi|)] when it holds 0, else the ends' absolute values.
    ///
    /// ```
    /// use finn_core::Interval;
    /// assert_eq!(Interval::new(-3.0f64, 1.0).unwrap().abs(), Interval::new(0.0, 3.0).unwrap());
    /// assert_eq!(Interval::new(-3.0f64, -1.0).unwrap().abs(), Interval::new(1.0, 3.0).unwrap());
    /// ```
    pub fn abs(&self) -> Self {
        if self.lo >= T::ZERO {
            *self
        } else if self.hi <= T::ZERO {
            -*self
        } else {
            Interval {
                lo: T::ZERO,
                hi: self.magnitude(),
            }
        }
    }

    /// Both ends finite (neither infinite nor NaN).
    pub fn is_finite(&self) -> bool {
        self.lo.is_finite() && self.hi.is_finite()
    }

    /// The NaN interval that reports an overflow.
    fn nan() -> Self {
        // 0 * inf: NaN in every IEEE type (without a constant Real does not have).
        let nan = T::ZERO * (T::ONE / T::ZERO);
        Interval { lo: nan, hi: nan }
    }

    /// The intersection with another enclosure of the same quantity (never empty when both
    /// are valid; NaN propagates).
    fn intersect(self, other: Self) -> Self {
        Interval {
            lo: max_nan(self.lo, other.lo),
            hi: min_nan(self.hi, other.hi),
        }
    }

    /// v widened by the relative allowance `rel` and the absolute allowance `abs`, then
    /// outward: [v - |v| rel - abs, v + |v| rel + abs].
    fn around(v: T, rel: T, abs: T) -> Self {
        let pad = v.abs() * rel + abs;
        Interval {
            lo: down(v - pad),
            hi: up(v + pad),
        }
    }

    /// An interval that holds the f64 constant `v` exactly (for f32: both neighbours when
    /// `v` does not fit).
    fn enclosing_f64(v: f64) -> Self {
        let t = T::from_f64(v);
        if t.to_f64() == v {
            Interval::point(t)
        } else {
            Interval {
                lo: down(t),
                hi: up(t),
            }
        }
    }
}

impl<T: Real> Add for Interval<T> {
    type Output = Self;
    #[inline]
    fn add(self, b: Self) -> Self {
        Interval {
            lo: down(self.lo + b.lo),
            hi: up(self.hi + b.hi),
        }
    }
}

impl<T: Real> AddAssign for Interval<T> {
    #[inline]
    fn add_assign(&mut self, b: Self) {
        *self = *self + b;
    }
}

impl<T: Real> Sub for Interval<T> {
    type Output = Self;
    #[inline]
    fn sub(self, b: Self) -> Self {
        Interval {
            lo: down(self.lo - b.hi),
            hi: up(self.hi - b.lo),
        }
    }
}

impl<T: Real> Neg for Interval<T> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        Interval {
            lo: -self.hi,
            hi: -self.lo,
        }
    }
}

impl<T: Real> Mul for Interval<T> {
    type Output = Self;
    #[inline]
    fn mul(self, b: Self) -> Self {
        let a = self;
        if !(a.is_finite() && b.is_finite()) {
            return Interval::nan();
        }
        if a.lo >= T::ZERO && b.lo >= T::ZERO {
            // The common case of positive networks: every coefficient is >= 0.
            return Interval {
                lo: down(a.lo * b.lo),
                hi: up(a.hi * b.hi),
            };
        }
        if a.lo == a.hi {
            // A point (a weight) times an interval.
            let (p, q) = (a.lo * b.lo, a.lo * b.hi);
            return Interval {
                lo: down(p.min(q)),
                hi: up(p.max(q)),
            };
        }
        let (p, q, r, s) = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi);
        Interval {
            lo: down(p.min(q).min(r.min(s))),
            hi: up(p.max(q).max(r.max(s))),
        }
    }
}

impl<T: Real> Coefficient for Interval<T> {
    #[inline(always)]
    fn zero() -> Self {
        Interval::point(T::ZERO)
    }
}

/// Coefficients of Q_k, tanh^(k) = sech^2 Q_k(tanh), k = 1..=MAX_DIM + 2 (row k, ascending
/// powers; integers, exact in f32 too): Q_1 = 1, Q_(k+1) = -2t Q_k + (1 - t^2) Q_k'.
const TANH_Q: [[i64; MAX_DIM + 2]; MAX_DIM + 3] = tanh_q();

const fn tanh_q() -> [[i64; MAX_DIM + 2]; MAX_DIM + 3] {
    let mut q = [[0i64; MAX_DIM + 2]; MAX_DIM + 3];
    q[1][0] = 1;
    let mut k = 1;
    while k <= MAX_DIM + 1 {
        let mut i = 0;
        while i < k {
            let c = q[k][i];
            q[k + 1][i + 1] -= 2 * c;
            if i >= 1 {
                q[k + 1][i - 1] += i as i64 * c;
                q[k + 1][i + 1] -= i as i64 * c;
            }
            i += 1;
        }
        k += 1;
    }
    q
}

/// Q_k over the interval `t` by Horner's rule (degree k - 1).
fn tanh_poly<T: Real>(k: usize, t: Interval<T>) -> Interval<T> {
    let row = &TANH_Q[k];
    let mut v = Interval::enclosing_f64(row[k - 1] as f64);
    for i in (0..k - 1).rev() {
        v = v * t + Interval::enclosing_f64(row[i] as f64);
    }
    v
}

/// Enclosures of g^(k) over the interval `z`, for k = 0..out.len() (at most n + 2 orders:
/// f needs 0..=n, its slopes n + 1): the module docs' methods and allowances. A non-finite
/// `z` gives NaN intervals.
pub(crate) fn derivative_enclosures<T: Real>(
    activation: Activation,
    n: usize,
    z: Interval<T>,
    out: &mut [Interval<T>],
) {
    let orders = out.len().min(n + 2);
    if !z.is_finite() {
        out.iter_mut().for_each(|o| *o = Interval::nan());
        return;
    }
    let zero_inside = z.lo <= T::ZERO && T::ZERO <= z.hi;
    match activation {
        Activation::Sigma => {
            let rel = T::from_f64(4.0) * crate::bound::activation_error::<T>(activation);
            let tiny = T::MIN_POSITIVE;
            let (mut a, mut b) = ([T::ZERO; MAX_DIM + 2], [T::ZERO; MAX_DIM + 2]);
            activation.fill_derivatives(n, z.lo, &mut a[..orders]);
            activation.fill_derivatives(n, z.hi, &mut b[..orders]);
            for j in 0..orders {
                out[j] = if j < n {
                    // Increasing and >= 0.
                    Interval {
                        lo: Interval::around(a[j], rel, tiny).lo.max(T::ZERO),
                        hi: Interval::around(b[j], rel, tiny).hi,
                    }
                } else if j == n + 1 {
                    // -2z exp(-z^2)/sqrt(pi): decreasing on [-1/sqrt 2, 1/sqrt 2], increasing
                    // outside; its extremes are +-sqrt(2/e)/sqrt(pi) there.
                    let peak = T::from_f64(0.483_941_449_038_286_7);
                    let half_root2 = T::from_f64(core::f64::consts::FRAC_1_SQRT_2);
                    let (ea, eb) = (
                        Interval::around(a[j], rel, tiny),
                        Interval::around(b[j], rel, tiny),
                    );
                    let mut e = Interval {
                        lo: min_nan(ea.lo, eb.lo),
                        hi: max_nan(ea.hi, eb.hi),
                    };
                    let extreme = Interval::around(peak, rel, tiny);
                    if z.lo <= -half_root2 && -half_root2 <= z.hi {
                        e.hi = max_nan(e.hi, extreme.hi);
                    }
                    if z.lo <= half_root2 && half_root2 <= z.hi {
                        e.lo = min_nan(e.lo, -extreme.hi);
                    }
                    e
                } else {
                    // exp(-z^2)/sqrt(pi): largest at 0, smallest at the end farther from 0.
                    let top = if zero_inside {
                        T::from_f64(0.564_189_583_547_756_3)
                    } else {
                        max_nan(a[j], b[j])
                    };
                    Interval {
                        lo: Interval::around(min_nan(a[j], b[j]), rel, tiny)
                            .lo
                            .max(T::ZERO),
                        hi: Interval::around(top, rel, tiny).hi,
                    }
                };
            }
        }
        Activation::Tanh => {
            let rel = T::from_f64(64.0) * T::EPSILON;
            let abs = T::from_f64(4.0) * T::EPSILON;
            let at = |x: T| {
                let mut d = [T::ZERO; 2];
                activation.fill_derivatives(1, x, &mut d);
                (
                    Interval::around(d[0], rel, abs),
                    Interval::around(d[1], rel, abs),
                )
            };
            let unit = Interval {
                lo: -T::ONE,
                hi: T::ONE,
            };
            let ((ta, sa), (tb, sb)) = (at(z.lo), at(z.hi));
            // tanh increasing; sech^2 unimodal, 1 at 0.
            let t = Interval {
                lo: ta.lo,
                hi: tb.hi,
            }
            .intersect(unit);
            let s = Interval {
                lo: min_nan(sa.lo, sb.lo).max(T::ZERO),
                hi: if zero_inside {
                    T::ONE
                } else {
                    max_nan(sa.hi, sb.hi)
                },
            }
            .intersect(Interval {
                lo: T::ZERO,
                hi: T::ONE,
            });
            if orders > 0 {
                out[0] = t;
            }
            if orders > 1 {
                out[1] = s;
            }
            if orders > 2 {
                let half = T::from_f64(0.5);
                let m = z.lo + (z.hi - z.lo) * half;
                let m = m.max(z.lo).min(z.hi);
                let (tm, sm) = at(m);
                let r = up(max_nan(z.hi - m, m - z.lo));
                let radius = Interval { lo: -r, hi: r };
                let r2 = up(up(r * r) * T::from_f64(0.5));
                for k in 2..orders {
                    let hull = s * tanh_poly(k, t);
                    let sup = |order: usize| T::from_f64(crate::bound::TANH_SUP[order]);
                    let at_m = sm * tanh_poly(k, tm);
                    // Taylor at m to first order, the remainder from sup |tanh^(k+1)|, and to
                    // second order, from sup |tanh^(k+2)|.
                    let rad1 = up(sup(k + 1) * r);
                    let first = at_m
                        + Interval {
                            lo: -rad1,
                            hi: rad1,
                        };
                    let rad2 = up(sup(k + 2) * r2);
                    let second = at_m
                        + sm * tanh_poly(k + 1, tm) * radius
                        + Interval {
                            lo: -rad2,
                            hi: rad2,
                        };
                    out[k] = hull.intersect(first).intersect(second).intersect(Interval {
                        lo: -sup(k),
                        hi: sup(k),
                    });
                }
            }
        }
    }
}

/// `Ok(e)` when both ends are finite, `Err(Overflow)` otherwise.
fn finite_interval<T: Real>(e: Interval<T>) -> Result<Interval<T>, Error> {
    if e.is_finite() && e.lo <= e.hi {
        Ok(e)
    } else {
        Err(Error::Overflow)
    }
}

/// The box [lower, upper] as intervals: both corners of length N, finite, lower <= upper
/// (a degenerate box, lower = upper, is a point).
fn box_intervals<T: Real, const N: usize>(
    lower: &[T],
    upper: &[T],
) -> Result<[Interval<T>; N], Error> {
    let lo = crate::point::<T, N>(lower)?;
    let hi = crate::point::<T, N>(upper)?;
    let mut x = [Interval::point(T::ZERO); N];
    for i in 0..N {
        if lo[i] > hi[i] {
            return Err(Error::EmptyInterval { axis: i });
        }
        x[i] = Interval {
            lo: lo[i],
            hi: hi[i],
        };
    }
    Ok(x)
}

/// A coefficient of an enclosing jet: an [`Interval`], or an interval with the enclosure of
/// its derivative along one input axis ([`Slope`]), for the mean-value form.
trait Enclosing<T: Real>: Coefficient {
    /// Derivative orders of the activation needed beyond those of f (0 or 1).
    const EXTRA: usize;
    /// A constant: a weight or a bias.
    fn constant(v: T) -> Self;
    /// A first-layer preactivation: the interval `z`, and `slope` its derivative along the
    /// axis (the weight on that input).
    fn preactivation(z: Interval<T>, slope: T) -> Self;
    /// g^(k)(u), from the enclosures `d[k]` (and `d[k + 1]`) of the activation's
    /// derivatives over the interval of u's value.
    fn derivative(d: &[Interval<T>], k: usize, u: Self) -> Self;
    /// The interval of the value.
    fn value(self) -> Interval<T>;
}

impl<T: Real> Enclosing<T> for Interval<T> {
    const EXTRA: usize = 0;
    #[inline(always)]
    fn constant(v: T) -> Self {
        Interval::point(v)
    }
    #[inline(always)]
    fn preactivation(z: Interval<T>, _slope: T) -> Self {
        z
    }
    #[inline(always)]
    fn derivative(d: &[Interval<T>], k: usize, _u: Self) -> Self {
        d[k]
    }
    #[inline(always)]
    fn value(self) -> Interval<T> {
        self
    }
}

/// An interval and the interval of its derivative along one axis (a dual number over
/// intervals): the jets of these give an enclosure of d_i f over a box.
#[derive(Clone, Copy, Debug)]
struct Slope<T> {
    v: Interval<T>,
    d: Interval<T>,
}

impl<T: Real> Add for Slope<T> {
    type Output = Self;
    #[inline]
    fn add(self, b: Self) -> Self {
        Slope {
            v: self.v + b.v,
            d: self.d + b.d,
        }
    }
}

impl<T: Real> AddAssign for Slope<T> {
    #[inline]
    fn add_assign(&mut self, b: Self) {
        *self = *self + b;
    }
}

impl<T: Real> Mul for Slope<T> {
    type Output = Self;
    #[inline]
    fn mul(self, b: Self) -> Self {
        Slope {
            v: self.v * b.v,
            d: self.v * b.d + self.d * b.v,
        }
    }
}

impl<T: Real> Coefficient for Slope<T> {
    #[inline(always)]
    fn zero() -> Self {
        Slope {
            v: Interval::point(T::ZERO),
            d: Interval::point(T::ZERO),
        }
    }
}

impl<T: Real> Enclosing<T> for Slope<T> {
    const EXTRA: usize = 1;
    #[inline(always)]
    fn constant(v: T) -> Self {
        Slope {
            v: Interval::point(v),
            d: Interval::point(T::ZERO),
        }
    }
    #[inline(always)]
    fn preactivation(z: Interval<T>, slope: T) -> Self {
        Slope {
            v: z,
            d: Interval::point(slope),
        }
    }
    #[inline(always)]
    fn derivative(d: &[Interval<T>], k: usize, u: Self) -> Self {
        Slope {
            v: d[k],
            d: d[k + 1] * u.d,
        }
    }
    #[inline(always)]
    fn value(self) -> Interval<T> {
        self.v
    }
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Network<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// An interval that holds f(x) = d_1...d_N F(x) for **every** x in the box
    /// [lower, upper] (module docs: interval jets, outward rounding, the activations'
    /// allowances). Its width shrinks linearly with the box; a degenerate box
    /// (lower = upper) encloses f at that point, rigorously.
    ///
    /// Errors: `DimensionMismatch`, `NonFiniteInput`, `EmptyInterval { axis }` (lower > upper
    /// on that axis), `Overflow` when an end is not finite in `T`.
    ///
    /// ```
    /// use finn_core::{Activation, Antiderivative, Network};
    /// // F = tanh(2x + 1), f = 2 sech^2(2x + 1): on [-1, 0] its maximum is 2, at x = -1/2.
    /// let net = Network::<f64, 1, 1, 1>::signed(Activation::Tanh, &[1], &[2.0, 1.0, 1.0]).unwrap();
    /// let e = net.integrand_enclosure(&[-1.0], &[0.0]).unwrap();
    /// assert!(e.hi >= 2.0 && e.hi < 2.0 + 1e-12);
    /// assert!(e.contains(net.integrand(&[-0.3]).unwrap()));
    /// // Smaller boxes, tighter enclosures.
    /// let small = net.integrand_enclosure(&[-0.31], &[-0.29]).unwrap();
    /// assert!(small.width() < 0.1 * e.width());
    /// ```
    pub fn integrand_enclosure(&self, lower: &[T], upper: &[T]) -> Result<Interval<T>, Error> {
        let x = box_intervals::<T, N>(lower, upper)?;
        finite_interval(self.enclose::<Interval<T>>(&x, 0))
    }

    /// As [`Network::integrand_enclosure`], intersected with the mean-value (centred) form
    /// f(m) + sum_i \[d_i f\](box) (x_i - m_i), m the box's centre: f(m) and the slopes d_i f
    /// over the box are enclosed by the same interval jets on dual numbers (one pass per
    /// axis, about 3 times the cost of [`Network::integrand_enclosure`] each). Near a
    /// smooth maximum, where d_i f is small, its overestimate shrinks quadratically with
    /// the box rather than linearly: what a branch and bound on sup f needs.
    ///
    /// Errors as for [`Network::integrand_enclosure`].
    ///
    /// ```
    /// use finn_core::{Antiderivative, Network};
    /// // Three sigma_2 ridges whose lines do not meet: f has its maximum where no unit peaks.
    /// let p = [0.8, 0.6, 1.1, 0.3, 0.5, 1.2, 0.1, -0.4, 0.7, 1.0, 0.5, 0.8];
    /// let net = Network::<f64, 2, 4, 1>::positive(&[3], &p).unwrap();
    /// let top = [0.5320741459727287, -0.8158351480960846]; // located by a local search
    /// let f_max = net.integrand(&top).unwrap();
    /// let (lo, hi) = ([top[0] - 1e-3, top[1] - 1e-3], [top[0] + 1e-3, top[1] + 1e-3]);
    /// let natural = net.integrand_enclosure(&lo, &hi).unwrap();
    /// let centred = net.integrand_enclosure_centred(&lo, &hi).unwrap();
    /// assert!(centred.hi >= f_max && centred.hi - f_max < 0.1 * (natural.hi - f_max));
    /// ```
    pub fn integrand_enclosure_centred(
        &self,
        lower: &[T],
        upper: &[T],
    ) -> Result<Interval<T>, Error> {
        let x = box_intervals::<T, N>(lower, upper)?;
        finite_interval(self.enclose_centred(&x))
    }

    /// Enclosures of the gradient of f over the box: entry i holds d_i f(x) for every x in
    /// [lower, upper] (interval jets on dual numbers, one pass per axis). With the enclosure
    /// of f at the centre m they give the mean-value form f(m) + sum_i [d_i f] (x_i - m_i)
    /// ([`Network::integrand_enclosure_centred`]); a caller that adds several functions (a
    /// mixture) sums their gradients first, so that they can cancel.
    ///
    /// Errors as for [`Network::integrand_enclosure`].
    ///
    /// ```
    /// use finn_core::{Activation, Network};
    /// // f = 2 sech^2(2x + 1): f' = -8 sech^2 tanh (2x + 1), 0 at x = -1/2.
    /// let net = Network::<f64, 1, 1, 1>::signed(Activation::Tanh, &[1], &[2.0, 1.0, 1.0]).unwrap();
    /// let [g] = net.integrand_gradient_enclosure(&[-0.51], &[-0.49]).unwrap();
    /// assert!(g.contains(0.0) && g.width() < 0.35);
    /// let [g] = net.integrand_gradient_enclosure(&[-2.0], &[-1.5]).unwrap();
    /// assert!(g.lo > 0.0);
    /// ```
    pub fn integrand_gradient_enclosure(
        &self,
        lower: &[T],
        upper: &[T],
    ) -> Result<[Interval<T>; N], Error> {
        let x = box_intervals::<T, N>(lower, upper)?;
        let mut g = [Interval::point(T::ZERO); N];
        for (i, gi) in g.iter_mut().enumerate() {
            *gi = finite_interval(self.enclose::<Slope<T>>(&x, i).d)?;
        }
        Ok(g)
    }

    /// The natural enclosure intersected with the mean-value form (not yet checked).
    fn enclose_centred(&self, x: &[Interval<T>; N]) -> Interval<T> {
        let half = T::from_f64(0.5);
        let mut centre = [Interval::point(T::ZERO); N];
        for i in 0..N {
            let m = (x[i].lo + (x[i].hi - x[i].lo) * half)
                .max(x[i].lo)
                .min(x[i].hi);
            centre[i] = Interval::point(m);
        }
        let mut mean_value = self.enclose::<Interval<T>>(&centre, 0);
        let mut natural: Option<Interval<T>> = None;
        for i in 0..N {
            if x[i].lo == x[i].hi {
                continue; // no extent along this axis
            }
            let s = self.enclose::<Slope<T>>(x, i);
            natural = Some(natural.map_or(s.v, |e| e.intersect(s.v)));
            mean_value += s.d * (x[i] - centre[i]);
        }
        match natural {
            Some(e) => e.intersect(mean_value),
            None => mean_value,
        }
    }

    /// The interval of first-layer unit `j`'s preactivation over the box: exact up to
    /// outward rounding (each weight times its interval, split by sign).
    fn first_preactivation_enclosure(&self, j: usize, x: &[Interval<T>; N]) -> Interval<T> {
        let mut z = Interval::point(self.biases[0][j]);
        for (w, xi) in self.first[j].iter().zip(x) {
            z += Interval::point(*w) * *xi;
        }
        z
    }

    /// f over the box of intervals `x` on coefficients `C` (for [`Slope`], the derivative
    /// along `axis`); not yet checked for overflow (NaN or infinite ends).
    fn enclose<C: Enclosing<T>>(&self, x: &[Interval<T>; N], axis: usize) -> C {
        let widths = self.layers();
        let w0 = self.first_width();
        let depth = widths.len();
        let orders = N + 1 + C::EXTRA;
        let mut d = [Interval::point(T::ZERO); MAX_DIM + 2];
        let mut f = C::zero();
        let nan = C::constant(T::ZERO * (T::ONE / T::ZERO));
        if depth <= 1 {
            // One hidden layer: f = sum_j a_j g^(n)(z_j) prod_i w_ji.
            for j in 0..w0 {
                let z = self.first_preactivation_enclosure(j, x);
                derivative_enclosures(self.activation, N, z, &mut d[..orders]);
                let zc = C::preactivation(z, self.first[j][axis]);
                let mut term = C::constant(self.output[j]) * C::derivative(&d, N, zc);
                for w in &self.first[j] {
                    term = term * C::constant(*w);
                }
                f += term;
            }
            return f;
        }
        let zero = <Dim<N> as JetDim>::zero::<C>();
        let mut prev = [zero; W];
        for (j, jet) in prev.iter_mut().enumerate().take(w0) {
            let z = self.first_preactivation_enclosure(j, x);
            derivative_enclosures(self.activation, N, z, &mut d[..orders]);
            let zc = C::preactivation(z, self.first[j][axis]);
            // [g(z)]_S = g^(|S|)(z) prod_(i in S) w_i; the products extend smaller subsets.
            let jet = jet.as_mut();
            jet[0] = C::constant(T::ONE);
            for (i, &wi) in self.first[j].iter().enumerate() {
                let half = 1usize << i;
                for s in 0..half {
                    jet[half + s] = jet[s] * C::constant(wi);
                }
            }
            for (s, c) in jet.iter_mut().enumerate() {
                *c = *c * C::derivative(&d, s.count_ones() as usize, zc);
            }
        }
        let mut next = [zero; W];
        let mut dc = [C::zero(); MAX_DIM + 1];
        for l in 1..depth {
            let last = l + 1 == depth;
            let fan_in = widths[l - 1];
            for k in 0..widths[l] {
                let mut u = zero;
                let uu = u.as_mut();
                uu[0] = C::constant(self.biases[l][k]);
                for (w, pj) in self.weights_into(l)[k].iter().zip(&prev).take(fan_in) {
                    let w = C::constant(*w);
                    for (c, p) in uu.iter_mut().zip(pj.as_ref()) {
                        *c += w * *p;
                    }
                }
                derivative_enclosures(self.activation, N, uu[0].value(), &mut d[..orders]);
                for (o, c) in dc.iter_mut().enumerate().take(N + 1) {
                    *c = C::derivative(&d, o, uu[0]);
                }
                // The slices have the lengths compose checks: it cannot fail here.
                if last {
                    let mut v = zero;
                    if compose::<C, N>(&dc[..N + 1], uu, v.as_mut(), true).is_err() {
                        return nan;
                    }
                    f += C::constant(self.output[k]) * v.as_ref()[(1 << N) - 1];
                } else if compose::<C, N>(&dc[..N + 1], uu, next[k].as_mut(), false).is_err() {
                    return nan;
                }
            }
            if !last {
                core::mem::swap(&mut prev, &mut next);
            }
        }
        f
    }
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Finn<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// An interval that holds the model's f(x) = scale f'(x) + shift for every x in the box
    /// [lower, upper] ([`Network::integrand_enclosure`] of the network, then the resolved
    /// constants, the shift (gap + gap_low) / vol(domain) enclosed too). The box may reach
    /// outside the domain: f is defined everywhere.
    ///
    /// Errors: `InvalidShape` (an unloaded model), then as for
    /// [`Network::integrand_enclosure`].
    ///
    /// ```
    /// use finn_core::{Antiderivative, Bound, Constraint, Domain, Finn, Method, Network};
    /// let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let c = Constraint::new(Bound::Equal, Method::Scale, 3.0);
    /// let model = Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(c)).unwrap();
    /// let e = model.integrand_enclosure(&[0.5], &[0.75]).unwrap();
    /// assert!(e.contains(model.integrand(&[0.6]).unwrap()));
    /// assert!(e.lo >= 0.0);
    /// ```
    pub fn integrand_enclosure(&self, lower: &[T], upper: &[T]) -> Result<Interval<T>, Error> {
        self.enclosure_of(lower, upper, false)
    }

    /// As [`Finn::integrand_enclosure`] with the network's
    /// [`Network::integrand_enclosure_centred`] (tighter on small boxes, about 3N times the
    /// cost).
    ///
    /// Errors as for [`Finn::integrand_enclosure`].
    ///
    /// ```
    /// use finn_core::{Antiderivative, Domain, Finn, Network};
    /// let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let model = Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), None).unwrap();
    /// let (lo, hi) = ([0.5], [0.5001]);
    /// let c = model.integrand_enclosure_centred(&lo, &hi).unwrap();
    /// assert!(c.contains(model.integrand(&[0.50005]).unwrap()));
    /// assert!(c.width() <= model.integrand_enclosure(&lo, &hi).unwrap().width());
    /// ```
    pub fn integrand_enclosure_centred(
        &self,
        lower: &[T],
        upper: &[T],
    ) -> Result<Interval<T>, Error> {
        self.enclosure_of(lower, upper, true)
    }

    /// Enclosures of the gradient of the model's f = scale f' + shift over the box
    /// ([`Network::integrand_gradient_enclosure`] times the scale; the shift is constant).
    ///
    /// Errors as for [`Finn::integrand_enclosure`].
    ///
    /// ```
    /// use finn_core::{Antiderivative, Domain, Finn, Network};
    /// let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let model = Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), None).unwrap();
    /// let [g] = model.integrand_gradient_enclosure(&[0.5], &[0.6]).unwrap();
    /// let slope = (model.integrand(&[0.6]).unwrap() - model.integrand(&[0.5]).unwrap()) / 0.1;
    /// assert!(g.contains(slope));
    /// ```
    pub fn integrand_gradient_enclosure(
        &self,
        lower: &[T],
        upper: &[T],
    ) -> Result<[Interval<T>; N], Error> {
        self.check_loaded()?;
        let g = self.network().integrand_gradient_enclosure(lower, upper)?;
        let s = Interval::point(self.constants().scale);
        let mut out = g;
        for o in out.iter_mut() {
            *o = finite_interval(s * *o)?;
        }
        Ok(out)
    }

    /// The natural or centred enclosure of the model's f.
    fn enclosure_of(&self, lower: &[T], upper: &[T], centred: bool) -> Result<Interval<T>, Error> {
        self.check_loaded()?;
        let x = box_intervals::<T, N>(lower, upper)?;
        let base = finite_interval(if centred {
            self.network().enclose_centred(&x)
        } else {
            self.network().enclose::<Interval<T>>(&x, 0)
        })?;
        let c = self.constants();
        let d = self.domain();
        let mut volume = Interval::point(T::ONE);
        for (a, b) in d.lower().iter().zip(d.upper()) {
            volume = volume * (Interval::point(*b) - Interval::point(*a));
        }
        let gap = Interval::point(c.gap) + Interval::point(c.gap_low);
        // volume > 0 (checked at load): divide the ends, outward.
        let q = [
            gap.lo / volume.lo,
            gap.lo / volume.hi,
            gap.hi / volume.lo,
            gap.hi / volume.hi,
        ];
        let shift = Interval {
            lo: down(min_nan(min_nan(q[0], q[1]), min_nan(q[2], q[3]))),
            hi: up(max_nan(max_nan(q[0], q[1]), max_nan(q[2], q[3]))),
        };
        finite_interval(Interval::point(c.scale) * base + shift)
    }
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Density<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// An interval that holds pdf(x) for every x in the box [lower, upper]: the model's
    /// enclosure over the box clipped to the support (lower end raised to 0, as the pdf is
    /// never negative), and 0 as the lower end when the box reaches outside the support,
    /// where the pdf is 0. A box that misses the support gives [0, 0]. Infinite bounds are
    /// allowed.
    ///
    /// Errors: `NonFiniteInput` for NaN, `EmptyInterval { axis }` (lower > upper),
    /// `InvalidShape` (unloaded), `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// // The density never exceeds e.hi anywhere: inside the support and out.
    /// let e = p.pdf_enclosure(&[f64::NEG_INFINITY], &[f64::INFINITY]).unwrap();
    /// assert_eq!(e.lo, 0.0);
    /// assert!(e.hi >= p.pdf(&[1.0]).unwrap());
    /// assert_eq!(p.pdf_enclosure(&[3.0], &[4.0]).unwrap().hi, 0.0);
    /// ```
    pub fn pdf_enclosure(&self, lower: &[T; N], upper: &[T; N]) -> Result<Interval<T>, Error> {
        self.enclosure_of(lower, upper, false)
    }

    /// As [`Density::pdf_enclosure`] with the centred form of
    /// [`Finn::integrand_enclosure_centred`] (tighter on small boxes, about 3N times the
    /// cost).
    ///
    /// Errors as for [`Density::pdf_enclosure`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let e = p.pdf_enclosure_centred(&[0.9], &[0.9001]).unwrap();
    /// assert!(e.contains(p.pdf(&[0.90005]).unwrap()));
    /// ```
    pub fn pdf_enclosure_centred(
        &self,
        lower: &[T; N],
        upper: &[T; N],
    ) -> Result<Interval<T>, Error> {
        self.enclosure_of(lower, upper, true)
    }

    /// Enclosures of the pdf's gradient over a box inside the (closed) support
    /// ([`Finn::integrand_gradient_enclosure`] of the model); `None` for a box that reaches
    /// outside, where the pdf jumps to 0 and has no gradient.
    ///
    /// Errors as for [`Density::pdf_enclosure`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, Method, Network};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// assert!(p.pdf_gradient_enclosure(&[0.5], &[0.6]).unwrap().is_some());
    /// assert!(p.pdf_gradient_enclosure(&[1.5], &[2.5]).unwrap().is_none());
    /// ```
    pub fn pdf_gradient_enclosure(
        &self,
        lower: &[T; N],
        upper: &[T; N],
    ) -> Result<Option<[Interval<T>; N]>, Error> {
        self.finn().check_loaded()?;
        let (a, b) = (self.support().lower(), self.support().upper());
        for i in 0..N {
            if lower[i].is_nan() || upper[i].is_nan() {
                return Err(Error::NonFiniteInput);
            }
            if lower[i] > upper[i] {
                return Err(Error::EmptyInterval { axis: i });
            }
            if lower[i] < a[i] || upper[i] > b[i] {
                return Ok(None);
            }
        }
        self.finn()
            .integrand_gradient_enclosure(lower, upper)
            .map(Some)
    }

    /// The natural or centred enclosure of the pdf.
    fn enclosure_of(
        &self,
        lower: &[T; N],
        upper: &[T; N],
        centred: bool,
    ) -> Result<Interval<T>, Error> {
        self.finn().check_loaded()?;
        let (a, b) = (self.support().lower(), self.support().upper());
        let (mut lo, mut hi) = (*lower, *upper);
        let mut inside = true;
        for i in 0..N {
            if lower[i].is_nan() || upper[i].is_nan() {
                return Err(Error::NonFiniteInput);
            }
            if lower[i] > upper[i] {
                return Err(Error::EmptyInterval { axis: i });
            }
            if lower[i] < a[i] {
                lo[i] = a[i];
                inside = false;
            }
            if upper[i] > b[i] {
                hi[i] = b[i];
                inside = false;
            }
        }
        if (0..N).any(|i| lo[i] > hi[i]) {
            return Ok(Interval::point(T::ZERO));
        }
        let e = self.finn().enclosure_of(&lo, &hi, centred)?;
        Ok(Interval {
            lo: if inside { e.lo.max(T::ZERO) } else { T::ZERO },
            hi: e.hi.max(T::ZERO),
        })
    }
}

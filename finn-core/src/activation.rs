//! The activations and all their derivatives, in closed form.
//!
//! * [`Activation::Sigma`]: the positive activation sigma_n of the paper (Eq. 16), the
//!   (n-1)-fold integral of (1 + erf x)/2. With g_k(x) = i^k erfc(-x), the repeated integral of
//!   erfc (Abramowitz & Stegun 7.2):
//!   sigma_n^(j) = g_(n-1-j) / 2 for 0 <= j <= n, and
//!   sigma_n^(n+m) = (-1)^m H_m(x) exp(-x^2) / sqrt(pi) (physicists' Hermite H_m).
//! * [`Activation::Tanh`]: a smooth activation for signed networks;
//!   tanh^(k) = sech^2(x) Q_k(tanh x) with Q_1 = 1, Q_(k+1) = -2t Q_k + (1 - t^2) Q_k'.
//!
//! Numerics of sigma_n: the forward recurrence g_k = (x/k) g_(k-1) + g_(k-2)/(2k) only adds
//! positive terms for x >= 0 and loses little for moderately negative x, but cancels
//! catastrophically for x << 0. There i^k erfc(z) (z = -x > 0) is the *minimal* solution of the
//! recurrence, so the ratios r_k = i^k erfc(z) / i^(k-1) erfc(z) come out stably from the
//! backward recurrence r_(k-1) = 1 / (2z + 2k r_k), started far enough up at the fixed point of
//! the same map; g_0 = erfc(z) comes from libm, which is accurate in relative terms in its tail.
//! Every value is a product or sum of non-negative terms, so sigma_n^(j) for j <= n is never
//! negative and is 0 only by underflow.

use crate::{Error, Real};

/// Largest input dimension n supported (jets have 2^n coefficients).
pub const MAX_DIM: usize = 8;
/// Largest derivative order an activation evaluates (n + 1 for training at n = [`MAX_DIM`],
/// plus headroom for trajectory jerk).
pub const MAX_ORDER: usize = MAX_DIM + 4;

/// 2 / sqrt(pi) in `T` (to double-double precision where `T` has it): f64's nearest value
/// plus the rest.
#[inline(always)]
pub(crate) fn two_over_sqrt_pi<T: Real>() -> T {
    T::from_f64_sum(core::f64::consts::FRAC_2_SQRT_PI, 1.533_545_961_316_588e-17)
}

/// The nonlinearity of a network's hidden units.
///
/// ```
/// use finn_core::Activation;
/// // sigma_1 = (1 + erf x)/2, so sigma_1(0) = 1/2 and sigma_1'(0) = 1/sqrt(pi).
/// let mut d = [0.0f64; 2];
/// Activation::Sigma.derivatives(1, 0.0, &mut d).unwrap();
/// assert!((d[0] - 0.5).abs() < 1e-15);
/// assert!((d[1] - 1.0 / core::f64::consts::PI.sqrt()).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Activation {
    /// sigma_n (paper Eq. 16): its first n derivatives are positive, which makes positive
    /// networks non-negative.
    Sigma,
    /// tanh: smooth, bounded, for signed networks.
    Tanh,
}

impl Activation {
    /// Writes the derivatives of order 0..out.len() at `x` into `out`; `n` is the input
    /// dimension of the network (sigma_n depends on it; tanh ignores it).
    ///
    /// Errors: `OrderTooHigh` if `out.len() > MAX_ORDER + 1` or `n` is not in `1..=MAX_DIM`,
    /// `NonFiniteInput` for NaN. Infinite `x` gives the limits (0 or infinity), never NaN.
    pub fn derivatives<T: Real>(self, n: usize, x: T, out: &mut [T]) -> Result<(), Error> {
        if out.len() > MAX_ORDER + 1 || n == 0 || n > MAX_DIM {
            return Err(Error::OrderTooHigh);
        }
        if x.is_nan() {
            return Err(Error::NonFiniteInput);
        }
        self.fill_derivatives(n, x, out);
        Ok(())
    }

    /// [`Activation::derivatives`] without its checks, for callers whose `n` and `out` are
    /// valid by construction (a NaN `x` gives NaN, which the caller's final check reports).
    #[inline(always)]
    pub(crate) fn fill_derivatives<T: Real>(self, n: usize, x: T, out: &mut [T]) {
        match self {
            Activation::Sigma => sigma_derivatives(n.clamp(1, MAX_DIM), x, out),
            Activation::Tanh => tanh_derivatives(x, out),
        }
    }

    /// The activation's value (order 0) at x, for input dimension `n` (sigma_n; ignored by
    /// tanh).
    ///
    /// Errors: `NonFiniteInput` for a NaN or infinite x, `DimensionMismatch` for n outside
    /// 1..=[`MAX_DIM`], `Overflow` when the value is not finite in `T` (sigma_n grows like
    /// x^(n-1)).
    ///
    /// ```
    /// use finn_core::{Activation, Error};
    /// assert_eq!(Activation::Tanh.value(1, 0.0f64), Ok(0.0));
    /// assert_eq!(Activation::Tanh.value(1, f64::NAN), Err(Error::NonFiniteInput));
    /// ```
    pub fn value<T: Real>(self, n: usize, x: T) -> Result<T, Error> {
        if !x.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        if !(1..=MAX_DIM).contains(&n) {
            return Err(Error::DimensionMismatch {
                expected: MAX_DIM,
                found: n,
            });
        }
        crate::error::finite(self.value_unchecked(n, x))
    }

    /// Upper bounds on |g^(k)(z)| over all z, k = 0..=3, for the activation of a one-input
    /// (time) network: tanh (1, 1, 4/(3 sqrt 3), 2) and sigma_1 = (1 + erf)/2
    /// (1, 1/sqrt(pi), sqrt(2/e)/sqrt(pi), 2/sqrt(pi)), each rounded up.
    ///
    /// ```
    /// use finn_core::Activation;
    /// for act in [Activation::Tanh, Activation::Sigma] {
    ///     let b = act.time_derivative_bounds::<f64>();
    ///     let mut d = [0.0; 4];
    ///     for i in -600..=600 {
    ///         act.derivatives(1, i as f64 * 0.01, &mut d).unwrap();
    ///         assert!(d.iter().zip(&b).all(|(v, m)| v.abs() <= *m));
    ///     }
    /// }
    /// ```
    pub fn time_derivative_bounds<T: Real>(self) -> [T; 4] {
        let b = match self {
            Activation::Tanh => [1.0, 1.0, 0.7699, 2.0],
            Activation::Sigma => [1.0, 0.5642, 0.4840, 1.1285],
        };
        b.map(T::from_f64)
    }

    /// [`Activation::value`] without its checks, for the forward pass (whose final check
    /// reports a non-finite result).
    #[inline]
    pub(crate) fn value_unchecked<T: Real>(self, n: usize, x: T) -> T {
        match self {
            Activation::Sigma => {
                let mut g = [T::ZERO; MAX_DIM + 1];
                let n = n.clamp(1, MAX_DIM);
                repeated_erfc(x, &mut g[..n + 1]);
                g[n] * T::from_f64(0.5)
            }
            Activation::Tanh => {
                // The same formula as the derivatives, so F and its jets agree bit for bit.
                let mut t = [T::ZERO; 1];
                tanh_derivatives(x, &mut t);
                t[0]
            }
        }
    }
}

/// sigma_n^(j)(x) for j = 0..out.len() (n in 1..=MAX_DIM, out.len() <= MAX_ORDER + 1).
fn sigma_derivatives<T: Real>(n: usize, x: T, out: &mut [T]) {
    // g[k + 1] = g_k = i^k erfc(-x) for k = -1..=n-1.
    let mut g = [T::ZERO; MAX_DIM + 1];
    repeated_erfc(x, &mut g[..n + 1]);
    let half = T::from_f64(0.5);
    for (j, o) in out.iter_mut().enumerate().take(n + 1) {
        *o = g[n - j] * half;
    }
    if out.len() > n + 1 {
        // sigma_n^(n+m) = (-1)^m H_m(x) * sigma_n^(n); H by its three-term recurrence.
        let base = g[0] * half;
        let two_x = x + x;
        let (mut h_prev, mut h) = (T::ONE, two_x);
        for (m, o) in out.iter_mut().enumerate().skip(n + 1) {
            let m = m - n;
            let v = h * base;
            // A 0 * inf at |x| = inf is an underflowed Gaussian: the limit is 0.
            let v = if v.is_nan() { T::ZERO } else { v };
            *o = if m % 2 == 1 { -v } else { v };
            let next = two_x * h - T::from_usize(2 * m) * h_prev;
            h_prev = h;
            h = next;
        }
    }
}

/// exp(-x^2) to about one ulp in either precision: x * x rounds, and at |x| = 9 that rounding
/// alone costs 5e-6 relative in f32. Veltkamp's split x = hi + lo makes hi^2 exact, and the
/// small remainder -(2 hi + lo) lo goes through its own exp.
#[inline]
pub(crate) fn gaussian<T: Real>(x: T) -> T {
    let ax = x.abs();
    if ax > T::from_f64(40.0) {
        return T::ZERO; // underflows in both types; also keeps the split below from overflowing
    }
    let f64_like = T::EPSILON.to_f64() < 1e-10;
    let split = T::from_f64(if f64_like { 134_217_729.0 } else { 4097.0 });
    let c = split * ax;
    let hi = c - (c - ax);
    let lo = ax - hi;
    (-(hi * hi)).exp() * (-((hi + hi + lo) * lo)).exp()
}

/// The backward recurrence's start in double-double: `C_WIDE / z + LEAST_WIDE` orders above
/// the top.
const C_WIDE: f64 = 300.0;
/// See [`C_WIDE`].
const LEAST_WIDE: usize = 12;

/// Fills g[k + 1] = i^k erfc(-x) for k = -1..=g.len()-2 (the repeated integrals of erfc).
fn repeated_erfc<T: Real>(x: T, g: &mut [T]) {
    let kmax = g.len() - 1; // highest k
    let gauss = two_over_sqrt_pi::<T>() * gaussian(x);
    g[0] = gauss;
    if kmax == 0 {
        return;
    }
    // The forward recurrence amplifies the rounding of g_-1 and g_0 for x < 0 (about 500x at
    // x = -0.93, k = 7). f64 keeps ~3e-13 relative down to -1.5 (k <= 7); f32 switches to the
    // backward path at -0.5 (measured worst 9e-7 relative over [-30, 30], n <= 8).
    let f64_like = T::EPSILON.to_f64() < 1e-10;
    let threshold = T::from_f64(if f64_like { -1.5 } else { -0.5 });
    if x >= threshold {
        g[1] = (-x).erfc();
        for k in 2..=kmax {
            let kk = T::from_usize(k - 1);
            g[k] = x / kk * g[k - 1] + g[k - 2] / (kk + kk);
        }
        return;
    }
    let z = -x;
    g[1] = z.erfc();
    if kmax == 1 || g[1] == T::ZERO {
        for v in g.iter_mut().skip(2) {
            *v = T::ZERO;
        }
        return;
    }
    // Backward recurrence for the ratios, started `extra` orders above the top. The start
    // error shrinks geometrically, faster for larger z (tuned against the 400-digit
    // reference: <= 2e-15 in f64 for k <= 7, z >= 1.5; double-double, whose unit roundoff
    // is below 1e-20, needs about twice the orders: <= 1e-24 against the 25-digit table).
    let wide = T::EPSILON.to_f64() < 1e-20;
    let (c, least) = match (wide, f64_like) {
        (true, _) => (C_WIDE, LEAST_WIDE),
        (false, true) => (110.0, 6),
        (false, false) => (30.0, 6),
    };
    let zf = z.to_f64();
    let extra = if zf > c {
        least
    } else {
        (c / zf) as usize + least
    };
    let top = kmax - 1 + extra;
    let two_z = z + z;
    let mut r = T::ONE / (z + (z * z + T::from_usize(2 * (top + 1))).sqrt());
    let mut ratios = [T::ZERO; MAX_DIM + 1];
    for k in (1..=top).rev() {
        if k < kmax {
            ratios[k] = r;
        }
        let kk = T::from_usize(2 * k);
        r = T::ONE / (two_z + kk * r);
    }
    for k in 2..=kmax {
        g[k] = g[k - 1] * ratios[k - 1];
    }
}

/// tanh^(k)(x) for k = 0..out.len(). Always inlined: with a known `out.len()` the closed-form
/// branches fold away, which is most of a trajectory sample's activation cost on a device.
#[inline(always)]
fn tanh_derivatives<T: Real>(x: T, out: &mut [T]) {
    // One exponential for both tanh and sech^2 (it matters on a Cortex-M), each free of
    // cancellation: `Real::tanh_sech2` (in f32 finn-core's own, `crate::tanh`).
    let (t, sech2) = x.tanh_sech2();
    if let Some(o) = out.first_mut() {
        *o = t;
    }
    if out.len() < 2 {
        return;
    }
    if out.len() <= 5 {
        // Closed forms (s = sech^2, no 1 - t^2 cancellation): tanh' = s, tanh'' = -2ts,
        // tanh''' = s (4t^2 - 2s), tanh'''' = 8ts (2s - t^2). The common trajectory case.
        let s = sech2;
        let two = T::from_f64(2.0);
        let t2 = t * t;
        out[1] = s;
        if out.len() > 2 {
            out[2] = -two * t * s;
        }
        if out.len() > 3 {
            out[3] = s * (T::from_f64(4.0) * t2 - two * s);
        }
        if out.len() > 4 {
            out[4] = T::from_f64(8.0) * t * s * (two * s - t2);
        }
        return;
    }
    // Q_k as coefficients in t (degree k - 1).
    let mut q = [T::ZERO; MAX_ORDER + 1];
    q[0] = T::ONE;
    for (k, o) in out.iter_mut().enumerate().skip(1) {
        // evaluate Q_k(t) by Horner
        let mut v = T::ZERO;
        for c in q[..k].iter().rev() {
            v = v * t + *c;
        }
        *o = sech2 * v;
        // Q_(k+1)(t) = -2t Q_k + (1 - t^2) Q_k'  (coefficient form; 1 - t^2 expanded)
        let mut next = [T::ZERO; MAX_ORDER + 1];
        for i in 0..k {
            let c = q[i];
            // -2t * c t^i
            next[i + 1] -= c + c;
            if i >= 1 {
                // (1 - t^2) * i c t^(i-1)
                let ic = T::from_usize(i) * c;
                next[i - 1] += ic;
                next[i + 1] -= ic;
            }
        }
        q = next;
    }
}

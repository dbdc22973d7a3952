//! Multilinear jets: the exact mixed partials of a value with respect to n inputs.
//!
//! A jet over n variables stores one coefficient per subset S of {0..n-1} (bit i of the index
//! set when variable i is in S): coefficient S is d_S v, the mixed partial over the variables
//! in S. Each variable is differentiated at most once (e_i^2 = 0), which is exactly what
//! f = d_1...d_n F needs, and the full set's coefficient is f itself.
//!
//! * A first-layer unit sigma(z0 + sum_i w_i x_i) has the closed form
//!   \[sigma\]_S = sigma^(|S|)(z0) prod_(i in S) w_i ([`weight_products`]).
//! * Linear maps act on jets coefficient by coefficient.
//! * An activation applied to a jet u follows the multivariate Faa di Bruno formula
//!   [sigma(u)]_S = sum over partitions P of S of sigma^(|P|)(u_0) prod_(B in P) u_B
//!   ([`compose`]).
//!
//! Jets are fixed-size arrays; [`JetDim`] maps a dimension `N` to the array `[T; 2^N]`, which
//! stable const generics cannot spell directly.

use crate::activation::MAX_DIM;
use crate::{Error, Real};
use core::ops::{Add, AddAssign, Mul};

/// What a jet coefficient needs: addition, multiplication and a zero. Every [`Real`] is one,
/// and so is an [`Interval`](crate::Interval) (outward-rounded interval arithmetic), so the
/// same Faa di Bruno code ([`compose`]) computes a point jet and a rigorous enclosure of the
/// jet over a box ([`Network::integrand_enclosure`](crate::Network::integrand_enclosure)).
///
/// ```
/// use finn_core::jet::Coefficient;
/// fn dot<C: Coefficient>(a: &[C], b: &[C]) -> C {
///     let mut s = C::zero();
///     for (x, y) in a.iter().zip(b) {
///         s += *x * *y;
///     }
///     s
/// }
/// assert_eq!(dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
pub trait Coefficient: Copy + Add<Output = Self> + Mul<Output = Self> + AddAssign {
    /// The additive identity.
    fn zero() -> Self;
}

impl<T: Real> Coefficient for T {
    #[inline(always)]
    fn zero() -> Self {
        T::ZERO
    }
}

/// Marker for an input dimension `N` (see [`JetDim`]).
pub struct Dim<const N: usize>;

/// Dimensions with a jet type: `Dim<1>` through `Dim<8>`.
///
/// Generic code over the input dimension carries the bound `Dim<N>: JetDim`.
///
/// ```
/// use finn_core::jet::{Dim, JetDim};
/// let j = <Dim<3> as JetDim>::zero::<f64>();
/// assert_eq!(j.as_ref().len(), 8);
/// ```
pub trait JetDim {
    /// The coefficient array, `[C; 2^N]`.
    type Jet<C: Coefficient>: Copy + AsRef<[C]> + AsMut<[C]>;
    /// A jet with every coefficient 0.
    fn zero<C: Coefficient>() -> Self::Jet<C>;
}

macro_rules! jet_dims {
    ($($n:literal)*) => {$(
        impl JetDim for Dim<$n> {
            type Jet<C: Coefficient> = [C; 1 << $n];
            #[inline(always)]
            fn zero<C: Coefficient>() -> Self::Jet<C> {
                [C::zero(); 1 << $n]
            }
        }
    )*};
}
jet_dims!(1 2 3 4 5 6 7 8);

const _: () = assert!(MAX_DIM == 8, "jet_dims! must cover 1..=MAX_DIM");

/// out\[S\] = prod over i in S of w\[i\], for every subset S of the n = w.len() inputs.
///
/// ```
/// let mut out = [0.0f64; 4];
/// finn_core::jet::weight_products(&[2.0, 3.0], &mut out).unwrap();
/// assert_eq!(out, [1.0, 2.0, 3.0, 6.0]);
/// ```
#[inline]
pub fn weight_products<T: Real>(w: &[T], out: &mut [T]) -> Result<(), Error> {
    need(
        w.len() <= MAX_DIM && out.len() >= 1 << w.len(),
        1 << w.len().min(MAX_DIM),
        out.len(),
    )?;
    out[0] = T::ONE;
    // Each subset extends a smaller one by its highest variable: one product per coefficient.
    for (i, &wi) in w.iter().enumerate() {
        let half = 1usize << i;
        for s in 0..half {
            out[half + s] = out[s] * wi;
        }
    }
    Ok(())
}

/// Jet of an activation applied to the jet `u`, by Faa di Bruno over set partitions.
///
/// `d[k]` holds sigma^(k)(u\[0\]) for k = 0..=n; `u` and `out` have 2^n coefficients. The
/// coefficients are any [`Coefficient`]: real numbers for f at a point, or
/// [`Interval`](crate::Interval)s for an enclosure of f over a box (the same code; the point
/// path compiles to the same instructions as before it was generic). With
/// `full_only`, only `out[2^n - 1]` (the full mixed partial) is computed, which needs roughly
/// half the work; the other coefficients of `out` are then left untouched.
///
/// The partitions are grouped by block count k: Q_k(S) = sum over partitions of S into k blocks
/// of prod u_B, built from the block that holds the lowest variable of S. Cost about
/// n 3^n / 2 multiply-adds, instead of one term per partition (Bell numbers).
///
/// ```
/// use finn_core::jet::compose;
/// // exp(u) with u = a x + b y + c x y (n = 2): d_xy exp(u) = exp(u0) (c + a b) at u0 = 0.
/// let (a, b, c) = (2.0f64, 3.0, 5.0);
/// let u = [0.0, a, b, c];
/// let d = [1.0, 1.0, 1.0]; // exp and its derivatives at 0
/// let mut out = [0.0; 4];
/// compose::<f64, 2>(&d, &u, &mut out, false).unwrap();
/// // Short slices are an error, not a panic.
/// assert!(compose::<f64, 2>(&d, &u[..3], &mut out, false).is_err());
/// assert_eq!(out, [1.0, a, b, c + a * b]);
/// ```
pub fn compose<C: Coefficient, const N: usize>(
    d: &[C],
    u: &[C],
    out: &mut [C],
    full_only: bool,
) -> Result<(), Error>
where
    Dim<N>: JetDim,
{
    let len = 1usize << N;
    need(
        d.len() > N && u.len() >= len && out.len() >= len,
        len,
        u.len().min(out.len()),
    )?;
    let full = len - 1;
    // q[k - 1][S] = Q_k(S), k = 1..=N; sized by N so that small N pays for little zeroing.
    let mut q = [<Dim<N> as JetDim>::zero::<C>(); N];
    let q = q.each_mut().map(|j| j.as_mut());
    out[0] = d[0];
    for s in 1..len {
        if full_only && s & 1 == 1 && s != full {
            // Subsets holding variable 0 only ever appear as the full set itself.
            continue;
        }
        q[0][s] = u[s];
        let size = s.count_ones() as usize;
        if size >= 2 {
            let low = s & s.wrapping_neg();
            let rest_all = s ^ low;
            // Enumerate C over the proper subsets of rest_all (0 included): block B = C | low,
            // the remainder rest_all ^ C is non-empty.
            let mut c = rest_all;
            loop {
                c = c.wrapping_sub(1) & rest_all;
                let ub = u[c | low];
                let rest = rest_all ^ c;
                let kmax = rest.count_ones() as usize + 1;
                for k in 2..=kmax {
                    q[k - 1][s] += ub * q[k - 2][rest];
                }
                if c == 0 {
                    break;
                }
            }
        }
        if !full_only || s == full {
            let mut v = C::zero();
            for k in 1..=size {
                v += d[k] * q[k - 1][s];
            }
            out[s] = v;
        }
    }
    Ok(())
}

/// Reverse mode through [`compose`]: given the adjoint `v_bar` of its output, adds the adjoints
/// of its inputs into `u_bar` (per coefficient of `u`) and `d_bar` (per derivative order,
/// k = 0..=n).
///
/// With `full_only`, `v_bar` must be zero except at the full set (as when only f was used).
/// The Q tables are recomputed, then swept in decreasing subset order: each Q_k(S) only feeds
/// Q_(k+1) of supersets, which come later numerically. Cost about twice that of [`compose`].
///
/// ```
/// use finn_core::jet::{compose, compose_adjoint};
/// // d_xy g(u) = g''(u0) u_x u_y + g'(u0) u_xy; its derivative in u_x is g''(u0) u_y.
/// let (u, d) = ([0.3, 2.0, 3.0, 5.0], [1.0, 0.5, 0.25]);
/// let mut v = [0.0; 4];
/// compose::<f64, 2>(&d, &u, &mut v, true).unwrap();
/// let (mut u_bar, mut d_bar) = ([0.0; 4], [0.0; 3]);
/// compose_adjoint::<f64, 2>(&d, &u, &[0.0, 0.0, 0.0, 1.0], &mut u_bar, &mut d_bar, true).unwrap();
/// assert_eq!(u_bar, [0.0, 0.25 * 3.0, 0.25 * 2.0, 0.5]);
/// assert_eq!(d_bar, [0.0, 5.0, 6.0]);
/// ```
pub fn compose_adjoint<T: Real, const N: usize>(
    d: &[T],
    u: &[T],
    v_bar: &[T],
    u_bar: &mut [T],
    d_bar: &mut [T],
    full_only: bool,
) -> Result<(), Error>
where
    Dim<N>: JetDim,
{
    let len = 1usize << N;
    need(
        d.len() > N
            && d_bar.len() > N
            && u.len() >= len
            && v_bar.len() >= len
            && u_bar.len() >= len,
        len,
        u.len().min(v_bar.len()).min(u_bar.len()),
    )?;
    let full = len - 1;
    let skip = |s: usize| full_only && s & 1 == 1 && s != full;
    let mut q = [<Dim<N> as JetDim>::zero::<T>(); N];
    let q = q.each_mut().map(|j| j.as_mut());
    // Forward: the Q tables, exactly as in `compose`.
    for s in 1..len {
        if skip(s) {
            continue;
        }
        q[0][s] = u[s];
        if s.count_ones() >= 2 {
            let low = s & s.wrapping_neg();
            let rest_all = s ^ low;
            let mut c = rest_all;
            loop {
                c = c.wrapping_sub(1) & rest_all;
                let ub = u[c | low];
                let rest = rest_all ^ c;
                for k in 2..=rest.count_ones() as usize + 1 {
                    q[k - 1][s] += ub * q[k - 2][rest];
                }
                if c == 0 {
                    break;
                }
            }
        }
    }
    // Reverse: seed Q_bar from v[S] = sum_k d[k] Q_k(S), then unwind the recursion.
    let mut q_bar = [<Dim<N> as JetDim>::zero::<T>(); N];
    let q_bar = q_bar.each_mut().map(|j| j.as_mut());
    d_bar[0] += v_bar[0];
    for s in (1..len).rev() {
        if skip(s) {
            continue;
        }
        let size = s.count_ones() as usize;
        let vb = v_bar[s];
        for k in 1..=size {
            d_bar[k] += vb * q[k - 1][s];
            q_bar[k - 1][s] += vb * d[k];
        }
        if size >= 2 {
            let low = s & s.wrapping_neg();
            let rest_all = s ^ low;
            let mut c = rest_all;
            loop {
                c = c.wrapping_sub(1) & rest_all;
                let b = c | low;
                let rest = rest_all ^ c;
                let ub = u[b];
                let mut acc = T::ZERO;
                for k in 2..=rest.count_ones() as usize + 1 {
                    let qb = q_bar[k - 1][s];
                    acc += qb * q[k - 2][rest];
                    q_bar[k - 2][rest] += qb * ub;
                }
                u_bar[b] += acc;
                if c == 0 {
                    break;
                }
            }
        }
        u_bar[s] += q_bar[0][s];
    }
    Ok(())
}

/// Highest derivative order of univariate (time) jets: position through snap.
pub const MAX_TIME_ORDER: usize = 4;

/// Univariate chain rule (Faa di Bruno with partial Bell polynomials): given `u[k]` = u^(k)(t)
/// and `d[j]` = g^(j)(u(t)) for orders 0..K (K = u.len() - 1 <= [`MAX_TIME_ORDER`]), writes
/// (g o u)^(k)(t) into `out[k]`.
///
/// ```
/// use finn_core::jet::compose_univariate;
/// // g = exp, u = 2t at t = 0: (exp(2t))^(k) = 2^k.
/// let mut out = [0.0f64; 4];
/// compose_univariate(&[1.0; 4], &[0.0, 2.0, 0.0, 0.0], &mut out).unwrap();
/// assert_eq!(out, [1.0, 2.0, 4.0, 8.0]);
/// ```
pub fn compose_univariate<T: Real>(d: &[T], u: &[T], out: &mut [T]) -> Result<(), Error> {
    need(
        !u.is_empty()
            && u.len() <= MAX_TIME_ORDER + 1
            && d.len() >= u.len()
            && out.len() >= u.len(),
        u.len().clamp(1, MAX_TIME_ORDER + 1),
        d.len().min(out.len()),
    )?;
    let mut dd = [T::ZERO; MAX_TIME_ORDER + 1];
    let mut uu = [T::ZERO; MAX_TIME_ORDER + 1];
    dd[..u.len()].copy_from_slice(&d[..u.len()]);
    uu[..u.len()].copy_from_slice(u);
    let v = chain_rule(&dd, &uu);
    out[..u.len()].copy_from_slice(&v[..u.len()]);
    Ok(())
}

/// The chain rule to order K - 1 <= 4, written out (Faa di Bruno's formula):
/// (g o u)' = g' u1, (g o u)'' = g'' u1^2 + g' u2,
/// (g o u)''' = g''' u1^3 + 3 g'' u1 u2 + g' u3,
/// (g o u)'''' = g'''' u1^4 + 6 g''' u1^2 u2 + g'' (3 u2^2 + 4 u1 u3) + g' u4.
#[inline(always)]
pub(crate) fn chain_rule<T: Real, const K: usize>(d: &[T; K], u: &[T; K]) -> [T; K] {
    let mut v = [T::ZERO; K];
    v[0] = d[0];
    if K > 1 {
        v[1] = d[1] * u[1];
    }
    if K > 2 {
        let u1s = u[1] * u[1];
        v[2] = d[2] * u1s + d[1] * u[2];
        if K > 3 {
            let three = T::from_f64(3.0);
            v[3] = d[3] * u1s * u[1] + three * d[2] * u[1] * u[2] + d[1] * u[3];
            if K > 4 {
                v[4] = d[4] * u1s * u1s
                    + T::from_f64(6.0) * d[3] * u1s * u[2]
                    + d[2] * (three * u[2] * u[2] + T::from_f64(4.0) * u[1] * u[3])
                    + d[1] * u[4];
            }
        }
    }
    v
}

/// `DimensionMismatch { expected, found }` unless `ok`: the jet functions check their slices
/// instead of panicking on short ones.
#[inline(always)]
fn need(ok: bool, expected: usize, found: usize) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::DimensionMismatch { expected, found })
    }
}

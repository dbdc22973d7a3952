//! Bounds that hold over a whole box, proved once at load so that every later evaluation is
//! finite (what loads, works): |F| and |f| of a network over its domain
//! ([`Network::bounds_over`]).
//!
//! The method is the magnitude form of the jets. A first-layer unit h = g(w . x + b) has
//! |d_S h| <= G_|S| prod_{i in S} w*_i over the box, with w*_i the largest |weight| on input
//! i and G_m the sup of |g^(m)| over the reachable preactivations. A later unit g(u) has, by
//! the multivariate Faa di Bruno formula, d_S g(u) = sum over partitions P of S of
//! g^(|P|)(u) prod_{B in P} d_B u, and |d_B u| <= r c_|B| prod_{i in B} w*_i with r the unit's
//! sum of |weights|; so every bound keeps the form c_|S| prod_{i in S} w*_i, and the sum over
//! partitions collapses to partial Bell polynomials of the c's. Every term of the actual
//! evaluation is a term of these sums, so the bounds also bound every intermediate.

use crate::activation::{Activation, MAX_DIM};
use crate::network::{Depth, HiddenBlocks, Network};
use crate::{error::finite, Error, Real};

/// Highest derivative order these bounds reach: f (order n <= 8) and its sixth derivative
/// along one axis, for the remainder of 3-point Gauss-Legendre quadrature.
pub(crate) const MAX_BOUND_ORDER: usize = MAX_DIM + 6;

/// sup |tanh^(m)| over R, m = 0..=14: tanh^(m) is a polynomial in tanh, maximised over
/// [-1, 1] on a grid of step 1e-5, plus 1%.
pub(crate) const TANH_SUP: [f64; MAX_BOUND_ORDER + 1] = [
    1.01,
    1.01,
    0.777498,
    2.02,
    4.12674,
    16.16,
    52.7886,
    274.72,
    1235.96,
    8015.36,
    46027.8,
    357330.0,
    2499070.0,
    22591900.0,
    186389000.0,
];

/// sup |H_k(z) exp(-z^2)| / sqrt(pi) over R, k = 0..=14 (sigma_n^(n+k) up to sign),
/// maximised on a grid of step 5e-5 over [-10, 10], plus 1%.
const HERMITE_SUP: [f64; MAX_BOUND_ORDER + 1] = [
    0.569831, 0.488781, 1.13966, 2.22437, 6.83798, 18.6414, 68.3798, 229.116, 957.317, 3719.75,
    17231.7, 75129.7, 379097.0, 1815900.0, 9856530.0,
];

/// sup of |g^(m)(z)| over |z| <= reach, m = 0..=orders, for the activation of an n-input
/// network.
fn activation_sup<T: Real, const K: usize>(
    activation: Activation,
    n: usize,
    reach: T,
    orders: usize,
) -> [T; K] {
    let mut out = [T::ZERO; K];
    match activation {
        Activation::Tanh => {
            for (o, s) in out.iter_mut().zip(TANH_SUP).take(orders + 1) {
                *o = T::from_f64(s);
            }
        }
        Activation::Sigma => {
            // sigma_n^(m) = sigma_(n-m) >= 0 is increasing for m < n: its sup is at +reach.
            // sigma_n^(n+k) = (-1)^k H_k(z) exp(-z^2) / sqrt(pi).
            let mut d = [T::ZERO; MAX_DIM + 1];
            activation.fill_derivatives(n, reach, &mut d[..n + 1]);
            for m in 0..=orders {
                out[m] = if m < n {
                    d[m]
                } else {
                    T::from_f64(HERMITE_SUP[m - n])
                };
            }
        }
    }
    out
}

/// Partial Bell polynomials B[m][k](x_1, x_2, ...) for m, k <= orders (x[0] unused):
/// sum over the partitions of an m-set into k blocks of prod x_|block|.
fn bell<T: Real, const K: usize>(x: &[T; K], orders: usize) -> [[T; K]; K] {
    let mut b = [[T::ZERO; K]; K];
    b[0][0] = T::ONE;
    // C(m - 1, i - 1): the block holding a fixed element has i elements. A table built at
    // compile time (in flash), not on the stack at every call.
    let choose: &[[u32; K]; K] = &const { binomials::<K>() };
    for m in 1..=orders.min(K - 1) {
        for k in 1..=m {
            let mut v = T::ZERO;
            for i in 1..=m - k + 1 {
                v += T::from_f64(choose[m - 1][i - 1] as f64) * x[i] * b[m - i][k - 1];
            }
            b[m][k] = v;
        }
    }
    b
}

/// Pascal's triangle: `[m][i]` = C(m, i) for i <= m < K, 0 above the diagonal.
const fn binomials<const K: usize>() -> [[u32; K]; K] {
    let mut choose = [[0u32; K]; K];
    let mut m = 0;
    while m < K {
        choose[m][0] = 1;
        let mut i = 1;
        while i <= m {
            choose[m][i] = choose[m - 1][i - 1] + if i < m { choose[m - 1][i] } else { 0 };
            i += 1;
        }
        m += 1;
    }
    choose
}

/// Arrays of orders 0..K: K = MAX_DIM + 1 for f at load (a small frame on the device), and
/// MAX_BOUND_ORDER + 1 for the quadrature remainder.
pub(crate) const LOAD_ORDERS: usize = MAX_DIM + 1;
/// See [`LOAD_ORDERS`].
pub(crate) const QUADRATURE_ORDERS: usize = MAX_BOUND_ORDER + 1;

/// Magnitude bounds of F's derivatives over a box: any derivative of F of total order m, in
/// the axes of the multiset S (|S| = m, repeats allowed), is at most
/// `c[m] * prod_{i in S} w_star[i]` everywhere in the box.
pub(crate) struct DerivativeBounds<T: Real, const N: usize, const K: usize> {
    pub(crate) c: [T; K],
    pub(crate) w_star: [T; N],
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Network<T, N, W, L>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    /// [`DerivativeBounds`] up to total order `orders` (< K <= MAX_BOUND_ORDER + 1) over the box.
    pub(crate) fn derivative_bounds<const K: usize>(
        &self,
        lower: &[T; N],
        upper: &[T; N],
        orders: usize,
    ) -> Result<DerivativeBounds<T, N, K>, Error> {
        let orders = orders.min(K - 1).min(MAX_BOUND_ORDER);
        let reach: [T; N] = core::array::from_fn(|i| lower[i].abs().max(upper[i].abs()));
        // w*_i: the largest |first-layer weight| on input i.
        let mut w_star = [T::ZERO; N];
        for j in 0..self.first_width() {
            for i in 0..N {
                w_star[i] = w_star[i].max(self.first[j][i].abs());
            }
        }
        // c[j][m]: the bound of unit j's derivatives of order m, divided by prod w*. The next
        // layer reads only each unit's order-0 bound (c0, for its sums) and, over all units,
        // the largest bound of each order (cmax, the same for every unit it feeds), so only
        // those are kept: W + K values instead of W x K, twice (about 1.6 KB less stack in
        // f32 on a Cortex-M4, where the quadrature's remainder bound calls this).
        let depth = self.layers().len();
        let (mut c0, mut cmax, mut out) = ([T::ZERO; W], [T::ZERO; K], [T::ZERO; K]);
        // The output sum, in unit order, as each last-layer unit's bounds are known.
        let mut emit = |j: usize, cj: &[T; K], c0: &mut [T; W], cmax: &mut [T; K], last: bool| {
            c0[j] = cj[0];
            for m in 0..=orders {
                cmax[m] = cmax[m].max(cj[m]);
            }
            if last {
                let a = self.output[j].abs();
                for m in 0..=orders {
                    out[m] += a * cj[m];
                }
            }
        };
        for j in 0..self.first_width() {
            let mut z = self.biases[0][j].abs();
            for i in 0..N {
                z += self.first[j][i].abs() * reach[i];
            }
            let cj = activation_sup::<T, K>(self.activation, N, finite(z)?, orders);
            emit(j, &cj, &mut c0, &mut cmax, depth == 1);
        }
        let widths = self.layers();
        for l in 1..depth {
            let (mut n0, mut nmax) = ([T::ZERO; W], [T::ZERO; K]);
            for k in 0..widths[l].min(W) {
                let (mut u, mut r) = (self.biases[l][k].abs(), T::ZERO);
                for j in 0..widths[l - 1].min(W) {
                    let w = self.weights_into(l)[k][j].abs();
                    u += w * c0[j];
                    r += w;
                }
                let sup = activation_sup::<T, K>(self.activation, N, finite(u)?, orders);
                let mut x = [T::ZERO; K];
                for m in 1..=orders {
                    x[m] = r * cmax[m];
                }
                let b = bell(&x, orders);
                let mut ck = [T::ZERO; K];
                ck[0] = sup[0];
                for m in 1..=orders {
                    let mut v = T::ZERO;
                    for q in 1..=m {
                        v += sup[q] * b[m][q];
                    }
                    ck[m] = finite(v)?;
                }
                emit(k, &ck, &mut n0, &mut nmax, l + 1 == depth);
            }
            c0 = n0;
            cmax = nmax;
        }
        for v in &out {
            finite(*v)?;
        }
        Ok(DerivativeBounds { c: out, w_star })
    }

    /// Upper bounds on |F(x)| and |f(x)| over every x in the box [lower, upper], valid for
    /// every intermediate of the evaluation too (module docs). A model checks them once at
    /// load ([`crate::Finn::with_constants`]): if they are finite with room to spare, every
    /// evaluation inside its domain is finite.
    ///
    /// Errors: `DimensionMismatch`, `NonFiniteInput`, and `Overflow` when a bound (or the
    /// reach of a preactivation) is not finite in `T`.
    ///
    /// ```
    /// use finn_core::{Activation, Network};
    /// // F(x) = 3 tanh(2x + 1) on [-1, 1]: |F| <= 3, |f| = |F'| <= 6 (times 1.01).
    /// let net = Network::<f64, 1, 1, 1>::signed(Activation::Tanh, &[1], &[2.0, 1.0, 3.0]).unwrap();
    /// let (big_f, f) = net.bounds_over(&[-1.0], &[1.0]).unwrap();
    /// assert!(big_f >= 3.0 && f >= 6.0 && f <= 6.1);
    /// ```
    pub fn bounds_over(&self, lower: &[T], upper: &[T]) -> Result<(T, T), Error> {
        let lo = crate::point::<T, N>(lower)?;
        let hi = crate::point::<T, N>(upper)?;
        let b = self.derivative_bounds::<LOAD_ORDERS>(&lo, &hi, N)?;
        let mut f = b.c[N];
        for w in b.w_star {
            f *= w;
        }
        Ok((b.c[0], finite(f)?))
    }
}

impl<T: Real, const W: usize, const L: usize> Network<T, 1, W, L>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Upper bounds on |F^(k)(t)| for k = 0..=3 that hold for **every** t, and on every
    /// intermediate of [`Network::time_jet`] up to order 3: the activations' derivatives are
    /// bounded ([`Activation::time_derivative_bounds`]), so by Faa di Bruno each layer's
    /// derivative is bounded by sums of products of |weights| and those bounds. A trajectory
    /// checks them once at load, so that every later sample is finite.
    ///
    /// Errors: `Overflow` when a bound (or the bound on a preactivation) is not finite in `T`.
    ///
    /// ```
    /// use finn_core::{Activation, Network};
    /// // F(t) = 3 tanh(2t + 1): |F| <= 3, |F'| <= 6, |F''| <= 0.77 * 12, |F'''| <= 2 * 24.
    /// let net = Network::<f64, 1, 1, 1>::signed(Activation::Tanh, &[1], &[2.0, 1.0, 3.0]).unwrap();
    /// let b = net.time_derivative_bounds().unwrap();
    /// assert_eq!(b[0], 3.0);
    /// assert!(b[1] >= 6.0 && b[3] >= 48.0);
    /// let huge = Network::<f32, 1, 1, 1>::signed(Activation::Tanh, &[1], &[1e30, 0.0, 1.0]).unwrap();
    /// assert!(huge.time_derivative_bounds().is_err());
    /// ```
    pub fn time_derivative_bounds(&self) -> Result<[T; 4], Error> {
        let a = self.activation.time_derivative_bounds::<T>();
        let mut bufs = [[[T::ZERO; 4]; W]; 2];
        for (b, row) in bufs[0].iter_mut().zip(&self.first).take(self.first_width()) {
            let w = row[0].abs();
            *b = [a[0], a[1] * w, a[2] * w * w, a[3] * w * w * w];
        }
        let three = T::from_f64(3.0);
        let mut cur = 0;
        let widths = self.layers();
        for l in 1..widths.len() {
            let (x, y) = bufs.split_at_mut(1);
            let (prev, next) = if cur == 0 {
                (&x[0], &mut y[0])
            } else {
                (&y[0], &mut x[0])
            };
            // u (the bound of each unit's preactivation, u[0], and of its derivatives) is
            // summed in `next`, input by input: one input's bounds stay in registers.
            let units = widths[l];
            for (n, b) in next.iter_mut().zip(&self.biases[l]).take(units) {
                *n = [b.abs(), T::ZERO, T::ZERO, T::ZERO];
            }
            for (j, p) in prev.iter().enumerate().take(widths[l - 1]) {
                for (n, row) in next.iter_mut().zip(self.weights_into(l)).take(units) {
                    let w = row[j].abs();
                    for o in 0..4 {
                        n[o] += w * p[o];
                    }
                }
            }
            for n in next.iter_mut().take(units) {
                let u = *n;
                finite(u[0])?;
                *n = [
                    a[0],
                    a[1] * u[1],
                    a[2] * u[1] * u[1] + a[1] * u[2],
                    a[3] * u[1] * u[1] * u[1] + three * a[2] * u[1] * u[2] + a[1] * u[3],
                ];
            }
            cur = 1 - cur;
        }
        let mut out = [T::ZERO; 4];
        for (c, b) in self.output.iter().zip(&bufs[cur]).take(self.last_width()) {
            let c = c.abs();
            for o in 0..4 {
                out[o] += c * b[o];
            }
        }
        for v in &out {
            finite(*v)?;
        }
        Ok(out)
    }

    /// An upper bound on |F^(order)(t)| for every t in [lower, upper], order <= 14: the
    /// magnitude jets of the module docs. Host tools use it as the remainder of a Taylor
    /// expansion, to prove a property of a trajectory between the times they evaluate.
    ///
    /// Errors: `OrderTooHigh` (order > 14), `NonFiniteInput`, `Overflow` when the bound is
    /// not finite in `T`.
    ///
    /// ```
    /// use finn_core::{Activation, Network};
    /// // F(t) = 3 tanh(2t + 1): |F^(5)| <= 3 * 2^5 * sup|tanh^(5)| = 96 * 16 (about).
    /// let net = Network::<f64, 1, 1, 1>::signed(Activation::Tanh, &[1], &[2.0, 1.0, 3.0]).unwrap();
    /// let b = net.derivative_bound_over(5, -1.0, 1.0).unwrap();
    /// assert!(b >= 96.0 * 16.0 && b <= 96.0 * 16.2);
    /// assert!(net.derivative_bound_over(15, -1.0, 1.0).is_err());
    /// ```
    pub fn derivative_bound_over(&self, order: usize, lower: T, upper: T) -> Result<T, Error> {
        if order > MAX_BOUND_ORDER {
            return Err(Error::OrderTooHigh);
        }
        if !(lower.is_finite() && upper.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        let b = self.derivative_bounds::<QUADRATURE_ORDERS>(&[lower], &[upper], order)?;
        let mut out = b.c[order];
        for _ in 0..order {
            out *= b.w_star[0];
        }
        finite(out)
    }
}

/// Relative error of the activation's value as implemented, per precision: sigma_n as
/// measured against the 25-digit reference (`finn-core/tests/sigma_reference.rs` asserts
/// 1e-12 in f64, 1e-5 in f32 over n = 1..8 and x in [-30, 30], and 1e-23 in double-double
/// wherever the value lies in [1e-290, 1e300]); tanh from one `expm1` (< 1 ulp in libm) and
/// three operations, taken as 16 ulps. Measured, not proved: the error bounds below are as
/// rigorous as these constants.
pub(crate) fn activation_error<T: Real>(activation: Activation) -> T {
    let unit = T::EPSILON.to_f64();
    match activation {
        Activation::Sigma if unit < 1e-20 => T::from_f64(1e-23),
        Activation::Sigma if unit < 1e-10 => T::from_f64(1e-12),
        Activation::Sigma => T::from_f64(1e-5),
        Activation::Tanh => T::from_f64(16.0) * T::EPSILON,
    }
}

/// gamma_k = k u (1 + 2 k u): the rounding of a k-term sum or product chain.
fn gamma<T: Real>(k: usize) -> T {
    let ku = T::from_usize(k) * T::EPSILON;
    ku * (T::ONE + T::from_f64(2.0) * ku)
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Network<T, N, W, L>
where
    crate::jet::Dim<N>: crate::jet::JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// F at `x` as computed, with a bound on its error against the exact F of these
    /// parameters: a running error analysis of the forward pass (each sum's rounding,
    /// gamma_k times its magnitude; each activation's own relative error, [`activation_error`];
    /// each preactivation's error carried through the activation's slope).
    ///
    /// Errors as for [`crate::Antiderivative::antiderivative`].
    pub(crate) fn antiderivative_with_error(&self, x: &[T; N]) -> Result<(T, T), Error> {
        let e_act = activation_error::<T>(self.activation);
        let mut h = [T::ZERO; W];
        let mut dh = [T::ZERO; W];
        let slope = |z: T, dz: T| -> T {
            // sup |g'| on [z - dz, z + dz]: tanh' <= 1; sigma_n' = sigma_(n-1) >= 0 grows.
            match self.activation {
                Activation::Tanh => T::ONE,
                Activation::Sigma => {
                    let mut d = [T::ZERO; 2];
                    self.activation.fill_derivatives(N, z.abs() + dz, &mut d);
                    d[1].max(T::from_f64(0.5642)) * T::from_f64(1.01)
                }
            }
        };
        for j in 0..self.first_width() {
            let z = self.first_preactivation(j, x);
            let mut mag = self.biases[0][j].abs();
            for i in 0..N {
                mag += (self.first[j][i] * x[i]).abs();
            }
            let dz = gamma::<T>(N + 1) * mag;
            h[j] = self.activation.value_unchecked(N, z);
            dh[j] = e_act * h[j].abs() + slope(z, dz) * dz;
        }
        let widths = self.layers();
        for l in 1..widths.len() {
            let (mut next, mut dnext) = ([T::ZERO; W], [T::ZERO; W]);
            for k in 0..widths[l] {
                let mut z = self.biases[l][k];
                let (mut mag, mut carried) = (z.abs(), T::ZERO);
                for j in 0..widths[l - 1] {
                    let w = self.weights_into(l)[k][j];
                    z += w * h[j];
                    mag += (w * h[j]).abs();
                    carried += w.abs() * dh[j];
                }
                let dz = carried + gamma::<T>(widths[l - 1] + 1) * mag;
                next[k] = self.activation.value_unchecked(N, z);
                dnext[k] = e_act * next[k].abs() + slope(z, dz) * dz;
            }
            h = next;
            dh = dnext;
        }
        let (mut y, mut mag, mut carried) = (T::ZERO, T::ZERO, T::ZERO);
        for j in 0..self.last_width() {
            let a = self.output[j];
            y += a * h[j];
            mag += (a * h[j]).abs();
            carried += a.abs() * dh[j];
        }
        let error = carried + gamma::<T>(self.last_width()) * mag;
        Ok((finite(y)?, finite(error * T::from_f64(1.01))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parameter_count, Activation};

    /// The bounds as computed before only what the next layer reads was kept: every unit's
    /// bound of every order, and their largest recomputed for every unit fed.
    fn every_unit_kept<const L: usize>(
        net: &Network<f64, 2, 8, L>,
        lower: &[f64; 2],
        upper: &[f64; 2],
        orders: usize,
    ) -> [f64; QUADRATURE_ORDERS]
    where
        Depth<L>: HiddenBlocks<f64, 8>,
    {
        const K: usize = QUADRATURE_ORDERS;
        let reach: [f64; 2] = core::array::from_fn(|i| lower[i].abs().max(upper[i].abs()));
        let mut c = [[0.0; K]; 8];
        for j in 0..net.first_width() {
            let mut z = net.biases[0][j].abs();
            for i in 0..2 {
                z += net.first[j][i].abs() * reach[i];
            }
            c[j] = activation_sup::<f64, K>(net.activation, 2, z, orders);
        }
        let widths = net.layers();
        for l in 1..widths.len() {
            let mut next = [[0.0; K]; 8];
            for k in 0..widths[l] {
                let (mut u, mut r) = (net.biases[l][k].abs(), 0.0);
                let mut prev = [0.0; K];
                for j in 0..widths[l - 1] {
                    let w = net.weights_into(l)[k][j].abs();
                    u += w * c[j][0];
                    r += w;
                    for m in 0..=orders {
                        prev[m] = prev[m].max(c[j][m]);
                    }
                }
                let sup = activation_sup::<f64, K>(net.activation, 2, u, orders);
                let mut x = [0.0; K];
                for m in 1..=orders {
                    x[m] = r * prev[m];
                }
                let b = bell(&x, orders);
                next[k][0] = sup[0];
                for m in 1..=orders {
                    for q in 1..=m {
                        next[k][m] += sup[q] * b[m][q];
                    }
                }
            }
            c = next;
        }
        let mut out = [0.0; K];
        for j in 0..net.last_width() {
            for m in 0..=orders {
                out[m] += net.output[j].abs() * c[j][m];
            }
        }
        out
    }

    fn check<const L: usize>(widths: &[usize], seed: u64, tanh: bool, orders: usize)
    where
        Depth<L>: HiddenBlocks<f64, 8>,
    {
        // Parameters from a small xorshift, in [-2, 2).
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut params = [0.0; 128];
        for p in params.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *p = (state >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0;
        }
        let params = &params[..parameter_count(2, widths)];
        let net = if tanh {
            Network::<f64, 2, 8, L>::signed(Activation::Tanh, widths, params)
        } else {
            Network::<f64, 2, 8, L>::positive(widths, params)
        }
        .unwrap();
        let (lo, hi) = ([-1.5, -0.5], [0.5, 2.0]);
        let kept = net
            .derivative_bounds::<QUADRATURE_ORDERS>(&lo, &hi, orders)
            .unwrap()
            .c;
        let reference = every_unit_kept(&net, &lo, &hi, orders.min(MAX_BOUND_ORDER));
        // The same operations in the same order: the same bits.
        for m in 0..=orders.min(MAX_BOUND_ORDER) {
            assert_eq!(kept[m].to_bits(), reference[m].to_bits(), "order {m}");
        }
    }

    #[test]
    fn keeping_only_what_the_next_layer_reads_changes_no_bound() {
        for seed in 0..24 {
            for tanh in [false, true] {
                for orders in [0, 1, 2, 5, 8, MAX_BOUND_ORDER] {
                    check::<1>(&[5], seed, tanh, orders);
                    check::<2>(&[8, 6], seed, tanh, orders);
                    check::<3>(&[7, 8, 3], seed, tanh, orders);
                }
            }
        }
    }
}

//! Activation derivative tables for a block of points at once, the batched path's share of
//! finn-core's `Activation::derivatives`.
//!
//! Point by point, tanh's table costs one libm `expm1` (a branchy scalar routine) and two
//! divisions; over a block the same arithmetic runs as straight-line loops over the points,
//! which the compiler vectorises. [`tanh_sech2`] is that loop body: an `f64` e^y and
//! e^y - 1 from one Cody-Waite reduction and a Taylor polynomial, with no branch and no
//! table, valid for |x| <= [`FAST_LIMIT`]. A block with any larger (or NaN) input takes
//! finn-core's scalar path instead, so the results there are finn-core's own.
//!
//! Accuracy against an `f64` reference (`tests` below, MPFR-free: tanh and sech^2 recomputed
//! in double-double): tanh within 2.5 ulp and sech^2 within 4 ulp of the exact value, relative,
//! over the whole fast range (measured worst: 2.36 ulp at x = 1.9218, 3.34 ulp at 1.3254).

use finn_core::activation::MAX_DIM;
use finn_core::{Activation, Error, Real};

/// Largest |x| of the vectorised tanh: e^(-2x) stays a normal f64 (2^-1010), so 2^k is
/// built from its exponent bits alone.
pub const FAST_LIMIT: f64 = 350.0;

/// 1 / ln 2.
const INV_LN2: f64 = core::f64::consts::LOG2_E;
/// ln 2 in two parts: the high part (fdlibm's split) has its low 21 bits zero, so
/// k * LN2_HI is exact for every |k| < 2^21 and the reduction y - k ln 2 loses nothing.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// ln 2 - [`LN2_HI`].
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// 1.5 * 2^52: adding and subtracting it rounds to the nearest integer (|v| < 2^51).
const ROUND: f64 = 6_755_399_441_055_744.0;

/// 1/j! for j = 2..=13: expm1(r) = r + r^2 (1/2 + r/6 + ...) on |r| <= ln2 / 2, truncated
/// where the next term is 1.2e-17 relative.
const TAYLOR: [f64; 12] = {
    let mut c = [0.0; 12];
    let mut f = 1.0;
    let mut j = 2;
    while j <= 13 {
        f *= j as f64;
        c[j - 2] = 1.0 / f;
        j += 1;
    }
    c
};

/// e^y as (2^k, expm1(r)) with y = k ln 2 + r, |r| <= ln 2 / 2, for y in [-708, 709]
/// (2^k normal): e^y = 2^k + 2^k expm1(r) and e^y - 1 = (2^k - 1) + 2^k expm1(r), each one
/// rounding of exact parts.
#[inline(always)]
fn exp_parts(y: f64) -> (f64, f64) {
    let shifted = y * INV_LN2 + ROUND;
    let kf = shifted - ROUND;
    let r = (y - kf * LN2_HI) - kf * LN2_LO;
    let mut q = TAYLOR[11];
    for c in TAYLOR[..11].iter().rev() {
        q = q * r + c;
    }
    let p = r + (r * r) * q;
    // `shifted` is ROUND + k exactly, so its low bits are those of ROUND plus k; shifted
    // into the exponent field they give k + 1023 (k in [-1022, 1023]), the bits above
    // falling off: 2^k by integer operations that vectorise (a float-to-int conversion
    // does not, without AVX-512).
    let two_k = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    (two_k, p)
}

/// e^y for y in [-708, 709], branch-free (see [`exp_parts`]).
#[inline(always)]
fn exp(y: f64) -> f64 {
    let (two_k, p) = exp_parts(y);
    two_k + two_k * p
}

/// (tanh x, sech^2 x) for |x| <= [`FAST_LIMIT`], branch-free so that a loop over points
/// vectorises.
///
/// With y = -2|x|, m = e^y - 1 and e = e^y from one Cody-Waite reduction (module docs):
/// tanh|x| = -m / (2 + m) (no cancellation near 0, where k = 0 and m = expm1(r)) and
/// sech^2 = 4e / (1 + e)^2 (relative accuracy kept in the tails, where 1 + m would cancel).
///
/// ```
/// # use finn_train::grad::tables::tanh_sech2;
/// let (t, s) = tanh_sech2(0.5);
/// assert!((t - 0.5f64.tanh()).abs() <= 2.0 * f64::EPSILON * t);
/// assert!((s - (1.0 - t * t)).abs() <= 8.0 * f64::EPSILON * s);
/// assert_eq!(tanh_sech2(-0.0).0.to_bits(), (-0.0f64).to_bits());
/// ```
#[inline(always)]
pub fn tanh_sech2(x: f64) -> (f64, f64) {
    let a = x.abs().min(FAST_LIMIT);
    let (two_k, p) = exp_parts(-(a + a));
    let m = (two_k - 1.0) + two_k * p;
    let e = two_k + two_k * p;
    let t = (-m / (2.0 + m)).copysign(x);
    let one_e = 1.0 + e;
    (t, 4.0 * e / (one_e * one_e))
}

/// Points per inner pass: the stack scratch of one pass is sized by it.
const CHUNK: usize = 64;

/// Largest |x| of the vectorised sigma_n table: e^(-x^2) stays normal (x^2 <= 676).
pub const SIGMA_FAST_LIMIT: f64 = 26.0;

/// Writes the derivatives of order 0..`ord` of the activation at every `z[p]` into
/// `out[k * b + p]` (order-major, b = `z.len()`), as finn-core's
/// `Activation::derivatives` does for one point (`n` is the input dimension, for sigma_n).
/// Inputs within the fast ranges ([`FAST_LIMIT`] for tanh, [`SIGMA_FAST_LIMIT`] for
/// sigma_n, up to order n) take the vectorised loops, others finn-core's scalar path, a
/// 64 points at a time.
///
/// Errors: as `Activation::derivatives` (`NonFiniteInput` for a NaN input).
///
/// ```
/// use finn_core::Activation;
/// use finn_train::grad::tables::derivative_tables;
/// let z = [-3.0, -0.5, 0.0, 2.0];
/// let mut out = [0.0; 3 * 4];
/// derivative_tables(Activation::Sigma, 2, &z, 3, &mut out).unwrap();
/// let mut one = [0.0; 3];
/// for (p, &v) in z.iter().enumerate() {
///     Activation::Sigma.derivatives(2, v, &mut one).unwrap();
///     for k in 0..3 {
///         assert!((out[k * 4 + p] - one[k]).abs() <= 1e-14 * one[k].abs());
///     }
/// }
/// ```
pub fn derivative_tables(
    activation: Activation,
    n: usize,
    z: &[f64],
    ord: usize,
    out: &mut [f64],
) -> Result<(), Error> {
    let b = z.len();
    if ord > finn_core::activation::MAX_ORDER + 1 || n == 0 || n > MAX_DIM {
        return Err(Error::OrderTooHigh);
    }
    if out.len() < ord * b {
        return Err(Error::DimensionMismatch {
            expected: ord * b,
            found: out.len(),
        });
    }
    for (c, zc) in z.chunks(CHUNK).enumerate() {
        let off = c * CHUNK;
        let fast = match activation {
            Activation::Tanh => zc.iter().all(|v| v.abs() <= FAST_LIMIT),
            Activation::Sigma => ord <= n + 1 && zc.iter().all(|v| v.abs() <= SIGMA_FAST_LIMIT),
        };
        if !fast {
            let mut d = [0.0; finn_core::activation::MAX_ORDER + 1];
            let d = &mut d[..ord];
            for (p, &v) in zc.iter().enumerate() {
                activation.derivatives(n, v, d)?;
                for (k, dk) in d.iter().enumerate() {
                    out[k * b + off + p] = *dk;
                }
            }
        } else {
            fast_chunk(activation, n, zc, ord, out, b, off);
        }
    }
    Ok(())
}

/// The vectorised chunk, in 4-lane AVX2 code where the processor has it (the same
/// operations, lane by lane, so the same bits; no FMA), else in the build's baseline (2-lane
/// SSE2 on x86-64).
fn fast_chunk(
    activation: Activation,
    n: usize,
    z: &[f64],
    ord: usize,
    out: &mut [f64],
    b: usize,
    off: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2 (checked just above).
        unsafe { fast_chunk_avx2(activation, n, z, ord, out, b, off) };
        return;
    }
    chunk(activation, n, z, ord, out, b, off);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fast_chunk_avx2(
    activation: Activation,
    n: usize,
    z: &[f64],
    ord: usize,
    out: &mut [f64],
    b: usize,
    off: usize,
) {
    chunk(activation, n, z, ord, out, b, off);
}

#[inline(always)]
fn chunk(
    activation: Activation,
    n: usize,
    z: &[f64],
    ord: usize,
    out: &mut [f64],
    b: usize,
    off: usize,
) {
    match activation {
        Activation::Tanh => tanh_chunk(z, ord, out, b, off),
        Activation::Sigma => sigma_chunk(n, z, ord, out, b, off),
    }
}

/// Row k of the order-major table for the chunk at `off`.
#[inline(always)]
fn row(out: &mut [f64], k: usize, b: usize, off: usize, len: usize) -> &mut [f64] {
    &mut out[k * b + off..][..len]
}

/// tanh's table: order 0 and 1 from [`tanh_sech2`]; orders 2..=4 by finn-core's closed
/// forms (same operations); higher orders as sech^2 Q_k(tanh) with the polynomials
/// Q_(k+1) = -2t Q_k + (1 - t^2) Q_k' (integer coefficients, computed once per call).
#[inline(always)]
fn tanh_chunk(z: &[f64], ord: usize, out: &mut [f64], b: usize, off: usize) {
    let len = z.len();
    let mut t = [0.0; CHUNK];
    let mut s = [0.0; CHUNK];
    let (t, s) = (&mut t[..len], &mut s[..len]);
    for ((to, so), v) in t.iter_mut().zip(s.iter_mut()).zip(z) {
        (*to, *so) = tanh_sech2(*v);
    }
    let (t, s) = (&*t, &*s);
    row(out, 0, b, off, len).copy_from_slice(t);
    if ord < 2 {
        return;
    }
    row(out, 1, b, off, len).copy_from_slice(s);
    if ord <= 5 {
        if ord > 2 {
            for ((o, &t), &s) in row(out, 2, b, off, len).iter_mut().zip(t).zip(s) {
                *o = -2.0 * t * s;
            }
        }
        if ord > 3 {
            for ((o, &t), &s) in row(out, 3, b, off, len).iter_mut().zip(t).zip(s) {
                *o = s * (4.0 * (t * t) - 2.0 * s);
            }
        }
        if ord > 4 {
            for ((o, &t), &s) in row(out, 4, b, off, len).iter_mut().zip(t).zip(s) {
                *o = 8.0 * t * s * (2.0 * s - t * t);
            }
        }
        return;
    }
    let mut q = [[0.0f64; MAX_TANH_ORDER]; MAX_TANH_ORDER];
    q[1][0] = 1.0;
    for k in 1..ord - 1 {
        for i in 0..k {
            let c = q[k][i];
            q[k + 1][i + 1] -= c + c;
            if i >= 1 {
                let ic = i as f64 * c;
                q[k + 1][i - 1] += ic;
                q[k + 1][i + 1] -= ic;
            }
        }
    }
    for (k, coeffs) in q.iter().enumerate().take(ord).skip(2) {
        let coeffs = &coeffs[..k];
        for ((o, &t), &s) in row(out, k, b, off, len).iter_mut().zip(t).zip(s) {
            let mut v = 0.0;
            for c in coeffs.iter().rev() {
                v = v * t + c;
            }
            *o = s * v;
        }
    }
}

/// Orders the vectorised tanh table covers (finn-core's `MAX_ORDER` + 1).
const MAX_TANH_ORDER: usize = finn_core::activation::MAX_ORDER + 1;

/// sigma_n's table up to order n, the sums of finn-core's `sigma_derivatives`: sigma_n^(j) =
/// g_(n-j-1) / 2 with g_k = i^k erfc(-x) (g_-1 = 2/sqrt(pi) e^(-x^2)). g_-1 from Veltkamp's
/// split, as finn-core's `gaussian`, but with a branch-free exp for the large factor and a
/// short series for the tiny one; g_0 = erfc(-x) by libm point by point; higher g by the
/// forward recurrence for x >= -1.5 and, for the points below, the backward recurrence of the
/// ratios g_k / g_(k-1) run for all of them at once, each ratio carried as a numerator and a
/// denominator (a division only where a ratio is kept). They share the largest start among
/// them (finn-core starts each point at its own), which only moves the start further up,
/// where the truncation error is smaller. The values round differently from finn-core's, to
/// within the tests' 1e-13 against double-double.
#[inline(always)]
fn sigma_chunk(n: usize, x: &[f64], ord: usize, out: &mut [f64], b: usize, off: usize) {
    let len = x.len();
    let kmax = n;
    let mut g = [[0.0; CHUNK]; MAX_DIM + 1];
    for (o, &v) in g[0][..len].iter_mut().zip(x) {
        let ax = v.abs();
        let c = 134_217_729.0 * ax;
        let hi = c - (c - ax);
        let lo = ax - hi;
        // The second factor's argument is tiny (|lo| <= 2^-27 |x|, so |y| < 1.1e-5 for
        // |x| <= 26): four Taylor terms leave y^4 / 24 < 1e-21, where a second exp cost as
        // much as the first.
        let y = -((hi + hi + lo) * lo);
        let small = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6.0)));
        *o = core::f64::consts::FRAC_2_SQRT_PI * (exp(-(hi * hi)) * small);
    }
    for (o, &v) in g[1][..len].iter_mut().zip(x) {
        *o = Real::erfc(-v);
    }
    for k in 2..=kmax {
        // g_k = (v g_(k-1) + g_(k-2) / 2) / (k - 1), the division as one multiplication by
        // the reciprocal: two vector divisions a point were the loop's cost.
        let inv = 1.0 / (k - 1) as f64;
        let (lower, upper) = g.split_at_mut(k);
        for (((o, &v), &g1), &g2) in upper[0][..len]
            .iter_mut()
            .zip(x)
            .zip(&lower[k - 1][..len])
            .zip(&lower[k - 2][..len])
        {
            *o = (v * g1 + 0.5 * g2) * inv;
        }
    }
    if kmax >= 2 {
        // The points where the forward recurrence amplifies rounding.
        let mut idx = [0usize; CHUNK];
        let mut z = [0.0; CHUNK];
        let mut m = 0;
        let mut top = 0;
        for (p, &v) in x.iter().enumerate() {
            if v < -1.5 {
                idx[m] = p;
                z[m] = -v;
                top = top.max(kmax - 1 + (110.0 / -v) as usize + 6);
                m += 1;
            }
        }
        if m > 0 {
            let (idx, z) = (&idx[..m], &z[..m]);
            // The ratio r_k = p_k / q_k is carried as a numerator and a denominator, so
            // the step r_(k-1) = 1 / (2z + 2k r_k) is (p, q) <- (q, 2z q + 2k p): no
            // division but where a ratio is kept (k < kmax), where the divisions were the
            // loop's cost. q grows by at most about 2z + sqrt(2k) a step: over the at most
            // 84 steps, below 1e150 for z <= 26, far from overflow.
            let mut p = [0.0; CHUNK];
            let mut q = [1.0; CHUNK];
            let (p, q) = (&mut p[..m], &mut q[..m]);
            let tail = (2 * (top + 1)) as f64;
            for (p, &z) in p.iter_mut().zip(z) {
                *p = 1.0 / (z + (z * z + tail).sqrt());
            }
            // Each kept ratio g_(k+1) / g_k waits in g_(k+1)'s own slot (overwritten below
            // by the value it gives): no separate table of ratios.
            for k in (1..=top).rev() {
                if k < kmax {
                    for ((&i, &p), &q) in idx.iter().zip(&*p).zip(&*q) {
                        g[k + 1][i] = p / q;
                    }
                }
                let kk = (2 * k) as f64;
                for ((p, q), &z) in p.iter_mut().zip(q.iter_mut()).zip(z) {
                    let next = (z + z) * *q + kk * *p;
                    *p = *q;
                    *q = next;
                }
            }
            for &p in idx {
                for k in 2..=kmax {
                    g[k][p] = if g[1][p] == 0.0 {
                        0.0
                    } else {
                        g[k - 1][p] * g[k][p]
                    };
                }
            }
        }
    }
    for j in 0..ord {
        for (o, gv) in row(out, j, b, off, len).iter_mut().zip(&g[n - j][..len]) {
            *o = gv * 0.5;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finn_core::dd::DoubleDouble;

    /// Distance from `v` to the double-double `exact` in ulps of the exact value.
    fn ulps(v: f64, exact: DoubleDouble) -> f64 {
        let e = exact.hi() + exact.lo();
        let ulp = f64::from_bits(e.abs().to_bits() + 1) - e.abs();
        ((DoubleDouble::from_f64(v) - exact).hi().abs()) / ulp
    }

    /// Inputs spread over the fast range: dense near 0 (where tanh's cancellation would show),
    /// log-spaced out to the limit, both signs.
    fn sweep() -> impl Iterator<Item = f64> {
        let small = (0..20_000).map(|i| (i as f64) * 1e-4);
        let wide = (0..40_000).map(|i| 1e-300f64.powf(1.0 - i as f64 / 40_000.0) * FAST_LIMIT);
        small.chain(wide).flat_map(|x| [x, -x])
    }

    #[test]
    fn tanh_sech2_within_two_and_a_half_and_four_ulps_of_double_double() {
        let (mut worst_t, mut worst_s) = ((0.0, 0.0), (0.0, 0.0));
        for x in sweep() {
            let (t, s) = tanh_sech2(x);
            let (et, es) = DoubleDouble::from_f64(x).tanh_sech2();
            let (ut, us) = (ulps(t, et), ulps(s, es));
            if ut > worst_t.0 {
                worst_t = (ut, x);
            }
            if us > worst_s.0 {
                worst_s = (us, x);
            }
            assert_eq!(
                t.is_sign_negative(),
                x.is_sign_negative(),
                "sign of tanh({x:e})"
            );
        }
        eprintln!("tanh worst {worst_t:?}, sech^2 worst {worst_s:?}");
        assert!(worst_t.0 <= 2.5, "tanh: {worst_t:?}");
        assert!(worst_s.0 <= 4.0, "sech^2: {worst_s:?}");
    }

    #[test]
    fn tables_match_a_double_double_reference_and_fall_back_outside_the_fast_ranges() {
        // 70 points: a full chunk and a partial one; the last chunk holds inputs beyond both
        // fast limits, so it takes finn-core's scalar path.
        let mut z: Vec<f64> = (0..64).map(|i| -25.0 + 50.0 * i as f64 / 63.0).collect();
        z.extend([-1.5, -1.500_000_1, 0.0, -0.0, 400.0, -30.0]);
        let b = z.len();
        for activation in [Activation::Tanh, Activation::Sigma] {
            for n in 1..=MAX_DIM {
                let ord = n + 1;
                let mut out = vec![f64::NAN; ord * b];
                derivative_tables(activation, n, &z, ord, &mut out).unwrap();
                let mut exact = vec![DoubleDouble::ZERO; ord];
                let mut scalar = vec![0.0; ord];
                for (p, &v) in z.iter().enumerate() {
                    if p >= CHUNK {
                        // The scalar path's own values, bit for bit.
                        activation.derivatives(n, v, &mut scalar).unwrap();
                        for (k, e) in scalar.iter().enumerate() {
                            assert_eq!(out[k * b + p].to_bits(), e.to_bits(), "{v} order {k}");
                        }
                        continue;
                    }
                    activation
                        .derivatives(n, DoubleDouble::from_f64(v), &mut exact)
                        .unwrap();
                    let e: Vec<f64> = exact.iter().map(|d| d.hi()).collect();
                    for (k, &e) in e.iter().enumerate() {
                        // tanh's order k is sech^2 times a polynomial in tanh whose
                        // coefficients sum to less than 2^k k! in magnitude: relative accuracy
                        // only on that scale. sigma_n's are positive sums.
                        let scale = match activation {
                            Activation::Tanh if k >= 1 => e.abs().max(
                                1e-2 * e_scale(&exact)
                                    * (1..=k).map(|i| 2.0 * i as f64).product::<f64>(),
                            ),
                            _ => e.abs(),
                        };
                        let got = out[k * b + p];
                        assert!(
                            (got - e).abs() <= 1e-13 * scale + 1e-300,
                            "{activation:?} n = {n}, order {k} at {v}: {got:e} against {e:e}"
                        );
                    }
                }
            }
        }
    }

    /// sech^2 (tanh's order 1), the size of the terms of tanh's higher orders.
    fn e_scale(exact: &[DoubleDouble]) -> f64 {
        exact.get(1).map_or(0.0, |d| d.hi().abs())
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_code_gives_the_baseline_code_s_bits() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let z: Vec<f64> = (0..CHUNK).map(|i| -20.0 + 0.61 * i as f64).collect();
        for activation in [Activation::Tanh, Activation::Sigma] {
            for n in 1..=MAX_DIM {
                let ord = n + 1;
                let (mut a, mut b) = (vec![0.0; ord * CHUNK], vec![0.0; ord * CHUNK]);
                chunk(activation, n, &z, ord, &mut a, CHUNK, 0);
                // SAFETY: AVX2 is present (checked above).
                unsafe { fast_chunk_avx2(activation, n, &z, ord, &mut b, CHUNK, 0) };
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "{activation:?} n = {n}");
            }
        }
    }

    #[test]
    fn nan_input_is_an_error_not_a_table() {
        let z = [0.5, f64::NAN];
        let mut out = [0.0; 6];
        for activation in [Activation::Tanh, Activation::Sigma] {
            assert_eq!(
                derivative_tables(activation, 2, &z, 3, &mut out),
                Err(Error::NonFiniteInput)
            );
        }
        assert_eq!(
            derivative_tables(Activation::Tanh, 2, &z, 3, &mut out[..5]),
            Err(Error::DimensionMismatch {
                expected: 6,
                found: 5
            })
        );
    }
}

//! The derivation and the exhaustive check of `finn_core::tanh::tanh_sech2_f32`.
//!
//! * [`fit`] and [`fit_series`] (`cargo xtask tanh-fit`): the cubic P in
//!   expm1(r) ~ r + r^2/2 + r^3 P(r) on |r| <= 1.01 ln 2 / 2, and the even polynomials of
//!   cosh and sinh below the series limit, each for minimax relative error. The errors are
//!   linear in the coefficients, so Lawson's algorithm (weighted least squares whose weights
//!   grow where the error is largest) converges to the minimax fit; the coefficients are then
//!   rounded to `f32`, as finn-core stores them.
//! * [`sweep`] (`cargo xtask tanh-accuracy`): every `f32` input against an f64 reference.

/// expm1(r) as the series r + r^2/2 + r^3 g(r): g(r) = sum over k >= 3 of r^(k-3) / k!,
/// summed directly (no cancellation, unlike (expm1 r - r - r^2/2) / r^3).
fn g(r: f64) -> f64 {
    let (mut term, mut sum) = (1.0 / 6.0, 0.0);
    for k in 4..40 {
        sum += term;
        term *= r / k as f64;
    }
    sum
}

/// Solves the square system `a x = b` by Gaussian elimination with partial pivoting.
fn solve<const K: usize>(mut a: [[f64; K]; K], mut b: [f64; K]) -> [f64; K] {
    for c in 0..K {
        let p = (c..K)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, p);
        b.swap(c, p);
        let (pivot, pivot_b) = (a[c], b[c]);
        for (row, rb) in a.iter_mut().zip(b.iter_mut()).skip(c + 1) {
            let f = row[c] / pivot[c];
            for (x, p) in row.iter_mut().zip(&pivot).skip(c) {
                *x -= f * p;
            }
            *rb -= f * pivot_b;
        }
    }
    let mut x = [0.0; K];
    for c in (0..K).rev() {
        let s: f64 = (c + 1..K).map(|j| a[c][j] * x[j]).sum();
        x[c] = (b[c] - s) / a[c][c];
    }
    x
}

/// One minimax fit: the coefficients (ascending), in f64 and rounded to f32, and the largest
/// relative error of the approximated function with f64 arithmetic and the f32
/// coefficients.
pub struct Fit<const K: usize> {
    /// The minimax coefficients before rounding.
    pub exact: [f64; K],
    /// The same rounded to f32, as `finn_core::tanh` stores them.
    pub rounded: [f32; K],
    /// Largest relative error of the approximation with `rounded`, in f64 arithmetic.
    pub max_relative_error: f64,
}

/// Fits the K coefficients c of a polynomial Q(v) = sum c_i v^i to a target g over `points`
/// for the smallest largest weighted error |w(p) (Q(v(p)) - g(p))| (the relative error of
/// the function the polynomial is part of). The error is linear in c, so Lawson's algorithm
/// (weighted least squares whose weights grow where the error is largest) converges to the
/// minimax fit.
fn lawson<const K: usize>(
    points: &[f64],
    v: impl Fn(f64) -> f64,
    g: impl Fn(f64) -> f64,
    w: impl Fn(f64) -> f64,
) -> [f64; K] {
    let basis = |p: f64| {
        let mut b = [1.0; K];
        for i in 1..K {
            b[i] = b[i - 1] * v(p);
        }
        b
    };
    let rows: Vec<([f64; K], f64, f64)> = points.iter().map(|&p| (basis(p), g(p), w(p))).collect();
    let mut lawson = vec![1.0 / points.len() as f64; points.len()];
    let mut c = [0.0; K];
    for _ in 0..200 {
        let (mut a, mut b) = ([[0.0; K]; K], [0.0; K]);
        for ((basis, g, s), &l) in rows.iter().zip(&lawson) {
            let weight = l * s * s;
            for i in 0..K {
                for j in 0..K {
                    a[i][j] += weight * basis[i] * basis[j];
                }
                b[i] += weight * basis[i] * g;
            }
        }
        c = solve(a, b);
        let errors: Vec<f64> = rows
            .iter()
            .map(|(basis, g, s)| {
                (s * (basis.iter().zip(&c).map(|(b, c)| b * c).sum::<f64>() - g)).abs()
            })
            .collect();
        let total: f64 = lawson.iter().zip(&errors).map(|(l, e)| l * e).sum();
        for (l, e) in lawson.iter_mut().zip(&errors) {
            *l *= e / total;
        }
    }
    c
}

/// `n` Chebyshev-spaced points of [lo, hi].
fn chebyshev(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let c = (core::f64::consts::PI * (i as f64 + 0.5) / n as f64).cos();
            0.5 * (lo + hi) - 0.5 * (hi - lo) * c
        })
        .collect()
}

/// Horner's rule for ascending coefficients, in f64.
fn horner(c: &[f64], v: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &c| acc * v + c)
}

/// The cubic P in expm1(r) ~ r + r^2/2 + r^3 P(r) on |r| <= 1.01 ln 2 / 2 (the exponential
/// of finn-core's pair beyond [`finn_core::tanh::SERIES_LIMIT`]), for minimax relative error
/// of expm1: 4001 Chebyshev points.
pub fn fit() -> Fit<4> {
    let h = 1.01 * core::f64::consts::LN_2 / 2.0;
    let points = chebyshev(-h, h, 4001);
    // Relative error of expm1 = r^3 (P - g) / expm1(r).
    let exact = lawson::<4>(&points, |r| r, g, |r| r * r * r / libm::expm1(r));
    let rounded = exact.map(|v| v as f32);
    let p = rounded.map(f64::from);
    let max_relative_error = points
        .iter()
        .map(|&r| {
            let q = r + r * r * (0.5 + r * horner(&p, r));
            ((q - libm::expm1(r)) / libm::expm1(r)).abs()
        })
        .fold(0.0, f64::max);
    Fit {
        exact,
        rounded,
        max_relative_error,
    }
}

/// (cosh x - 1) / x^2 = sum over k >= 1 of x^(2k - 2) / (2k)!, summed directly.
fn cosh_tail(x: f64) -> f64 {
    let (u, mut term, mut sum) = (x * x, 0.5, 0.0);
    for k in 1..30 {
        sum += term;
        term *= u / ((2 * k + 1) * (2 * k + 2)) as f64;
    }
    sum
}

/// (sinh x - x) / x^3 = sum over k >= 1 of x^(2k - 2) / (2k + 1)!, summed directly.
fn sinh_tail(x: f64) -> f64 {
    let (u, mut term, mut sum) = (x * x, 1.0 / 6.0, 0.0);
    for k in 1..30 {
        sum += term;
        term *= u / ((2 * k + 2) * (2 * k + 3)) as f64;
    }
    sum
}

/// The two polynomials of finn-core's pair below [`finn_core::tanh::SERIES_LIMIT`] = L:
/// cosh x ~ 1 + u C(u) and sinh x ~ x + x u S(u) with u = x^2, of KC and KS coefficients, fitted
/// on 0 <= x <= 1.001 L (a margin for the rounding of u) for minimax relative error of
/// cosh and of sinh: 4001 Chebyshev points each.
pub fn fit_series<const KC: usize, const KS: usize>() -> (Fit<KC>, Fit<KS>) {
    let limit = 1.001 * finn_core::tanh::SERIES_LIMIT as f64;
    // x = 0 itself is excluded by the Chebyshev spacing; the relative errors' weights vanish
    // there anyway.
    let points = chebyshev(0.0, limit, 4001);
    let square = |x: f64| x * x;
    let cosh = lawson::<KC>(&points, square, cosh_tail, |x| x * x / libm::cosh(x));
    let sinh = lawson::<KS>(&points, square, sinh_tail, |x| x * x * x / libm::sinh(x));
    (
        finish(
            &points,
            cosh,
            |p, x| 1.0 + x * x * horner(p, x * x),
            libm::cosh,
        ),
        finish(
            &points,
            sinh,
            |p, x| x + x * x * x * horner(p, x * x),
            libm::sinh,
        ),
    )
}

/// Rounds a fit's coefficients to f32 and measures the largest relative error of
/// `approximation` (with the rounded coefficients, in f64 arithmetic) against `reference`.
fn finish<const K: usize>(
    points: &[f64],
    exact: [f64; K],
    approximation: impl Fn(&[f64], f64) -> f64,
    reference: fn(f64) -> f64,
) -> Fit<K> {
    let rounded = exact.map(|v| v as f32);
    let p = rounded.map(f64::from);
    let max_relative_error = points
        .iter()
        .map(|&x| ((approximation(&p, x) - reference(x)) / reference(x)).abs())
        .fold(0.0, f64::max);
    Fit {
        exact,
        rounded,
        max_relative_error,
    }
}

/// The fits as Rust constants and their errors, for `cargo xtask tanh-fit`.
pub fn fit_report() -> String {
    let mut out = String::new();
    // Named as finn_core::tanh names them: C3..C6, COSH[i], SINH[i].
    let mut constants = |name: &dyn Fn(usize) -> String,
                         exact: &[f64],
                         rounded: &[f32],
                         error: f64,
                         what: &str| {
        for (i, (e, r)) in exact.iter().zip(rounded).enumerate() {
            out += &format!("{} = {r:e}; // minimax {e:e}\n", name(i));
        }
        out += &format!(
            "largest relative error of {what} (f64 arithmetic, f32 coefficients): {error:.3e} ({:.3} ulp of 2^-24)\n",
            error * 16_777_216.0
        );
    };
    let f = fit();
    constants(
        &|i| format!("const C{}: f32", i + 3),
        &f.exact,
        &f.rounded,
        f.max_relative_error,
        "expm1 on |r| <= 1.01 ln2/2",
    );
    let (c, s) = fit_series::<{ finn_core::tanh::COSH_TERMS }, { finn_core::tanh::SINH_TERMS }>();
    constants(
        &|i| format!("COSH[{i}]"),
        &c.exact,
        &c.rounded,
        c.max_relative_error,
        "cosh below the series limit",
    );
    constants(
        &|i| format!("SINH[{i}]"),
        &s.exact,
        &s.rounded,
        s.max_relative_error,
        "sinh below the series limit",
    );
    out
}

/// The worst error of one function over the sweep: ulps and the input where it occurred.
#[derive(Clone, Copy, Debug, Default)]
pub struct Worst {
    /// Largest error in ulp of the exact value (2^-149 in the subnormals).
    pub ulps: f64,
    /// The input where it occurred.
    pub at: f32,
}

impl Worst {
    fn update(&mut self, ulps: f64, at: f32) {
        if ulps > self.ulps {
            *self = Worst { ulps, at };
        }
    }
}

/// tanh and sech^2 in f64 (relative error near 1e-16, far below an f32 ulp).
pub fn reference(x: f64) -> (f64, f64) {
    let a = x.abs();
    let e = libm::exp(-2.0 * a);
    let m = libm::expm1(-2.0 * a);
    let t = -m / (2.0 + m);
    (
        if x < 0.0 { -t } else { t },
        4.0 * e / ((1.0 + e) * (1.0 + e)),
    )
}

/// |v - exact| in units of the f32 ulp at `exact` (2^-149 in the subnormals).
pub fn ulps(v: f32, exact: f64) -> f64 {
    let mag = exact.abs().max(f32::MIN_POSITIVE as f64);
    let ulp = libm::exp2(libm::floor(libm::log2(mag)) - 23.0);
    (v as f64 - exact).abs() / ulp
}

/// Every non-NaN `f32` whose bits `b` lie in `bits` with `(b - bits.start) % stride == 0`,
/// through `f` (for example `finn_core::tanh::tanh_sech2_f32`): the worst tanh and sech^2
/// errors. `0..=u32::MAX` with stride 1 is the full sweep.
pub fn sweep(
    bits: core::ops::RangeInclusive<u32>,
    stride: u32,
    f: impl Fn(f32) -> (f32, f32),
) -> (Worst, Worst) {
    let (mut wt, mut ws) = (Worst::default(), Worst::default());
    let end = *bits.end() as u64;
    let mut bits = *bits.start() as u64;
    while bits <= end {
        let x = f32::from_bits(bits as u32);
        if !x.is_nan() {
            let (t, s) = f(x);
            let (rt, rs) = reference(x as f64);
            wt.update(ulps(t, rt), x);
            ws.update(ulps(s, rs), x);
        }
        bits += stride as u64;
    }
    (wt, ws)
}

/// The sweep of finn-core's pair over the bit patterns of `from..=to` (both >= 0: the pair
/// is odd and even in x bit for bit, so the non-negative inputs decide), for
/// `cargo xtask tanh-accuracy`.
pub fn sweep_report(from: f32, to: f32, stride: u32) -> String {
    let range = from.abs().to_bits()..=to.abs().to_bits();
    let (t, s) = sweep(range, stride, finn_core::tanh::tanh_sech2_f32);
    format!(
        "tanh_sech2_f32 over the f32 bit patterns of [{from:e}, {to:e}] with stride {stride} (NaNs skipped), against f64:\n\
         tanh:   max {:.3} ulp at x = {:e} ({:#010x})\n\
         sech^2: max {:.3} ulp at x = {:e} ({:#010x})\n",
        t.ulps,
        t.at,
        t.at.to_bits(),
        s.ulps,
        s.at,
        s.at.to_bits()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_fits_are_far_below_an_ulp_and_start_as_taylor_does() {
        let (c, s) =
            fit_series::<{ finn_core::tanh::COSH_TERMS }, { finn_core::tanh::SINH_TERMS }>();
        // In exact arithmetic with the f32 coefficients, a tenth of an ulp (2^-24) or better:
        // the rounding in f32 arithmetic then decides the pair's accuracy.
        assert!(
            c.max_relative_error < 0.1 / 16_777_216.0,
            "{}",
            c.max_relative_error
        );
        assert!(
            s.max_relative_error < 0.1 / 16_777_216.0,
            "{}",
            s.max_relative_error
        );
        // cosh = 1 + u/2 + u^2/24 + ..., sinh = x + x u/6 + ...: the minimax coefficients
        // stay near Taylor's.
        assert!((c.exact[0] - 0.5).abs() < 1e-6 && (c.exact[1] - 1.0 / 24.0).abs() < 1e-6);
        assert!((s.exact[0] - 1.0 / 6.0).abs() < 1e-6 && (s.exact[1] - 1.0 / 120.0).abs() < 1e-6);
    }

    #[test]
    fn the_expm1_fit_is_below_a_third_of_an_ulp() {
        let f = fit();
        assert!(
            f.max_relative_error < 0.3 / 16_777_216.0,
            "{}",
            f.max_relative_error
        );
    }
}

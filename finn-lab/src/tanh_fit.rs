//! The derivation and the exhaustive check of `finn_core::tanh::tanh_sech2_f32`.
//!
//! * [`fit`] (`cargo xtask tanh-fit`): the cubic P in expm1(r) ~ r + r^2/2 + r^3 P(r) on
//!   |r| <= 1.01 ln 2 / 2, for minimax relative error of expm1. The error is linear in P's
//!   coefficients, so Lawson's algorithm (weighted least squares whose weights grow where the
//!   error is largest) converges to the minimax fit; the coefficients are then rounded to
//!   `f32`, as finn-core stores them.
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

/// The fitted coefficients of P (ascending), in f64 and rounded to f32, and the largest
/// relative error of r + r^2/2 + r^3 P(r) against expm1 on the interval, with f64 arithmetic
/// and the f32 coefficients.
pub struct Fit {
    /// The minimax coefficients before rounding.
    pub exact: [f64; 4],
    /// The same rounded to f32, as `finn_core::tanh` stores them.
    pub rounded: [f32; 4],
    /// Largest relative error of the approximation with `rounded`, in f64 arithmetic.
    pub max_relative_error: f64,
}

/// Fits P: Lawson iterations over 4001 Chebyshev-spaced points of |r| <= 1.01 ln 2 / 2.
pub fn fit() -> Fit {
    let h = 1.01 * core::f64::consts::LN_2 / 2.0;
    let points: Vec<f64> = (0..4001)
        .map(|i| -h * (core::f64::consts::PI * (i as f64 + 0.5) / 4001.0).cos())
        .collect();
    // Relative error of expm1 = r^3 (P - g) / expm1(r): fit P to g with weight r^3 / expm1.
    let scale: Vec<f64> = points.iter().map(|&r| r * r * r / libm::expm1(r)).collect();
    let mut lawson = vec![1.0 / points.len() as f64; points.len()];
    let mut c = [0.0; 4];
    for _ in 0..200 {
        let (mut a, mut b) = ([[0.0; 4]; 4], [0.0; 4]);
        for ((&r, &s), &v) in points.iter().zip(&scale).zip(&lawson) {
            let w = v * s * s;
            let basis = [1.0, r, r * r, r * r * r];
            for i in 0..4 {
                for j in 0..4 {
                    a[i][j] += w * basis[i] * basis[j];
                }
                b[i] += w * basis[i] * g(r);
            }
        }
        c = solve(a, b);
        let errors: Vec<f64> = points
            .iter()
            .zip(&scale)
            .map(|(&r, &s)| (s * (c[0] + r * (c[1] + r * (c[2] + r * c[3])) - g(r))).abs())
            .collect();
        let total: f64 = lawson.iter().zip(&errors).map(|(v, e)| v * e).sum();
        for (v, e) in lawson.iter_mut().zip(&errors) {
            *v *= e / total;
        }
    }
    let rounded = c.map(|v| v as f32);
    let max_relative_error = points
        .iter()
        .map(|&r| {
            let p = rounded.map(f64::from);
            let q = r + r * r * (0.5 + r * (p[0] + r * (p[1] + r * (p[2] + r * p[3]))));
            ((q - libm::expm1(r)) / libm::expm1(r)).abs()
        })
        .fold(0.0, f64::max);
    Fit {
        exact: c,
        rounded,
        max_relative_error,
    }
}

/// The fit as Rust constants and its error, for `cargo xtask tanh-fit`.
pub fn fit_report() -> String {
    let f = fit();
    let mut out = String::new();
    for (i, (e, r)) in f.exact.iter().zip(&f.rounded).enumerate() {
        out += &format!("const C{}: f32 = {r:e}; // minimax {e:e}\n", i + 3);
    }
    out += &format!(
        "largest relative error of expm1 on |r| <= 1.01 ln2/2 (f64 arithmetic, f32 coefficients): {:.3e} ({:.3} ulp of 2^-24)\n",
        f.max_relative_error,
        f.max_relative_error * 16_777_216.0
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

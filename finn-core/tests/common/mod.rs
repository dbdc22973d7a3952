//! Test support: an independent evaluation of F and f from the same flat parameters.
//!
//! The reference is a plain MLP written over nested dual numbers (`num-dual`): input i carries
//! an infinitesimal at nesting level i, so the coefficient of e_1...e_n of F is the mixed
//! partial f. It shares no code with finn-core's jets: sigma_n comes from the textbook forward
//! recurrence in the dual type, tanh from num-dual itself.
#![allow(dead_code)]

use num_dual::{Dual, DualNum};

/// A dual type nested `DEPTH` times over f64, with erfc (num-dual has none).
pub trait Nested: DualNum + Copy {
    const DEPTH: usize;
    fn constant(v: f64) -> Self;
    /// v + e_level.
    fn variable(v: f64, level: usize) -> Self;
    /// The coefficient of e_0 e_1 ... e_(DEPTH-1).
    fn top(&self) -> f64;
    fn value(&self) -> f64;
    fn erfc(self) -> Self;
}

impl Nested for f64 {
    const DEPTH: usize = 0;
    fn constant(v: f64) -> Self {
        v
    }
    fn variable(v: f64, _level: usize) -> Self {
        v
    }
    fn top(&self) -> f64 {
        *self
    }
    fn value(&self) -> f64 {
        *self
    }
    fn erfc(self) -> Self {
        libm::erfc(self)
    }
}

impl<T: Nested> Nested for Dual<T> {
    const DEPTH: usize = T::DEPTH + 1;
    fn constant(v: f64) -> Self {
        Dual::new(T::constant(v), T::constant(0.0))
    }
    fn variable(v: f64, level: usize) -> Self {
        if level == T::DEPTH {
            Dual::new(T::constant(v), T::constant(1.0))
        } else {
            Dual::new(T::variable(v, level), T::constant(0.0))
        }
    }
    fn top(&self) -> f64 {
        self.eps.top()
    }
    fn value(&self) -> f64 {
        self.re.value()
    }
    fn erfc(self) -> Self {
        // d/dx erfc(x) = -2/sqrt(pi) exp(-x^2)
        let d = (-(self.re * self.re)).exp() * T::constant(-core::f64::consts::FRAC_2_SQRT_PI);
        Dual::new(self.re.erfc(), self.eps * d)
    }
}

pub type D1 = Dual<f64>;
pub type D2 = Dual<D1>;
pub type D3 = Dual<D2>;
pub type D4 = Dual<D3>;
pub type D5 = Dual<D4>;
pub type D6 = Dual<D5>;
pub type D7 = Dual<D6>;

/// sigma_n(x) by the forward recurrence g_k = (x/k) g_(k-1) + g_(k-2)/(2k) (accurate for
/// x >= -1.5; tests keep pre-activations there).
pub fn sigma<D: Nested>(n: usize, x: D) -> D {
    let mut gm1 = (-(x * x)).exp() * D::constant(core::f64::consts::FRAC_2_SQRT_PI);
    let mut g = (-x).erfc();
    for k in 1..n {
        let next = x * D::constant(1.0 / k as f64) * g + gm1 * D::constant(1.0 / (2.0 * k as f64));
        gm1 = g;
        g = next;
    }
    g * D::constant(0.5)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RefKind {
    Positive,
    SignedTanh,
    SignedSigma,
}

/// F(x) of an MLP with flat parameters (finn-core's documented layout).
pub fn reference_f<D: Nested>(kind: RefKind, n: usize, widths: &[usize], p: &[f64], x: &[D]) -> D {
    let p: Vec<D> = p.iter().map(|&v| D::constant(v)).collect();
    reference_f_with(kind, n, widths, &p, x)
}

/// As [`reference_f`], with parameters that may carry infinitesimals too (for gradients).
pub fn reference_f_with<D: Nested>(
    kind: RefKind,
    n: usize,
    widths: &[usize],
    p: &[D],
    x: &[D],
) -> D {
    let map = |w: D| {
        if kind == RefKind::Positive {
            w.abs()
        } else {
            w
        }
    };
    let act = |z: D| match kind {
        RefKind::SignedTanh => z.tanh(),
        _ => sigma(n, z),
    };
    let mut it = p.iter().copied();
    let mut h: Vec<D> = x.to_vec();
    for &w in widths {
        let fan_in = h.len();
        let weights: Vec<D> = (0..w * fan_in).map(|_| map(it.next().unwrap())).collect();
        let biases: Vec<D> = (0..w).map(|_| it.next().unwrap()).collect();
        h = (0..w)
            .map(|j| {
                let mut z = biases[j];
                for i in 0..fan_in {
                    z += h[i] * weights[j * fan_in + i];
                }
                act(z)
            })
            .collect();
    }
    let mut y = D::constant(0.0);
    for v in h {
        y += v * map(it.next().unwrap());
    }
    assert!(it.next().is_none(), "parameter count");
    y
}

/// f(x) = d_1...d_n F(x) by nested duals of type D (D::DEPTH must equal x.len()).
pub fn reference_integrand<D: Nested>(
    kind: RefKind,
    widths: &[usize],
    p: &[f64],
    x: &[f64],
) -> f64 {
    assert_eq!(D::DEPTH, x.len());
    let xs: Vec<D> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| D::variable(v, i))
        .collect();
    reference_f(kind, x.len(), widths, p, &xs).top()
}

/// A small deterministic generator (tests stay reproducible without extra crates).
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}

/// Gauss-Legendre nodes and weights on [-1, 1] (Golub-Welsch-free: Newton on P_m).
pub fn gauss_legendre(m: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(m);
    for i in 0..m {
        let mut x = (core::f64::consts::PI * (i as f64 + 0.75) / (m as f64 + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=m {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = m as f64 * (x * p1 - p0) / (x * x - 1.0);
            let dx = p1 / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        out.push((x, 2.0 / ((1.0 - x * x) * dp * dp)));
    }
    out
}

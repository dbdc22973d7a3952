//! The optimised nested-dual baseline: the best version of "differentiate the MLP n times
//! with dual numbers", for an honest comparison with finn-core's f.
//!
//! Input i carries an infinitesimal at nesting level i of `num_dual::Dual` (the `Nested`
//! types of `tests/common`), so the coefficient of e_1...e_n of F is f. Unlike the test
//! suite's reference it is written for speed:
//!
//! * the parameters are extracted once into fixed arrays (|w| already taken for positive
//!   networks), so evaluation neither allocates nor re-reads the flat layout;
//! * the activation is applied through the same derivative table finn-core uses
//!   (`Activation::derivatives`: sigma_n^(k) or tanh^(k) at the real part, k = 0..=n), by the
//!   chain rule one nesting level at a time: act^(j)(re + eps e) = act^(j)(re) +
//!   act^(j+1)(re) eps e, where every level's real part has the same scalar value, so the one
//!   table serves all levels. That costs 65 products of level-3 duals' parts at n = 4
//!   (A(n) = 2 A(n-1) + 3^(n-1)), five times fewer than a Taylor polynomial by Horner.
//!
//! Shared by `benches/integrand.rs` and `tests/nested_dual_baseline.rs` (which checks that it
//! computes finn-core's f), so the benchmark cannot time something that computes else.

use finn_core::Activation;
use num_dual::{Dual, DualNum};

/// A nested dual type over f64 (scalar products and sums need the primitive type) that can
/// apply a function given its derivative table at the scalar real part.
pub trait Scalar: super::common::Nested + DualNum<Primitive = f64> {
    /// g(self) where `table[k]` = g^(k)(the scalar real part), k = 0..=DEPTH.
    fn apply(self, table: &[f64]) -> Self;
}

impl Scalar for f64 {
    #[inline(always)]
    fn apply(self, table: &[f64]) -> Self {
        table[0]
    }
}

impl<T: Scalar> Scalar for Dual<T>
where
    Dual<T>: super::common::Nested + DualNum<Primitive = f64>,
{
    #[inline(always)]
    fn apply(self, table: &[f64]) -> Self {
        Dual::new(self.re.apply(table), self.re.apply(&table[1..]) * self.eps)
    }
}

/// A dense MLP of `L` hidden layers of `W` units over `N` inputs, as fixed arrays.
pub struct DualMlp<const N: usize, const W: usize, const L: usize> {
    activation: Activation,
    first: [[f64; N]; W],
    first_bias: [f64; W],
    /// Layers 1..L (index 0 unused: the first layer has fan-in N).
    hidden: [[[f64; W]; W]; L],
    hidden_bias: [[f64; W]; L],
    out: [f64; W],
}

impl<const N: usize, const W: usize, const L: usize> DualMlp<N, W, L> {
    /// From finn-core's flat layout (per layer: weights row by row, then biases; then the
    /// output weights). `positive` takes |w| of every weight, as a positive network does.
    pub fn new(activation: Activation, positive: bool, params: &[f64]) -> Self {
        let map = |w: f64| if positive { w.abs() } else { w };
        let mut it = params.iter().copied();
        let mut next = || it.next().expect("parameter count");
        let mut first = [[0.0; N]; W];
        for row in first.iter_mut() {
            for w in row.iter_mut() {
                *w = map(next());
            }
        }
        let mut first_bias = [0.0; W];
        for b in first_bias.iter_mut() {
            *b = next();
        }
        let mut hidden = [[[0.0; W]; W]; L];
        let mut hidden_bias = [[0.0; W]; L];
        for l in 1..L {
            for row in hidden[l].iter_mut() {
                for w in row.iter_mut() {
                    *w = map(next());
                }
            }
            for b in hidden_bias[l].iter_mut() {
                *b = next();
            }
        }
        let mut out = [0.0; W];
        for w in out.iter_mut() {
            *w = map(next());
        }
        DualMlp {
            activation,
            first,
            first_bias,
            hidden,
            hidden_bias,
            out,
        }
    }

    /// act(z) for a nested dual z, from the derivative table at z's scalar real part.
    #[inline(always)]
    fn act<D: Scalar>(&self, z: D) -> D {
        let mut table = [0.0; 8];
        self.activation
            .derivatives(N, z.value(), &mut table[..=N])
            .expect("derivatives up to order 7");
        z.apply(&table)
    }

    /// f(x) = d_1...d_n F(x), with `D` the dual type nested `N` times.
    pub fn integrand<D: Scalar>(&self, x: &[f64; N]) -> f64 {
        let xs: [D; N] = core::array::from_fn(|i| D::variable(x[i], i));
        let mut h: [D; W] = core::array::from_fn(|j| {
            let mut z = D::constant(self.first_bias[j]);
            for (xi, w) in xs.iter().zip(&self.first[j]) {
                z += *xi * *w;
            }
            self.act(z)
        });
        for l in 1..L {
            let next: [D; W] = core::array::from_fn(|j| {
                let mut z = D::constant(self.hidden_bias[l][j]);
                for (hi, w) in h.iter().zip(&self.hidden[l][j]) {
                    z += *hi * *w;
                }
                self.act(z)
            });
            h = next;
        }
        let mut y = D::constant(0.0);
        for (hj, w) in h.iter().zip(&self.out) {
            y += *hj * *w;
        }
        y.top()
    }
}

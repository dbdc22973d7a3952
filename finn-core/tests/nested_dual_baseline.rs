//! The benchmark's optimised nested-dual baseline (`benches/support/nested_dual.rs`) computes
//! finn-core's f: for sigma_n positive and tanh signed networks, n = 1..=6, depths 1..=3.
//! Without this the benchmark could time a baseline that computes something else.

#[path = "common/mod.rs"]
mod common;
#[path = "../benches/support/nested_dual.rs"]
mod nested_dual;

use common::{Lcg, D1, D2, D3, D4, D5, D6};
use finn_core::jet::{Dim, JetDim};
use finn_core::{parameter_count, Activation, Antiderivative, Depth, HiddenBlocks, Network};
use nested_dual::{DualMlp, Scalar};

/// Parameters of either sign, scaled by 1/sqrt(fan-in); a positive network takes |w|.
fn parameters(n: usize, widths: &[usize], seed: u64) -> Vec<f64> {
    let mut rng = Lcg(seed);
    (0..parameter_count(n, widths))
        .map(|_| rng.uniform(-1.0, 1.0) / (n as f64).sqrt())
        .collect()
}

fn check<const N: usize, const W: usize, const L: usize, D: Scalar>(seed: u64)
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f64, W>,
{
    let widths = [W; L];
    let params = parameters(N, &widths, seed);
    let x: [f64; N] = core::array::from_fn(|i| 0.3 - 0.2 * i as f64);
    for (activation, positive) in [(Activation::Sigma, true), (Activation::Tanh, false)] {
        let net = if positive {
            Network::<f64, N, W, L>::positive(&widths, &params)
        } else {
            Network::<f64, N, W, L>::signed(activation, &widths, &params)
        }
        .unwrap();
        let f = net.integrand(&x).unwrap();
        let g = DualMlp::<N, W, L>::new(activation, positive, &params).integrand::<D>(&x);
        assert!(
            (f - g).abs() <= 1e-10 * f.abs().max(1e-3),
            "{activation:?} n={N} w={W} d={L}: finn-core {f:e}, nested duals {g:e}"
        );
    }
}

macro_rules! depths {
    ($n:literal, $d:ty) => {
        check::<$n, 5, 1, $d>(11 + $n);
        check::<$n, 5, 2, $d>(21 + $n);
        check::<$n, 4, 3, $d>(31 + $n);
    };
}

#[test]
fn the_optimised_nested_dual_baseline_computes_finn_cores_integrand() {
    depths!(1, D1);
    depths!(2, D2);
    depths!(3, D3);
    depths!(4, D4);
    depths!(5, D5);
    depths!(6, D6);
}

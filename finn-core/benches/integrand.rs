//! Cost of the exact integrand f = d_1...d_n F against F itself and against the best
//! version of the alternative, nested dual numbers.
//!
//! Positive sigma_n networks and signed tanh networks, f64, n = 1..=6 inputs, hidden widths
//! 8/16/32, depths 1..=3 (every hidden layer the same width, capacity `W`/`L` equal to the
//! actual shape). For each shape one criterion group `{sigma,tanh}_n{n}_w{w}_d{d}` times, in
//! the same run:
//!
//! * `integrand`: finn-core's f (closed form at depth 1 for sigma_n, multilinear jets);
//! * `antiderivative`: finn-core's F, the plain forward pass;
//! * `nested_dual`: **the baseline**, `support/nested_dual.rs`: `num_dual::Dual` nested n
//!   times, parameters pre-extracted into fixed arrays, no allocation, the activation through
//!   finn-core's own derivative table (tests/nested_dual_baseline.rs checks it computes f);
//! * `nested_dual_naive`: the test suite's reference MLP over the same duals, written for
//!   clarity (it allocates `Vec`s per layer and re-reads the flat parameters on every call):
//!   kept as a labelled extra column only.
//!
//! (`integrand`/`antiderivative` rather than `f`/`F`: criterion's directories must not differ
//! only by case on case-insensitive file systems.)
//!
//! `cargo xtask bench` runs this and turns criterion's estimates into
//! `results/integrand-bench.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use finn_core::jet::{Dim, JetDim};
use finn_core::{parameter_count, Activation, Antiderivative, Depth, HiddenBlocks, Network};
use std::hint::black_box;
use std::time::Duration;

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/nested_dual.rs"]
mod nested_dual;
use common::{reference_f, reference_integrand, Lcg, RefKind, D1, D2, D3, D4, D5, D6};
use nested_dual::{DualMlp, Scalar};

/// Deterministic parameters, weights scaled by 1/sqrt(fan_in) so that pre-activations stay
/// moderate (|z| of order 1) at every depth.
fn parameters(n: usize, widths: &[usize], signed: bool) -> Vec<f64> {
    let mut rng = Lcg(0xbe_4c + 1000 * n as u64 + 10 * widths[0] as u64 + widths.len() as u64);
    let mut p = Vec::with_capacity(parameter_count(n, widths));
    let mut fan_in = n;
    for &w in widths {
        let scale = 1.0 / (fan_in as f64).sqrt();
        p.extend((0..w * fan_in).map(|_| sign(&mut rng, signed) * rng.uniform(0.25, 1.0) * scale));
        p.extend((0..w).map(|_| rng.uniform(-0.5, 0.5)));
        fan_in = w;
    }
    let scale = 1.0 / (fan_in as f64).sqrt();
    p.extend((0..fan_in).map(|_| sign(&mut rng, signed) * rng.uniform(0.25, 1.0) * scale));
    assert_eq!(p.len(), parameter_count(n, widths));
    p
}

/// -1 or 1 at random for signed networks, 1 for positive ones.
fn sign(rng: &mut Lcg, signed: bool) -> f64 {
    if signed && rng.next_f64() < 0.5 {
        -1.0
    } else {
        1.0
    }
}

/// The fixed evaluation point: 0.4, 0.25, 0.1, -0.05, ... (inside the reference's accurate
/// range).
fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.4 - 0.15 * i as f64).collect()
}

/// One group: f, F and both nested-dual f of a network with `L` hidden layers of `W` units
/// over `N` inputs (positive sigma_n, or signed tanh); `D` is the dual type nested `N` times.
fn bench_shape<const N: usize, const W: usize, const L: usize, D: Scalar>(
    c: &mut Criterion,
    activation: Activation,
) where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f64, W>,
{
    assert_eq!(D::DEPTH, N, "dual nesting must equal the input dimension");
    let positive = activation == Activation::Sigma;
    let (kind, name) = if positive {
        (RefKind::Positive, "sigma")
    } else {
        (RefKind::SignedTanh, "tanh")
    };
    let widths = [W; L];
    let params = parameters(N, &widths, !positive);
    let net = if positive {
        Network::<f64, N, W, L>::positive(&widths, &params)
    } else {
        Network::<f64, N, W, L>::signed(activation, &widths, &params)
    }
    .expect("valid network");
    let xv = point(N);
    let x: [f64; N] = core::array::from_fn(|i| xv[i]);
    let baseline = DualMlp::<N, W, L>::new(activation, positive, &params);

    // Every column must compute the same thing, or the comparison means nothing.
    let f = net.integrand(&x).expect("f");
    let close = |g: f64| (f - g).abs() <= 1e-9 * f.abs().max(1e-6);
    let f_naive = reference_integrand::<D>(kind, &widths, &params, &x);
    let f_opt = baseline.integrand::<D>(&x);
    assert!(
        close(f_naive) && close(f_opt),
        "{name} n={N} w={W} d={L}: f = {f:e}, nested duals {f_opt:e}, naive {f_naive:e}"
    );
    let big_f = net.antiderivative(&x).expect("F");
    let big_f_ref = reference_f::<f64>(kind, N, &widths, &params, &x);
    assert!((big_f - big_f_ref).abs() <= 1e-12 * big_f_ref.abs().max(1.0));

    let mut group = c.benchmark_group(format!("{name}_n{N}_w{W}_d{L}"));
    group.bench_function("integrand", |b| {
        b.iter(|| black_box(&net).integrand(black_box(&x)))
    });
    group.bench_function("antiderivative", |b| {
        b.iter(|| black_box(&net).antiderivative(black_box(&x)))
    });
    group.bench_function("nested_dual", |b| {
        b.iter(|| black_box(&baseline).integrand::<D>(black_box(&x)))
    });
    group.bench_function("nested_dual_naive", |b| {
        b.iter(|| {
            reference_integrand::<D>(kind, black_box(&widths), black_box(&params), black_box(&x))
        })
    });
    group.finish();
}

/// Every width and depth at input dimension `N`.
fn bench_dim<const N: usize, D: Scalar>(c: &mut Criterion)
where
    Dim<N>: JetDim,
{
    for a in [Activation::Sigma, Activation::Tanh] {
        bench_shape::<N, 8, 1, D>(c, a);
        bench_shape::<N, 8, 2, D>(c, a);
        bench_shape::<N, 8, 3, D>(c, a);
        bench_shape::<N, 16, 1, D>(c, a);
        bench_shape::<N, 16, 2, D>(c, a);
        bench_shape::<N, 16, 3, D>(c, a);
        bench_shape::<N, 32, 1, D>(c, a);
        bench_shape::<N, 32, 2, D>(c, a);
        bench_shape::<N, 32, 3, D>(c, a);
    }
}

fn integrand(c: &mut Criterion) {
    bench_dim::<1, D1>(c);
    bench_dim::<2, D2>(c);
    bench_dim::<3, D3>(c);
    bench_dim::<4, D4>(c);
    bench_dim::<5, D5>(c);
    bench_dim::<6, D6>(c);
}

/// Short warm-up and measurement: 432 benchmarks must finish in minutes on 2 cores.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = integrand
}
criterion_main!(benches);

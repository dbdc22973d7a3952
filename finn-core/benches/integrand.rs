//! Cost of the exact integrand f = d_1...d_n F against F itself and against the obvious
//! approach, nested dual numbers (issue 2, item 10).
//!
//! Positive networks (sigma_n), f64, n = 1..=6 inputs, hidden widths 8/16/32, depths 1..=3
//! (every hidden layer the same width, capacity `W`/`L` equal to the actual shape). For each
//! shape one criterion group `n{n}_w{w}_d{d}` times, in the same run:
//!
//! * `integrand`: finn-core's f (closed form at depth 1, multilinear jets deeper);
//! * `antiderivative`: finn-core's F, the plain forward pass;
//! * `nested_dual`: the test suite's independent reference, an MLP over `num_dual::Dual`
//!   nested n times, whose top coefficient is the same f. It is "the obvious approach", written
//!   for clarity: it allocates `Vec`s per layer and re-reads the flat parameters on every call.
//!
//! (`integrand`/`antiderivative` rather than `f`/`F`: criterion's directories must not differ
//! only by case on case-insensitive file systems.)
//!
//! `cargo xtask bench` runs this and turns criterion's estimates into
//! `results/integrand-bench.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use finn_core::jet::{Dim, JetDim};
use finn_core::{parameter_count, Antiderivative, Network};
use std::hint::black_box;
use std::time::Duration;

#[path = "../tests/common/mod.rs"]
mod common;
use common::{reference_f, reference_integrand, Lcg, Nested, RefKind, D1, D2, D3, D4, D5, D6};

/// Deterministic parameters, weights scaled by 1/sqrt(fan_in) so that pre-activations stay
/// moderate (|z| of order 1) at every depth.
fn parameters(n: usize, widths: &[usize]) -> Vec<f64> {
    let mut rng = Lcg(0xbe_4c + 1000 * n as u64 + 10 * widths[0] as u64 + widths.len() as u64);
    let mut p = Vec::with_capacity(parameter_count(n, widths));
    let mut fan_in = n;
    for &w in widths {
        let scale = 1.0 / (fan_in as f64).sqrt();
        p.extend((0..w * fan_in).map(|_| rng.uniform(0.25, 1.0) * scale));
        p.extend((0..w).map(|_| rng.uniform(-0.5, 0.5)));
        fan_in = w;
    }
    let scale = 1.0 / (fan_in as f64).sqrt();
    p.extend((0..fan_in).map(|_| rng.uniform(0.25, 1.0) * scale));
    assert_eq!(p.len(), parameter_count(n, widths));
    p
}

/// The fixed evaluation point: 0.4, 0.25, 0.1, -0.05, ... (inside the reference's accurate
/// range).
fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.4 - 0.15 * i as f64).collect()
}

/// One group: f, F and the nested-dual f of a network with `L` hidden layers of `W` units
/// over `N` inputs; `D` is the dual type nested `N` times.
fn bench_shape<const N: usize, const W: usize, const L: usize, D: Nested>(c: &mut Criterion)
where
    Dim<N>: JetDim,
{
    assert_eq!(D::DEPTH, N, "dual nesting must equal the input dimension");
    let widths = [W; L];
    let params = parameters(N, &widths);
    let net = Network::<f64, N, W, L>::positive(&widths, &params).expect("valid network");
    let x = point(N);

    // Both sides must compute the same thing, or the comparison means nothing.
    let f = net.integrand(&x).expect("f");
    let f_ref = reference_integrand::<D>(RefKind::Positive, &widths, &params, &x);
    assert!(
        f > 0.0 && (f - f_ref).abs() <= 1e-9 * f_ref.abs(),
        "n={N} w={W} d={L}: f = {f:e}, nested duals {f_ref:e}"
    );
    let big_f = net.antiderivative(&x).expect("F");
    let big_f_ref = reference_f::<f64>(RefKind::Positive, N, &widths, &params, &x);
    assert!((big_f - big_f_ref).abs() <= 1e-12 * big_f_ref.abs().max(1.0));

    let mut group = c.benchmark_group(format!("n{N}_w{W}_d{L}"));
    group.bench_function("integrand", |b| {
        b.iter(|| black_box(&net).integrand(black_box(&x)))
    });
    group.bench_function("antiderivative", |b| {
        b.iter(|| black_box(&net).antiderivative(black_box(&x)))
    });
    group.bench_function("nested_dual", |b| {
        b.iter(|| {
            reference_integrand::<D>(
                RefKind::Positive,
                black_box(&widths),
                black_box(&params),
                black_box(&x),
            )
        })
    });
    group.finish();
}

/// Every width and depth at input dimension `N`.
fn bench_dim<const N: usize, D: Nested>(c: &mut Criterion)
where
    Dim<N>: JetDim,
{
    bench_shape::<N, 8, 1, D>(c);
    bench_shape::<N, 8, 2, D>(c);
    bench_shape::<N, 8, 3, D>(c);
    bench_shape::<N, 16, 1, D>(c);
    bench_shape::<N, 16, 2, D>(c);
    bench_shape::<N, 16, 3, D>(c);
    bench_shape::<N, 32, 1, D>(c);
    bench_shape::<N, 32, 2, D>(c);
    bench_shape::<N, 32, 3, D>(c);
}

fn integrand(c: &mut Criterion) {
    bench_dim::<1, D1>(c);
    bench_dim::<2, D2>(c);
    bench_dim::<3, D3>(c);
    bench_dim::<4, D4>(c);
    bench_dim::<5, D5>(c);
    bench_dim::<6, D6>(c);
}

/// Short warm-up and measurement: 162 benchmarks must finish in a few minutes on 2 cores.
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

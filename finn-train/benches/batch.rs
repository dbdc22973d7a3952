//! f at 1,024 points: batched (`Net::integrand_batch_serial`, one thread, matrix products over
//! points x jet coefficients) against finn-core's single-point f and against the optimised
//! nested-dual baseline (`finn-core/benches/support/nested_dual.rs`), point by point.
//!
//! Groups `batch_{sigma,tanh}_n{2,4,6}_w16_d2`, and `tables_...` for the activation tables
//! alone (W L per point); every function evaluates all 1,024 points, so per-point times are
//! the estimates divided by 1,024. `cargo xtask bench-batch` runs this
//! and writes `results/batch-bench.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use finn_core::jet::{Dim, JetDim};
use finn_core::{Activation, Antiderivative, Kind, Network};
use finn_train::grad::tables::derivative_tables;
use finn_train::grad::Net;
use finn_train::model::Architecture;
use std::hint::black_box;
use std::time::Duration;

#[path = "../../finn-core/tests/common/mod.rs"]
mod common;
#[path = "../../finn-core/benches/support/nested_dual.rs"]
mod nested_dual;
use common::{Lcg, D2, D4, D6};
use nested_dual::{DualMlp, Scalar};

/// Points per batch.
const POINTS: usize = 1024;

fn shape<const N: usize, D: Scalar>(c: &mut Criterion, activation: Activation)
where
    Dim<N>: JetDim,
{
    const W: usize = 16;
    const L: usize = 2;
    let positive = activation == Activation::Sigma;
    let arch = Architecture {
        n: N,
        kind: if positive {
            Kind::Positive
        } else {
            Kind::Signed
        },
        activation,
        widths: vec![W; L],
    };
    let mut rng = Lcg(0xba7c + N as u64);
    let mut fan_in = N;
    let mut params = Vec::new();
    for _ in 0..L {
        let scale = 1.0 / (fan_in as f64).sqrt();
        params.extend((0..W * fan_in).map(|_| rng.uniform(-1.0, 1.0) * scale));
        params.extend((0..W).map(|_| rng.uniform(-0.5, 0.5)));
        fan_in = W;
    }
    params.extend((0..W).map(|_| rng.uniform(-1.0, 1.0) / (W as f64).sqrt()));
    let points: Vec<f64> = (0..POINTS * N).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let rows: Vec<[f64; N]> = points
        .chunks_exact(N)
        .map(|r| core::array::from_fn(|i| r[i]))
        .collect();

    let net = Net::new(&arch, &params).expect("valid network");
    let single = if positive {
        Network::<f64, N, W, L>::positive(&arch.widths, &params)
    } else {
        Network::<f64, N, W, L>::signed(activation, &arch.widths, &params)
    }
    .expect("valid network");
    let baseline = DualMlp::<N, W, L>::new(activation, positive, &params);

    // All three compute the same f, or the comparison means nothing.
    let mut batched = vec![0.0; POINTS];
    net.integrand_batch_serial(&points, &mut batched)
        .expect("f");
    for (r, x) in rows.iter().enumerate() {
        let f = single.integrand(x).expect("f");
        let g = baseline.integrand::<D>(x);
        let close = |v: f64| (v - f).abs() <= 1e-9 * f.abs().max(1e-6);
        assert!(
            close(batched[r]) && close(g),
            "row {r}: {f:e} {} {g:e}",
            batched[r]
        );
    }

    let name = if positive { "sigma" } else { "tanh" };
    let mut group = c.benchmark_group(format!("batch_{name}_n{N}_w{W}_d{L}"));
    group.bench_function("batched", |b| {
        b.iter(|| {
            net.integrand_batch_serial(black_box(&points), &mut batched)
                .expect("f");
            black_box(&batched);
        })
    });
    group.bench_function("single", |b| {
        b.iter(|| {
            let mut s = 0.0;
            for x in &rows {
                s += black_box(&single).integrand(black_box(x)).expect("f");
            }
            s
        })
    });
    group.bench_function("nested_dual", |b| {
        b.iter(|| {
            let mut s = 0.0;
            for x in &rows {
                s += black_box(&baseline).integrand::<D>(black_box(x));
            }
            s
        })
    });
    group.finish();

    // The activation tables alone: one per unit and point (W L of them per point), point by
    // point as single-point f and the baseline compute them, and a block of 64 at a time as
    // the batched path does, at the network's own pre-activations for the same points (the
    // cost of sigma_n's table depends on where they fall).
    let z = pre_activations::<N>(&arch, &params, &points);
    let mut table = vec![0.0; (N + 1) * z.len()];
    let mut group = c.benchmark_group(format!("tables_{name}_n{N}_w{W}_d{L}"));
    group.bench_function("batched", |b| {
        b.iter(|| {
            for (zc, out) in z.chunks(64).zip(table.chunks_mut(64 * (N + 1))) {
                derivative_tables(activation, N, black_box(zc), N + 1, out).expect("table");
            }
            black_box(&table);
        })
    });
    group.bench_function("scalar", |b| {
        let mut d = vec![0.0; N + 1];
        b.iter(|| {
            let mut s = 0.0;
            for &v in &z {
                activation
                    .derivatives(N, black_box(v), &mut d)
                    .expect("table");
                s += d[N];
            }
            s
        })
    });
    group.finish();
}

/// Every hidden unit's pre-activation at every point (layer-major within a point), by a plain
/// forward pass of the values (effective weights |w| for a positive network).
fn pre_activations<const N: usize>(
    arch: &Architecture,
    params: &[f64],
    points: &[f64],
) -> Vec<f64> {
    let weight = |w: f64| {
        if arch.kind == Kind::Positive {
            w.abs()
        } else {
            w
        }
    };
    let mut z = Vec::new();
    for x in points.chunks_exact(N) {
        let mut input = x.to_vec();
        let mut offset = 0;
        for &width in &arch.widths {
            let fan_in = input.len();
            let (w, rest) = params[offset..].split_at(width * fan_in);
            let next: Vec<f64> = (0..width)
                .map(|j| {
                    let zj = rest[j]
                        + w[j * fan_in..][..fan_in]
                            .iter()
                            .zip(&input)
                            .map(|(a, b)| weight(*a) * b)
                            .sum::<f64>();
                    z.push(zj);
                    arch.activation.value(N, zj).expect("finite activation")
                })
                .collect();
            offset += width * fan_in + width;
            input = next;
        }
    }
    z
}

fn batch(c: &mut Criterion) {
    for a in [Activation::Sigma, Activation::Tanh] {
        shape::<2, D2>(c, a);
        shape::<4, D4>(c, a);
        shape::<6, D6>(c, a);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = batch
}
criterion_main!(benches);

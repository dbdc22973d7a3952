//! Cost of the exact parameter gradient against the loss alone (issue 3: "loss+gradient costs
//! at most 4x the loss alone").
//!
//! Each criterion group times, in the same run, `Objective::loss` and
//! `Objective::loss_and_gradient` of a regression on f (`Fit::Integrand`) over 64 random
//! points in [-1, 1]^n with targets exp(-|x|^2):
//!
//! * `grad_positive_n{n}_d{d}`: positive networks (sigma_n), hidden layers of width 16,
//!   n = 1..=6, depth 1..=3, with the equality constraint "integral over [-1, 1]^n = the
//!   target's integral" imposed by scaling;
//! * `grad_signed_n{n}_d{d}`: signed tanh networks of width 16, n = 1..=4, depth 2, without
//!   constraint.
//!
//! The host is shared and its load drifts between criterion's measurement windows, which moves
//! the ratio of two medians taken in different windows. So every iteration of either function
//! times one call of each, back to back (see [`paired`]), and the group also reports the median
//! of the per-pair ratios, (loss + gradient) / loss, which that drift barely touches: printed,
//! and written to `$CRITERION_HOME/<group>/paired.json` when `CRITERION_HOME` is set.
//!
//! `cargo xtask bench-gradient` runs this and turns criterion's estimates and the paired ratios
//! into `results/gradient-bench.md`; the shapes listed there must match the ones here.

use criterion::{criterion_group, criterion_main, Criterion};
use finn_core::{Activation, Bound, Constraint, Kind, Method};
use finn_train::fit::loss::{Data, Fit, Objective};
use finn_train::model::Architecture;
use finn_train::solve::initial_parameters;
use ndarray::{Array1, Array2};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Hidden width of every layer.
const WIDTH: usize = 16;
/// Training points per data set.
const POINTS: usize = 64;

/// SplitMix64 uniforms in [lo, hi).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + (hi - lo) * ((z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// 64 points uniform in [-1, 1]^n with targets exp(-|x|^2).
fn data(n: usize) -> Data {
    let mut rng = Rng(0x6a0d + n as u64);
    let points = Array2::from_shape_fn((POINTS, n), |_| rng.uniform(-1.0, 1.0));
    let targets: Array1<f64> = points
        .rows()
        .into_iter()
        .map(|x| (-x.dot(&x)).exp())
        .collect();
    Data::new(points, targets).expect("finite data")
}

/// One group: the loss and the loss with its gradient, same objective, same parameters.
fn bench_objective(c: &mut Criterion, name: &str, objective: &Objective, params: &[f64]) {
    // Both calls must compute the same loss, and the gradient must be usable.
    let loss = objective.loss(params).expect("loss");
    let mut grad = vec![0.0; params.len()];
    let loss_g = objective
        .loss_and_gradient(params, &mut grad)
        .expect("loss and gradient");
    assert!(
        loss.is_finite() && loss == loss_g,
        "{name}: loss {loss:e} vs {loss_g:e}"
    );
    assert!(
        grad.iter().all(|g| g.is_finite()) && grad.iter().any(|g| *g != 0.0),
        "{name}: degenerate gradient"
    );

    let mut loss = || black_box(objective).loss(black_box(params));
    let mut both = || black_box(objective).loss_and_gradient(black_box(params), &mut grad);
    // (loss, loss and gradient) per pair of calls, seconds.
    let mut pairs = Vec::new();
    let mut group = c.benchmark_group(name);
    group.bench_function("loss", |b| {
        b.iter_custom(|iters| paired(iters, &mut loss, &mut both, &mut pairs).0)
    });
    group.bench_function("loss_and_gradient", |b| {
        b.iter_custom(|iters| paired(iters, &mut loss, &mut both, &mut pairs).1)
    });
    group.finish();
    record_pairs(name, &pairs);
}

/// `iters` pairs of calls, `first` then `second`, each call timed: returns the total time of
/// each function and appends every pair's times to `pairs`.
fn paired<A, B>(
    iters: u64,
    mut first: impl FnMut() -> A,
    mut second: impl FnMut() -> B,
    pairs: &mut Vec<(f64, f64)>,
) -> (Duration, Duration) {
    let (mut total_first, mut total_second) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..iters {
        let start = Instant::now();
        black_box(first());
        let mid = Instant::now();
        black_box(second());
        let end = Instant::now();
        let (t1, t2) = (mid - start, end - mid);
        total_first += t1;
        total_second += t2;
        pairs.push((t1.as_secs_f64(), t2.as_secs_f64()));
    }
    (total_first, total_second)
}

/// Prints the median per-pair ratio (second / first) and, under `CRITERION_HOME`, writes it
/// to `<group>/paired.json`. Nothing when the group was filtered out (no pairs).
fn record_pairs(name: &str, pairs: &[(f64, f64)]) {
    let mut ratios: Vec<f64> = pairs
        .iter()
        .filter(|(a, _)| *a > 0.0)
        .map(|(a, b)| b / a)
        .collect();
    if ratios.is_empty() {
        return;
    }
    ratios.sort_by(f64::total_cmp);
    let mid = ratios.len() / 2;
    let median = if ratios.len() % 2 == 1 {
        ratios[mid]
    } else {
        0.5 * (ratios[mid - 1] + ratios[mid])
    };
    println!(
        "{name}: paired (loss + gradient) / loss = {median:.3} (median of {} pairs)",
        ratios.len()
    );
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        let dir = std::path::Path::new(&home).join(name);
        let json = serde_json::json!({ "pairs": ratios.len(), "median_ratio": median });
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("paired.json"), json.to_string()))
            .unwrap_or_else(|e| panic!("writing {}/paired.json: {e}", dir.display()));
    }
}

/// Positive sigma_n networks with the scale constraint over [-1, 1]^n.
fn positive(c: &mut Criterion) {
    for n in 1..=6 {
        // The target's own integral: (sqrt(pi) erf(1))^n.
        let eps = (std::f64::consts::PI.sqrt() * libm::erf(1.0)).powi(n as i32);
        for depth in 1..=3 {
            let arch = Architecture {
                n,
                kind: Kind::Positive,
                activation: Activation::Sigma,
                widths: vec![WIDTH; depth],
            };
            let params = initial_parameters(&arch, 7);
            let objective = Objective::new(arch, data(n), Fit::Integrand)
                .expect("objective")
                .with_constraint(
                    &vec![-1.0; n],
                    &vec![1.0; n],
                    Constraint::new(Bound::Equal, Method::Scale, eps),
                )
                .expect("constraint");
            bench_objective(
                c,
                &format!("grad_positive_n{n}_d{depth}"),
                &objective,
                &params,
            );
        }
    }
}

/// Signed tanh networks without constraint.
fn signed(c: &mut Criterion) {
    let depth = 2;
    for n in 1..=4 {
        let arch = Architecture {
            n,
            kind: Kind::Signed,
            activation: Activation::Tanh,
            widths: vec![WIDTH; depth],
        };
        let params = initial_parameters(&arch, 7);
        let objective = Objective::new(arch, data(n), Fit::Integrand).expect("objective");
        bench_objective(
            c,
            &format!("grad_signed_n{n}_d{depth}"),
            &objective,
            &params,
        );
    }
}

/// Short warm-up and measurement: 44 benchmarks (each iteration also running the partner
/// function) must finish in a few minutes on 2 cores.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800))
        .sample_size(15)
}

criterion_group! {
    name = benches;
    config = config();
    targets = positive, signed
}
criterion_main!(benches);

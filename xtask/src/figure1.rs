//! `cargo xtask figure1`: the paper's Figure 1.
//!
//! A two-mode Gaussian mixture g with volume exactly 2 over [-3, 3]^2 ([`Gmm::figure1`]) is
//! fitted by three positive networks (sigma_2) whose integral over the square is fixed by a
//! scale constraint to eps = 1, 2 and 3 (`configs/figure1-eps{1,2,3}.toml`). Only eps = 2 can
//! represent g; eps = 1 and 3 converge to the closest function of the wrong volume.
//!
//! Writes `results/figure1.md` (the mixture, and per eps the training and held-out MSE, the
//! exact integral and its relative error, iterations, wall time), `results/figure1.png` (three
//! 3-D panels: the learned surface against the ground-truth wireframe), and each run's own
//! files under `results/figure1/` (model, loss plot, report).

use crate::plot::{self, FONT};
use crate::targets::{
    composite_nodes, quadrature_2d, Gmm, FIGURE1_LOWER, FIGURE1_UPPER, FIGURE1_VOLUME,
};
use crate::train::{self, grid_points, target_values, Loaded, Outcome};
use anyhow::{bail, ensure, Context, Result};
use finn_lab::workspace_root;
use finn_train::eval::Evaluator;
use finn_train::loss::{Data, Fit};
use indicatif::MultiProgress;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The eps of the three panels.
pub const EPS: [f64; 3] = [1.0, 2.0, 3.0];

/// Largest allowed |integral - eps| / eps.
const TOLERANCE: f64 = 1e-12;

/// One trained panel and its measurements.
struct Panel {
    eps: f64,
    config: String,
    outcome: Outcome,
    heldout_mse: f64,
    rel_error: f64,
    best_mse: f64,
    solver: String,
}

/// The least mean squared error over the square that any f >= 0 with integral eps can reach
/// against g (the continuous mean of (f - g)^2).
///
/// Minimising the integral of (f - g)^2 subject to the integral of f being eps and f >= 0
/// gives f* = max(g - lambda, 0) for a constant lambda: for eps >= 2, f* = g + (eps - 2)/36
/// and the error is ((eps - 2)/36)^2; for eps < 2, lambda > 0 solves
/// integral of max(g - lambda, 0) = eps (bisection over a fine quadrature), and the error is
/// the mean of min(g, lambda)^2.
fn best_mse(gmm: &Gmm, eps: f64) -> f64 {
    let volume: f64 = FIGURE1_LOWER
        .iter()
        .zip(&FIGURE1_UPPER)
        .map(|(a, b)| b - a)
        .product();
    let excess = eps - FIGURE1_VOLUME;
    if excess >= 0.0 {
        return (excess / volume).powi(2);
    }
    // The kink of max(g - lambda, 0) limits the quadrature to about 1e-6: plenty here.
    let xs = composite_nodes(FIGURE1_LOWER[0], FIGURE1_UPPER[0], 60);
    let ys = composite_nodes(FIGURE1_LOWER[1], FIGURE1_UPPER[1], 60);
    let samples: Vec<(f64, f64)> = xs
        .iter()
        .flat_map(|(x, wx)| ys.iter().map(move |(y, wy)| ([*x, *y], wx * wy)))
        .map(|(p, w)| (gmm.value(&p), w))
        .collect();
    let integral =
        |lambda: f64| -> f64 { samples.iter().map(|(g, w)| w * (g - lambda).max(0.0)).sum() };
    let (mut lo, mut hi) = (0.0, samples.iter().fold(0.0f64, |m, (g, _)| m.max(*g)));
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if integral(mid) > eps {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let lambda = 0.5 * (lo + hi);
    samples
        .iter()
        .map(|(g, w)| w * g.min(lambda).powi(2))
        .sum::<f64>()
        / volume
}

/// `cargo xtask figure1`.
pub fn run() -> Result<()> {
    let start = Instant::now();
    let root = workspace_root();
    let gmm = Gmm::figure1();
    let quad = quadrature_2d(|x| gmm.value(x), FIGURE1_LOWER, FIGURE1_UPPER, 24);
    ensure!(
        (quad - FIGURE1_VOLUME).abs() <= 1e-12,
        "the ground truth's volume is {quad}, not {FIGURE1_VOLUME}"
    );

    let loaded = EPS
        .iter()
        .map(|eps| {
            let rel = format!("configs/figure1-eps{eps}.toml");
            Loaded::read(&root.join(&rel)).map(|l| (rel, l))
        })
        .collect::<Result<Vec<_>>>()?;
    for ((_, l), eps) in loaded.iter().zip(EPS) {
        let c = l.config.constraint();
        ensure!(
            c.is_some_and(|c| c.eps == eps) && l.config.network.n == 2,
            "{}: expected a 2-D model with eps = {eps}",
            l.path.display()
        );
    }

    // The three fits are independent: as many at a time as there are cores (two here), each
    // worker taking the next config when it finishes one.
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, EPS.len());
    let bars = MultiProgress::new();
    let bar_of: Vec<_> = loaded
        .iter()
        .zip(EPS)
        .map(|((_, l), eps)| {
            bars.add(train::progress_bar(
                l.config.solver.max_iters,
                &format!("eps = {eps}"),
            ))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Outcome>>>> =
        Mutex::new((0..EPS.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((_, l)) = loaded.get(i) else { break };
                let r = train::run(l, "cargo xtask figure1", bar_of[i].clone());
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
            });
        }
    });
    let outcomes = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a training thread panicked"))?;

    let mut panels = Vec::new();
    for (((rel, l), eps), outcome) in loaded.iter().zip(EPS).zip(outcomes) {
        let outcome = outcome
            .context("a run did not finish")?
            .with_context(|| format!("training {rel}"))?;
        let c = &l.config;
        let grid = c.data.grid.context("figure1 configs use a grid")?;
        let points = grid_points(&c.domain.lower, &c.domain.upper, grid, true);
        let target = crate::targets::Target::Gmm(gmm.clone());
        let targets = target_values(&target, &points, Fit::Integrand);
        let held = Data::new(points, targets).map_err(|e| anyhow::anyhow!("{e}"))?;
        let eval = Evaluator::new(&outcome.model)?;
        let heldout_mse = train::mse(&eval, &held, Fit::Integrand)?;
        let rel_error = (outcome.integral - eps).abs() / eps;
        panels.push(Panel {
            eps,
            config: rel.clone(),
            outcome,
            heldout_mse,
            rel_error,
            best_mse: best_mse(&gmm, eps),
            solver: match c.solver.method {
                train::SolverMethod::Lbfgs => format!("L-BFGS (memory {})", c.solver.memory),
                train::SolverMethod::Bfgs => "BFGS".to_string(),
            },
        });
    }

    let png = root.join("results/figure1.png");
    draw(&png, &gmm, &panels)?;
    let seconds = start.elapsed().as_secs_f64();
    let md = report(&gmm, quad, &panels, seconds, jobs);
    let md_path = root.join("results/figure1.md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    println!(
        "wrote {} and {} in {seconds:.1} s",
        md_path.display(),
        png.display()
    );
    for p in &panels {
        ensure!(
            p.rel_error <= TOLERANCE,
            "eps = {}: |integral - eps| / eps = {:.3e} exceeds {TOLERANCE:e}",
            p.eps,
            p.rel_error
        );
    }
    if !eps2_fits_best(&panels) {
        bail!("eps = 2 does not have the smallest MSE; see results/figure1.md");
    }
    Ok(())
}

fn eps2_fits_best(panels: &[Panel]) -> bool {
    let best = |mse: fn(&Panel) -> f64| {
        panels
            .iter()
            .min_by(|a, b| mse(a).total_cmp(&mse(b)))
            .is_some_and(|p| p.eps == 2.0)
    };
    best(|p| p.outcome.mse) && best(|p| p.heldout_mse)
}

fn report(gmm: &Gmm, quad: f64, panels: &[Panel], seconds: f64, jobs: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Figure 1: one mixture, three integral constraints\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask figure1` (configs `configs/figure1-eps{{1,2,3}}.toml`); \
         the whole command took {seconds:.1} s of wall time on this machine ({jobs} fits at a \
         time).\n"
    );
    let _ = writeln!(s, "![Figure 1](figure1.png)\n");
    let _ = writeln!(s, "## Ground truth\n");
    let _ = writeln!(
        s,
        "g(x) = A sum_k w_k N(x; mu_k, diag(s_k^2)) on [-3, 3]^2, two axis-aligned modes:\n"
    );
    let _ = writeln!(s, "| mode | w_k | mu_k | s_k |\n| --- | --- | --- | --- |");
    for (k, m) in gmm.modes.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | ({}, {}) | ({}, {}) |",
            k + 1,
            m.weight,
            m.mean[0],
            m.mean[1],
            m.std[0],
            m.std[1]
        );
    }
    let _ = writeln!(
        s,
        "\nA = {:.17e} makes the volume over the square exactly 2: A times the sum over modes of \
         w_k prod_i (erf((3 - mu_ki)/(s_ki sqrt 2)) - erf((-3 - mu_ki)/(s_ki sqrt 2)))/2 is \
         2 in f64, and an independent 2-D Gauss-Legendre quadrature (24 x 24 panels of 20 x 20 \
         nodes) gives {quad:.17} (|Q - 2| = {:.1e}).\n",
        gmm.scale,
        (quad - 2.0).abs()
    );
    let first = &panels[0].outcome;
    let arch = &first.model.architecture;
    let _ = writeln!(
        s,
        "## Fits\n\nEach panel: a positive network (sigma_2 activations, |w| weights), widths \
         {:?} ({} parameters), equality constraint by scale over [-3, 3]^2, fitted to f on a \
         {n}-point regular grid ({k} x {k}, endpoints included) with {solver}; the held-out grid \
         is the {m} x {m} cell midpoints of that grid. MSE is the mean of (f - g)^2. \
         \"Best possible\" is the least continuous mean of (f - g)^2 over the square among all \
         f >= 0 whose integral is eps: f* = g + (eps - 2)/36 for eps >= 2, and \
         f* = max(g - lambda, 0) with the lambda that gives integral eps for eps < 2. Only \
         eps = 2 can reach 0; the grid MSEs estimate the continuous one.\n",
        arch.widths,
        arch.parameter_count(),
        n = first.data.targets.len(),
        k = (first.data.targets.len() as f64).sqrt().round() as usize,
        m = (first.data.targets.len() as f64).sqrt().round() as usize - 1,
        solver = panels[0].solver,
    );
    let _ = writeln!(
        s,
        "| eps | MSE (training grid) | MSE (held-out grid) | best possible MSE | exact \
         integral of f | abs(integral - eps)/eps | iterations | termination | wall time |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for p in panels {
        let o = &p.outcome;
        let _ = writeln!(
            s,
            "| {} | {:.3e} | {:.3e} | {:.3e} | {:.17} | {:.1e} | {} | {} | {:.1} s |",
            p.eps,
            o.mse,
            p.heldout_mse,
            p.best_mse,
            o.integral,
            p.rel_error,
            o.report.iterations,
            o.report.termination,
            o.seconds
        );
    }
    let all_exact = panels.iter().all(|p| p.rel_error <= TOLERANCE);
    let _ = writeln!(
        s,
        "\n- Every integral equals its eps to within {TOLERANCE:e} (relative): {}.",
        if all_exact { "yes" } else { "NO" }
    );
    let _ = writeln!(
        s,
        "- eps = 2, the ground truth's own volume, fits best on both grids: {}.",
        if eps2_fits_best(panels) { "yes" } else { "NO" }
    );
    let _ = writeln!(
        s,
        "- Per-run wall times include data generation, evaluation and writing files; runs \
         that shared the machine took longer each than alone.\n"
    );
    let _ = writeln!(s, "Per-run files (model, loss curve, report):\n");
    for p in panels {
        let name = p
            .outcome
            .stem
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "- eps = {}: `{}`; `figure1/{name}.json`, `figure1/{name}.postcard`, \
             `figure1/{name}-loss.png`, `figure1/{name}-report.md`",
            p.eps, p.config
        );
    }
    s
}

/// Grid lines per axis of the learned surface and of the wireframe.
const SURFACE: usize = 36;
const WIRE: usize = 19;

/// A colour from blue (low) through green to yellow (high), t in [0, 1].
fn colour(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let stops = [
        (0.0, (48.0, 18.0, 120.0)),
        (0.35, (33.0, 120.0, 160.0)),
        (0.7, (60.0, 190.0, 110.0)),
        (1.0, (250.0, 230.0, 40.0)),
    ];
    let mut c = stops[0].1;
    for w in stops.windows(2) {
        let ((t0, a), (t1, b)) = (w[0], w[1]);
        if t >= t0 && t <= t1 {
            let u = (t - t0) / (t1 - t0);
            c = (
                a.0 + u * (b.0 - a.0),
                a.1 + u * (b.1 - a.1),
                a.2 + u * (b.2 - a.2),
            );
        }
    }
    RGBColor(c.0 as u8, c.1 as u8, c.2 as u8)
}

/// What a panel draws, to be sorted back to front.
enum Piece {
    Quad([(f64, f64, f64); 4], RGBColor),
    Wire([(f64, f64, f64); 2]),
}

fn draw(path: &Path, gmm: &Gmm, panels: &[Panel]) -> Result<()> {
    let text = plot::has_font();
    let root = BitMapBackend::new(path, (1950, 720)).into_drawing_area();
    let result = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let root = if text {
            root.titled(
                "Learned f (surface) against the ground truth g (wireframe, volume 2); \
                 integral of f over [-3, 3]² fixed to ε",
                (FONT, 30),
            )?
        } else {
            root.clone()
        };
        let axis = |k: usize| -> Vec<f64> {
            (0..k)
                .map(|i| -3.0 + 6.0 * i as f64 / (k - 1) as f64)
                .collect()
        };
        let xs = axis(SURFACE);
        let evals = panels
            .iter()
            .map(|p| Evaluator::new(&p.outcome.model))
            .collect::<Result<Vec<_>, _>>()?;
        // One vertical range for all panels, so heights compare.
        let mut top = 0.0f64;
        for e in &evals {
            for &x in &xs {
                for &z in &xs {
                    top = top.max(e.integrand(&[x, z])?);
                }
            }
        }
        for &x in &axis(WIRE) {
            for &z in &axis(WIRE) {
                top = top.max(gmm.value(&[x, z]));
            }
        }
        let top = (top * 1.08 * 20.0).ceil() / 20.0;
        let areas = root.split_evenly((1, panels.len()));
        for ((area, p), eval) in areas.iter().zip(panels).zip(&evals) {
            let mut builder = ChartBuilder::on(area);
            builder.margin(10).margin_left(30);
            if text {
                builder.caption(
                    format!(
                        "ε = {}: ∫f = {:.15}, MSE {:.2e}",
                        p.eps, p.outcome.integral, p.outcome.mse
                    ),
                    (FONT, 22),
                );
            }
            let mut chart =
                builder.build_cartesian_3d(-3.0f64..3.0f64, 0.0f64..top, -3.0f64..3.0f64)?;
            chart.with_projection(|mut pb| {
                pb.yaw = 0.6;
                pb.pitch = 0.35;
                pb.scale = 0.8;
                pb.into_matrix()
            });
            let mut axes = chart.configure_axes();
            axes.light_grid_style(BLACK.mix(0.1)).max_light_lines(2);
            if text {
                axes.label_style((FONT, 14));
            } else {
                axes.x_labels(0).y_labels(0).z_labels(0);
            }
            axes.draw()?;

            let mut pieces: Vec<(i32, Piece)> = Vec::new();
            let coord = chart.as_coord_spec();
            let depth = |pts: &[(f64, f64, f64)]| -> i32 {
                let k = pts.len() as f64;
                let (x, y, z) = pts.iter().fold((0.0, 0.0, 0.0), |a, p| {
                    (a.0 + p.0 / k, a.1 + p.1 / k, a.2 + p.2 / k)
                });
                coord.projected_depth(&x, &y, &z)
            };
            let mut f = vec![vec![0.0; SURFACE]; SURFACE];
            for (i, &x) in xs.iter().enumerate() {
                for (j, &z) in xs.iter().enumerate() {
                    f[i][j] = eval.integrand(&[x, z])?;
                }
            }
            for i in 0..SURFACE - 1 {
                for j in 0..SURFACE - 1 {
                    let q = [
                        (xs[i], f[i][j], xs[j]),
                        (xs[i + 1], f[i + 1][j], xs[j]),
                        (xs[i + 1], f[i + 1][j + 1], xs[j + 1]),
                        (xs[i], f[i][j + 1], xs[j + 1]),
                    ];
                    let mean = q.iter().map(|p| p.1).sum::<f64>() / 4.0;
                    pieces.push((depth(&q), Piece::Quad(q, colour(mean / top))));
                }
            }
            // The ground truth as a wireframe, finely sampled along each line.
            let ws = axis(WIRE);
            let fine = axis(4 * (WIRE - 1) + 1);
            for &c in &ws {
                for w in fine.windows(2) {
                    for seg in [
                        [
                            (c, gmm.value(&[c, w[0]]), w[0]),
                            (c, gmm.value(&[c, w[1]]), w[1]),
                        ],
                        [
                            (w[0], gmm.value(&[w[0], c]), c),
                            (w[1], gmm.value(&[w[1], c]), c),
                        ],
                    ] {
                        pieces.push((depth(&seg), Piece::Wire(seg)));
                    }
                }
            }
            // Painter's algorithm: the farthest first.
            pieces.sort_by_key(|(d, _)| std::cmp::Reverse(*d));
            for (_, piece) in pieces {
                match piece {
                    Piece::Quad(q, c) => {
                        chart.draw_series(std::iter::once(Polygon::new(
                            q.to_vec(),
                            c.mix(0.85).filled(),
                        )))?;
                    }
                    Piece::Wire(seg) => {
                        chart.draw_series(std::iter::once(PathElement::new(
                            seg.to_vec(),
                            BLACK.stroke_width(1),
                        )))?;
                    }
                }
            }
        }
        root.present()?;
        Ok(())
    })();
    result.map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_mse_limits() {
        let g = Gmm::figure1();
        assert!((best_mse(&g, 3.0) - (1.0f64 / 36.0).powi(2)).abs() < 1e-18);
        assert_eq!(best_mse(&g, 2.0), 0.0);
        let one = best_mse(&g, 1.0);
        // Between the unclipped bound ((1 - 2)/36)^2 and the error of f = g/2.
        let half = quadrature_2d(
            |x| (0.5 * g.value(x)).powi(2),
            FIGURE1_LOWER,
            FIGURE1_UPPER,
            24,
        ) / 36.0;
        assert!(one > (1.0f64 / 36.0).powi(2) && one < half, "{one} {half}");
        eprintln!("best MSE for eps = 1: {one:e}; f = g/2: {half:e}");
    }
}

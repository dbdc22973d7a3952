//! Does the budget help? (`cargo xtask deviation-study`, `results/deviation.md`.)
//!
//! The paper claims that bounding the total deviation curbs overfitting. Measured here on
//! small noisy data sets from a known function: an affine trend plus two narrow bumps
//! ([`truth`]), Gaussian noise of standard deviation [`NOISE`], 30 to 200 points, several
//! seeds. For each data set the same split trains phi for a sweep of budgets eps, the same
//! model without a budget, and the same model without a budget with weight decay tuned on the
//! validation part; the test MSE is against the noisy test targets and the error against the
//! noiseless truth is measured on a dense grid.

use super::{prepare, to_model, train, BaseConfig, DeviationConfig, DeviationModel};
use crate::observer::Observer;
use crate::random::SplitMix64;
use crate::TrainError;
use ndarray::Array2;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The noise's standard deviation.
pub const NOISE: f64 = 0.1;

/// The known function on [0, 1]: 0.5 + 1.5 x + 0.4 exp(-((x - 0.35)/0.08)^2)
/// - 0.25 exp(-((x - 0.75)/0.06)^2). The bumps' total |area| is about 0.083.
///
/// ```
/// let y = finn_train::deviation::study::truth(0.35);
/// assert!((y - (0.5 + 1.5 * 0.35 + 0.4)).abs() < 1e-3);
/// ```
pub fn truth(x: f64) -> f64 {
    let bump = |c: f64, w: f64| (-((x - c) / w).powi(2)).exp();
    0.5 + 1.5 * x + 0.4 * bump(0.35, 0.08) - 0.25 * bump(0.75, 0.06)
}

/// `count` points x uniform in [0, 1], y = truth(x) + noise, as rows (x, y).
///
/// ```
/// let d = finn_train::deviation::study::noisy_samples(50, 3);
/// assert_eq!(d.dim(), (50, 2));
/// ```
pub fn noisy_samples(count: usize, seed: u64) -> Array2<f64> {
    let mut rng = SplitMix64::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    let mut out = Array2::zeros((count, 2));
    for i in 0..count {
        let x = rng.unit();
        // Box-Muller.
        let (u1, u2) = (rng.unit().max(1e-300), rng.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        out[[i, 0]] = x;
        out[[i, 1]] = truth(x) + NOISE * z;
    }
    out
}

/// The config every study run uses (and `configs/figure2.toml` spells out): one input, an
/// affine base, magnitude widths \[8\], one direction network of width \[8\].
pub fn config(eps: f64, seed: u64) -> Result<DeviationConfig, TrainError> {
    let text = format!(
        "application = \"deviation\"\nseed = {seed}\noutput = \"unused\"\n\
         [data]\ncsv = \"unused.csv\"\ninputs = 1\nvalidation = 0.2\ntest = 0.2\n\
         [domain]\nlower = [0.0]\nupper = [1.0]\n\
         [base]\ndegree = 1\n\
         [deviation]\neps = {eps:e}\n\
         [network]\nwidths = [8]\ndirection_widths = [8]\n\
         [solver]\nmax_iters = 400\n"
    );
    toml::from_str(&text).map_err(|e| TrainError::Config(e.to_string()))
}

/// Mean squared error of a model against the noiseless truth on 1,001 points of [0, 1].
pub fn truth_error(predict: impl Fn(f64) -> Result<f64, TrainError>) -> Result<f64, TrainError> {
    let mut s = 0.0;
    for i in 0..=1000 {
        let x = i as f64 / 1000.0;
        s += (predict(x)? - truth(x)).powi(2);
    }
    Ok(s / 1001.0)
}

/// One data set's results.
#[derive(Clone, Debug)]
pub struct Row {
    /// Points.
    pub size: usize,
    /// Seed.
    pub seed: u64,
    /// (eps, test MSE, error against the truth) per budget.
    pub budgets: Vec<(f64, f64, f64)>,
    /// A residual network of the same size without a budget: (test MSE, truth error, its J
    /// by quadrature).
    pub unconstrained: (f64, f64, f64),
    /// The same with weight decay tuned: (weight decay, test MSE, truth error).
    pub tuned: (f64, f64, f64),
    /// The base alone: (test MSE, truth error).
    pub base: (f64, f64),
}

/// Budgets swept.
pub const BUDGETS: [f64; 6] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
/// Weight decays tried for the tuned baseline.
pub const DECAYS: [f64; 4] = [1e-5, 1e-4, 1e-3, 1e-2];

/// Runs one data set.
pub fn run_one(size: usize, seed: u64, observer: &mut dyn Observer) -> Result<Row, TrainError> {
    let rows = noisy_samples(size, seed);
    let base_cfg = BaseConfig {
        degree: Some(1),
        coefficients: None,
    };
    let data = prepare(&rows, 1, &[0.0], &[1.0], &base_cfg, (0.2, 0.2), seed)?;
    let fit = |eps: Option<f64>,
               wd: f64,
               observer: &mut dyn Observer|
     -> Result<DeviationModel, TrainError> {
        let c = config(eps.unwrap_or(1.0), seed)?;
        let (loss, t) = train(&c, &data, eps, wd, "study", observer)?;
        to_model(&c, &data, &loss, &t.report.params)
    };
    let scores = |m: &DeviationModel| -> Result<(f64, f64, f64), TrainError> {
        Ok((
            super::mse(&data.test, |x| m.value(x))?,
            truth_error(|x| Ok(m.value(&[x])?[0]))?,
            super::mse(&data.validation, |x| m.value(x))?,
        ))
    };
    let mut budgets = Vec::new();
    for eps in BUDGETS {
        let (t, e, _) = scores(&fit(Some(eps), 0.0, observer)?)?;
        budgets.push((eps, t, e));
    }
    let c = config(1.0, seed)?;
    let residual_scores = |r: &super::Residual| -> Result<(f64, f64, f64), TrainError> {
        Ok((
            super::mse(&data.test, |x| r.value(&data, x))?,
            truth_error(|x| Ok(r.value(&data, &[x])?[0]))?,
            super::mse(&data.validation, |x| r.value(&data, x))?,
        ))
    };
    let free = super::train_residual(&c, &data, 0.0, observer)?;
    let (t, e, _) = residual_scores(&free)?;
    // The residual's own total deviation J = integral of |r| over [0, 1].
    let mut j = 0.0;
    for (x, w) in crate::quadrature::composite_nodes(0.0, 1.0, 16) {
        j += w * (free.value(&data, &[x])?[0] - data.base.value(&[x])[0]).abs();
    }
    let unconstrained = (t, e, j);
    let mut tuned = (f64::NAN, f64::NAN, f64::NAN, f64::INFINITY);
    for wd in DECAYS {
        let (t, e, v) = residual_scores(&super::train_residual(&c, &data, wd, observer)?)?;
        if v < tuned.3 {
            tuned = (wd, t, e, v);
        }
    }
    let base = (
        super::mse(&data.test, |x| Ok(data.base.value(x)))?,
        truth_error(|x| Ok(data.base.value(&[x])[0]))?,
    );
    Ok(Row {
        size,
        seed,
        budgets,
        unconstrained,
        tuned: (tuned.0, tuned.1, tuned.2),
        base,
    })
}

/// Sizes of the data sets.
pub const SIZES: [usize; 3] = [30, 80, 200];
/// Seeds per size.
pub const SEEDS: u64 = 5;

/// What [`run`] wrote.
#[derive(Clone, Debug)]
pub struct Study {
    /// Every data set's results.
    pub rows: Vec<Row>,
    /// `results/deviation.md`.
    pub report: PathBuf,
    /// `results/deviation.png`.
    pub figure: PathBuf,
    /// Wall time.
    pub seconds: f64,
}

/// Runs every size and seed, writes `results/deviation.md` and `results/deviation.png`
/// under `root`.
pub fn run(root: &Path, observer: &mut dyn Observer) -> Result<Study, TrainError> {
    let start = Instant::now();
    let mut rows = Vec::new();
    for size in SIZES {
        for seed in 1..=SEEDS {
            rows.push(run_one(size, seed, observer)?);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let results = root.join("results");
    std::fs::create_dir_all(&results)?;
    let figure = results.join("deviation.png");
    plot(&figure, &rows)?;
    let report = results.join("deviation.md");
    std::fs::write(&report, markdown(&rows, seconds))?;
    Ok(Study {
        rows,
        report,
        figure,
        seconds,
    })
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64;
    (m, var.sqrt())
}

/// Per size: the mean over seeds of each method's errors.
fn markdown(rows: &[Row], seconds: f64) -> String {
    let mut s = String::from("# Does the deviation budget help?\n\n");
    let _ = writeln!(
        s,
        "Command: `cargo xtask deviation-study` ({seconds:.0} s on this machine).\n\n\
         Data: y = truth(x) + N(0, {NOISE}^2) on [0, 1], truth = 0.5 + 1.5 x + two narrow bumps \
         (`finn_train::deviation::study::truth`; the bumps' total |area| is about 0.083). \
         Sizes {SIZES:?}, seeds 1..={SEEDS}, split 60/20/20 by the seed. Every model: an affine \
         base by least squares, magnitude widths [8], one direction network [8], L-BFGS \
         (at most 400 iterations) with early stopping on the validation MSE. \
         Baselines: a residual network psi + r (one tanh network with about as many \
         parameters, same solver and early stopping), without and with weight decay chosen \
         from {DECAYS:?} by validation MSE.\n\n\
         Two errors, mean +- standard deviation over the seeds: the test MSE against the noisy \
         test targets (noise alone gives {:.4}), and the MSE against the noiseless truth on a \
         dense grid (what overfitting costs).\n",
        NOISE * NOISE
    );
    for size in SIZES {
        let rs: Vec<&Row> = rows.iter().filter(|r| r.size == size).collect();
        let _ = writeln!(s, "\n## {size} points\n");
        s.push_str("| model | test MSE | MSE against the truth |\n| --- | --- | --- |\n");
        let line = |s: &mut String, name: String, t: Vec<f64>, e: Vec<f64>| {
            let (tm, ts) = mean_std(&t);
            let (em, es) = mean_std(&e);
            let _ = writeln!(s, "| {name} | {tm:.5} +- {ts:.5} | {em:.5} +- {es:.5} |");
        };
        line(
            &mut s,
            "base alone (affine)".into(),
            rs.iter().map(|r| r.base.0).collect(),
            rs.iter().map(|r| r.base.1).collect(),
        );
        for (k, eps) in BUDGETS.iter().enumerate() {
            line(
                &mut s,
                format!("FINN phi, eps = {eps}"),
                rs.iter().map(|r| r.budgets[k].1).collect(),
                rs.iter().map(|r| r.budgets[k].2).collect(),
            );
        }
        line(
            &mut s,
            "residual network, no budget".into(),
            rs.iter().map(|r| r.unconstrained.0).collect(),
            rs.iter().map(|r| r.unconstrained.1).collect(),
        );
        line(
            &mut s,
            "residual network, weight decay tuned".into(),
            rs.iter().map(|r| r.tuned.1).collect(),
            rs.iter().map(|r| r.tuned.2).collect(),
        );
        let (jm, js) = mean_std(&rs.iter().map(|r| r.unconstrained.2).collect::<Vec<_>>());
        let _ = writeln!(s, "\nThe residual networks spend J = {jm:.4} +- {js:.4}.");
    }
    s.push_str("\n## Verdict (computed from the tables above)\n\n");
    for size in SIZES {
        let rs: Vec<&Row> = rows.iter().filter(|r| r.size == size).collect();
        let mean = |f: &dyn Fn(&Row) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / rs.len() as f64;
        let (k, best) = (0..BUDGETS.len())
            .map(|k| (k, mean(&|r: &Row| r.budgets[k].2)))
            .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        let free = mean(&|r: &Row| r.unconstrained.1);
        let tuned = mean(&|r: &Row| r.tuned.2);
        let rival = free.min(tuned);
        let _ =
            writeln!(
            s,
            "- {size} points: the best budget (eps = {}, chosen with hindsight) reaches {best:.5} \
             against the truth; the residual network {free:.5}, with tuned weight decay \
             {tuned:.5}. {}",
            BUDGETS[k],
            if best < rival {
                format!("The budget helps here, by {:.0}%.", 100.0 * (1.0 - best / rival))
            } else {
                format!(
                    "The budget does not help here: the residual network is {:.0}% better.",
                    100.0 * (1.0 - rival / best)
                )
            }
        );
    }
    s.push_str("\n![test error against eps](deviation.png)\n");
    s
}

/// Mean MSE against the truth against eps, one line per size, with the baselines as
/// horizontal dashes.
fn plot(path: &Path, rows: &[Row]) -> Result<(), TrainError> {
    let text = crate::plot::has_font();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    let colours = [BLUE, RED, GREEN];
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let all = rows.iter().flat_map(|r| {
            r.budgets
                .iter()
                .map(|b| b.2)
                .chain([r.unconstrained.1, r.tuned.2, r.base.1])
        });
        let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
        let mut builder = ChartBuilder::on(&root);
        builder.margin(20);
        if text {
            builder
                .caption(
                    "error against the truth vs the budget eps",
                    (crate::plot::FONT, 22),
                )
                .x_label_area_size(45)
                .y_label_area_size(70);
        }
        let mut chart = builder.build_cartesian_2d(
            (BUDGETS[0] * 0.8..BUDGETS[BUDGETS.len() - 1] * 1.25).log_scale(),
            (lo * 0.8..hi * 1.25).log_scale(),
        )?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("eps")
                .y_desc("MSE against the truth")
                .label_style((crate::plot::FONT, 15));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        for (size, colour) in SIZES.iter().zip(colours) {
            let rs: Vec<&Row> = rows.iter().filter(|r| r.size == *size).collect();
            let mean =
                |f: &dyn Fn(&Row) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / rs.len() as f64;
            let line: Vec<(f64, f64)> = (0..BUDGETS.len())
                .map(|k| (BUDGETS[k], mean(&|r: &Row| r.budgets[k].2)))
                .collect();
            let series =
                chart.draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))?;
            if text {
                series
                    .label(format!(
                        "{size} points (dash: no budget, dots: tuned decay)"
                    ))
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour));
            }
            chart.draw_series(line.iter().map(|p| Circle::new(*p, 3, colour.filled())))?;
            let free = mean(&|r: &Row| r.unconstrained.1);
            let tuned = mean(&|r: &Row| r.tuned.2);
            chart.draw_series(DashedLineSeries::new(
                [
                    (BUDGETS[0] * 0.8, free),
                    (BUDGETS[BUDGETS.len() - 1] * 1.25, free),
                ],
                8,
                5,
                colour.stroke_width(1),
            ))?;
            chart.draw_series(DashedLineSeries::new(
                [
                    (BUDGETS[0] * 0.8, tuned),
                    (BUDGETS[BUDGETS.len() - 1] * 1.25, tuned),
                ],
                2,
                4,
                colour.stroke_width(2),
            ))?;
        }
        if text {
            chart
                .configure_series_labels()
                .label_font((crate::plot::FONT, 14))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| TrainError::Plot(format!("drawing {}: {e}", path.display())))
}

//! The paper's Figure 4 (`cargo xtask figure4`): a 1-D density learned from samples.
//!
//! 2000 samples of the bimodal mixture [`super::datasets::BIMODAL`] (seed 14, written to
//! `configs/data/density-bimodal.csv`) train the ordinary `density` config
//! `configs/figure4.toml`. [`run`] then draws samples from the learned density on the host by
//! inverting its exact CDF (differences of F) with bisection ([`super::sample`]), and writes
//! `results/figure4.png` (the pdf against the truth and the data, the exact CDF, the samples'
//! histogram) and `results/figure4.md` (NLL, normalisation, distances to the truth, a
//! Kolmogorov-Smirnov statistic of the samples against the model's own CDF).

use super::datasets::{bimodal, to_csv, BIMODAL};
use super::plot::{curve, draw_panel, histogram, Panel, BINS};
use super::sample;
use crate::config::{Job, Outcome};
use crate::eval::Evaluator;
use crate::observer::Observer;
use crate::plot::has_font;
use crate::TrainError;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Samples drawn from the learned density.
pub const SAMPLES: usize = 20_000;
/// Bisection tolerance in x.
pub const TOLERANCE: f64 = 1e-10;

/// What [`run`] wrote.
#[derive(Clone, Debug)]
pub struct Figure4 {
    /// `results/figure4.md`.
    pub report: PathBuf,
    /// `results/figure4.png`.
    pub figure: PathBuf,
    /// One line for a terminal.
    pub summary: String,
    /// Kolmogorov-Smirnov statistic of the samples against the model's exact CDF.
    pub ks: f64,
    /// Exact integral of the learned pdf over its support, minus 1.
    pub normalisation_error: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The true mixture's pdf.
pub fn true_pdf(x: f64) -> f64 {
    BIMODAL
        .iter()
        .map(|(w, m, s)| {
            w * (-0.5 * ((x - m) / s).powi(2)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())
        })
        .sum()
}

/// The true mixture's CDF.
pub fn true_cdf(x: f64) -> f64 {
    BIMODAL
        .iter()
        .map(|(w, m, s)| w * 0.5 * libm::erfc(-(x - m) / (s * std::f64::consts::SQRT_2)))
        .sum()
}

/// sup |ECDF(samples) - cdf| over the sorted samples.
///
/// ```
/// let ks = finn_train::density::figure4::ks_statistic(&mut vec![0.25, 0.75], |x| x);
/// assert!((ks - 0.25).abs() < 1e-15);
/// ```
pub fn ks_statistic(samples: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let m = samples.len() as f64;
    samples
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let c = cdf(x);
            (c - i as f64 / m).abs().max((c - (i + 1) as f64 / m).abs())
        })
        .fold(0.0, f64::max)
}

/// Writes the data, trains `configs/figure4.toml` from the workspace `root`, samples the
/// result, and writes the figure and its report.
pub fn run(root: &Path, observer: &mut dyn Observer) -> Result<Figure4, TrainError> {
    let start = Instant::now();
    let data_dir = root.join("configs/data");
    std::fs::create_dir_all(&data_dir)?;
    std::fs::write(
        data_dir.join("density-bimodal.csv"),
        to_csv(
            &bimodal(super::datasets::POINTS, 14),
            "0.4 N(-1.5, 0.45^2) + 0.6 N(1.2, 0.7^2), 2000 points, seed 14",
        ),
    )?;
    let job = Job::from_toml_file(root.join("configs/figure4.toml"))?;
    let artefacts = job.run(observer)?;
    let Outcome::Density(o) = artefacts.outcome else {
        return Err(TrainError::Config(
            "configs/figure4.toml is not a density".into(),
        ));
    };
    let eval = Evaluator::new(&o.model)?;
    let (lo, hi) = (eval.domain_lower()[0], eval.domain_upper()[0]);
    let sample_start = Instant::now();
    let mut samples = sample::sample(&eval, SAMPLES, 4, TOLERANCE)?;
    let sample_seconds = sample_start.elapsed().as_secs_f64();
    let ks_model = ks_statistic(&mut samples, |x| sample::cdf(&eval, x).unwrap_or(f64::NAN));
    let mut data: Vec<f64> = o.split.train.column(0).to_vec();
    let ks_data_true = ks_statistic(&mut data, true_cdf);
    // Distances to the truth on a fine grid (midpoint rule, 20,000 cells).
    let cells = 20_000;
    let h = (hi - lo) / cells as f64;
    let (mut l1, mut sup_cdf) = (0.0, 0.0f64);
    for k in 0..cells {
        let x = lo + (k as f64 + 0.5) * h;
        l1 += (eval.integrand(&[x])? - true_pdf(x)).abs() * h;
    }
    for k in 0..=200 {
        let x = lo + (hi - lo) * k as f64 / 200.0;
        sup_cdf = sup_cdf.max((sample::cdf(&eval, x)? - true_cdf(x)).abs());
    }
    let true_test = super::mean_nll_of(&o.split.test, true_pdf);

    // The figure.
    let figure = root.join("results/figure4.png");
    let pdf = curve(&eval, 400)?;
    let truth: Vec<(f64, f64)> = pdf.iter().map(|(x, _)| (*x, true_pdf(*x))).collect();
    let cdf_curve: Vec<(f64, f64)> = pdf
        .iter()
        .map(|(x, _)| Ok((*x, sample::cdf(&eval, *x)?)))
        .collect::<Result<_, TrainError>>()?;
    let cdf_truth: Vec<(f64, f64)> = pdf.iter().map(|(x, _)| (*x, true_cdf(*x))).collect();
    let data_hist = histogram(o.split.train.column(0).iter().copied(), lo, hi, BINS);
    let sample_hist = histogram(samples.iter().copied(), lo, hi, BINS);
    let red = RGBColor(200, 40, 40);
    let black = RGBColor(30, 30, 30);
    {
        let root_area = BitMapBackend::new(&figure, (1500, 480)).into_drawing_area();
        let panels = root_area.split_evenly((1, 3));
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root_area.fill(&WHITE)?;
            draw_panel(
                &panels[0],
                &Panel {
                    title: "(a) pdf learned from 1400 samples".into(),
                    lo,
                    hi,
                    bars: &data_hist,
                    outline: None,
                    curves: vec![
                        (pdf.clone(), red, "FINN pdf (integral 1 exactly)".into()),
                        (truth.clone(), black, "true pdf".into()),
                    ],
                    bar_label: "training samples".into(),
                    outline_label: String::new(),
                },
            )?;
            draw_cdf(&panels[1], lo, hi, &cdf_curve, &cdf_truth)?;
            draw_panel(
                &panels[2],
                &Panel {
                    title: format!("(c) {SAMPLES} samples by bisection on the exact CDF"),
                    lo,
                    hi,
                    bars: &sample_hist,
                    outline: None,
                    curves: vec![(pdf.clone(), red, "FINN pdf".into())],
                    bar_label: "samples from the FINN".into(),
                    outline_label: String::new(),
                },
            )?;
            root_area.present()?;
            Ok(())
        };
        draw().map_err(|e| TrainError::Plot(format!("drawing {}: {e}", figure.display())))?;
    }

    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    let mut md = String::from(
        "# Figure 4: a probability density learned from samples\n\n\
         Command: `cargo xtask figure4` (logic: `finn_train::density::figure4`; the model is \
         the ordinary `density` config `configs/figure4.toml`).\n\n\
         ![Figure 4](figure4.png)\n\n\
         (a) The FINN's pdf f (a positive network with sigma_1, scale-constrained so that its \
         integral over the support is exactly 1) learned by maximum likelihood from the \
         training samples of 0.4 N(-1.5, 0.45^2) + 0.6 N(1.2, 0.7^2), against the true pdf. \
         (b) Its exact CDF, C(x) = F(x) - F(a) times the scale: no quadrature. (c) Samples drawn \
         from the learned density on the host by inverting the exact CDF with bisection \
         (`finn_train::density::sample`, bracket = the support, halved until it is narrower \
         than 1e-10), against the learned pdf.\n\n| | |\n| --- | --- |\n",
    );
    let rows = [
        ("support", format!("[{lo}, {hi}]")),
        (
            "points (train / validation / test)",
            format!(
                "{} / {} / {}",
                o.split.train.nrows(),
                o.split.validation.nrows(),
                o.split.test.nrows()
            ),
        ),
        (
            "test NLL, nats per sample: FINN / Gaussian mixture / KDE / true density",
            format!(
                "{} / {} / {} / {true_test:.4}",
                fmt(o.finn.test),
                fmt(o.gmm.as_ref().and_then(|s| s.test)),
                fmt(o.kde.as_ref().and_then(|s| s.test))
            ),
        ),
        (
            "exact integral of the learned pdf over the support - 1",
            format!("{:.3e}", o.normalisation_error),
        ),
        (
            "L1 distance to the true pdf (midpoint rule, 20,000 cells)",
            format!("{l1:.4}"),
        ),
        (
            "sup over 201 points of abs(learned CDF - true CDF)",
            format!("{sup_cdf:.4}"),
        ),
        (
            "Kolmogorov-Smirnov statistic: the samples against the learned CDF",
            format!(
                "{ks_model:.5} ({SAMPLES} samples; 1.36/sqrt(m) = {:.5} is the 5% critical value)",
                1.36 / (SAMPLES as f64).sqrt()
            ),
        ),
        (
            "Kolmogorov-Smirnov statistic: the training data against the true CDF (for scale)",
            format!("{ks_data_true:.5}"),
        ),
        (
            "sampling time",
            format!(
                "{sample_seconds:.2} s for {SAMPLES} samples ({} bisection steps each)",
                sample::steps(hi - lo, TOLERANCE)
            ),
        ),
        (
            "training",
            format!("{}; {:.1} s", o.training.stopped, o.finn.seconds),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(
        md,
        "\nThe run's own report: `results/figure4/bimodal-report.md`. Total wall time {:.1} s.",
        start.elapsed().as_secs_f64()
    );
    let report = root.join("results/figure4.md");
    std::fs::write(&report, md)?;
    Ok(Figure4 {
        report,
        figure,
        summary: format!(
            "test NLL FINN {} (true density {true_test:.4}), integral - 1 = {:.2e}, KS of \
             {SAMPLES} samples against the learned CDF {ks_model:.5}",
            fmt(o.finn.test),
            o.normalisation_error
        ),
        ks: ks_model,
        normalisation_error: o.normalisation_error,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn draw_cdf(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    lo: f64,
    hi: f64,
    model: &[(f64, f64)],
    truth: &[(f64, f64)],
) -> Result<(), Box<dyn std::error::Error + 'static>> {
    let text = has_font();
    let mut b = ChartBuilder::on(area);
    b.margin(12);
    if text {
        b.caption("(b) exact CDF: differences of F", (crate::plot::FONT, 20))
            .x_label_area_size(35)
            .y_label_area_size(55);
    }
    let mut chart = b
        .build_cartesian_2d(lo..hi, 0.0..1.05)
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.label_style((crate::plot::FONT, 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    let red = RGBColor(200, 40, 40);
    let black = RGBColor(30, 30, 30);
    let s = chart
        .draw_series(LineSeries::new(truth.to_vec(), black.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    if text {
        s.label("true CDF")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], black.stroke_width(2)));
    }
    let s = chart
        .draw_series(LineSeries::new(model.to_vec(), red.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    if text {
        s.label("FINN CDF")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], red.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((crate::plot::FONT, 14))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

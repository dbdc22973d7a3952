//! The paper's Figure 2 (`cargo xtask figure2`): a base function, the learned function with
//! bounded deviation, and the region between them whose area is J(psi, phi) <= eps.
//!
//! 200 noisy samples of [`super::study::truth`] (seed 2, written to
//! `configs/data/deviation-bumps.csv`) train the ordinary `deviation` config
//! `configs/figure2.toml`; [`run`] writes `results/figure2.png` (data, the least-squares base,
//! phi, the truth, the shaded deviation region) and `results/figure2.md` (eps, the exact
//! integral of the magnitude, J by quadrature, errors).

use super::report::{error_rows, plot_1d};
use super::study::{noisy_samples, truth, truth_error, NOISE};
use crate::config::{Job, Outcome};
use crate::observer::Observer;
use crate::TrainError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What [`run`] wrote.
#[derive(Clone, Debug)]
pub struct Figure2 {
    /// `results/figure2.md`.
    pub report: PathBuf,
    /// `results/figure2.png`.
    pub figure: PathBuf,
    /// One line for a terminal.
    pub summary: String,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Writes the data, trains `configs/figure2.toml` from the workspace `root`, and writes the
/// figure and its report.
pub fn run(root: &Path, observer: &mut dyn Observer) -> Result<Figure2, TrainError> {
    let start = Instant::now();
    let data_dir = root.join("configs/data");
    std::fs::create_dir_all(&data_dir)?;
    let rows = noisy_samples(200, 2);
    let csv = crate::density::datasets::to_csv(
        &rows,
        &format!("x, y = truth(x) + N(0, {NOISE}^2): finn_train::deviation::study::truth, 200 points, seed 2"),
    );
    std::fs::write(data_dir.join("deviation-bumps.csv"), csv)?;
    let job = Job::from_toml_file(root.join("configs/figure2.toml"))?;
    let artefacts = job.run(observer)?;
    artefacts.ensure_proven()?;
    let Outcome::Deviation(o) = artefacts.outcome else {
        return Err(TrainError::Config(
            "configs/figure2.toml is not a deviation".into(),
        ));
    };
    let m = &o.model;
    let results = root.join("results");
    std::fs::create_dir_all(&results)?;
    let figure = results.join("figure2.png");
    let title = format!(
        "Figure 2: J(psi, phi) = {:.4} <= integral of f = {:.4} <= eps = {}",
        o.total_deviation.unwrap_or(f64::NAN),
        o.deviation_bound,
        m.eps
    );
    let all = (
        rows.column(0).to_owned().insert_axis(ndarray::Axis(1)),
        rows.column(1).to_owned().insert_axis(ndarray::Axis(1)),
    );
    plot_1d(&figure, &title, m, &[&all], Some(&truth))?;
    let phi_truth = truth_error(|x| Ok(m.value(&[x])?[0]))?;
    let base_truth = truth_error(|x| Ok(m.base.value(&[x])[0]))?;
    let seconds = start.elapsed().as_secs_f64();
    let mut s = String::from("# Paper Figure 2: bounded deviation from a base function\n\n");
    let _ = writeln!(
        s,
        "Command: `cargo xtask figure2` ({seconds:.1} s). Config `configs/figure2.toml`, data \
         `configs/data/deviation-bumps.csv` (200 points of `finn_train::deviation::study::truth` \
         plus N(0, {NOISE}^2) noise, seed 2).\n\n\
         ![Figure 2](figure2.png)\n\n\
         Blue: the base psi (affine, least squares). Red: phi = psi + f d. Orange: the region \
         between them, whose area is J(psi, phi). Grey: the truth.\n\n\
         | quantity | value |\n| --- | --- |\n\
         | eps | {} |\n\
         | integral of the magnitude s f (double-double corner sum) | {:.10} |\n\
         | J(psi, phi) by quadrature | {} |\n\
         | MSE against the truth: base / phi | {base_truth:.5} / {phi_truth:.5} |\n",
        m.eps,
        o.deviation_bound,
        o.total_deviation.map_or("-".into(), |j| format!("{j:.10}")),
    );
    s.push('\n');
    let mut rows_t = vec![&o.base, &o.phi];
    rows_t.extend(o.unconstrained.iter());
    rows_t.extend(o.ablation.iter());
    rows_t.extend(o.tuned.iter());
    s.push_str(&error_rows(&rows_t));
    let report = results.join("figure2.md");
    std::fs::write(&report, s)?;
    Ok(Figure2 {
        summary: artefacts.summary,
        report,
        figure,
        seconds,
    })
}

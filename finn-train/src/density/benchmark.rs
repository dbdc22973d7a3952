//! The density benchmark (`cargo xtask densities`): writes the datasets
//! ([`super::datasets::write_all`] into `configs/data/`), trains every `density` config of
//! [`CONFIGS`] (each run fits its FINN and both baselines on the same split), and writes
//! `results/densities.md`: test NLL per method, training times, and the FINN's exact
//! normalisation error, with each run's own report and plots under `results/densities/`.

use super::baselines::Baseline;
use super::datasets::SHAPES;
use super::{paired_difference, DensityOutcome, Scores};
use crate::config::{Job, Outcome};
use crate::observer::Observer;
use crate::TrainError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The benchmark's configs, in `configs/`.
pub const CONFIGS: [&str; 4] = [
    "density-moons.toml",
    "density-ring.toml",
    "density-banana.toml",
    "density-iris.toml",
];

/// Fresh draws per generated shape on which every fitted model is scored again: 20,000
/// points make the paired standard error about 8 times smaller than on the 300 test points.
pub const FRESH: usize = 20_000;

/// The fresh draws' seed is the shipped CSV's seed plus this (an independent stream).
pub const FRESH_SEED_OFFSET: u64 = 1_000;

/// `a` - `b` paired, "mean (s.e.)"; "-" when either is missing.
fn difference(a: Option<&[f64]>, b: Option<&[f64]>) -> String {
    a.zip(b)
        .and_then(|(a, b)| paired_difference(a, b))
        .map_or("-".into(), |(d, se)| format!("{d:+.4} ({se:.4})"))
}

fn average(v: Option<&[f64]>) -> String {
    v.filter(|v| !v.is_empty()).map_or("-".into(), |v| {
        format!("{:.4}", v.iter().sum::<f64>() / v.len() as f64)
    })
}

/// The fresh-draw table's rows: each generated shape's models scored on [`FRESH`] new points
/// of its generator, with the true density's NLL (the lowest any model can expect).
fn fresh_rows(done: &[(String, Job, DensityOutcome)]) -> Result<String, TrainError> {
    let mut md = String::new();
    for (name, _, o) in done {
        let Some(shape) = SHAPES.iter().find(|s| s.name == name) else {
            continue;
        };
        let fresh = (shape.draw)(FRESH, shape.seed + FRESH_SEED_OFFSET);
        let (finn, outside) = o.density.nll_each(&fresh)?;
        let gmm = o.gmm_model.as_ref().map(|m| m.nll_each(&fresh));
        let kde = o.kde_model.as_ref().map(|m| m.nll_each(&fresh));
        let truth: Vec<f64> = fresh
            .rows()
            .into_iter()
            .map(|r| -(shape.log_pdf)(&r.to_vec()))
            .collect();
        // The points inside the FINN's support (outside, its pdf is 0 and the point is
        // charged the floor), to tell the cost of the box from the cost of the shape.
        let charged = -super::loss::FLOOR.ln();
        let inside: Vec<usize> = (0..finn.len()).filter(|i| finn[*i] < charged).collect();
        let pick = |v: &[f64]| inside.iter().map(|i| v[*i]).collect::<Vec<f64>>();
        let gmm_inside = gmm.as_deref().map(pick);
        let _ = writeln!(
            md,
            "| {name} | {FRESH} (seed {}) | {} | {} | {} | {} | {} | {} | {} | {} | {outside} |",
            shape.seed + FRESH_SEED_OFFSET,
            average(Some(&finn)),
            average(gmm.as_deref()),
            average(kde.as_deref()),
            average(Some(&truth)),
            difference(gmm.as_deref(), Some(&finn)),
            difference(gmm_inside.as_deref(), Some(&pick(&finn))),
            difference(Some(&finn), Some(&truth)),
            difference(gmm.as_deref(), Some(&truth)),
        );
    }
    Ok(md)
}

/// What [`run`] wrote.
#[derive(Clone, Debug)]
pub struct Densities {
    /// `results/densities.md`.
    pub report: PathBuf,
    /// Wall time, seconds.
    pub seconds: f64,
    /// One line per dataset: name, FINN / GMM / KDE test NLL.
    pub lines: Vec<String>,
}

fn test(s: Option<&Scores>) -> String {
    s.and_then(|s| s.test)
        .map_or("-".into(), |v| format!("{v:.4}"))
}

/// `other`'s test NLL minus the FINN's, paired, with its standard error.
fn paired(other: Option<&Scores>, finn: &Scores) -> String {
    other
        .and_then(|o| o.paired_difference(finn))
        .map_or("-".into(), |(d, se)| format!("{d:+.4} ({se:.4})"))
}

fn seconds(s: Option<&Scores>) -> String {
    s.map_or("-".into(), |s| format!("{:.1}", s.seconds))
}

/// Runs the benchmark from the workspace `root`; `observer(name)` reports each training.
pub fn run<O: Observer>(
    root: &Path,
    mut observer: impl FnMut(&str) -> O,
) -> Result<Densities, TrainError> {
    let start = Instant::now();
    super::datasets::write_all(&root.join("configs/data"))?;
    let mut done: Vec<(String, Job, DensityOutcome)> = Vec::new();
    for name in CONFIGS {
        let job = Job::from_toml_file(root.join("configs").join(name))?;
        let short = name
            .trim_start_matches("density-")
            .trim_end_matches(".toml");
        let mut obs = observer(short);
        let artefacts = job.run(&mut obs)?;
        let Outcome::Density(o) = artefacts.outcome else {
            return Err(TrainError::Config(format!(
                "{name} is not a density config"
            )));
        };
        done.push((short.to_string(), job, *o));
    }
    let mut md = String::from(
        "# Densities from samples: FINN against a Gaussian mixture and a KDE\n\n\
         Command: `cargo xtask densities` (the datasets are regenerated into `configs/data/`, \
         then each `configs/density-*.toml` is trained; the logic is \
         `finn_train::density::benchmark`).\n\n\
         Test NLL in nats per sample (lower is better), on the same seeded train / validation / \
         test split for every method. FINN: a mixture of reflected positive networks whose \
         integral over the support box is 1 by construction, trained by maximum likelihood with exact gradients and early \
         stopping on the validation NLL. Gaussian mixture: `linfa-clustering`'s EM (full \
         covariances), the number of components chosen by validation NLL. KDE: Gaussian \
         kernels with bandwidth h times each axis's standard deviation, h chosen by validation \
         NLL (hold-out cross-validation over 30 values). The FINN's density is 0 outside its \
         support; the baselines are normalised over all of R^n. Times are wall-clock on this \
         2-core machine, one run at a time.\n\n\
         The two difference columns are paired over the same test points (mean and standard \
         error of the per-point difference): a difference within about two standard errors \
         of 0 is a tie.\n\n\
         | dataset | n | train / val / test | FINN | Gaussian mixture | KDE | GMM - FINN (s.e.) | KDE - FINN (s.e.) | FINN s | GMM s | KDE s | FINN integral - 1 |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut lines = Vec::new();
    for (name, _, o) in &done {
        let _ = writeln!(
            md,
            "| {name} | {} | {} / {} / {} | {} | {} | {} | {} | {} | {:.1} | {} | {} | {:.2e} |",
            o.model.architecture.n,
            o.split.train.nrows(),
            o.split.validation.nrows(),
            o.split.test.nrows(),
            test(Some(&o.finn)),
            test(o.gmm.as_ref()),
            test(o.kde.as_ref()),
            paired(o.gmm.as_ref(), &o.finn),
            paired(o.kde.as_ref(), &o.finn),
            o.finn.seconds,
            seconds(o.gmm.as_ref()),
            seconds(o.kde.as_ref()),
            o.normalisation_error
        );
        lines.push(format!(
            "{name}: test NLL FINN {}, GMM {}, KDE {}",
            test(Some(&o.finn)),
            test(o.gmm.as_ref()),
            test(o.kde.as_ref())
        ));
    }
    let _ = write!(
        md,
        "\n## Fresh draws from the generators\n\n\
         300 test points cannot tell differences of 0.01 nats apart. The three shapes are \
         generated, so every model fitted above is scored again on {FRESH} new draws of its \
         generator (an independent seed), next to the true density's NLL: the lowest that \
         any model can expect. A FINN density is 0 outside its support box; a fresh point \
         there costs it -ln 1e-300 = 690.8 nats (last column); the column \"inside the FINN's box\" \
         compares the two on the other points only.\n\n\
         | dataset | fresh points | FINN | Gaussian mixture | KDE | true density | GMM - FINN (s.e.) | GMM - FINN inside the FINN's box (s.e.) | FINN - truth (s.e.) | GMM - truth (s.e.) | outside the FINN's box |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n{}",
        fresh_rows(&done)?
    );
    md.push_str("\n## Per dataset\n");
    for (name, job, o) in &done {
        let stem = o
            .stem
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = write!(
            md,
            "\n### {name}\n\nConfig `{}`; {}. Exact normalisation error (integral over the \
             support - 1) {:.3e}.\n\n{}\n![{name} density](densities/{stem}-density.png)\n",
            job.shown_path().display(),
            o.training.stopped,
            o.normalisation_error,
            super::report::score_rows(
                &std::iter::once(&o.finn)
                    .chain(o.gmm.iter())
                    .chain(o.kde.iter())
                    .collect::<Vec<_>>()
            ),
        );
        if o.model.architecture.n > 1 {
            let _ = writeln!(md, "\n![{name} marginals](densities/{stem}-marginals.png)");
        }
    }
    let _ = write!(
        md,
        "\nTotal wall time {:.1} s.\n\nWhat we tried to close the gap, with figures: \
         [density-variants.md](density-variants.md).\n",
        start.elapsed().as_secs_f64()
    );
    let report = root.join("results/densities.md");
    std::fs::create_dir_all(root.join("results"))?;
    std::fs::write(&report, md)?;
    Ok(Densities {
        report,
        seconds: start.elapsed().as_secs_f64(),
        lines,
    })
}

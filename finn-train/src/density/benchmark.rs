//! The density benchmark (`cargo xtask densities`): writes the datasets
//! ([`super::datasets::write_all`] into `configs/data/`), trains every `density` config of
//! [`CONFIGS`] (each run fits its FINN and both baselines on the same split), and writes
//! `results/densities.md`: test NLL per method, training times, and the FINN's exact
//! normalisation error, with each run's own report and plots under `results/densities/`.
//! The generated shapes are also scored on [`FRESH`] new draws of their generators, next to
//! the true density's NLL, and trained again with the seeds of [`REPEAT_SEEDS`]: 300 test
//! points and one run cannot separate differences of 0.01 nats.

use super::baselines::Baseline;
use super::composite::DensityModel;
use super::datasets::SHAPES;
use super::{paired_difference, DensityOutcome, Scores};
use crate::config::{Job, Outcome, Spec};
use crate::observer::Observer;
use crate::TrainError;
use ndarray::Array2;
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

/// -log p of one run's models on fresh draws.
struct Fresh {
    finn: Vec<f64>,
    gmm: Option<Vec<f64>>,
    kde: Option<Vec<f64>>,
    /// Points outside the FINN's support box.
    outside: usize,
    /// Indices of the points inside it.
    inside: Vec<usize>,
}

impl Fresh {
    fn score(o: &DensityOutcome, fresh: &Array2<f64>) -> Result<Fresh, TrainError> {
        Fresh::of(
            &o.density,
            o.gmm_model.as_ref().map(|m| m.nll_each(fresh)),
            o.kde_model.as_ref().map(|m| m.nll_each(fresh)),
            fresh,
        )
    }

    /// The FINN `density` scored on `fresh`, beside the baselines' -log p there.
    fn of(
        density: &DensityModel,
        gmm: Option<Vec<f64>>,
        kde: Option<Vec<f64>>,
        fresh: &Array2<f64>,
    ) -> Result<Fresh, TrainError> {
        let (finn, outside) = density.nll_each(fresh)?;
        // Outside a box support the FINN's pdf is 0 and the point is charged the floor: the
        // inside points tell the cost of the box from the cost of the shape.
        let inside = fresh
            .rows()
            .into_iter()
            .enumerate()
            .filter(|(_, x)| density.to_u(&x.to_vec()).is_some())
            .map(|(i, _)| i)
            .collect();
        Ok(Fresh {
            gmm,
            kde,
            finn,
            outside,
            inside,
        })
    }

    fn inside(&self, v: &[f64]) -> Vec<f64> {
        self.inside.iter().map(|i| v[*i]).collect()
    }

    /// GMM - FINN over all points and over the points inside the FINN's box.
    fn gmm_minus_finn(&self) -> (String, String) {
        let gmm_inside = self.gmm.as_deref().map(|g| self.inside(g));
        (
            difference(self.gmm.as_deref(), Some(&self.finn)),
            difference(gmm_inside.as_deref(), Some(&self.inside(&self.finn))),
        )
    }
}

/// The fresh draws of a shape: [`FRESH`] points from an independent seed.
fn fresh_draws(shape: &super::datasets::Shape) -> Array2<f64> {
    (shape.draw)(FRESH, shape.seed + FRESH_SEED_OFFSET)
}

/// The fresh-draw table's rows: each generated shape's models scored on [`FRESH`] new points
/// of its generator, with the true density's NLL (the lowest any model can expect).
fn fresh_rows(done: &[(String, Job, DensityOutcome)]) -> Result<String, TrainError> {
    let mut md = String::new();
    for (name, _, o) in done {
        let Some(shape) = SHAPES.iter().find(|s| s.name == name) else {
            continue;
        };
        let fresh = fresh_draws(shape);
        let f = Fresh::score(o, &fresh)?;
        let truth: Vec<f64> = fresh
            .rows()
            .into_iter()
            .map(|r| -(shape.log_pdf)(&r.to_vec()))
            .collect();
        let (all, inside) = f.gmm_minus_finn();
        let _ = writeln!(
            md,
            "| {name} | {FRESH} (seed {}) | {} | {} | {} | {} | {all} | {inside} | {} | {} | {} |",
            shape.seed + FRESH_SEED_OFFSET,
            average(Some(&f.finn)),
            average(f.gmm.as_deref()),
            average(f.kde.as_deref()),
            average(Some(&truth)),
            difference(Some(&f.finn), Some(&truth)),
            difference(f.gmm.as_deref(), Some(&truth)),
            f.outside,
        );
    }
    Ok(md)
}

/// Seeds of the repeated runs (the shipped configs use their own seed; each seed is
/// another split and another start).
pub const REPEAT_SEEDS: [u64; 4] = [2, 3, 4, 5];

/// The repeat table: each generated shape's config trained again with every seed of
/// [`REPEAT_SEEDS`] (outputs in a scratch directory, no sampling check), FINN and Gaussian
/// mixture scored on the same fresh draws; one row per seed and the mean over the seeds.
fn repeat_rows<O: Observer>(
    done: &[(String, Job, DensityOutcome)],
    observer: &mut impl FnMut(&str) -> O,
) -> Result<String, TrainError> {
    let scratch = std::env::temp_dir().join(format!("finn-densities-{}", std::process::id()));
    let mut md = String::new();
    for (name, job, o) in done {
        let Some(shape) = SHAPES.iter().find(|s| s.name == name) else {
            continue;
        };
        let fresh = fresh_draws(shape);
        let Spec::Density(c) = &job.spec else {
            continue;
        };
        let mut runs = vec![(c.seed, Fresh::score(o, &fresh)?)];
        for seed in REPEAT_SEEDS.into_iter().filter(|s| *s != c.seed) {
            let mut again = job.clone();
            if let Spec::Density(c) = &mut again.spec {
                c.seed = seed;
                c.output = scratch.join(format!("{name}-seed{seed}"));
                c.sampling.samples = 0;
            }
            let mut obs = observer(&format!("{name}, seed {seed}"));
            let Outcome::Density(r) = again.run(&mut obs)?.outcome else {
                continue;
            };
            runs.push((seed, Fresh::score(&r, &fresh)?));
        }
        let mut means = Vec::new();
        for (seed, f) in &runs {
            let (all, inside) = f.gmm_minus_finn();
            let _ = writeln!(
                md,
                "| {name} | {seed} | {} | {} | {all} | {inside} | {} |",
                average(Some(&f.finn)),
                average(f.gmm.as_deref()),
                f.outside
            );
            let gmm_inside = f.gmm.as_deref().map(|g| f.inside(g));
            if let Some((d, _)) = gmm_inside
                .as_deref()
                .and_then(|g| paired_difference(g, &f.inside(&f.finn)))
            {
                means.push(d);
            }
        }
        if !means.is_empty() {
            let m = means.len() as f64;
            let mean = means.iter().sum::<f64>() / m;
            let sd =
                (means.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (m - 1.0).max(1.0)).sqrt();
            let _ = writeln!(
                md,
                "| {name} | mean of {} seeds | | | | **{mean:+.4}** (sd over the seeds {sd:.4}) | |",
                means.len()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
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
    difference(other.map(|o| o.test_each.as_slice()), Some(&finn.test_each))
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
         integral over the support (a box, or all of R^n through a per-axis map) is 1 by \
         construction, trained by maximum likelihood with exact gradients and early stopping \
         on the validation NLL. Gaussian mixture: `linfa-clustering`'s EM (full \
         covariances), the number of components chosen by validation NLL. KDE: Gaussian \
         kernels with bandwidth h times each axis's standard deviation, h chosen by validation \
         NLL (hold-out cross-validation over 30 values). A FINN on a box support has density 0 \
         outside it; the baselines are normalised over all of R^n. Times are wall-clock on this \
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
         any model can expect. A FINN on a box support has density 0 outside it; a fresh \
         point there costs it -ln 1e-300 = 690.8 nats (last column); the column \"inside the \
         FINN's box\" compares the two on the other points only (all points, for a FINN on \
         R^n).\n\n\
         | dataset | fresh points | FINN | Gaussian mixture | KDE | true density | GMM - FINN (s.e.) | GMM - FINN inside the FINN's box (s.e.) | FINN - truth (s.e.) | GMM - truth (s.e.) | outside the FINN's box |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n{}",
        fresh_rows(&done)?
    );
    let _ = write!(
        md,
        "\n## Other seeds\n\n\
         One run is one split and one start. Each generated shape's config is trained again \
         with seeds {REPEAT_SEEDS:?} (another split and start each; the Gaussian mixture is \
         fitted again on the same split) and both are scored on the same {FRESH} fresh \
         draws. The last row per shape averages GMM - FINN over the points inside the FINN's \
         box across the seeds.\n\n\
         | dataset | seed | FINN | Gaussian mixture | GMM - FINN (s.e.) | GMM - FINN inside the FINN's box (s.e.) | outside the FINN's box |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n{}",
        repeat_rows(&done, &mut observer)?
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Fresh points are inside the FINN's box exactly when the box holds them (not when
    /// their charged score is below the floor); the inside column pairs only those, and the
    /// outside count is the points the box misses.
    #[test]
    fn fresh_points_are_split_by_the_support() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let d = DensityModel::load_json(&root.join("results/densities/iris.density.json")).unwrap();
        let (lo, hi) = d.u_box();
        let n = lo.len();
        // Rows: the box's centre, points at 0.1 and 0.999 of the way to each corner (inside,
        // far from the data), and points beyond the box on one axis.
        let mut rows = Vec::new();
        let mut expected_inside = Vec::new();
        for k in 0..(1 << n) {
            for t in [0.1, 0.999, 1.5] {
                rows.extend((0..n).map(|i| {
                    let centre = 0.5 * (lo[i] + hi[i]);
                    let corner = if k >> i & 1 == 1 { hi[i] } else { lo[i] };
                    centre + t * (corner - centre)
                }));
                expected_inside.push(t < 1.0);
            }
        }
        let points = Array2::from_shape_vec((expected_inside.len(), n), rows).unwrap();
        let gmm = vec![1.0; points.nrows()];
        let f = Fresh::of(&d, Some(gmm.clone()), None, &points).unwrap();
        let inside: Vec<usize> = (0..points.nrows())
            .filter(|i| expected_inside[*i])
            .collect();
        assert_eq!(f.inside, inside);
        assert_eq!(f.outside, points.nrows() - inside.len());
        let charged = -crate::density::loss::FLOOR.ln();
        for (i, v) in f.finn.iter().enumerate() {
            assert!(v.is_finite() && *v <= charged, "{i}: {v}");
            if !expected_inside[i] {
                assert_eq!(*v, charged);
            }
        }
        // An inside point whose pdf is below the floor (with the one-start iris, near a
        // corner) was counted outside by the old split, by the charged value; whether the
        // shipped model has one depends on its training, so it is not asserted here.
        // The inside difference pairs the inside points only.
        let (_, inside_column) = f.gmm_minus_finn();
        let finn_inside: Vec<f64> = inside.iter().map(|i| f.finn[*i]).collect();
        let mean = finn_inside.iter().map(|v| 1.0 - v).sum::<f64>() / inside.len() as f64;
        assert!(
            inside_column.starts_with(&format!("{mean:+.4}")),
            "{inside_column} vs {mean}"
        );
    }
}

//! The `density` application (paper §4.3): a probability density learned from raw samples by
//! maximum likelihood, as a positive FINN whose integral over its support box is fixed to 1 by
//! construction (the scale constraint with eps = 1). Its pdf is the mixed partial f, its CDF
//! and every box probability are exact vertex sums of F.
//!
//! Config (`application = "density"`, every key in `docs/config.md`) -> [`DensityConfig`] ->
//! points ([`data`]) -> seeded train/validation/test split -> loss ([`loss::Nll`], exact
//! gradients) -> rounds of L-BFGS with early stopping on the validation NLL ([`train`]) ->
//! [`TrainedModel`] (payload 0 of `docs/model-format.md`, so `cargo xtask eval --box` gives
//! exact probabilities) -> report with the baselines ([`baselines`]: a Gaussian mixture by EM
//! and a Gaussian KDE, same split) and plots. `support.map` places the density on a box, on
//! all of R^n, or on a mapped domain (disk, annulus, sector, ball, simplex: the components
//! on the unit u-box, [`fit_to_domain`], `loss.seam` for the periodic seam; see
//! [`composite`]). [`benchmark`] runs the shipped datasets
//! (`cargo xtask densities`), [`figure4`] the paper's Figure 4 (`cargo xtask figure4`).
//!
//! ```no_run
//! use finn_train::config::{Job, Outcome};
//! use finn_train::observer::Silent;
//! let artefacts = Job::from_toml_file("configs/density-moons.toml")?.run(&mut Silent)?;
//! if let Outcome::Density(d) = &artefacts.outcome {
//!     println!("test NLL {:?}, integral - 1 = {:e}", d.finn.test, d.normalisation_error);
//! }
//! # Ok::<(), finn_train::TrainError>(())
//! ```

pub mod baselines;
pub mod benchmark;
pub mod composite;
mod config;
pub use config::*;
pub mod data;
pub mod datasets;
pub mod figure4;
pub mod loss;
pub mod mixture;
mod plot;
mod report;
pub mod sample;
pub mod sampling;
pub mod support_map;
pub mod train;

use crate::config::{check_widths, with_suffix, Artefacts, Job, Outcome};
use crate::eval::Evaluator;
use crate::model::TrainedModel;
use crate::observer::Observer;
use crate::TrainError;
use baselines::Baseline as _;
use ndarray::Array2;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// Largest |integral over the support - 1| a run accepts (the blob read back, in f64);
/// beyond it the run's artefacts list it as unproven and `cargo xtask train` exits non-zero.
pub const NORMALISATION_TOLERANCE: f64 = 1e-9;

/// Train, validation and test NLL of one method, in nats per sample.
#[derive(Clone, Debug)]
pub struct Scores {
    /// The method, as the report names it.
    pub method: String,
    /// What was selected (components, bandwidth, iterations).
    pub detail: String,
    /// Mean -log p over the training points.
    pub train: f64,
    /// Over the validation points.
    pub validation: f64,
    /// Over the test points (`None` without a test part).
    pub test: Option<f64>,
    /// -log p of each test point (empty without a test part), for paired comparisons
    /// ([`Scores::paired_difference`]).
    pub test_each: Vec<f64>,
    /// Wall time of fitting and selection, seconds.
    pub seconds: f64,
}

impl Scores {
    /// The mean and standard error of this method's test NLL minus `other`'s, point by
    /// point on the same test points (a paired difference: the points' own difficulty
    /// cancels, so the error is far smaller than either NLL's). `None` without test points.
    ///
    /// ```
    /// use finn_train::density::Scores;
    /// let s = |each: Vec<f64>| Scores { method: String::new(), detail: String::new(),
    ///     train: 0.0, validation: 0.0, test: None, test_each: each, seconds: 0.0 };
    /// let (d, se) = s(vec![1.0, 2.0, 3.0]).paired_difference(&s(vec![0.5, 1.5, 3.5])).unwrap();
    /// assert!((d - 1.0 / 6.0).abs() < 1e-15);
    /// // Differences 0.5, 0.5, -0.5: sample variance 1/3, standard error sqrt(1/3 / 3) = 1/3.
    /// assert!((se - 1.0 / 3.0).abs() < 1e-15);
    /// ```
    pub fn paired_difference(&self, other: &Scores) -> Option<(f64, f64)> {
        paired_difference(&self.test_each, &other.test_each)
    }
}

/// The mean and standard error of `a[i] - b[i]` over the points; `None` when empty or of
/// different lengths.
///
/// ```
/// let (d, se) = finn_train::density::paired_difference(&[2.0, 4.0], &[1.0, 1.0]).unwrap();
/// assert_eq!((d, se), (2.0, 1.0));
/// ```
pub fn paired_difference(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let m = d.len() as f64;
    let mean = d.iter().sum::<f64>() / m;
    let var = if d.len() > 1 {
        d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0)
    } else {
        0.0
    };
    Some((mean, (var / m).sqrt()))
}

/// The mean of `v`, `None` when empty.
fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// What a `density` run produced.
#[derive(Clone, Debug)]
pub struct DensityOutcome {
    /// The trained model as saved (for a mixture or a real-space support: its first
    /// component; the whole model is `density`).
    pub model: TrainedModel,
    /// The whole trained density: support map and components, as read back.
    pub density: composite::DensityModel,
    /// Test points outside a box support (their density is 0; each counts as -ln 1e-300 =
    /// 690.8 nats in the test NLL).
    pub test_outside: usize,
    /// The sampling check (`[sampling]`), if asked for.
    pub sampling: Option<sampling::SampleCheck>,
    /// The solve with its validation checks (the first start's, with `network.starts`).
    pub training: train::Training,
    /// The further starts' solves (`network.starts` - 1 of them).
    pub other_starts: Vec<train::Training>,
    /// The FINN's NLL.
    pub finn: Scores,
    /// The Gaussian mixture's, if fitted.
    pub gmm: Option<Scores>,
    /// The KDE's, if fitted.
    pub kde: Option<Scores>,
    /// The fitted Gaussian mixture, to score other points (the benchmark's fresh draws).
    pub gmm_model: Option<baselines::Mixture>,
    /// The fitted KDE.
    pub kde_model: Option<baselines::Kde>,
    /// Validation NLL of each mixture size tried.
    pub gmm_tried: Vec<(usize, f64)>,
    /// Exact integral of the pdf over the support (the blob as written, read back) minus 1.
    pub normalisation_error: f64,
    /// The split (data coordinates, after clipping).
    pub split: data::Split,
    /// Points moved onto the support's faces (`support.outside = "clip"`).
    pub clipped: usize,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// The output stem.
    pub stem: PathBuf,
    /// Why no whole-model blob was written (mapped domains), if so.
    pub blob_note: Option<String>,
    /// The largest jump of the trained x-density across the periodic seam (maps with one).
    pub seam: Option<composite::SeamJump>,
}

/// Seam points per non-periodic axis by dimension: 64 on the seam of a 2-D map, 8 x 8 on a
/// ball's.
const SEAM_STEPS: [usize; 4] = [1, 1, 64, 8];

/// The seam points in u: the midpoints of [`SEAM_STEPS`] cells per axis other than `axis`,
/// whose coordinate is 0.
fn seam_grid(n: usize, axis: usize) -> Array2<f64> {
    let steps = SEAM_STEPS[n.min(3)];
    let others: Vec<usize> = (0..n).filter(|i| *i != axis).collect();
    let count = steps.pow(others.len() as u32);
    let mut g = Array2::zeros((count, n));
    for index in 0..count {
        let mut rest = index;
        for &i in &others {
            g[[index, i]] = ((rest % steps) as f64 + 0.5) / steps as f64;
            rest /= steps;
        }
    }
    g
}

/// The bounding box of a mapped domain (the plotted range).
fn bounding_box(m: &composite::SupportMap, n: usize) -> (Vec<f64>, Vec<f64>) {
    match m {
        composite::SupportMap::Polar { centre, outer, .. } => (
            centre.iter().map(|c| c - outer).collect(),
            centre.iter().map(|c| c + outer).collect(),
        ),
        composite::SupportMap::Ball { centre, radius } => (
            centre.iter().map(|c| c - radius).collect(),
            centre.iter().map(|c| c + radius).collect(),
        ),
        _ => (vec![0.0; n], vec![1.0; n]),
    }
}

/// Checks that every row is in the mapped domain: an error naming the first row outside, or
/// with `clip` each such row moved inside ([`composite::SupportMap::clip`]); returns how many
/// moved.
///
/// ```
/// use finn_train::density::{composite::SupportMap, fit_to_domain, MapKind};
/// let mut p = ndarray::array![[0.2, 0.3], [0.9, 0.9]];
/// let e = fit_to_domain(&mut p.clone(), &SupportMap::Simplex, false, MapKind::Simplex).unwrap_err();
/// assert!(e.to_string().contains("point 2"));
/// assert_eq!(fit_to_domain(&mut p, &SupportMap::Simplex, true, MapKind::Simplex).unwrap(), 1);
/// assert!(p[[1, 0]] + p[[1, 1]] <= 1.0);
/// ```
pub fn fit_to_domain(
    points: &mut Array2<f64>,
    map: &composite::SupportMap,
    clip: bool,
    kind: MapKind,
) -> Result<usize, TrainError> {
    let mut moved = 0;
    for (r, mut row) in points.rows_mut().into_iter().enumerate() {
        let x = row.to_vec();
        if map.domain_to_u(&x).is_some() {
            continue;
        }
        let outside = || {
            TrainError::Data(format!(
                "point {} ({x:?}) lies outside the domain of support.map = \"{}\" ({}): the \
                 domain must contain the data (change its keys, or use support.outside = \
                 \"clip\")",
                r + 1,
                kind.name(),
                map.describe()
            ))
        };
        if !clip {
            return Err(outside());
        }
        let (inside, _) = map.clip(&x).ok_or_else(outside)?;
        row.iter_mut().zip(inside).for_each(|(v, w)| *v = w);
        moved += 1;
    }
    Ok(moved)
}

/// The mean of -log pdf over the rows, for a model evaluator (pdf 0 counts as
/// [`loss::FLOOR`]).
pub fn mean_nll(eval: &Evaluator, points: &Array2<f64>) -> Result<f64, TrainError> {
    let mut sum = 0.0;
    for x in points.rows() {
        sum -= eval.integrand(&x.to_vec())?.max(loss::FLOOR).ln();
    }
    Ok(sum / points.nrows() as f64)
}

/// The mean of -log p over the rows for any 1-D density function `p` (0 counts as
/// [`loss::FLOOR`]).
pub fn mean_nll_of(points: &Array2<f64>, p: impl Fn(f64) -> f64) -> f64 {
    -points
        .column(0)
        .iter()
        .map(|x| p(*x).max(loss::FLOOR).ln())
        .sum::<f64>()
        / points.nrows() as f64
}

/// Trains the density `config` describes and writes `<stem>.postcard`, `.json`, `-loss.png`,
/// `-density.png`, `-marginals.png` (n >= 2) and `-report.md` (see [`Job::run`]).
pub(crate) fn run(
    job: &Job,
    config: &DensityConfig,
    observer: &mut dyn Observer,
) -> Result<Artefacts, TrainError> {
    let start = Instant::now();
    let c = config;
    let path = job.resolve(&c.data.csv);
    if !path.is_file() {
        return Err(TrainError::Data(format!(
            "data file {} does not exist (data.csv is relative to the config file)",
            path.display()
        )));
    }
    let mut points = data::read_points(&path)?;
    let n = points.ncols();
    check_dim(n).map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
    check_widths(n, &c.network.widths).map_err(TrainError::Data)?;
    train::check_bump_widths(n, &c.network.widths)
        .map_err(|e| TrainError::Config(format!("{e} ({} has {n} columns)", path.display())))?;
    let real_space = c.support.map == MapKind::RealSpace;
    let domain = c.support.domain().map_err(TrainError::Config)?;
    if let Some(m) = &domain {
        m.check(n).map_err(|e| {
            TrainError::Data(format!(
                "{} has {n} columns, which support.map = \"{}\" does not take: {e}",
                path.display(),
                c.support.map.name()
            ))
        })?;
    }
    // Components on the unit u-box (real-space and mapped domains) instead of the support box.
    let unit_u = real_space || domain.is_some();
    let (lower, upper) = match (&c.support.lower, &c.support.upper) {
        (Some(lo), Some(hi)) => {
            if lo.len() != n {
                return Err(TrainError::Data(format!(
                    "{} has {n} columns but support.lower and support.upper have {} entries",
                    path.display(),
                    lo.len()
                )));
            }
            (lo.clone(), hi.clone())
        }
        // The box of the training and validation points only: the test points are data the
        // model never saw, and one outside the box is charged like any point of density 0.
        _ => {
            let s = data::split(&points, c.data.validation, c.data.test, c.seed)?;
            let seen =
                ndarray::concatenate(ndarray::Axis(0), &[s.train.view(), s.validation.view()])
                    .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
            data::auto_support(&seen, c.support.margin)
        }
    };
    let auto_box = c.support.lower.is_none() || c.support.upper.is_none();
    let clipped = if real_space || (auto_box && domain.is_none()) {
        0
    } else if let Some(m) = &domain {
        fit_to_domain(
            &mut points,
            m,
            c.support.outside == Outside::Clip,
            c.support.map,
        )
        .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?
    } else {
        data::fit_to_support(
            &mut points,
            &lower,
            &upper,
            c.support.outside == Outside::Clip,
        )
        .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?
    };
    let split = data::split(&points, c.data.validation, c.data.test, c.seed)?;

    // The support map and the components' box (u): the box itself, or (0, 1)^n for R^n.
    let support_map = if let Some(m) = &domain {
        m.clone()
    } else if real_space {
        let (centre, sd) = data::moments(&split.train);
        let spread = c.support.spread.unwrap_or(DEFAULT_SPREAD);
        let scale = sd.iter().map(|s| s * spread).collect();
        composite::SupportMap::RealSpace { centre, scale }
    } else {
        composite::SupportMap::Box
    };
    let (u_lower, u_upper) = if unit_u {
        (vec![0.0; n], vec![1.0; n])
    } else {
        (lower.clone(), upper.clone())
    };
    let to_u = |x: &Array2<f64>| -> Array2<f64> {
        let mut out = x.clone();
        if let composite::SupportMap::RealSpace { centre, scale } = &support_map {
            for mut row in out.rows_mut() {
                for (i, v) in row.iter_mut().enumerate() {
                    *v = composite::logistic((*v - centre[i]) / scale[i]);
                }
            }
        } else if domain.is_some() {
            for mut row in out.rows_mut() {
                // Every point is inside (fit_to_domain): its u exists.
                if let Some((u, _)) = support_map.domain_to_u(&row.to_vec()) {
                    row.iter_mut().zip(u).for_each(|(v, u)| *v = u);
                }
            }
        }
        out
    };

    // The FINN (a mixture of reflections, or one network), in learning coordinates.
    let finn_start = Instant::now();
    let arch = c.architecture(n);
    let map = train::Standardise::new(&u_lower, &u_upper);
    let (train_u, val_u) = (
        map.apply_rows(&to_u(&split.train)),
        map.apply_rows(&to_u(&split.validation)),
    );
    let signs = mixture::components(n, c.network.reflections, c.network.components)?;
    if c.network.starts == 0 || signs.len() * c.network.starts > mixture::MAX_COMPONENTS {
        return Err(TrainError::Config(format!(
            "network.starts = {} with {} networks per start: the averaged mixture has 1 to {} \
             networks",
            c.network.starts,
            signs.len(),
            mixture::MAX_COMPONENTS
        )));
    }
    let mut nll = mixture::MixtureNll::new(arch.clone(), train_u, train::HALF_SIDE, signs.clone())?
        .with_weight_decay(c.loss.weight_decay)
        .with_tilt(c.network.tilt)
        .with_coupling(c.network.coupling);
    if let (Some(axis), true) = (support_map.periodic_axis(), c.loss.seam > 0.0) {
        nll = nll.with_seam(mixture::SeamPenalty {
            axis,
            weight: c.loss.seam,
            points: map.apply_rows(&seam_grid(n, axis)),
            // u-density = learning density / prod scale_i.
            scale: map.scale.iter().map(|s| 1.0 / s).product(),
        })?;
    }
    let stopping = train::EarlyStopping {
        patience: c.early_stopping.patience,
        every: c.early_stopping.every,
    };
    // Each start trains the whole mixture from broader bumps; the starts' mixtures are
    // averaged (weights / starts), which is again an exactly normalised mixture.
    let mut components = Vec::with_capacity(signs.len() * c.network.starts);
    let mut trainings = Vec::with_capacity(c.network.starts);
    for start in 0..c.network.starts {
        let floor = train::BUMP_WIDTH * train::START_WIDENING.powi(start as i32);
        let nll = nll.clone().with_width_floor(floor);
        let init = nll.initial_parameters(c.seed)?;
        nll.loss(&init)?;
        let training = train::fit(&nll, &val_u, init, &c.solver.settings(), stopping, observer)?;
        let best = &training.report.params;
        let weights = nll.weights(best);
        for (k, s) in signs.iter().enumerate() {
            components.push(composite::Component {
                weight: weights[k] / c.network.starts as f64,
                reflect: s.clone(),
                model: train::model(&arch, nll.component(best, k), &map, &u_lower, &u_upper)?,
            });
        }
        trainings.push(training);
    }
    let mut trainings = trainings.into_iter();
    let training = trainings
        .next()
        .ok_or_else(|| TrainError::Config("network.starts must be at least 1".into()))?;
    let other_starts: Vec<train::Training> = trainings.collect();
    // The weights as written must sum to 1 in f64.
    let total: f64 = components.iter().map(|c| c.weight).sum();
    components.iter_mut().for_each(|c| c.weight /= total);
    let finn_seconds = finn_start.elapsed().as_secs_f64();

    // Written, then read back: the figures are the files'.
    let stem = job.prepare_stem()?;
    let single = components.len() == 1 && !unit_u;
    let mut blob_note = None;
    let mut files = Vec::new();
    let density = if single {
        let (blob, json) = components[0]
            .model
            .save_density_as(&stem, c.blob_scalar.into())
            .map_err(|e| TrainError::Data(format!("writing {}: {e}", stem.display())))?;
        let saved = TrainedModel::load(&blob)
            .map_err(|e| TrainError::Data(format!("reading back {}: {e}", blob.display())))?;
        files.extend([blob, json]);
        composite::DensityModel::new(
            support_map,
            vec![composite::Component {
                weight: 1.0,
                reflect: vec![false; n],
                model: saved,
            }],
        )?
    } else {
        for (k, comp) in components.iter_mut().enumerate() {
            let part = with_suffix(&stem, &format!("-c{k}"));
            let (blob, json) = comp
                .model
                .save_density_as(&part, c.blob_scalar.into())
                .map_err(|e| TrainError::Data(format!("writing {}: {e}", part.display())))?;
            comp.model = TrainedModel::load(&blob)
                .map_err(|e| TrainError::Data(format!("reading back {}: {e}", blob.display())))?;
            files.extend([blob, json]);
        }
        let whole = with_suffix(&stem, ".density.json");
        composite::DensityModel::new(support_map, components)?.save_json(&whole)?;
        let back = composite::DensityModel::load_json(&whole)?;
        files.push(whole);
        if back.map.exact_boxes() {
            // The whole mixture as ONE blob (payload 4), what a device flashes
            // (finn-embedded's `DensityMixturePlayer`); read back, it must be the JSON's model.
            let blob = with_suffix(&stem, ".postcard");
            back.save_blob(&blob, c.blob_scalar.into())?;
            let bytes = std::fs::read(&blob)?;
            if composite::DensityModel::from_blob(&bytes)? != back {
                return Err(TrainError::Data(format!(
                    "{} does not read back to the model of the JSON",
                    blob.display()
                )));
            }
            files.push(blob);
        } else {
            // A blob the device player cannot honour is not written.
            blob_note = Some(format!(
                "no whole-model blob: the device player (payload 4) supports box and real-space \
                 supports only, not support.map = \"{}\"; the whole model is the JSON \
                 (each component's payload-0 blob is on the u-box)",
                c.support.map.name()
            ));
        }
        back
    };
    let normalisation_error = density.integral()? - 1.0;
    let (test_each, test_outside) = density.nll_each(&split.test)?;
    let test_finn = mean(&test_each);
    let finn = Scores {
        method: "FINN".into(),
        detail: format!(
            "{}{}widths {:?}, {}, best at iteration {} of {}",
            if c.network.starts > 1 {
                format!("{} starts averaged, each ", c.network.starts)
            } else {
                String::new()
            },
            if signs.len() > 1 {
                format!("{} reflected components, ", signs.len())
            } else {
                String::new()
            },
            arch.widths,
            if domain.is_some() {
                format!("on the {}", c.support.map.name())
            } else if real_space {
                "on R^n".to_string()
            } else {
                "on the box".to_string()
            },
            std::iter::once(&training)
                .chain(&other_starts)
                .map(|t| t.best_iteration.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            std::iter::once(&training)
                .chain(&other_starts)
                .map(|t| t.report.iterations.to_string())
                .collect::<Vec<_>>()
                .join(" / ")
        ),
        train: density.mean_nll(&split.train)?.0,
        validation: density.mean_nll(&split.validation)?.0,
        test: test_finn,
        test_each,
        seconds: finn_seconds,
    };

    let mut gmm_tried = Vec::new();
    let mut gmm_model = None;
    let mut kde_model = None;
    let gmm = if c.baselines.gmm_components > 0 {
        let t = Instant::now();
        let (m, tried) =
            baselines::select_mixture(&split.train, &split.validation, c.baselines.gmm_components)?;
        gmm_tried = tried;
        let scores = Some(Scores {
            method: "Gaussian mixture (EM)".into(),
            detail: format!(
                "{} components (of 1..={} by validation NLL)",
                m.components(),
                c.baselines.gmm_components
            ),
            train: m.mean_nll(&split.train),
            validation: m.mean_nll(&split.validation),
            test: mean(&m.nll_each(&split.test)),
            test_each: m.nll_each(&split.test),
            seconds: t.elapsed().as_secs_f64(),
        });
        gmm_model = Some(m);
        scores
    } else {
        None
    };
    let kde = if c.baselines.kde {
        let t = Instant::now();
        let (k, _) = baselines::select_kde(&split.train, &split.validation);
        let scores = Some(Scores {
            method: "Gaussian KDE".into(),
            detail: format!(
                "h = {:.4} (Scott's {:.4}) by validation NLL",
                k.factor,
                baselines::scott(split.train.nrows(), n)
            ),
            train: k.mean_nll(&split.train),
            validation: k.mean_nll(&split.validation),
            test: mean(&k.nll_each(&split.test)),
            test_each: k.nll_each(&split.test),
            seconds: t.elapsed().as_secs_f64(),
        });
        kde_model = Some(k);
        scores
    } else {
        None
    };

    let loss_png = crate::plot::loss_history(&stem, "negative log-likelihood", &training.report)?;
    files.push(loss_png);
    // The range drawn: the support box, or for R^n the data's range with a margin.
    let (plot_lo, plot_hi) = if real_space {
        data::auto_support(&points, 0.1)
    } else if let Some(m) = &domain {
        bounding_box(m, n)
    } else {
        (lower.clone(), upper.clone())
    };
    let view = plot::CompositeView {
        model: &density,
        evals: density.evaluators()?,
        lower: plot_lo.clone(),
        upper: plot_hi.clone(),
    };
    files.extend(plot::draw(&stem, &view, &split, density.map.exact_boxes())?);
    let sampling = if c.sampling.samples > 0 && n >= 2 {
        let check = sampling::sample_check(
            &density,
            c.sampling.samples,
            c.seed ^ 0x5A4D_504C,
            c.sampling.grid.unwrap_or(10),
            &plot_lo,
            &plot_hi,
        )?;
        let png = with_suffix(&stem, "-samples.png");
        let shown = check.samples.len().min(split.train.nrows());
        plot::samples_over_data(
            &png,
            &split.train,
            &check.samples[..shown],
            &plot_lo,
            &plot_hi,
        )?;
        files.push(png);
        Some(check)
    } else {
        None
    };
    let seam = density.seam_jump(SEAM_STEPS[n.min(3)])?;
    let mut outcome = DensityOutcome {
        blob_note,
        seam,
        model: density.components[0].model.clone(),
        density,
        training,
        other_starts,
        finn,
        gmm,
        kde,
        gmm_model,
        kde_model,
        gmm_tried,
        normalisation_error,
        split,
        clipped,
        test_outside,
        sampling,
        seconds: 0.0,
        stem: stem.clone(),
    };
    outcome.seconds = start.elapsed().as_secs_f64();
    let md_path = with_suffix(&stem, "-report.md");
    std::fs::write(&md_path, report::markdown(job, c, &outcome))?;
    files.push(md_path);
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    let summary = format!(
        "test NLL: FINN {}, Gaussian mixture {}, KDE {} (nats per sample); integral - 1 = {:.3e}; \
         {} iterations ({}), {:.2} s",
        fmt(outcome.finn.test),
        fmt(outcome.gmm.as_ref().and_then(|s| s.test)),
        fmt(outcome.kde.as_ref().and_then(|s| s.test)),
        outcome.normalisation_error,
        outcome.training.report.iterations,
        outcome.training.stopped,
        outcome.seconds
    );
    let mut summary = summary;
    if let Some(j) = &outcome.seam {
        let _ = write!(
            summary,
            "; seam jump {:.3e} absolute, {:.2} % relative",
            j.absolute,
            100.0 * j.relative
        );
    }
    if let Some(note) = &outcome.blob_note {
        let _ = write!(summary, "; {note}");
    }
    // The scale constraint makes the integral 1 up to the rounding of the vertex sum; a
    // larger error means the written model is not a density, and the command says so.
    let mut unproven = Vec::new();
    let error = outcome.normalisation_error;
    if error.is_nan() || error.abs() > NORMALISATION_TOLERANCE {
        unproven.push(format!(
            "the integral of the pdf over the support is 1 {:+.3e}, beyond {NORMALISATION_TOLERANCE:e}",
            outcome.normalisation_error
        ));
    }
    Ok(Artefacts {
        stem,
        files,
        summary,
        outcome: Outcome::Density(Box::new(outcome)),
        unproven,
    })
}

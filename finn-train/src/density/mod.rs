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
pub mod data;
pub mod datasets;
pub mod figure4;
pub mod loss;
pub mod mixture;
mod plot;
mod report;
pub mod sample;
pub mod train;

use crate::config::{
    check_output, check_widths, with_suffix, ActivationConfig, Artefacts, Job, KindConfig, Outcome,
    ScalarConfig, SolverConfig,
};
use crate::eval::Evaluator;
use crate::model::{Architecture, TrainedModel};
use crate::observer::Observer;
use crate::TrainError;
use baselines::Baseline as _;
use finn_core::{Activation, Kind};
use ndarray::Array2;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// Largest |integral over the support - 1| a run accepts (the blob read back, in f64);
/// beyond it the run's artefacts list it as unproven and `cargo xtask train` exits non-zero.
pub const NORMALISATION_TOLERANCE: f64 = 1e-9;

/// A `density` config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DensityConfig {
    /// Always `"density"` here.
    pub application: String,
    /// Seed of the split, the initial parameters and the baselines.
    #[serde(default)]
    pub seed: u64,
    /// Output stem (relative to the config file's directory).
    pub output: PathBuf,
    /// Scalar type of the blob's parameters.
    #[serde(default)]
    pub blob_scalar: ScalarConfig,
    /// `[network]`.
    pub network: NetworkConfig,
    /// `[support]`.
    pub support: SupportConfig,
    /// `[data]`.
    pub data: DataConfig,
    /// `[loss]`.
    #[serde(default)]
    pub loss: LossConfig,
    /// `[early_stopping]`.
    #[serde(default)]
    pub early_stopping: EarlyStoppingConfig,
    /// `[baselines]`.
    #[serde(default)]
    pub baselines: BaselinesConfig,
    /// `[solver]`.
    #[serde(default)]
    pub solver: SolverConfig,
    /// `[sampling]`.
    #[serde(default)]
    pub sampling: SamplingConfig,
}

/// `[sampling]`: samples drawn with finn-core's sampler after training and tested against
/// the model's exact box probabilities (n >= 2).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// How many (0: none).
    #[serde(default)]
    pub samples: usize,
    /// Cells per axis of the chi-square grid (default 10).
    #[serde(default)]
    pub grid: Option<usize>,
}

/// `[network]`: a positive network with sigma_n (the only kind whose f >= 0 everywhere).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Must be `"positive"`.
    #[serde(default = "positive")]
    pub kind: KindConfig,
    /// Must be `"sigma"`.
    #[serde(default = "sigma")]
    pub activation: ActivationConfig,
    /// Hidden widths (of each component).
    pub widths: Vec<usize>,
    /// A mixture of reflected copies (one network per sign pattern with the first axis kept,
    /// 2^(n-1) of them; see [`mixture`]) instead of one network (default true; in 1-D there
    /// is one pattern, so one network).
    #[serde(default = "default_true")]
    pub reflections: bool,
    /// How many networks the mixture has (default: [`mixture::DEFAULT_COMPONENTS`], or one
    /// per reflection if there are more; 1 without reflections). More components than
    /// reflections cycle through the reflections, each network with its own start.
    #[serde(default)]
    pub components: Option<usize>,
    /// Start each bump tilted and stretched like its k-means cluster (the inverse square
    /// root of its covariance as first-layer weights), in a component whose reflection keeps
    /// those weights non-negative (default true); false: axis-aligned bumps.
    #[serde(default = "default_true")]
    pub tilt: bool,
    /// How many independently started mixtures are trained on the same data and averaged
    /// into one (default 1): start s widens the starting bumps' floor by
    /// [`train::START_WIDENING`]^s. The result is one mixture of `starts` x `components`
    /// networks, each weight divided by `starts`.
    #[serde(default = "default_starts")]
    pub starts: usize,
}

fn default_starts() -> usize {
    1
}

fn positive() -> KindConfig {
    KindConfig::Positive
}
fn sigma() -> ActivationConfig {
    ActivationConfig::Sigma
}

/// `[support]`: the box the density lives on (pdf = 0 outside).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportConfig {
    /// The data's bounding box enlarged by `margin` instead of `lower`/`upper`.
    #[serde(default)]
    pub auto: bool,
    /// With `auto`: the fraction of each side added at both ends.
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// Lower corner.
    pub lower: Option<Vec<f64>>,
    /// Upper corner.
    pub upper: Option<Vec<f64>>,
    /// What to do with points outside the box.
    #[serde(default)]
    pub outside: Outside,
    /// `"box"` (the default: the density is 0 outside the box), `"real-space"` (all of
    /// R^n through finn-core's `RealSpace`, centred on the training points' means with
    /// `spread` times their standard deviations as scales; `lower`, `upper`, `auto`, `margin`
    /// and `outside` do not apply), or a mapped domain: `"disk"`, `"annulus"`, `"sector"`, `"ball"`, `"simplex"`
    /// (the keys below; `lower`, `upper`, `auto` and `margin` do not apply).
    #[serde(default)]
    pub map: MapKind,
    /// `"real-space"`: the map's scale per axis, in standard deviations of the training points
    /// (x = mean + spread sd ln(u / (1 - u))). Larger spreads put the data on less of the
    /// u-box, where the map is nearer to linear. Default [`DEFAULT_SPREAD`].
    pub spread: Option<f64>,
    /// Disk, annulus, sector, ball: the centre (default the origin).
    pub centre: Option<Vec<f64>>,
    /// Disk, sector, ball: the radius; annulus: the outer radius (default 1).
    pub radius: Option<f64>,
    /// Annulus (required) and sector (default 0): the inner radius.
    pub inner: Option<f64>,
    /// Sector: the start angle in degrees (default 0).
    pub start: Option<f64>,
    /// Sector: the angle spanned in degrees, in (0, 360] (required; 360 is a full turn with a
    /// seam).
    pub span: Option<f64>,
}

/// `support.map`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MapKind {
    /// A box.
    #[default]
    Box,
    /// All of R^n.
    RealSpace,
    /// A disk in 2-D.
    Disk,
    /// An annulus in 2-D.
    Annulus,
    /// A sector (or annular sector) in 2-D.
    Sector,
    /// A ball in 3-D.
    Ball,
    /// The standard simplex.
    Simplex,
}

impl MapKind {
    /// The name in the config.
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Box => "box",
            MapKind::RealSpace => "real-space",
            MapKind::Disk => "disk",
            MapKind::Annulus => "annulus",
            MapKind::Sector => "sector",
            MapKind::Ball => "ball",
            MapKind::Simplex => "simplex",
        }
    }

    /// Whether this is a mapped bounded domain (disk, annulus, sector, ball, simplex).
    pub fn is_domain(self) -> bool {
        !matches!(self, MapKind::Box | MapKind::RealSpace)
    }
}

impl SupportConfig {
    /// The support map of a mapped domain (`None` for `"box"` and `"real-space"`), checked;
    /// the message names the key.
    ///
    /// ```
    /// let c: finn_train::density::SupportConfig =
    ///     toml::from_str("map = \"sector\"\nradius = 2.0\nspan = 90.0").unwrap();
    /// assert!(c.domain().unwrap().is_some());
    /// let bad: finn_train::density::SupportConfig =
    ///     toml::from_str("map = \"disk\"\nspan = 90.0").unwrap();
    /// assert!(bad.domain().unwrap_err().contains("support.span"));
    /// ```
    pub fn domain(&self) -> Result<Option<composite::SupportMap>, String> {
        let kind = self.map;
        if !kind.is_domain() {
            for (key, given) in [
                ("centre", self.centre.is_some()),
                ("radius", self.radius.is_some()),
                ("inner", self.inner.is_some()),
                ("start", self.start.is_some()),
                ("span", self.span.is_some()),
            ] {
                if given {
                    return Err(format!(
                        "support.{key} applies to map = \"disk\", \"annulus\", \"sector\" or \
                         \"ball\", not to map = \"{}\"",
                        kind.name()
                    ));
                }
            }
            return Ok(None);
        }
        let name = kind.name();
        if self.auto || self.lower.is_some() || self.upper.is_some() {
            return Err(format!(
                "support.map = \"{name}\" is a fixed domain: support.auto, support.lower and \
                 support.upper apply to map = \"box\" only"
            ));
        }
        let allowed: &[&str] = match kind {
            MapKind::Disk | MapKind::Ball => &["centre", "radius"],
            MapKind::Annulus => &["centre", "radius", "inner"],
            MapKind::Sector => &["centre", "radius", "inner", "start", "span"],
            _ => &[],
        };
        for (key, given) in [
            ("centre", self.centre.is_some()),
            ("radius", self.radius.is_some()),
            ("inner", self.inner.is_some()),
            ("start", self.start.is_some()),
            ("span", self.span.is_some()),
        ] {
            if given && !allowed.contains(&key) {
                return Err(format!("support.{key} is not used by map = \"{name}\""));
            }
        }
        let dim = if kind == MapKind::Ball { 3 } else { 2 };
        let centre = self.centre.clone().unwrap_or_else(|| vec![0.0; dim]);
        if kind != MapKind::Simplex {
            if centre.len() != dim {
                return Err(format!(
                    "support.centre needs {dim} entries for map = \"{name}\", has {}",
                    centre.len()
                ));
            }
            if centre.iter().any(|v| !v.is_finite()) {
                return Err(format!("support.centre = {centre:?}: must be finite"));
            }
        }
        let radius = self.radius.unwrap_or(1.0);
        if !(radius.is_finite() && radius > 0.0 && (radius * radius * radius).is_finite()) {
            return Err(format!("support.radius = {radius}: must be finite and > 0"));
        }
        let inner = match (kind, self.inner) {
            (MapKind::Annulus, None) => {
                return Err("support.inner: map = \"annulus\" needs the inner radius".into())
            }
            (_, v) => v.unwrap_or(0.0),
        };
        let floor = if kind == MapKind::Annulus {
            f64::MIN_POSITIVE
        } else {
            0.0
        };
        if !(inner.is_finite() && inner >= floor && inner < radius) {
            return Err(format!(
                "support.inner = {inner}: must be in [0, support.radius = {radius}){}",
                if kind == MapKind::Annulus {
                    " and > 0 for an annulus"
                } else {
                    ""
                }
            ));
        }
        let full = std::f64::consts::TAU;
        let (start, span) = if kind == MapKind::Sector {
            let start = self.start.unwrap_or(0.0);
            if !start.is_finite() {
                return Err(format!("support.start = {start}: must be finite (degrees)"));
            }
            let Some(span) = self.span else {
                return Err(
                    "support.span: map = \"sector\" needs the angle spanned (degrees)".into(),
                );
            };
            if !(span > 0.0 && span <= 360.0) {
                return Err(format!(
                    "support.span = {span}: must be in (0, 360] degrees"
                ));
            }
            let span = if span == 360.0 {
                full
            } else {
                span.to_radians()
            };
            (start.to_radians(), span)
        } else {
            (0.0, full)
        };
        let map = match kind {
            MapKind::Disk | MapKind::Annulus | MapKind::Sector => composite::SupportMap::Polar {
                centre,
                inner,
                outer: radius,
                start,
                span,
            },
            MapKind::Ball => composite::SupportMap::Ball { centre, radius },
            _ => composite::SupportMap::Simplex,
        };
        if kind != MapKind::Simplex {
            map.check(dim).map_err(|e| format!("support: {e}"))?;
        }
        Ok(Some(map))
    }
}

fn default_margin() -> f64 {
    0.1
}

/// The default `support.spread`: 2 measured better than 1 and 3 on the ring and the banana
/// (results/density-variants.md).
pub const DEFAULT_SPREAD: f64 = 2.0;

/// `support.outside`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Outside {
    /// A point outside the support is an error naming it.
    #[default]
    Error,
    /// Move each coordinate outside onto the nearest face (counted in the report).
    Clip,
}

/// `[data]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// CSV file of raw points.
    pub csv: PathBuf,
    /// Fraction of the points held out for validation.
    #[serde(default = "default_fraction")]
    pub validation: f64,
    /// Fraction held out for the test.
    #[serde(default = "default_fraction")]
    pub test: f64,
}

fn default_fraction() -> f64 {
    0.15
}

/// `[loss]`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    /// Ridge coefficient.
    #[serde(default)]
    pub weight_decay: f64,
    /// Weight of the seam penalty (maps with a periodic coordinate only): the mean over 64
    /// seam points of the squared jump of the u-density across the seam (default 0).
    #[serde(default)]
    pub seam: f64,
}

/// `[early_stopping]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Checks without a better validation NLL before stopping.
    #[serde(default = "default_patience")]
    pub patience: usize,
    /// Iterations between checks.
    #[serde(default = "default_every")]
    pub every: u64,
}

fn default_patience() -> usize {
    4
}
fn default_every() -> u64 {
    25
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        EarlyStoppingConfig {
            patience: default_patience(),
            every: default_every(),
        }
    }
}

/// `[baselines]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselinesConfig {
    /// Most mixture components tried (0: no mixture; default 24).
    #[serde(default = "default_components")]
    pub gmm_components: usize,
    /// Whether to fit the KDE.
    #[serde(default = "default_true")]
    pub kde: bool,
}

/// As many Gaussians as the shipped FINN mixtures have bumps at most would overfit; 24 lets
/// the mixture keep improving where it still does at 8 (the ring), so the baseline is its best.
fn default_components() -> usize {
    24
}
fn default_true() -> bool {
    true
}

impl Default for BaselinesConfig {
    fn default() -> Self {
        BaselinesConfig {
            gmm_components: default_components(),
            kde: true,
        }
    }
}

impl DensityConfig {
    /// Everything that can be checked without reading data; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        if self.network.kind != KindConfig::Positive {
            return Err(
                "network.kind must be \"positive\": a density needs f >= 0 everywhere".into(),
            );
        }
        if self.network.activation != ActivationConfig::Sigma {
            return Err("network.activation must be \"sigma\" (a positive network's)".into());
        }
        if !(1..=mixture::MAX_COMPONENTS).contains(&self.network.starts) {
            return Err(format!(
                "network.starts must be 1..={}, not {}",
                mixture::MAX_COMPONENTS,
                self.network.starts
            ));
        }
        let s = &self.support;
        if s.map == MapKind::RealSpace
            && (s.auto || s.lower.is_some() || s.upper.is_some() || s.outside != Outside::Error)
        {
            return Err(
                "support.map = \"real-space\" covers all of R^n: support.auto, support.lower, \
                 support.upper and support.outside apply to map = \"box\" only"
                    .into(),
            );
        }
        let domain = s.domain()?;
        if !(self.loss.seam.is_finite() && self.loss.seam >= 0.0) {
            return Err(format!(
                "loss.seam = {}: must be finite and >= 0",
                self.loss.seam
            ));
        }
        if self.loss.seam > 0.0 && domain.as_ref().and_then(|m| m.periodic_axis()).is_none() {
            return Err(format!(
                "loss.seam applies to maps with a periodic coordinate (disk, annulus, a sector \
                 with span = 360, ball), not to map = \"{}\"{}",
                s.map.name(),
                if s.map == MapKind::Sector {
                    " with span < 360"
                } else {
                    ""
                }
            ));
        }
        if self.sampling.grid.is_some_and(|g| !(2..=100).contains(&g)) {
            return Err("sampling.grid must be 2..=100".into());
        }
        if self.sampling.samples > 10_000_000 {
            return Err("sampling.samples must be at most 10,000,000".into());
        }
        let n = match (s.auto, &s.lower, &s.upper) {
            (false, None, None) if s.map == MapKind::RealSpace => None,
            (false, None, None)
                if s.map == MapKind::Disk
                    || s.map == MapKind::Annulus
                    || s.map == MapKind::Sector =>
            {
                Some(2)
            }
            (false, None, None) if s.map == MapKind::Ball => Some(3),
            (false, None, None) if s.map == MapKind::Simplex => None,
            (true, None, None) => None,
            (true, _, _) => {
                return Err("support: give either auto = true or lower and upper, not both".into())
            }
            (false, Some(lo), Some(hi)) => {
                if lo.len() != hi.len() || lo.is_empty() {
                    return Err(format!(
                        "support.lower and support.upper need the same number (>= 1) of \
                         entries (have {} and {})",
                        lo.len(),
                        hi.len()
                    ));
                }
                for (axis, (a, b)) in lo.iter().zip(hi).enumerate() {
                    if !(a.is_finite() && b.is_finite() && a < b) {
                        return Err(format!(
                            "support axis {}: need finite lower < upper, have [{a}, {b}]",
                            axis + 1
                        ));
                    }
                }
                Some(lo.len())
            }
            (false, _, _) => {
                return Err(
                    "support: give lower and upper (one value per coordinate), or auto = true"
                        .into(),
                )
            }
        };
        if let Some(spread) = s.spread.filter(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(format!("support.spread = {spread}: must be finite and > 0"));
        }
        if s.spread.is_some() && s.map != MapKind::RealSpace {
            return Err(format!(
                "support.spread applies to map = \"real-space\", not to map = \"{}\"",
                s.map.name()
            ));
        }
        if !(s.margin.is_finite() && s.margin >= 0.0) {
            return Err(format!(
                "support.margin = {}: must be finite and >= 0",
                s.margin
            ));
        }
        if let Some(n) = n {
            check_dim(n)?;
        }
        check_widths(n.unwrap_or(1), &self.network.widths)?;
        let d = &self.data;
        if !(d.validation > 0.0 && d.validation < 1.0) {
            return Err(format!(
                "data.validation = {}: must be in (0, 1) (early stopping needs validation points)",
                d.validation
            ));
        }
        if !(d.test >= 0.0 && d.test < 1.0 && d.validation + d.test < 1.0) {
            return Err(format!(
                "data.test = {}: must be in [0, 1) with data.validation + data.test < 1",
                d.test
            ));
        }
        if !(self.loss.weight_decay.is_finite() && self.loss.weight_decay >= 0.0) {
            return Err("loss.weight_decay must be finite and >= 0".into());
        }
        if self.early_stopping.patience < 1 {
            return Err("early_stopping.patience must be at least 1".into());
        }
        if self.early_stopping.every < 1 {
            return Err("early_stopping.every must be at least 1".into());
        }
        if self.baselines.gmm_components > 64 {
            return Err("baselines.gmm_components must be 0..=64".into());
        }
        self.solver.check("density")?;
        check_output(&self.output)
    }

    /// The network for `n` inputs.
    pub fn architecture(&self, n: usize) -> Architecture {
        Architecture {
            n,
            kind: Kind::Positive,
            activation: Activation::Sigma,
            widths: self.network.widths.clone(),
        }
    }
}

fn check_dim(n: usize) -> Result<(), String> {
    let max = finn_core::activation::MAX_DIM;
    if !(1..=max).contains(&n) {
        return Err(format!("a density has 1..={max} coordinates, not {n}"));
    }
    Ok(())
}

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
    pub sampling: Option<composite::SampleCheck>,
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
        .with_tilt(c.network.tilt);
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
        let check = composite::sample_check(
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

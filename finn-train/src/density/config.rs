//! The `density` config (`application = "density"`): every key, its default and its check
//! (`docs/config.md` lists them for users).

use super::{composite, mixture};
use crate::config::{
    check_output, check_widths, ActivationConfig, KindConfig, ScalarConfig, SolverConfig,
};
use crate::model::Architecture;
use finn_core::{Activation, Kind};
use serde::Deserialize;
use std::path::PathBuf;

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
    /// The starting value of the weights that couple the starting bumps' units (default
    /// [`super::train::DEFAULT_COUPLING`]; >= 0, finite).
    #[serde(default = "default_coupling")]
    pub coupling: f64,
    /// How many independently started mixtures are trained on the same data and averaged
    /// into one (default 1): start s widens the starting bumps' floor by
    /// [`super::train::START_WIDENING`]^s. The result is one mixture of `starts` x `components`
    /// networks, each weight divided by `starts`.
    #[serde(default = "default_starts")]
    pub starts: usize,
}

fn default_coupling() -> f64 {
    super::train::DEFAULT_COUPLING
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
        if !(self.network.coupling.is_finite() && self.network.coupling >= 0.0) {
            return Err(format!(
                "network.coupling must be finite and >= 0, not {}",
                self.network.coupling
            ));
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

pub(super) fn check_dim(n: usize) -> Result<(), String> {
    let max = finn_core::activation::MAX_DIM;
    if !(1..=max).contains(&n) {
        return Err(format!("a density has 1..={max} coordinates, not {n}"));
    }
    Ok(())
}

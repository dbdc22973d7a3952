//! Training from a TOML config: [`Job`] reads a config file, and [`Job::run`] trains what it
//! describes and writes the model, the plots and the report.
//!
//! The key `application` selects what is trained, one module per application:
//!
//! | `application` | module | what it trains |
//! | --- | --- | --- |
//! | `"fit"` | [`crate::fit`] | a FINN fitted to values of f or F, with an exact integral constraint |
//! | `"trajectory"` | [`crate::trajectory`] | a trajectory with exact start and end states |
//! | `"density"` | [`crate::density`] | a probability density learned from samples, normalised exactly |
//! | `"deviation"` | [`crate::deviation`] | a correction of a base model whose total deviation is at most eps |
//! | `"softq"` | [`crate::softq`] | a soft Q-function on Pendulum-v1 with exact soft values, against sampled ones |
//!
//! Every key of every application, with its default, is listed in `docs/config.md`. Relative
//! paths in a config (`output`, `data.csv`) are relative to the config file's directory, so a
//! config means the same wherever it is run from.
//!
//! ```no_run
//! use finn_train::config::Job;
//! use finn_train::observer::Silent;
//! let job = Job::from_toml_file("configs/figure1-eps2.toml")?;
//! let artefacts = job.run(&mut Silent)?;
//! println!("{}", artefacts.summary);
//! for file in &artefacts.files {
//!     println!("wrote {}", file.display());
//! }
//! # Ok::<(), finn_train::TrainError>(())
//! ```

use crate::density::{DensityConfig, DensityOutcome};
use crate::deviation::{DeviationConfig, DeviationOutcome};
use crate::fit::{FitConfig, FitOutcome};
use crate::observer::Observer;
use crate::softq::{SoftQConfig, SoftQOutcome};
use crate::solve::{self, Settings};
use crate::trajectory::{TrajectoryConfig, TrajectoryOutcome};
use crate::TrainError;
use finn_core::format::Scalar;
use finn_core::{Activation, Kind};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The applications a config can select with `application = "..."`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Application {
    /// Regression on f or F with an integral constraint ([`crate::fit`]).
    Fit,
    /// A trajectory with exact endpoints ([`crate::trajectory`]).
    Trajectory,
    /// A density learned from samples by maximum likelihood ([`crate::density`]).
    Density,
    /// A bounded-deviation correction of a base model ([`crate::deviation`]).
    Deviation,
    /// A soft Q-function learned by soft fitted Q-iteration ([`crate::softq`]).
    #[serde(rename = "softq")]
    SoftQ,
}

/// The names `application` accepts.
pub const APPLICATIONS: &[&str] = &["fit", "trajectory", "density", "deviation", "softq"];

/// What a config file describes, by application.
#[derive(Clone, Debug)]
// One per run: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Spec {
    /// `application = "fit"`.
    Fit(FitConfig),
    /// `application = "trajectory"`.
    Trajectory(TrajectoryConfig),
    /// `application = "density"`.
    Density(DensityConfig),
    /// `application = "deviation"`.
    Deviation(DeviationConfig),
    /// `application = "softq"`.
    SoftQ(SoftQConfig),
}

/// A parsed and checked config file, ready to run.
#[derive(Clone, Debug)]
pub struct Job {
    /// What to train.
    pub spec: Spec,
    /// The file as written (echoed in the report).
    pub text: String,
    /// The file's path as given.
    pub path: PathBuf,
    /// The directory relative paths are resolved against.
    pub dir: PathBuf,
}

/// What [`Job::run`] produced.
#[derive(Debug)]
pub struct Artefacts {
    /// The output stem every file name starts with.
    pub stem: PathBuf,
    /// Every file written: model blob, JSON, plots, report.
    pub files: Vec<PathBuf>,
    /// One or two lines for a terminal.
    pub summary: String,
    /// The measurements, by application.
    pub outcome: Outcome,
    /// The promises the run could not prove (a trajectory's constraints the certificate did
    /// not prove over the whole interval), one line each with the worst violation and where;
    /// empty when everything reported holds. `cargo xtask train` exits non-zero when not
    /// empty; see [`Artefacts::ensure_proven`].
    pub unproven: Vec<String>,
}

impl Artefacts {
    /// `Err(TrainError::Unmet)` listing [`Artefacts::unproven`] when it is not empty.
    ///
    /// ```
    /// # use finn_train::config::{Artefacts, Outcome};
    /// # fn check(a: &Artefacts) -> Result<(), finn_train::TrainError> {
    /// a.ensure_proven()?; // after writing everything, refuse to call the result good
    /// # Ok(()) }
    /// ```
    pub fn ensure_proven(&self) -> Result<(), TrainError> {
        if self.unproven.is_empty() {
            Ok(())
        } else {
            Err(TrainError::Unmet(self.unproven.join("; ")))
        }
    }
}

/// The measurements of a run, by application.
#[derive(Debug)]
pub enum Outcome {
    /// A fitted model.
    Fit(Box<FitOutcome>),
    /// A solved trajectory.
    Trajectory(Box<TrajectoryOutcome>),
    /// A trained density with its baselines.
    Density(Box<DensityOutcome>),
    /// A bounded-deviation model.
    Deviation(Box<DeviationOutcome>),
    /// Soft-Q learners and their estimators.
    SoftQ(Box<SoftQOutcome>),
}

/// Only the key that says how to read the rest.
#[derive(Deserialize)]
struct Head {
    application: Option<toml::Value>,
}

fn config_error(path: &Path, message: impl std::fmt::Display) -> TrainError {
    TrainError::Config(format!("bad config file {}: {message}", path.display()))
}

impl Job {
    /// Reads, parses and checks a config file.
    ///
    /// Errors: `Config` naming the file, and the key (with its line) for a syntax error, an
    /// unknown key, a missing key or a value out of range; also when the file cannot be read.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, TrainError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            TrainError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Self::from_toml_str(text, path)
    }

    /// Parses and checks config text; `path` is where it came from (relative paths in it are
    /// resolved against its directory).
    ///
    /// ```
    /// use finn_train::config::{Job, Spec};
    /// let text = r#"
    ///     application = "fit"
    ///     output = "out/tiny"
    ///     [network]
    ///     kind = "positive"
    ///     activation = "sigma"
    ///     n = 1
    ///     widths = [3]
    ///     [domain]
    ///     lower = [-2.0]
    ///     upper = [2.0]
    ///     [data]
    ///     target = "gaussian"
    ///     grid = 9
    /// "#;
    /// let job = Job::from_toml_str(text.to_string(), "/tmp/x/config.toml").unwrap();
    /// assert!(matches!(job.spec, Spec::Fit(_)));
    /// assert_eq!(job.stem(), std::path::PathBuf::from("/tmp/x/out/tiny"));
    /// ```
    pub fn from_toml_str(text: String, path: impl AsRef<Path>) -> Result<Self, TrainError> {
        let path = path.as_ref();
        let head: Head = toml::from_str(&text).map_err(|e| config_error(path, e))?;
        let application = match head.application {
            None => {
                return Err(config_error(
                    path,
                    format!(
                        "missing key `application`; give one of: {}",
                        APPLICATIONS.join(", ")
                    ),
                ))
            }
            Some(value) => Application::deserialize(value).map_err(|_| {
                config_error(
                    path,
                    format!("`application` must be one of: {}", APPLICATIONS.join(", ")),
                )
            })?,
        };
        let spec = match application {
            Application::Fit => {
                let c: FitConfig = toml::from_str(&text).map_err(|e| config_error(path, e))?;
                c.check().map_err(|e| config_error(path, e))?;
                Spec::Fit(c)
            }
            Application::Trajectory => {
                let c: TrajectoryConfig =
                    toml::from_str(&text).map_err(|e| config_error(path, e))?;
                c.check().map_err(|e| config_error(path, e))?;
                Spec::Trajectory(c)
            }
            Application::Density => {
                let mut c: DensityConfig =
                    toml::from_str(&text).map_err(|e| config_error(path, e))?;
                // A density's start is far from its optimum (gradients up to 1e58 on sparse
                // points): dense BFGS with shorter retried line searches trains where L-BFGS
                // stops at the start (docs/density.md, "Training").
                c.solver = c.solver.or_method(SolverMethod::Bfgs);
                c.check().map_err(|e| config_error(path, e))?;
                Spec::Density(c)
            }
            Application::Deviation => {
                let c: DeviationConfig =
                    toml::from_str(&text).map_err(|e| config_error(path, e))?;
                c.check().map_err(|e| config_error(path, e))?;
                Spec::Deviation(c)
            }
            Application::SoftQ => {
                let c: SoftQConfig = toml::from_str(&text).map_err(|e| config_error(path, e))?;
                c.check().map_err(|e| config_error(path, e))?;
                Spec::SoftQ(c)
            }
        };
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Job {
            spec,
            text,
            path: path.to_path_buf(),
            dir,
        })
    }

    /// The application this job trains.
    pub fn application(&self) -> Application {
        match self.spec {
            Spec::Fit(_) => Application::Fit,
            Spec::Trajectory(_) => Application::Trajectory,
            Spec::Density(_) => Application::Density,
            Spec::Deviation(_) => Application::Deviation,
            Spec::SoftQ(_) => Application::SoftQ,
        }
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// The output stem, resolved.
    pub fn stem(&self) -> PathBuf {
        self.resolve(match &self.spec {
            Spec::Fit(c) => &c.output,
            Spec::Trajectory(c) => &c.output,
            Spec::Density(c) => &c.output,
            Spec::Deviation(c) => &c.output,
            Spec::SoftQ(c) => &c.output,
        })
    }

    /// Trains what the config describes, reports progress to `observer`, writes every output
    /// file and returns what was written and measured.
    ///
    /// Errors: `Data` (bad or missing data), `Solver`, `Core`, `Io` (files), `Plot`, and
    /// `Unmet` when the run finished but a requirement the config states does not hold (the
    /// files are written all the same, and the report says what failed).
    pub fn run(&self, observer: &mut dyn Observer) -> Result<Artefacts, TrainError> {
        match &self.spec {
            Spec::Fit(c) => crate::fit::run(self, c, observer),
            Spec::Trajectory(c) => crate::trajectory::run(self, c, observer, None),
            Spec::Density(c) => crate::density::run(self, c, observer),
            Spec::Deviation(c) => crate::deviation::run(self, c, observer),
            Spec::SoftQ(c) => crate::softq::run(self, c, observer),
        }
    }

    /// Creates the output stem's directory and returns the stem as messages should show it
    /// (without the `configs/../` of a config-relative path).
    pub(crate) fn prepare_stem(&self) -> Result<PathBuf, TrainError> {
        let mut stem = self.stem();
        if let (Some(dir), Some(name)) = (stem.parent(), stem.file_name()) {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
                if let Ok(dir) = dir.canonicalize() {
                    stem = dir.join(name);
                }
            }
        }
        Ok(stem)
    }

    /// The command that runs this config, for reports.
    pub(crate) fn command(&self) -> String {
        format!("cargo xtask train {}", self.shown_path().display())
    }

    /// The config's path as reports show it: relative to the working directory when it lies
    /// below it (so reports do not depend on where the checkout is).
    pub fn shown_path(&self) -> PathBuf {
        std::env::current_dir()
            .ok()
            .and_then(|cwd| self.path.strip_prefix(cwd).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| self.path.clone())
    }
}

/// `stem` with `suffix` appended to its file name.
///
/// ```
/// use std::path::{Path, PathBuf};
/// let p = finn_train::config::with_suffix(Path::new("out/run"), "-report.md");
/// assert_eq!(p, PathBuf::from("out/run-report.md"));
/// ```
pub fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Network family, `network.kind`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KindConfig {
    /// Non-negative weights, f >= 0.
    Positive,
    /// Free weights.
    Signed,
}

impl From<KindConfig> for Kind {
    fn from(k: KindConfig) -> Kind {
        match k {
            KindConfig::Positive => Kind::Positive,
            KindConfig::Signed => Kind::Signed,
        }
    }
}

/// Hidden activation, `network.activation`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ActivationConfig {
    /// sigma_n.
    Sigma,
    /// tanh.
    Tanh,
}

impl From<ActivationConfig> for Activation {
    fn from(a: ActivationConfig) -> Activation {
        match a {
            ActivationConfig::Sigma => Activation::Sigma,
            ActivationConfig::Tanh => Activation::Tanh,
        }
    }
}

/// Scalar type of the parameters in the written blob, `blob_scalar`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ScalarConfig {
    /// 4 bytes a parameter (the device computes in f32 either way).
    F32,
    /// 8 bytes a parameter, lossless.
    #[default]
    F64,
}

impl From<ScalarConfig> for Scalar {
    fn from(s: ScalarConfig) -> Scalar {
        match s {
            ScalarConfig::F32 => Scalar::F32,
            ScalarConfig::F64 => Scalar::F64,
        }
    }
}

/// `[solver]`: the method (quasi-Newton, or Levenberg-Marquardt for least squares) and when it
/// stops.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverConfig {
    /// lbfgs | bfgs | levenberg-marquardt; `None`: the application's default
    /// ([`SolverConfig::method`]).
    #[serde(default)]
    pub method: Option<SolverMethod>,
    /// L-BFGS correction pairs.
    #[serde(default = "default_memory")]
    pub memory: usize,
    /// Iteration cap.
    #[serde(default = "default_max_iters")]
    pub max_iters: u64,
    /// Gradient-norm tolerance.
    #[serde(default = "default_tol_grad")]
    pub tol_grad: f64,
    /// Cost-change tolerance.
    #[serde(default = "default_tol_cost")]
    pub tol_cost: f64,
}

/// `solver.method`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SolverMethod {
    /// Limited-memory BFGS.
    Lbfgs,
    /// Dense BFGS.
    Bfgs,
    /// Levenberg-Marquardt (least-squares losses only: `application = "fit"`).
    LevenbergMarquardt,
}

/// The applications whose loss is a sum of squares, so `solver.method =
/// "levenberg-marquardt"` applies.
pub const LEAST_SQUARES_APPLICATIONS: &[&str] = &["fit"];

fn default_memory() -> usize {
    10
}
fn default_max_iters() -> u64 {
    500
}
fn default_tol_grad() -> f64 {
    1e-8
}
fn default_tol_cost() -> f64 {
    1e-14
}

impl Default for SolverConfig {
    fn default() -> Self {
        SolverConfig {
            method: None,
            memory: default_memory(),
            max_iters: default_max_iters(),
            tol_grad: default_tol_grad(),
            tol_cost: default_tol_cost(),
        }
    }
}

impl SolverConfig {
    /// The method: the config's, else L-BFGS (densities default to BFGS instead:
    /// [`SolverConfig::or_method`]).
    ///
    /// ```
    /// use finn_train::config::{SolverConfig, SolverMethod};
    /// assert_eq!(SolverConfig::default().method(), SolverMethod::Lbfgs);
    /// let dense = SolverConfig::default().or_method(SolverMethod::Bfgs);
    /// assert_eq!(dense.method(), SolverMethod::Bfgs);
    /// let lbfgs = SolverConfig { method: Some(SolverMethod::Lbfgs), ..Default::default() };
    /// assert_eq!(lbfgs.or_method(SolverMethod::Bfgs).method(), SolverMethod::Lbfgs);
    /// ```
    pub fn method(&self) -> SolverMethod {
        self.method.unwrap_or(SolverMethod::Lbfgs)
    }

    /// This config with `method` where the config names none (an application's default).
    pub fn or_method(mut self, method: SolverMethod) -> Self {
        self.method.get_or_insert(method);
        self
    }

    /// Checks the ranges, and that the method suits `application` (its `application` key):
    /// Levenberg-Marquardt needs a least-squares loss ([`LEAST_SQUARES_APPLICATIONS`]).
    ///
    /// ```
    /// use finn_train::config::{SolverConfig, SolverMethod};
    /// let lm = SolverConfig { method: Some(SolverMethod::LevenbergMarquardt), ..Default::default() };
    /// assert!(lm.check("fit").is_ok());
    /// let e = lm.check("density").unwrap_err();
    /// assert!(e.contains("levenberg-marquardt") && e.contains("density"), "{e}");
    /// ```
    pub fn check(&self, application: &str) -> Result<(), String> {
        if self.method() == SolverMethod::LevenbergMarquardt
            && !LEAST_SQUARES_APPLICATIONS.contains(&application)
        {
            return Err(format!(
                "solver.method = \"levenberg-marquardt\" fits least-squares losses only \
                 (application = \"fit\"); application = \"{application}\" does not minimise a \
                 sum of squares: use \"bfgs\" or \"lbfgs\""
            ));
        }
        if self.memory < 1 {
            return Err("solver.memory must be at least 1".into());
        }
        if self.max_iters < 1 {
            return Err("solver.max_iters must be at least 1".into());
        }
        if !(self.tol_grad >= 0.0 && self.tol_cost >= 0.0) {
            return Err("solver tolerances must be >= 0".into());
        }
        Ok(())
    }

    /// The solver settings.
    pub fn settings(&self) -> Settings {
        Settings {
            method: match self.method() {
                SolverMethod::Lbfgs => solve::Method::Lbfgs {
                    memory: self.memory,
                },
                SolverMethod::Bfgs => solve::Method::Bfgs,
                SolverMethod::LevenbergMarquardt => solve::Method::LevenbergMarquardt,
            },
            max_iters: self.max_iters,
            tol_grad: self.tol_grad,
            tol_cost: self.tol_cost,
        }
    }

    /// How the report names the solver.
    pub fn describe(&self) -> String {
        match self.method() {
            SolverMethod::Lbfgs => format!("L-BFGS (memory {})", self.memory),
            SolverMethod::Bfgs => "BFGS".to_string(),
            SolverMethod::LevenbergMarquardt => "Levenberg-Marquardt".to_string(),
        }
    }
}

/// Most parameters a config may ask for: far beyond what a microcontroller holds, and a
/// guard against a typo in `network.widths` allocating gigabytes before anything runs.
pub const MAX_PARAMETERS: usize = 1_000_000;

/// Checks `network.widths` for a network with `n` inputs, before any work: 1..=8 layers,
/// each 1..=65535 units (what a blob can store), at most [`MAX_PARAMETERS`] parameters.
pub(crate) fn check_widths(n: usize, widths: &[usize]) -> Result<(), String> {
    use finn_core::format::{MAX_LAYERS, MAX_WIDTH};
    if widths.is_empty() || widths.len() > MAX_LAYERS {
        return Err(format!(
            "network.widths has {} layers; give 1..={MAX_LAYERS}",
            widths.len()
        ));
    }
    if let Some((layer, w)) = widths
        .iter()
        .enumerate()
        .find(|(_, &w)| w == 0 || w > MAX_WIDTH)
    {
        return Err(format!(
            "network.widths[{layer}] = {w}: each width must be 1..={MAX_WIDTH}"
        ));
    }
    let mut count = 0usize;
    let mut fan_in = n;
    for &w in widths {
        count = count.saturating_add(w.saturating_mul(fan_in).saturating_add(w));
        fan_in = w;
    }
    count = count.saturating_add(fan_in);
    if count > MAX_PARAMETERS {
        return Err(format!(
            "network.widths = {widths:?} gives {count} parameters; at most {MAX_PARAMETERS}"
        ));
    }
    Ok(())
}

/// Checks that a config's `output` stem is not empty.
pub(crate) fn check_output(output: &Path) -> Result<(), String> {
    if output.as_os_str().is_empty() {
        return Err("output (the file stem) must not be empty".into());
    }
    Ok(())
}

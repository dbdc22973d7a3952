//! `cargo xtask train CONFIG.toml`: fit a fixed-integral network described by a TOML file,
//! then write the model, a loss plot and a report.
//!
//! # The config file
//!
//! Relative paths in it (`output`, `data.csv`) are relative to the directory of the config
//! file, so a config means the same wherever the command is run from.
//!
//! ```toml
//! seed = 1                          # initial parameters and random samples (default 0)
//! output = "../results/run"         # stem: writes run.postcard, run.json, run-loss.png,
//!                                   # run-report.md
//!
//! [network]
//! kind = "positive"                 # positive (|w| weights, f >= 0) | signed
//! activation = "sigma"              # sigma (sigma_n, needed by positive) | tanh
//! n = 2                             # input dimension, 1..=8
//! widths = [16, 16]                 # hidden widths, first layer first
//!
//! [domain]                          # the box of the constraint (and of sampled data)
//! lower = [-3.0, -3.0]
//! upper = [3.0, 3.0]
//!
//! [constraint]                      # optional: integral over the domain (bound) eps
//! bound = "equal"                   # equal | at-most | at-least
//! method = "scale"                  # scale (positive networks) | shift (any network)
//! eps = 2.0
//!
//! [data]                            # either a CSV file ...
//! # csv = "samples.csv"             # columns x_1..x_n, y; optional header; '#' comments
//! target = "figure1-gmm"            # ... or a built-in target (figure1-gmm, gaussian)
//! grid = 41                         # with a target: a regular grid of grid^n points on the
//! # samples = 2000                  # domain, or this many uniform random points
//!
//! [loss]                            # optional
//! fit = "integrand"                 # integrand (targets are f) | antiderivative (targets are F)
//! weight_decay = 0.0
//!
//! [solver]                          # optional
//! method = "lbfgs"                  # lbfgs | bfgs
//! memory = 10                       # L-BFGS correction pairs
//! max_iters = 500
//! tol_grad = 1e-8
//! tol_cost = 1e-14
//! ```

use crate::plot;
use crate::targets::Target;
use anyhow::{bail, ensure, Context, Result};
use finn_core::{Activation, Bound, Constraint, Kind, Method};
use finn_train::eval::Evaluator;
use finn_train::loss::{Data, Fit, Objective};
use finn_train::model::{Architecture, TrainedModel};
use finn_train::solve::{self, Report, Settings, Step};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The whole config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seed of the initial parameters and of random samples.
    #[serde(default)]
    pub seed: u64,
    /// Output stem (relative to the config file's directory).
    pub output: PathBuf,
    /// The network.
    pub network: NetworkConfig,
    /// The domain.
    pub domain: DomainConfig,
    /// The optional integral constraint.
    pub constraint: Option<ConstraintConfig>,
    /// The training data.
    pub data: DataConfig,
    /// The loss.
    #[serde(default)]
    pub loss: LossConfig,
    /// The solver.
    #[serde(default)]
    pub solver: SolverConfig,
}

/// `[network]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// positive | signed.
    pub kind: KindConfig,
    /// sigma | tanh.
    pub activation: ActivationConfig,
    /// Input dimension.
    pub n: usize,
    /// Hidden widths.
    pub widths: Vec<usize>,
}

/// Network family.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KindConfig {
    /// Non-negative weights, f >= 0.
    Positive,
    /// Free weights.
    Signed,
}

/// Hidden activation.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ActivationConfig {
    /// sigma_n.
    Sigma,
    /// tanh.
    Tanh,
}

/// `[domain]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// Lower corner.
    pub lower: Vec<f64>,
    /// Upper corner.
    pub upper: Vec<f64>,
}

/// `[constraint]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintConfig {
    /// equal | at-most | at-least.
    pub bound: BoundConfig,
    /// scale | shift.
    pub method: MethodConfig,
    /// The target integral.
    pub eps: f64,
}

/// Relation of the integral to eps.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BoundConfig {
    /// = eps.
    Equal,
    /// <= eps.
    AtMost,
    /// >= eps.
    AtLeast,
}

/// How the constraint is imposed.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MethodConfig {
    /// Multiply f.
    Scale,
    /// Add to f.
    Shift,
}

/// `[data]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A CSV file of x_1..x_n, y.
    pub csv: Option<PathBuf>,
    /// A built-in target.
    pub target: Option<String>,
    /// Points per axis of a regular grid on the domain.
    pub grid: Option<usize>,
    /// Number of uniform random points in the domain.
    pub samples: Option<usize>,
}

/// `[loss]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    /// integrand | antiderivative.
    #[serde(default = "default_fit")]
    pub fit: FitConfig,
    /// Ridge coefficient.
    #[serde(default)]
    pub weight_decay: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            fit: default_fit(),
            weight_decay: 0.0,
        }
    }
}

fn default_fit() -> FitConfig {
    FitConfig::Integrand
}

/// What the targets are values of.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FitConfig {
    /// f.
    Integrand,
    /// F.
    Antiderivative,
}

/// `[solver]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverConfig {
    /// lbfgs | bfgs.
    #[serde(default = "default_method")]
    pub method: SolverMethod,
    /// L-BFGS memory.
    #[serde(default = "default_memory")]
    pub memory: usize,
    /// Iteration limit.
    #[serde(default = "default_max_iters")]
    pub max_iters: u64,
    /// Gradient-norm tolerance.
    #[serde(default = "default_tol_grad")]
    pub tol_grad: f64,
    /// Cost-change tolerance.
    #[serde(default = "default_tol_cost")]
    pub tol_cost: f64,
}

/// Quasi-Newton method.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SolverMethod {
    /// Limited-memory BFGS.
    Lbfgs,
    /// Dense BFGS.
    Bfgs,
}

fn default_method() -> SolverMethod {
    SolverMethod::Lbfgs
}
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
            method: default_method(),
            memory: default_memory(),
            max_iters: default_max_iters(),
            tol_grad: default_tol_grad(),
            tol_cost: default_tol_cost(),
        }
    }
}

/// Most points a grid or a sample may have.
const MAX_POINTS: usize = 2_000_000;

/// A parsed and checked config, with where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// The file as written (echoed in the report).
    pub text: String,
    /// The file's path as given.
    pub path: PathBuf,
    /// The directory relative paths are resolved against.
    pub dir: PathBuf,
}

impl Loaded {
    /// Reads, parses and checks a config file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(path, text)
    }

    /// Parses and checks config text that came from `path`.
    pub fn parse(path: &Path, text: String) -> Result<Self> {
        let config: Config =
            toml::from_str(&text).with_context(|| format!("bad config file {}", path.display()))?;
        config
            .check()
            .with_context(|| format!("bad config file {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Loaded {
            config,
            text,
            path: path.to_path_buf(),
            dir,
        })
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
        self.resolve(&self.config.output)
    }
}

impl Config {
    /// Everything that can be checked without reading data.
    pub fn check(&self) -> Result<()> {
        let net = &self.network;
        let n = net.n;
        ensure!(
            (1..=finn_core::activation::MAX_DIM).contains(&n),
            "network.n = {n}: must be between 1 and {}",
            finn_core::activation::MAX_DIM
        );
        ensure!(
            !net.widths.is_empty() && !net.widths.contains(&0),
            "network.widths must be a non-empty list of positive widths"
        );
        if net.kind == KindConfig::Positive && net.activation != ActivationConfig::Sigma {
            bail!("a positive network needs activation = \"sigma\" (sigma_n)");
        }
        let d = &self.domain;
        ensure!(
            d.lower.len() == n && d.upper.len() == n,
            "domain.lower and domain.upper need n = {n} entries each (have {} and {})",
            d.lower.len(),
            d.upper.len()
        );
        for (axis, (a, b)) in d.lower.iter().zip(&d.upper).enumerate() {
            ensure!(
                a.is_finite() && b.is_finite() && a < b,
                "domain axis {}: need finite lower < upper, have [{a}, {b}]",
                axis + 1
            );
        }
        if let Some(c) = &self.constraint {
            ensure!(c.eps.is_finite(), "constraint.eps must be finite");
            if c.method == MethodConfig::Scale {
                ensure!(
                    net.kind == KindConfig::Positive,
                    "constraint.method = \"scale\" needs a positive network; use \"shift\""
                );
                ensure!(
                    c.eps > 0.0,
                    "a scale constraint needs eps > 0 (have {})",
                    c.eps
                );
            }
        }
        let data = &self.data;
        match (&data.csv, &data.target) {
            (Some(_), Some(_)) => bail!("data: give either csv or target, not both"),
            (None, None) => bail!("data: give csv = \"file.csv\" or target = \"<name>\""),
            (Some(_), None) => ensure!(
                data.grid.is_none() && data.samples.is_none(),
                "data: grid and samples go with a built-in target, not with csv"
            ),
            (None, Some(name)) => {
                Target::by_name(name, n)?;
                let count = match (data.grid, data.samples) {
                    (Some(g), None) => {
                        ensure!(g >= 2, "data.grid must be at least 2");
                        g.checked_pow(n as u32).unwrap_or(usize::MAX)
                    }
                    (None, Some(s)) => {
                        ensure!(s >= 1, "data.samples must be at least 1");
                        s
                    }
                    _ => bail!("data: with a target, give exactly one of grid or samples"),
                };
                ensure!(
                    count <= MAX_POINTS,
                    "data: {count} points is too many (at most {MAX_POINTS})"
                );
            }
        }
        ensure!(
            self.loss.weight_decay.is_finite() && self.loss.weight_decay >= 0.0,
            "loss.weight_decay must be finite and >= 0"
        );
        let s = &self.solver;
        ensure!(s.memory >= 1, "solver.memory must be at least 1");
        ensure!(s.max_iters >= 1, "solver.max_iters must be at least 1");
        ensure!(
            s.tol_grad >= 0.0 && s.tol_cost >= 0.0,
            "solver tolerances must be >= 0"
        );
        ensure!(
            !self.output.as_os_str().is_empty(),
            "output (the file stem) must not be empty"
        );
        Ok(())
    }

    /// The network shape.
    pub fn architecture(&self) -> Architecture {
        Architecture {
            n: self.network.n,
            kind: match self.network.kind {
                KindConfig::Positive => Kind::Positive,
                KindConfig::Signed => Kind::Signed,
            },
            activation: match self.network.activation {
                ActivationConfig::Sigma => Activation::Sigma,
                ActivationConfig::Tanh => Activation::Tanh,
            },
            widths: self.network.widths.clone(),
        }
    }

    /// The constraint in finn-core's terms.
    pub fn constraint(&self) -> Option<Constraint<f64>> {
        self.constraint.map(|c| {
            Constraint::new(
                match c.bound {
                    BoundConfig::Equal => Bound::Equal,
                    BoundConfig::AtMost => Bound::AtMost,
                    BoundConfig::AtLeast => Bound::AtLeast,
                },
                match c.method {
                    MethodConfig::Scale => Method::Scale,
                    MethodConfig::Shift => Method::Shift,
                },
                c.eps,
            )
        })
    }

    /// What the targets are values of.
    pub fn fit(&self) -> Fit {
        match self.loss.fit {
            FitConfig::Integrand => Fit::Integrand,
            FitConfig::Antiderivative => Fit::Antiderivative,
        }
    }

    /// Solver settings.
    pub fn settings(&self) -> Settings {
        Settings {
            method: match self.solver.method {
                SolverMethod::Lbfgs => solve::Method::Lbfgs {
                    memory: self.solver.memory,
                },
                SolverMethod::Bfgs => solve::Method::Bfgs,
            },
            max_iters: self.solver.max_iters,
            tol_grad: self.solver.tol_grad,
            tol_cost: self.solver.tol_cost,
        }
    }
}

/// Points of a regular grid with `per_axis` points per axis on [lower, upper] (endpoints
/// included), first axis fastest; or, with `offset`, the cell midpoints (per_axis - 1 per
/// axis), a grid disjoint from the first.
pub fn grid_points(lower: &[f64], upper: &[f64], per_axis: usize, offset: bool) -> Array2<f64> {
    let n = lower.len();
    let k = if offset { per_axis - 1 } else { per_axis };
    let count = k.pow(n as u32);
    Array2::from_shape_fn((count, n), |(row, axis)| {
        let idx = (row / k.pow(axis as u32)) % k;
        let h = (upper[axis] - lower[axis]) / (per_axis - 1) as f64;
        let t = if offset { idx as f64 + 0.5 } else { idx as f64 };
        if !offset && idx == per_axis - 1 {
            upper[axis]
        } else {
            lower[axis] + t * h
        }
    })
}

/// `count` uniform random points in [lower, upper] from a SplitMix64 stream.
pub fn random_points(lower: &[f64], upper: &[f64], count: usize, seed: u64) -> Array2<f64> {
    let mut state = seed ^ 0xD1B5_4A32_D192_ED03;
    let mut uniform = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    };
    let n = lower.len();
    Array2::from_shape_fn((count, n), |(_, axis)| {
        lower[axis] + uniform() * (upper[axis] - lower[axis])
    })
}

/// Targets of a built-in function at the given points (f or F).
pub fn target_values(target: &Target, points: &Array2<f64>, fit: Fit) -> Array1<f64> {
    Array1::from_iter(points.rows().into_iter().map(|r| {
        let x = r.to_vec();
        match fit {
            Fit::Integrand => target.value(&x),
            Fit::Antiderivative => target.antiderivative(&x),
        }
    }))
}

impl Loaded {
    /// The training data the config describes.
    pub fn data(&self) -> Result<Data> {
        let c = &self.config;
        let n = c.network.n;
        if let Some(csv) = &c.data.csv {
            let path = self.resolve(csv);
            ensure!(
                path.is_file(),
                "data file {} does not exist (data.csv is relative to the config file)",
                path.display()
            );
            return Data::from_csv(&path, n).map_err(|e| anyhow::anyhow!("{e}"));
        }
        let name = c.data.target.as_deref().unwrap_or_default();
        let target = Target::by_name(name, n)?;
        let (lo, hi) = (&c.domain.lower, &c.domain.upper);
        let points = match (c.data.grid, c.data.samples) {
            (Some(g), _) => grid_points(lo, hi, g, false),
            (_, Some(s)) => random_points(lo, hi, s, c.seed),
            _ => bail!("data: with a target, give grid or samples"),
        };
        let targets = target_values(&target, &points, c.fit());
        Data::new(points, targets).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// What a training run produced.
pub struct Outcome {
    /// The trained model (as saved).
    pub model: TrainedModel,
    /// The solver's report.
    pub report: Report,
    /// Mean squared error of the fitted quantity (f or F) on the training data.
    pub mse: f64,
    /// The exact integral of f over the domain.
    pub integral: f64,
    /// A built-in target's own exact integral over the domain.
    pub target_integral: Option<f64>,
    /// The training data.
    pub data: Data,
    /// Wall time of the whole run (data, solve, files), seconds.
    pub seconds: f64,
    /// The output stem.
    pub stem: PathBuf,
}

/// Mean squared error of the model's f (or F) against the data.
pub fn mse(eval: &Evaluator, data: &Data, fit: Fit) -> Result<f64> {
    let mut sse = 0.0;
    for (x, y) in data.points.rows().into_iter().zip(data.targets.iter()) {
        let x = x.to_vec();
        let p = match fit {
            Fit::Integrand => eval.integrand(&x)?,
            Fit::Antiderivative => eval.antiderivative(&x)?,
        };
        sse += (p - y) * (p - y);
    }
    Ok(sse / data.targets.len() as f64)
}

/// A progress bar over the iterations (hidden when stderr is not a terminal).
pub fn progress_bar(max_iters: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(max_iters);
    let style = ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_string());
    bar
}

/// Trains the model a config describes and writes its files; `command` is how the run was
/// started (for the report), `bar` shows progress.
pub fn run(loaded: &Loaded, command: &str, bar: ProgressBar) -> Result<Outcome> {
    let start = Instant::now();
    let c = &loaded.config;
    let arch = c.architecture();
    let data = loaded.data()?;
    let fit = c.fit();
    let constraint = c.constraint();
    let (lower, upper) = (c.domain.lower.clone(), c.domain.upper.clone());
    let mut objective =
        Objective::new(arch.clone(), data.clone(), fit).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(con) = constraint {
        objective = objective
            .with_constraint(&lower, &upper, con)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let objective = objective.with_weight_decay(c.loss.weight_decay);
    let constants_of = objective.clone();
    let init = solve::initial_parameters(&arch, c.seed);
    let settings = c.settings();
    let progress = bar.clone();
    let report = solve::fit(objective, init, &settings, move |s: &Step| {
        progress.set_position(s.iteration);
        progress.set_message(format!("loss {:.4e}  |grad| {:.3e}", s.loss, s.grad_norm));
    })
    .map_err(|e| anyhow::anyhow!("training failed: {e}"))?;
    bar.finish_with_message(format!(
        "loss {:.4e} after {} iterations ({})",
        report.loss, report.iterations, report.termination
    ));
    let constants = constants_of
        .constants(&report.params)
        .map_err(|e| anyhow::anyhow!("resolving the constraint: {e}"))?;
    let model = TrainedModel {
        architecture: arch,
        domain_lower: lower,
        domain_upper: upper,
        constraint,
        constants,
        params: report.params.clone(),
    };
    let eval = Evaluator::new(&model).map_err(|e| anyhow::anyhow!("evaluating: {e}"))?;
    let mse = mse(&eval, &data, fit)?;
    let integral = eval.integral()?;
    let mut stem = loaded.stem();
    if let (Some(dir), Some(name)) = (stem.parent(), stem.file_name()) {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating output directory {}", dir.display()))?;
            // Shown in messages: without the `configs/../` of a config-relative path.
            if let Ok(dir) = dir.canonicalize() {
                stem = dir.join(name);
            }
        }
    }
    model
        .save(&stem)
        .map_err(|e| anyhow::anyhow!("writing {}.postcard/.json: {e}", stem.display()))?;
    let curve: Vec<(u64, f64)> = report
        .history
        .iter()
        .map(|s| (s.iteration, s.loss))
        .collect();
    let name = stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    plot::loss_curve(
        &with_suffix(&stem, "-loss.png"),
        &format!("{name}: training loss"),
        &curve,
    )?;
    let target_integral = match &c.data.target {
        Some(name) => {
            Some(Target::by_name(name, c.network.n)?.box_integral(&c.domain.lower, &c.domain.upper))
        }
        None => None,
    };
    let mut outcome = Outcome {
        model,
        report,
        mse,
        integral,
        target_integral,
        data,
        seconds: 0.0,
        stem,
    };
    outcome.seconds = start.elapsed().as_secs_f64();
    let md = report_markdown(loaded, &outcome, command);
    let path = with_suffix(&outcome.stem, "-report.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    Ok(outcome)
}

/// `stem` with `suffix` appended to its file name.
pub fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// How the integral relates to the constraint, as a table row value.
pub fn constraint_check(constraint: Option<Constraint<f64>>, integral: f64) -> String {
    match constraint {
        None => "no constraint".into(),
        Some(c) => {
            let diff = integral - c.eps;
            let rel = diff.abs() / c.eps.abs().max(f64::MIN_POSITIVE);
            match c.bound {
                Bound::Equal => format!("integral - eps = {diff:.3e} (relative {rel:.3e})"),
                Bound::AtMost => format!(
                    "integral - eps = {diff:.3e}: {}",
                    if integral <= c.eps {
                        "holds"
                    } else {
                        "VIOLATED"
                    }
                ),
                Bound::AtLeast => format!(
                    "integral - eps = {diff:.3e}: {}",
                    if integral >= c.eps {
                        "holds"
                    } else {
                        "VIOLATED"
                    }
                ),
            }
        }
    }
}

fn report_markdown(loaded: &Loaded, o: &Outcome, command: &str) -> String {
    let c = &loaded.config;
    let name = o
        .stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let constraint = match o.model.constraint {
        None => "none".to_string(),
        Some(k) => format!("{:?} by {:?}, eps = {}", k.bound, k.method, k.eps),
    };
    let fitted = match c.fit() {
        Fit::Integrand => "f",
        Fit::Antiderivative => "F",
    };
    let mut s = String::new();
    let _ = writeln!(s, "# Training report: {name}\n");
    let _ = writeln!(s, "Command: `{command}`\n");
    let _ = writeln!(s, "| quantity | value |\n| --- | --- |");
    let rows: Vec<(String, String)> = vec![
        (
            "network".into(),
            format!(
                "{:?}, {:?}, n = {}, widths {:?} ({} parameters)",
                o.model.architecture.kind,
                o.model.architecture.activation,
                o.model.architecture.n,
                o.model.architecture.widths,
                o.model.architecture.parameter_count()
            ),
        ),
        (
            "domain".into(),
            format!("{:?} to {:?}", c.domain.lower, c.domain.upper),
        ),
        ("constraint".into(), constraint),
        ("training samples".into(), o.data.targets.len().to_string()),
        ("final loss".into(), format!("{:.6e}", o.report.loss)),
        (
            format!("MSE of {fitted} on the training data"),
            format!("{:.6e}", o.mse),
        ),
        (
            "exact integral of f over the domain".into(),
            format!("{:.17e}", o.integral),
        ),
        (
            "the target's exact integral over the domain".into(),
            o.target_integral
                .map_or("(data from a file)".into(), |v| format!("{v:.17e}")),
        ),
        (
            "integral vs eps".into(),
            constraint_check(o.model.constraint, o.integral),
        ),
        (
            "constants (scale, gap, gap_low)".into(),
            format!(
                "{:e}, {:e}, {:e}",
                o.model.constants.scale, o.model.constants.gap, o.model.constants.gap_low
            ),
        ),
        ("iterations".into(), o.report.iterations.to_string()),
        ("termination".into(), o.report.termination.clone()),
        (
            "solver wall time".into(),
            format!("{:.2} s", o.report.seconds),
        ),
        ("total wall time".into(), format!("{:.2} s", o.seconds)),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "\nFiles: `{name}.postcard` (f64 weights blob), `{name}.json`, `{name}-loss.png`.\n"
    );
    let _ = writeln!(
        s,
        "## Config (`{}`)\n\n```toml\n{}\n```",
        loaded.path.display(),
        loaded.text.trim_end()
    );
    s
}

/// `cargo xtask train CONFIG.toml`.
pub fn command(config: &Path) -> Result<()> {
    let loaded = Loaded::read(config)?;
    let cmd = format!("cargo xtask train {}", config.display());
    let bar = progress_bar(loaded.config.solver.max_iters, "train");
    let o = run(&loaded, &cmd, bar)?;
    println!(
        "final loss {:.6e}, MSE {:.6e}, integral {:.17e} ({}), {} iterations ({}), {:.2} s",
        o.report.loss,
        o.mse,
        o.integral,
        constraint_check(o.model.constraint, o.integral),
        o.report.iterations,
        o.report.termination,
        o.seconds
    );
    println!(
        "wrote {0}.postcard, {0}.json, {0}-loss.png, {0}-report.md",
        o.stem.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Loaded> {
        Loaded::parse(Path::new("/tmp/x/config.toml"), text.to_string())
    }

    const GOOD: &str = r#"
        output = "out/tiny"
        [network]
        kind = "positive"
        activation = "sigma"
        n = 1
        widths = [3]
        [domain]
        lower = [-2.0]
        upper = [2.0]
        [constraint]
        bound = "equal"
        method = "scale"
        eps = 0.9
        [data]
        target = "gaussian"
        grid = 9
    "#;

    #[test]
    fn parses_and_defaults() {
        let l = parse(GOOD).unwrap();
        assert_eq!(l.stem(), PathBuf::from("/tmp/x/out/tiny"));
        assert_eq!(l.config.solver.max_iters, 500);
        assert_eq!(l.config.fit(), Fit::Integrand);
        assert_eq!(l.data().unwrap().targets.len(), 9);
    }

    #[test]
    fn bad_configs_are_errors() {
        let cases = [
            (GOOD.replace("n = 1", "n = 0"), "network.n"),
            (GOOD.replace("\"sigma\"", "\"tanh\""), "positive network"),
            (GOOD.replace("[2.0]", "[-3.0]"), "domain axis 1"),
            (
                GOOD.replace("grid = 9", "grid = 9\nsamples = 3"),
                "exactly one",
            ),
            (GOOD.replace("\"gaussian\"", "\"nope\""), "unknown target"),
            (GOOD.replace("eps = 0.9", "eps = -1.0"), "eps > 0"),
            (
                GOOD.replace("kind = \"positive\"", "kind = \"round\""),
                "unknown variant",
            ),
            (GOOD.replace("widths", "widht"), "unknown field"),
        ];
        for (text, needle) in cases {
            let err = format!("{:#}", parse(&text).unwrap_err());
            assert!(err.contains(needle), "{needle}: {err}");
        }
        let missing = GOOD.replace(
            "target = \"gaussian\"\n        grid = 9",
            "csv = \"no.csv\"",
        );
        let err = format!("{:#}", parse(&missing).unwrap().data().unwrap_err());
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn grids() {
        let g = grid_points(&[0.0, 10.0], &[1.0, 12.0], 3, false);
        assert_eq!(g.nrows(), 9);
        assert_eq!(g.row(0).to_vec(), vec![0.0, 10.0]);
        assert_eq!(g.row(1).to_vec(), vec![0.5, 10.0]);
        assert_eq!(g.row(8).to_vec(), vec![1.0, 12.0]);
        let m = grid_points(&[0.0], &[1.0], 3, true);
        assert_eq!(m.column(0).to_vec(), vec![0.25, 0.75]);
    }

    /// A CSV of F values, a signed network and a shift constraint.
    #[test]
    fn csv_antiderivative_shift() {
        let dir = std::env::temp_dir().join(format!("finn-train-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut csv = String::from("x,F\n");
        for i in 0..21 {
            let x = -2.0 + 0.2 * i as f64;
            let big_f = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
            csv.push_str(&format!("{x},{big_f}\n"));
        }
        std::fs::write(dir.join("cdf.csv"), csv).unwrap();
        let text = r#"
            output = "cdf"
            [network]
            kind = "signed"
            activation = "tanh"
            n = 1
            widths = [4]
            [domain]
            lower = [-2.0]
            upper = [2.0]
            [constraint]
            bound = "at-least"
            method = "shift"
            eps = 0.5
            [data]
            csv = "cdf.csv"
            [loss]
            fit = "antiderivative"
            [solver]
            method = "bfgs"
            max_iters = 30
        "#;
        let loaded = Loaded::parse(&dir.join("c.toml"), text.to_string()).unwrap();
        let o = run(&loaded, "test", ProgressBar::hidden()).unwrap();
        assert_eq!(o.data.targets.len(), 21);
        assert!(o.integral >= 0.5 - 1e-15, "{}", o.integral);
        assert!(o.mse < 1e-2, "{}", o.mse);
        assert!(o.target_integral.is_none());
        let report = std::fs::read_to_string(dir.join("cdf-report.md")).unwrap();
        assert!(report.contains("MSE of F"), "{report}");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The train path end to end on a tiny problem: files exist and the JSON model evaluates.
    #[test]
    fn smoke_train() {
        let dir = std::env::temp_dir().join(format!("finn-train-smoke-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = GOOD.replace("grid = 9", "grid = 9\n[solver]\nmax_iters = 5");
        let loaded = Loaded::parse(&dir.join("tiny.toml"), text).unwrap();
        let o = run(&loaded, "test", ProgressBar::hidden()).unwrap();
        assert!(o.report.iterations <= 5);
        assert!((o.integral - 0.9).abs() < 1e-14);
        let stem = dir.join("out/tiny");
        for suffix in [".postcard", ".json", "-loss.png", "-report.md"] {
            let p = with_suffix(&stem, suffix);
            assert!(p.is_file(), "missing {}", p.display());
        }
        let json = std::fs::read_to_string(with_suffix(&stem, ".json")).unwrap();
        let model = TrainedModel::from_json(&json).unwrap();
        let e = Evaluator::new(&model).unwrap();
        assert!((e.integral().unwrap() - 0.9).abs() < 1e-14);
        assert!(e.integrand(&[0.0]).unwrap() >= 0.0);
        std::fs::remove_dir_all(&dir).ok();
    }
}

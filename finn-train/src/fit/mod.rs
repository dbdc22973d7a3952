//! The `fit` application: a FINN fitted to values of f (paper Eq. 3) or of F, with its
//! integral over a box fixed (or bounded) by construction.
//!
//! Config (`application = "fit"`, every key in `docs/config.md`) -> [`FitConfig`] -> data
//! ([`data`]) -> loss ([`loss::Objective`]) -> solve -> [`TrainedModel`] -> blob and JSON
//! ([`crate::model`]) -> `finn_embedded::fit` on the device. [`figure1`] reproduces the paper's
//! Figure 1 from three such configs.

pub mod data;
pub mod figure1;
pub mod loss;
mod report;
mod surface;
pub mod targets;

use crate::config::{
    check_output, check_widths, with_suffix, ActivationConfig, Artefacts, Job, KindConfig, Outcome,
    ScalarConfig, SolverConfig,
};
use crate::eval::Evaluator;
use crate::model::{Architecture, TrainedModel};
use crate::observer::Observer;
use crate::solve::Report;
use crate::TrainError;
use finn_core::dd::DoubleDouble;
use finn_core::{Bound, Constraint, Method, Real};
use loss::{Data, Fit, Objective};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Instant;
use targets::Target;

pub use report::constraint_check;

/// A `fit` config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// Always `"fit"` here (read first, to choose this type).
    pub application: String,
    /// Seed of the initial parameters and of random samples.
    #[serde(default)]
    pub seed: u64,
    /// Output stem (relative to the config file's directory).
    pub output: PathBuf,
    /// Scalar type of the blob's parameters.
    #[serde(default)]
    pub blob_scalar: ScalarConfig,
    /// `[network]`.
    pub network: NetworkConfig,
    /// `[domain]`.
    pub domain: DomainConfig,
    /// `[constraint]`, optional.
    pub constraint: Option<ConstraintConfig>,
    /// `[data]`.
    pub data: DataConfig,
    /// `[loss]`.
    #[serde(default)]
    pub loss: LossConfig,
    /// `[solver]`.
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

/// `constraint.bound`.
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

/// `constraint.method`.
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
    /// A built-in target ([`targets::NAMES`]).
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
    pub fit: FitTarget,
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

fn default_fit() -> FitTarget {
    FitTarget::Integrand
}

/// `loss.fit`: what the targets are values of.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FitTarget {
    /// f.
    Integrand,
    /// F.
    Antiderivative,
}

/// Most points a grid or a sample may have.
const MAX_POINTS: usize = 2_000_000;

impl FitConfig {
    /// Everything that can be checked without reading data; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        let net = &self.network;
        let n = net.n;
        let max = finn_core::activation::MAX_DIM;
        if !(1..=max).contains(&n) {
            return Err(format!("network.n = {n}: must be between 1 and {max}"));
        }
        check_widths(n, &net.widths)?;
        if net.kind == KindConfig::Positive && net.activation != ActivationConfig::Sigma {
            return Err("a positive network needs activation = \"sigma\" (sigma_n)".into());
        }
        let d = &self.domain;
        if d.lower.len() != n || d.upper.len() != n {
            return Err(format!(
                "domain.lower and domain.upper need n = {n} entries each (have {} and {})",
                d.lower.len(),
                d.upper.len()
            ));
        }
        for (axis, (a, b)) in d.lower.iter().zip(&d.upper).enumerate() {
            if !(a.is_finite() && b.is_finite() && a < b) {
                return Err(format!(
                    "domain axis {}: need finite lower < upper, have [{a}, {b}]",
                    axis + 1
                ));
            }
        }
        if let Some(c) = &self.constraint {
            if !c.eps.is_finite() {
                return Err("constraint.eps must be finite".into());
            }
            if c.method == MethodConfig::Shift
                && net.kind == KindConfig::Positive
                && c.bound != BoundConfig::AtLeast
            {
                return Err(
                    "a positive network takes constraint.method = \"shift\" only with \
                            bound = \"at-least\" (any other shift could make f < 0); use \"scale\""
                        .into(),
                );
            }
            if c.method == MethodConfig::Scale {
                if net.kind != KindConfig::Positive {
                    return Err(
                        "constraint.method = \"scale\" needs a positive network; use \"shift\""
                            .into(),
                    );
                }
                if c.eps <= 0.0 {
                    return Err(format!("a scale constraint needs eps > 0 (have {})", c.eps));
                }
            }
        }
        self.check_data()?;
        if !(self.loss.weight_decay.is_finite() && self.loss.weight_decay >= 0.0) {
            return Err("loss.weight_decay must be finite and >= 0".into());
        }
        self.solver.check("fit")?;
        check_output(&self.output)
    }

    fn check_data(&self) -> Result<(), String> {
        let data = &self.data;
        match (&data.csv, &data.target) {
            (Some(_), Some(_)) => Err("data: give either csv or target, not both".into()),
            (None, None) => Err("data: give csv = \"file.csv\" or target = \"<name>\"".into()),
            (Some(_), None) => {
                if data.grid.is_some() || data.samples.is_some() {
                    return Err(
                        "data: grid and samples go with a built-in target, not with csv".into(),
                    );
                }
                Ok(())
            }
            (None, Some(name)) => {
                Target::by_name(name, self.network.n).map_err(|e| e.to_string())?;
                let count = match (data.grid, data.samples) {
                    (Some(g), None) if g >= 2 => {
                        g.checked_pow(self.network.n as u32).unwrap_or(usize::MAX)
                    }
                    (Some(_), None) => return Err("data.grid must be at least 2".into()),
                    (None, Some(s)) if s >= 1 => s,
                    (None, Some(_)) => return Err("data.samples must be at least 1".into()),
                    _ => {
                        return Err(
                            "data: with a target, give exactly one of grid or samples".into()
                        )
                    }
                };
                if count > MAX_POINTS {
                    return Err(format!(
                        "data: {count} points is too many (at most {MAX_POINTS})"
                    ));
                }
                Ok(())
            }
        }
    }

    /// The network shape.
    pub fn architecture(&self) -> Architecture {
        Architecture {
            n: self.network.n,
            kind: self.network.kind.into(),
            activation: self.network.activation.into(),
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
            FitTarget::Integrand => Fit::Integrand,
            FitTarget::Antiderivative => Fit::Antiderivative,
        }
    }
}

/// What a `fit` run produced.
#[derive(Clone, Debug)]
pub struct FitOutcome {
    /// The trained model (as saved).
    pub model: TrainedModel,
    /// The solver's report.
    pub report: Report,
    /// Mean squared error of the fitted quantity (f or F) on the training data.
    pub mse: f64,
    /// The integral of f over the domain: the stored model's (parameters and constants as
    /// written), corner sum in double-double ([`TrainedModel::exact_integral`]), rounded to
    /// f64.
    pub integral: f64,
    /// The same integral to about 32 digits: its difference from eps is below f64's spacing.
    pub exact_integral: DoubleDouble,
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
pub fn mse(eval: &Evaluator, data: &Data, fit: Fit) -> Result<f64, TrainError> {
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

/// The loss `config` describes (its data loaded, constraint and weight decay set) and the
/// initial parameters from its seed: what [`Job::run`] minimises with the configured solver, for
/// a caller that runs the solver itself (e.g. to time it).
///
/// Errors: `Data` (bad or missing data), `Core` (a loss that cannot be evaluated at the start).
///
/// ```no_run
/// use finn_train::config::{Job, Spec};
/// let job = Job::from_toml_file("configs/figure1-eps2.toml")?;
/// let Spec::Fit(config) = &job.spec else { return Ok(()) };
/// let (objective, init) = finn_train::fit::problem(&job, config)?;
/// let report = finn_train::solve::fit_least_squares(objective, init, &config.solver.settings(), |_| {})?;
/// println!("MSE {:.3e} after {} iterations", report.loss, report.iterations);
/// # Ok::<(), finn_train::TrainError>(())
/// ```
pub fn problem(job: &Job, config: &FitConfig) -> Result<(Objective, Vec<f64>), TrainError> {
    let c = config;
    let arch = c.architecture();
    let data = data::load(job, c)?;
    let mut objective = Objective::new(arch.clone(), data, c.fit())?;
    if let Some(con) = c.constraint() {
        objective = objective.with_constraint(&c.domain.lower, &c.domain.upper, con)?;
    }
    let objective = objective.with_weight_decay(c.loss.weight_decay);
    let init = crate::solve::initial_parameters(&arch, c.seed);
    // Fail early with the real error rather than argmin's wrapped one.
    objective.loss(&init)?;
    Ok((objective, init))
}

/// Trains the model `config` describes and writes `<stem>.postcard`, `.json`, `-loss.png`
/// and `-report.md` (see [`Job::run`]).
pub(crate) fn run(
    job: &Job,
    config: &FitConfig,
    observer: &mut dyn Observer,
) -> Result<Artefacts, TrainError> {
    let start = Instant::now();
    let c = config;
    let arch = c.architecture();
    let fit = c.fit();
    let constraint = c.constraint();
    let (lower, upper) = (c.domain.lower.clone(), c.domain.upper.clone());
    let (objective, init) = problem(job, c)?;
    let data = objective.data.clone();
    let constants_of = objective.clone();
    let report = crate::observer::solve_least_squares(
        objective,
        init,
        &c.solver.settings(),
        "fit",
        observer,
    )?;
    let constants = constants_of.constants(&report.params)?;
    let model = TrainedModel {
        architecture: arch,
        domain_lower: lower,
        domain_upper: upper,
        constraint,
        constants,
        params: report.params.clone(),
    };
    let eval = Evaluator::new(&model)?;
    let mse = mse(&eval, &data, fit)?;
    let exact_integral = model
        .exact_integral()
        .map_err(|e| TrainError::Data(format!("the integral of the trained model: {e}")))?;
    let integral = exact_integral.to_f64();
    let stem = job.prepare_stem()?;
    let (blob, json) = model
        .save_as(&stem, c.blob_scalar.into())
        .map_err(|e| TrainError::Data(format!("writing {}: {e}", stem.display())))?;
    let loss_png = crate::plot::loss_history(&stem, "training loss", &report)?;
    let target_integral = match &c.data.target {
        Some(t) => {
            Some(Target::by_name(t, c.network.n)?.box_integral(&c.domain.lower, &c.domain.upper))
        }
        None => None,
    };
    let mut outcome = FitOutcome {
        model,
        report,
        mse,
        integral,
        exact_integral,
        target_integral,
        data,
        seconds: 0.0,
        stem: stem.clone(),
    };
    outcome.seconds = start.elapsed().as_secs_f64();
    let md_path = with_suffix(&stem, "-report.md");
    std::fs::write(&md_path, report::markdown(job, c, &outcome))?;
    let check = constraint_check(outcome.model.constraint, outcome.exact_integral);
    let summary = format!(
        "final loss {:.6e}, MSE {:.6e}, integral {:.17e} ({}), {} iterations ({}), {:.2} s",
        outcome.report.loss,
        outcome.mse,
        outcome.integral,
        check,
        outcome.report.iterations,
        outcome.report.termination,
        outcome.seconds
    );
    if check.contains("VIOLATED") {
        return Err(TrainError::Unmet(format!(
            "{}: {check} (report: {})",
            job.shown_path().display(),
            md_path.display()
        )));
    }
    Ok(Artefacts {
        stem,
        files: vec![blob, json, loss_png, md_path],
        summary,
        outcome: Outcome::Fit(Box::new(outcome)),
        unproven: Vec::new(),
    })
}

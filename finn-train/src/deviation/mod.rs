//! The `deviation` application (paper §4.1): a learned correction of a base model whose total
//! deviation is guaranteed. phi(x) = psi(x) + f(x) d(x), psi a polynomial fitted first (or
//! given), f a positive FINN whose integral over the domain is at most eps by construction,
//! d a direction with |d| <= 1: so J(psi, phi) = integral of |phi - psi| <= eps whatever
//! training does (finn-core's [`finn_core::deviation`]; math.md §5 for the paper's sqrt(eps)
//! erratum).
//!
//! Config (`application = "deviation"`, every key in `docs/config.md`) -> [`DeviationConfig`]
//! -> points and targets (CSV: n input columns, then m output columns) -> seeded
//! train/validation/test split -> base by least squares ([`base`]) -> phi by MSE with exact
//! gradients ([`loss::DeviationLoss`]) and early stopping on the validation MSE -> the same
//! model without the budget and a weight-decay-tuned one, same split, same budget of
//! iterations -> [`DeviationModel`] (`<stem>.deviation.json`, and the blob `<stem>.postcard`,
//! [`DeviationModel::to_blob`]) and the report.
//!
//! ```no_run
//! use finn_train::config::{Job, Outcome};
//! use finn_train::observer::Silent;
//! let artefacts = Job::from_toml_file("configs/deviation-demo.toml")?.run(&mut Silent)?;
//! if let Outcome::Deviation(d) = &artefacts.outcome {
//!     println!("test MSE {:?}, J <= {}", d.phi.test, d.deviation_bound);
//! }
//! # Ok::<(), finn_train::TrainError>(())
//! ```

pub mod base;
pub mod ceiling;
pub mod figure2;
pub mod loss;
pub mod model;
mod report;
pub mod study;

use crate::config::{
    check_output, check_widths, with_suffix, Artefacts, Job, Outcome, SolverConfig,
};
use crate::density::train::Standardise;
use crate::model::Architecture;
use crate::observer::Observer;
use crate::stopping::{EarlyStopping, Training};
use crate::TrainError;
use base::PolynomialBase;
use finn_core::{Activation, Kind};
use loss::DeviationLoss;
pub use model::DeviationModel;
use ndarray::{s, Array2};
use serde::Deserialize;
use std::path::PathBuf;

/// A `deviation` config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviationConfig {
    /// Always `"deviation"` here.
    pub application: String,
    /// Seed of the split and the initial parameters.
    #[serde(default)]
    pub seed: u64,
    /// Output stem (relative to the config file's directory).
    pub output: PathBuf,
    /// Scalar type of the blob's network parameters.
    #[serde(default)]
    pub blob_scalar: crate::config::ScalarConfig,
    /// `[data]`.
    pub data: DataConfig,
    /// `[domain]`.
    pub domain: DomainConfig,
    /// `[base]`.
    #[serde(default)]
    pub base: BaseConfig,
    /// `[deviation]`.
    pub deviation: BudgetConfig,
    /// `[network]`.
    pub network: NetworkConfig,
    /// `[loss]`.
    #[serde(default)]
    pub loss: crate::density::LossConfig,
    /// `[early_stopping]`.
    #[serde(default)]
    pub early_stopping: crate::density::EarlyStoppingConfig,
    /// `[baselines]`.
    #[serde(default)]
    pub baselines: BaselinesConfig,
    /// `[solver]`.
    #[serde(default)]
    pub solver: SolverConfig,
}

/// `[data]`: a CSV of rows x_1..x_n, y_1..y_m.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The CSV file.
    pub csv: PathBuf,
    /// n, the number of input columns (the rest are outputs).
    pub inputs: usize,
    /// Fraction held out for validation (early stopping, weight-decay selection).
    #[serde(default = "default_fraction")]
    pub validation: f64,
    /// Fraction held out for the test.
    #[serde(default = "default_fraction")]
    pub test: f64,
}

fn default_fraction() -> f64 {
    0.2
}

/// `[domain]`: the box the deviation budget is spent over (the correction is 0 outside).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// Lower corner.
    pub lower: Vec<f64>,
    /// Upper corner.
    pub upper: Vec<f64>,
}

/// `[base]`: a polynomial fitted by least squares (`degree`) or given (`coefficients`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseConfig {
    /// Total degree (default 1, affine).
    pub degree: Option<usize>,
    /// Fixed coefficients in finn-core's monomial order, output by output (not fitted).
    pub coefficients: Option<Vec<f64>>,
}

/// `[deviation]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// eps: the integral of |phi - psi| over the domain is at most this.
    pub eps: f64,
    /// The direction's softness (d = nu / sqrt(|nu|^2 + softness^2)).
    #[serde(default = "default_softness")]
    pub softness: f64,
    /// A pointwise ceiling delta: |phi - psi| <= delta everywhere in the domain, proven
    /// ([`ceiling`]).
    pub ceiling: Option<f64>,
    /// Weight of the training penalty that keeps the magnitude under the ceiling at the
    /// training points.
    #[serde(default = "default_ceiling_weight")]
    pub ceiling_weight: f64,
}

fn default_ceiling_weight() -> f64 {
    100.0
}

fn default_softness() -> f64 {
    0.05
}

/// `[network]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Hidden widths of the magnitude (positive, sigma).
    pub widths: Vec<usize>,
    /// Hidden widths of each direction network (signed, tanh; one per output).
    #[serde(default = "default_direction_widths")]
    pub direction_widths: Vec<usize>,
}

fn default_direction_widths() -> Vec<usize> {
    vec![8]
}

/// `[baselines]`: the same model without the budget, plain and with weight decay tuned on
/// the validation part.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselinesConfig {
    /// Train the unconstrained residual models.
    #[serde(default = "default_true")]
    pub unconstrained: bool,
    /// Weight decays tried for the tuned baseline (empty: none).
    #[serde(default = "default_decays")]
    pub weight_decays: Vec<f64>,
}

fn default_true() -> bool {
    true
}
fn default_decays() -> Vec<f64> {
    vec![1e-5, 1e-4, 1e-3, 1e-2]
}

impl Default for BaselinesConfig {
    fn default() -> Self {
        BaselinesConfig {
            unconstrained: true,
            weight_decays: default_decays(),
        }
    }
}

impl DeviationConfig {
    /// Everything that can be checked without reading data; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        let n = self.data.inputs;
        let max = finn_core::activation::MAX_DIM;
        if !(1..=max).contains(&n) {
            return Err(format!("data.inputs must be 1..={max}, not {n}"));
        }
        let d = &self.domain;
        if d.lower.len() != n || d.upper.len() != n {
            return Err(format!(
                "domain.lower and domain.upper need {n} entries each (data.inputs), have {} and {}",
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
        let e = &self.deviation;
        if !(e.eps.is_finite() && e.eps > 0.0) {
            return Err(format!("deviation.eps = {}: must be finite and > 0", e.eps));
        }
        if !(e.softness.is_finite() && e.softness > 0.0) {
            return Err(format!(
                "deviation.softness = {}: must be finite and > 0",
                e.softness
            ));
        }
        if let Some(delta) = e.ceiling {
            if !(delta.is_finite() && delta > 0.0) {
                return Err(format!(
                    "deviation.ceiling = {delta}: must be finite and > 0"
                ));
            }
            let (w, l) = (ceiling::WIDTH, ceiling::LAYERS);
            if self.network.widths.len() > l || self.network.widths.iter().any(|v| *v > w) {
                return Err(format!(
                    "deviation.ceiling: the certificate handles network.widths of at most {l} \
                     layers of at most {w} units"
                ));
            }
        }
        if !(e.ceiling_weight.is_finite() && e.ceiling_weight >= 0.0) {
            return Err("deviation.ceiling_weight must be finite and >= 0".into());
        }
        if self.base.degree.is_some() && self.base.coefficients.is_some() {
            return Err("base: give degree (fitted) or coefficients (fixed), not both".into());
        }
        if self.base.degree.is_some_and(|d| d > 6) {
            return Err("base.degree must be 0..=6".into());
        }
        check_widths(n, &self.network.widths)?;
        check_widths(n, &self.network.direction_widths)
            .map_err(|e| format!("network.direction_widths: {e}"))?;
        let v = &self.data;
        if !(v.validation > 0.0 && v.validation < 1.0) {
            return Err(format!(
                "data.validation = {}: must be in (0, 1) (early stopping needs it)",
                v.validation
            ));
        }
        if !(v.test >= 0.0 && v.test < 1.0 && v.validation + v.test < 1.0) {
            return Err(format!(
                "data.test = {}: must be in [0, 1) with data.validation + data.test < 1",
                v.test
            ));
        }
        if !(self.loss.weight_decay.is_finite() && self.loss.weight_decay >= 0.0) {
            return Err("loss.weight_decay must be finite and >= 0".into());
        }
        if self
            .baselines
            .weight_decays
            .iter()
            .any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err("baselines.weight_decays must be finite and >= 0".into());
        }
        if self.early_stopping.patience < 1 || self.early_stopping.every < 1 {
            return Err("early_stopping.patience and .every must be at least 1".into());
        }
        self.solver.check("deviation")?;
        check_output(&self.output)
    }

    fn magnitude(&self) -> Architecture {
        Architecture {
            n: self.data.inputs,
            kind: Kind::Positive,
            activation: Activation::Sigma,
            widths: self.network.widths.clone(),
        }
    }

    fn direction(&self) -> Architecture {
        Architecture {
            n: self.data.inputs,
            kind: Kind::Signed,
            activation: Activation::Tanh,
            widths: self.network.direction_widths.clone(),
        }
    }
}

/// Mean squared errors (summed over outputs) of one method.
#[derive(Clone, Debug)]
pub struct Errors {
    /// The method, as the report names it.
    pub method: String,
    /// What was selected (iterations, weight decay).
    pub detail: String,
    /// On the training points.
    pub train: f64,
    /// On the validation points.
    pub validation: f64,
    /// On the test points (`None` without a test part).
    pub test: Option<f64>,
}

/// What a `deviation` run produced.
#[derive(Clone, Debug)]
pub struct DeviationOutcome {
    /// The trained model, as saved.
    pub model: DeviationModel,
    /// The base alone.
    pub base: Errors,
    /// phi with the budget.
    pub phi: Errors,
    /// A plain residual network of about the same size, no budget.
    pub unconstrained: Option<Errors>,
    /// The same model without the budget (ablation).
    pub ablation: Option<Errors>,
    /// Without the budget, weight decay tuned on validation.
    pub tuned: Option<Errors>,
    /// The integral of the magnitude (double-double corner sum times the scale): J <= this.
    pub deviation_bound: f64,
    /// J by quadrature (n <= 2).
    pub total_deviation: Option<f64>,
    /// The unconstrained model's J by quadrature (how much budget it would have used).
    pub unconstrained_deviation: Option<f64>,
    /// The pointwise ceiling's certificate, if one was asked for.
    pub ceiling: Option<ceiling::Ceiling>,
    /// The solve.
    pub training: Training,
    /// Points per part (train, validation, test).
    pub sizes: (usize, usize, usize),
}

/// The parts of a data set, in the data's coordinates and the learning ones.
pub struct Prepared {
    /// Training inputs and targets.
    pub train: (Array2<f64>, Array2<f64>),
    /// Validation.
    pub validation: (Array2<f64>, Array2<f64>),
    /// Test.
    pub test: (Array2<f64>, Array2<f64>),
    /// The base.
    pub base: PolynomialBase,
    /// x -> u.
    pub standardise: Standardise,
}

impl Prepared {
    /// u and y - psi(x) of one part.
    pub fn learning(&self, part: &(Array2<f64>, Array2<f64>)) -> (Array2<f64>, Array2<f64>) {
        (
            self.standardise.apply_rows(&part.0),
            &part.1 - &self.base.values(&part.0),
        )
    }
}

/// Splits `rows` (x then y columns), fits or sets the base, and maps the domain to the
/// learning box.
///
/// Errors: `Data` naming the row of a point outside the domain, too few points, a base that
/// cannot be fitted.
pub fn prepare(
    rows: &Array2<f64>,
    inputs: usize,
    lower: &[f64],
    upper: &[f64],
    base: &BaseConfig,
    (validation, test): (f64, f64),
    seed: u64,
) -> Result<Prepared, TrainError> {
    if rows.ncols() <= inputs {
        return Err(TrainError::Data(format!(
            "the CSV has {} columns: need {inputs} inputs (data.inputs) and at least one output",
            rows.ncols()
        )));
    }
    for (i, row) in rows.rows().into_iter().enumerate() {
        for (axis, v) in row.iter().take(inputs).enumerate() {
            if *v < lower[axis] || *v > upper[axis] {
                return Err(TrainError::Data(format!(
                    "data row {}: x{} = {v} is outside the domain [{}, {}]",
                    i + 1,
                    axis + 1,
                    lower[axis],
                    upper[axis]
                )));
            }
        }
    }
    let parts = crate::density::data::split(rows, validation, test, seed)?;
    let cut = |p: &Array2<f64>| {
        (
            p.slice(s![.., ..inputs]).to_owned(),
            p.slice(s![.., inputs..]).to_owned(),
        )
    };
    let train = cut(&parts.train);
    let outputs = rows.ncols() - inputs;
    let base = match &base.coefficients {
        Some(c) => {
            let count = |d: usize| outputs * finn_core::deviation::monomial_count(inputs, d);
            let Some(degree) = (0..=6).find(|d| count(*d) == c.len()) else {
                let counts: Vec<usize> = (0..=6).map(count).collect();
                return Err(TrainError::Config(format!(
                    "base.coefficients has {} values: a polynomial base from {inputs} inputs \
                     to {outputs} outputs of degree 0, 1, 2, ... 6 has {counts:?}",
                    c.len()
                )));
            };
            PolynomialBase::new(inputs, outputs, degree, c.clone())?
        }
        None => PolynomialBase::fit(&train.0, &train.1, base.degree.unwrap_or(1))?,
    };
    Ok(Prepared {
        validation: cut(&parts.validation),
        test: cut(&parts.test),
        train,
        base,
        standardise: Standardise::new(lower, upper),
    })
}

/// Trains phi on prepared data: with the budget `eps` (`None`: without) and `weight_decay`.
/// Returns the loss (for scores and the model) and the training.
pub fn train(
    c: &DeviationConfig,
    data: &Prepared,
    eps: Option<f64>,
    weight_decay: f64,
    label: &str,
    observer: &mut dyn Observer,
) -> Result<(DeviationLoss, Training), TrainError> {
    let n = c.data.inputs;
    let (u, r) = data.learning(&data.train);
    let (vu, vr) = data.learning(&data.validation);
    let half = crate::density::train::HALF_SIDE;
    let volume_ratio: f64 = data.standardise.scale.iter().product();
    let mut loss = DeviationLoss::new(
        c.magnitude(),
        c.direction(),
        data.base.outputs,
        u.clone(),
        r,
        vec![-half; n],
        vec![half; n],
        volume_ratio,
        eps,
        c.deviation.softness,
    )?;
    loss.weight_decay = weight_decay;
    if eps.is_some() {
        loss.ceiling = c.deviation.ceiling.map(|d| (d, c.deviation.ceiling_weight));
    }
    let mut init = crate::density::train::initial_parameters(&loss.magnitude, &u, c.seed);
    for k in 0..data.base.outputs {
        init.extend(crate::solve::initial_parameters(
            &loss.direction,
            c.seed.wrapping_add(k as u64 + 1),
        ));
    }
    if eps.is_none() {
        // Start where the budgeted model starts (the same function): its magnitude's output
        // weights scaled by min(1, eps / I). From the raw start, an unbounded magnitude is
        // often far larger than the data's residuals, which handicaps the baseline.
        let (mp, _) = init.split_at(loss.magnitude.parameter_count());
        let net = crate::grad::Net::new(&loss.magnitude, mp)?;
        let i = net.corner_sum(
            loss.lower_upper().0,
            loss.lower_upper().1,
            &mut crate::grad::Trace::default(),
            None,
        )?;
        if i > c.deviation.eps {
            let shrink = c.deviation.eps / i;
            let out = *loss.magnitude.widths.last().unwrap_or(&0);
            let end = loss.magnitude.parameter_count();
            init[end - out..end].iter_mut().for_each(|w| *w *= shrink);
        }
    }
    let stopping = EarlyStopping {
        patience: c.early_stopping.patience,
        every: c.early_stopping.every,
    };
    let score = |p: &[f64]| loss.mse(p, &vu, &vr);
    let training = crate::stopping::fit(
        &loss,
        &score,
        init,
        &c.solver.settings(),
        stopping,
        label,
        observer,
    )?;
    Ok((loss, training))
}

/// A plain residual model: phi(x) = psi(x) + r(x), r one signed tanh network per output
/// with about as many parameters as the bounded-deviation model (its hidden widths scaled),
/// trained by the same solver with the same early stopping. The baseline a user would
/// otherwise write.
pub struct Residual {
    /// Each output's network.
    pub architecture: Architecture,
    /// Parameters per output (learning coordinates).
    pub params: Vec<Vec<f64>>,
    /// Iterations and why training stopped, per output.
    pub detail: String,
}

impl Residual {
    /// psi(x) + r(u(x)).
    pub fn value(&self, data: &Prepared, x: &[f64]) -> Result<Vec<f64>, TrainError> {
        let u = data.standardise.apply(x);
        let mut tr = crate::grad::Trace::default();
        let mut y = data.base.value(x);
        for (v, p) in y.iter_mut().zip(&self.params) {
            *v += crate::grad::Net::new(&self.architecture, p)?
                .antiderivative_forward(&u, &mut tr)?;
        }
        Ok(y)
    }
}

/// Trains [`Residual`] with ridge `weight_decay`.
pub fn train_residual(
    c: &DeviationConfig,
    data: &Prepared,
    weight_decay: f64,
    observer: &mut dyn Observer,
) -> Result<Residual, TrainError> {
    use crate::fit::loss::{Data, Fit, Objective};
    let m = data.base.outputs;
    let target = c.magnitude().parameter_count() + m * c.direction().parameter_count();
    // The smallest multiple of the magnitude's widths with at least as many parameters per
    // output as the bounded-deviation model has per output.
    let mut architecture = Architecture {
        kind: Kind::Signed,
        activation: Activation::Tanh,
        ..c.magnitude()
    };
    let base_widths = architecture.widths.clone();
    for k in 1..=16 {
        architecture.widths = base_widths.iter().map(|w| w * k).collect();
        if architecture.parameter_count() * m >= target {
            break;
        }
    }
    let (u, r) = data.learning(&data.train);
    let (vu, vr) = data.learning(&data.validation);
    let stopping = EarlyStopping {
        patience: c.early_stopping.patience,
        every: c.early_stopping.every,
    };
    let mut params = Vec::new();
    let mut details = Vec::new();
    for k in 0..m {
        let train = Objective::new(
            architecture.clone(),
            Data::new(u.clone(), r.column(k).to_owned())?,
            Fit::Antiderivative,
        )?
        .with_weight_decay(weight_decay);
        let validation = Objective::new(
            architecture.clone(),
            Data::new(vu.clone(), vr.column(k).to_owned())?,
            Fit::Antiderivative,
        )?;
        let init =
            crate::solve::initial_parameters(&architecture, c.seed.wrapping_add(k as u64 + 101));
        let t = crate::stopping::fit(
            &train,
            &|p: &[f64]| validation.loss(p),
            init,
            &c.solver.settings(),
            stopping,
            "residual",
            observer,
        )?;
        details.push(format!(
            "{} iterations, best at {}",
            t.report.iterations, t.best_iteration
        ));
        params.push(t.report.params);
    }
    Ok(Residual {
        detail: format!(
            "widths {:?} ({} parameters); {}",
            architecture.widths,
            m * architecture.parameter_count(),
            details.join("; ")
        ),
        architecture,
        params,
    })
}

/// The model in the data's coordinates from a trained loss.
pub fn to_model(
    c: &DeviationConfig,
    data: &Prepared,
    loss: &DeviationLoss,
    params: &[f64],
) -> Result<DeviationModel, TrainError> {
    let (mp, rest) = params.split_at(loss.magnitude.parameter_count());
    let fold = |arch: &Architecture, p: &[f64]| data.standardise.fold(arch, p);
    let magnitude_params = fold(&loss.magnitude, mp);
    let direction_params: Vec<Vec<f64>> = rest
        .chunks(loss.direction.parameter_count())
        .map(|p| fold(&loss.direction, p))
        .collect();
    let (lower, upper) = (c.domain.lower.clone(), c.domain.upper.clone());
    let eps = loss.eps.unwrap_or(f64::INFINITY);
    let scale = if eps.is_finite() {
        let i =
            crate::model::wide_base_integral(&loss.magnitude, &magnitude_params, &lower, &upper)?;
        let at_most =
            finn_core::Constraint::new(finn_core::Bound::AtMost, finn_core::Method::Scale, eps);
        at_most.resolve_from(Kind::Positive, i)?.scale
    } else {
        1.0
    };
    Ok(DeviationModel {
        lower,
        upper,
        base: data.base.clone(),
        eps,
        magnitude: loss.magnitude.clone(),
        magnitude_params,
        scale,
        direction: loss.direction.clone(),
        direction_params,
        softness: loss.softness,
    })
}

/// Mean squared error (summed over outputs) of `predict` over a part.
pub fn mse(
    part: &(Array2<f64>, Array2<f64>),
    predict: impl Fn(&[f64]) -> Result<Vec<f64>, TrainError>,
) -> Result<f64, TrainError> {
    let mut sum = 0.0;
    for (x, y) in part.0.rows().into_iter().zip(part.1.rows()) {
        let p = predict(&x.to_vec())?;
        sum += p.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    }
    Ok(sum / part.0.nrows().max(1) as f64)
}

fn errors(
    method: &str,
    detail: String,
    data: &Prepared,
    predict: impl Fn(&[f64]) -> Result<Vec<f64>, TrainError>,
) -> Result<Errors, TrainError> {
    Ok(Errors {
        method: method.into(),
        detail,
        train: mse(&data.train, &predict)?,
        validation: mse(&data.validation, &predict)?,
        test: if data.test.0.nrows() > 0 {
            Some(mse(&data.test, &predict)?)
        } else {
            None
        },
    })
}

/// Runs a `deviation` job: trains, compares, writes the model JSON and the report.
pub fn run(
    job: &Job,
    c: &DeviationConfig,
    observer: &mut dyn Observer,
) -> Result<Artefacts, TrainError> {
    let rows = crate::density::data::read_points(&job.resolve(&c.data.csv))?;
    let data = prepare(
        &rows,
        c.data.inputs,
        &c.domain.lower,
        &c.domain.upper,
        &c.base,
        (c.data.validation, c.data.test),
        c.seed,
    )?;
    let (loss, training) = train(
        c,
        &data,
        Some(c.deviation.eps),
        c.loss.weight_decay,
        "deviation",
        observer,
    )?;
    let mut model = to_model(c, &data, &loss, &training.report.params)?;
    let ceiling = match c.deviation.ceiling {
        // The branch and bound holds fixed-capacity enclosures on the stack, more than a
        // test thread's 2 MiB in a debug build: it runs on a thread of its own with room.
        Some(delta) => Some(std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn_scoped(scope, || {
                    ceiling::enforce(
                        &mut model,
                        delta,
                        &crate::supremum::Settings {
                            tolerance: 1e-4,
                            ..Default::default()
                        },
                    )
                })
                .map_err(TrainError::Io)?
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })?),
        None => None,
    };
    let base = errors(
        "base psi alone",
        format!("degree {}", data.base.degree),
        &data,
        |x| Ok(data.base.value(x)),
    )?;
    let phi = errors(
        "FINN phi (budget eps)",
        format!(
            "{} iterations, best at {}",
            training.report.iterations, training.best_iteration
        ),
        &data,
        |x| model.value(x),
    )?;
    let deviation_bound = model.deviation_bound()?;
    let quadrature =
        |m: &DeviationModel| (m.inputs() <= 2).then(|| m.total_deviation(16)).transpose();
    let total_deviation = quadrature(&model)?;
    let (mut unconstrained, mut tuned, mut unconstrained_deviation) = (None, None, None);
    let mut ablation = None;
    if c.baselines.unconstrained {
        // The same model without the budget (an ablation: how much J it would spend).
        let (l, t) = train(c, &data, None, c.loss.weight_decay, "no budget", observer)?;
        let m = to_model(c, &data, &l, &t.report.params)?;
        unconstrained_deviation = quadrature(&m)?;
        ablation = Some(errors(
            "same model without the budget",
            format!(
                "{} iterations, best at {}; {}",
                t.report.iterations, t.best_iteration, t.stopped
            ),
            &data,
            |x| m.value(x),
        )?);
        let r = train_residual(c, &data, c.loss.weight_decay, observer)?;
        unconstrained = Some(errors(
            "residual network psi + r (no budget)",
            r.detail.clone(),
            &data,
            |x| r.value(&data, x),
        )?);
        let mut best: Option<(f64, Errors)> = None;
        for &wd in &c.baselines.weight_decays {
            let r = train_residual(c, &data, wd, observer)?;
            let e = errors(
                "residual network + weight decay (tuned)",
                format!(
                    "weight decay {wd:e} of {:?}; {}",
                    c.baselines.weight_decays, r.detail
                ),
                &data,
                |x| r.value(&data, x),
            )?;
            if best.as_ref().is_none_or(|(v, _)| e.validation < *v) {
                best = Some((e.validation, e));
            }
        }
        tuned = best.map(|(_, e)| e);
    }
    let stem = job.prepare_stem()?;
    let json = with_suffix(&stem, ".deviation.json");
    std::fs::write(&json, model.to_json())?;
    let blob_path = write_blob(&stem, &model, c.blob_scalar.into())?;
    let outcome = DeviationOutcome {
        model,
        base,
        phi,
        unconstrained,
        ablation,
        tuned,
        deviation_bound,
        total_deviation,
        unconstrained_deviation,
        ceiling,
        training,
        sizes: (
            data.train.0.nrows(),
            data.validation.0.nrows(),
            data.test.0.nrows(),
        ),
    };
    let mut files = vec![
        json,
        blob_path,
        crate::plot::loss_history(&stem, "loss (MSE + ridge)", &outcome.training.report)?,
    ];
    files.extend(report::write(job, c, &stem, &data, &outcome)?);
    let mut unproven = Vec::new();
    // The budget is a construction; its recomputation must agree (a defect otherwise).
    if deviation_bound > c.deviation.eps * (1.0 + 1e-12) {
        unproven.push(format!(
            "the integral of the magnitude is {deviation_bound}, above eps = {}",
            c.deviation.eps
        ));
    }
    if let Some(k) = &outcome.ceiling {
        if !k.proven {
            unproven.push(format!(
                "the ceiling |phi - psi| <= {} is not proven (largest magnitude found {:.6e} at \
                 {:?}, proven bound {:.6e})",
                k.delta, k.found.0, k.found.1, k.upper
            ));
        }
    }
    let summary = format!(
        "deviation: test MSE {} (base {}), J <= {:.6e} (eps {})",
        fmt_opt(outcome.phi.test),
        fmt_opt(outcome.base.test),
        deviation_bound,
        c.deviation.eps
    );
    Ok(Artefacts {
        stem,
        files,
        summary,
        outcome: Outcome::Deviation(Box::new(outcome)),
        unproven,
    })
}

/// Writes `<stem>.postcard`, the model's deviation blob; returns its path. (A function of its
/// own, so that its temporaries are not in `run`'s frame, which is on the stack while the
/// ceiling's branch and bound runs.)
#[inline(never)]
fn write_blob(
    stem: &std::path::Path,
    model: &DeviationModel,
    scalar: finn_core::format::Scalar,
) -> Result<PathBuf, TrainError> {
    let path = with_suffix(stem, ".postcard");
    std::fs::write(&path, model.to_blob(scalar)?)?;
    Ok(path)
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4e}"))
}

//! Fitting with argmin: L-BFGS (or BFGS) with a More-Thuente line search over an
//! [`Objective`], or Levenberg-Marquardt ([`LevenbergMarquardt`], an argmin solver of this
//! crate) over a loss that is a sum of squares ([`LeastSquares`]); stopping rules, iteration
//! limits and the termination reason are argmin's.

use crate::fit::loss::Objective;
use crate::model::Architecture;
use crate::TrainError;
use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{CostFunction, Executor, Gradient, IterState, State, KV};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::{BFGS, LBFGS};
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod levenberg_marquardt;
pub use levenberg_marquardt::{LeastSquares, LevenbergMarquardt, LmState};

/// Which quasi-Newton method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Limited-memory BFGS with `memory` correction pairs.
    Lbfgs {
        /// Number of stored correction pairs.
        memory: usize,
    },
    /// Full BFGS (dense inverse Hessian; for small parameter counts).
    Bfgs,
    /// Levenberg-Marquardt: damped Gauss-Newton on the residuals of a least-squares loss
    /// ([`LeastSquares`]; [`fit_least_squares`]). Other problems refuse it.
    LevenbergMarquardt,
}

impl Method {
    /// The name `solver.method` gives this method in a config.
    ///
    /// ```
    /// assert_eq!(finn_train::solve::Method::LevenbergMarquardt.config_name(), "levenberg-marquardt");
    /// ```
    pub fn config_name(&self) -> &'static str {
        match self {
            Method::Lbfgs { .. } => "lbfgs",
            Method::Bfgs => "bfgs",
            Method::LevenbergMarquardt => "levenberg-marquardt",
        }
    }
}

/// Solver settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The method.
    pub method: Method,
    /// Iteration limit.
    pub max_iters: u64,
    /// Stop when the gradient norm falls below this.
    pub tol_grad: f64,
    /// Stop when the cost changes by less than this.
    pub tol_cost: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            method: Method::Lbfgs { memory: 10 },
            max_iters: 500,
            tol_grad: 1e-8,
            tol_cost: 1e-14,
        }
    }
}

/// One line of the optimisation history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// Iteration number.
    pub iteration: u64,
    /// Best loss so far.
    pub loss: f64,
    /// Euclidean norm of the current gradient.
    pub grad_norm: f64,
}

/// The outcome of a fit.
#[derive(Clone, Debug)]
pub struct Report {
    /// Best parameters found.
    pub params: Vec<f64>,
    /// Loss at `params`.
    pub loss: f64,
    /// Iterations run.
    pub iterations: u64,
    /// Why the solver stopped (argmin's termination status).
    pub termination: String,
    /// Loss and gradient norm per iteration.
    pub history: Vec<Step>,
    /// Wall time of the solve.
    pub seconds: f64,
}

/// Forwards each iteration to a callback and records the history.
struct Recorder<F> {
    history: Arc<Mutex<Vec<Step>>>,
    callback: F,
}

impl<F, J, H, R> Observe<IterState<Vec<f64>, Vec<f64>, J, H, R, f64>> for Recorder<F>
where
    F: FnMut(&Step),
{
    fn observe_iter(
        &mut self,
        state: &IterState<Vec<f64>, Vec<f64>, J, H, R, f64>,
        _kv: &KV,
    ) -> Result<(), argmin::core::Error> {
        let grad_norm = state
            .get_gradient()
            .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
            .unwrap_or(f64::NAN);
        let step = Step {
            iteration: state.get_iter(),
            loss: state.get_best_cost(),
            grad_norm,
        };
        (self.callback)(&step);
        if let Ok(mut h) = self.history.lock() {
            h.push(step);
        }
        Ok(())
    }
}

/// Minimises `objective` from `init`, calling `progress` after every iteration.
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::{fit::loss::{Data, Fit, Objective}, model::Architecture, solve};
/// use ndarray::{Array1, Array2};
/// // Fit f(x) = 1 on [0, 1] with a one-unit signed network.
/// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![2] };
/// let xs = Array2::from_shape_fn((8, 1), |(i, _)| i as f64 / 7.0);
/// let data = Data::new(xs, Array1::from_elem(8, 1.0)).unwrap();
/// let obj = Objective::new(arch.clone(), data, Fit::Integrand).unwrap();
/// let init = solve::initial_parameters(&arch, 1);
/// let report = solve::fit(obj, init, &solve::Settings::default(), |_| {}).unwrap();
/// assert!(report.loss < 1e-6);
/// ```
pub fn fit(
    objective: Objective,
    init: Vec<f64>,
    settings: &Settings,
    progress: impl FnMut(&Step) + Send + Sync + 'static,
) -> Result<Report, TrainError> {
    if init.len() != objective.architecture.parameter_count() {
        return Err(finn_core::Error::DimensionMismatch {
            expected: objective.architecture.parameter_count(),
            found: init.len(),
        }
        .into());
    }
    // Fail early with the real error rather than argmin's wrapped one.
    objective.loss(&init)?;
    fit_least_squares(objective, init, settings, progress)
}

/// Minimises a least-squares problem with the configured method: Levenberg-Marquardt on its
/// residuals, or a quasi-Newton method on its loss ([`fit_problem`]).
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::{fit::loss::{Data, Fit, Objective}, model::Architecture, solve};
/// use ndarray::{Array1, Array2};
/// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![3] };
/// let xs = Array2::from_shape_fn((20, 1), |(i, _)| i as f64 / 19.0);
/// let ys = xs.column(0).mapv(|x| (3.0 * x).sin());
/// let obj = Objective::new(arch.clone(), Data::new(xs, ys).unwrap(), Fit::Integrand).unwrap();
/// let settings = solve::Settings { method: solve::Method::LevenbergMarquardt, ..Default::default() };
/// let report = solve::fit_least_squares(obj, solve::initial_parameters(&arch, 1), &settings, |_| {}).unwrap();
/// assert!(report.loss < 1e-6, "{}", report.loss);
/// ```
pub fn fit_least_squares<P>(
    problem: P,
    init: Vec<f64>,
    settings: &Settings,
    progress: impl FnMut(&Step) + Send + Sync + 'static,
) -> Result<Report, TrainError>
where
    P: LeastSquares
        + CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>,
{
    if settings.method != Method::LevenbergMarquardt {
        return fit_problem(problem, init, settings, progress);
    }
    let history = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        history: Arc::clone(&history),
        callback: progress,
    };
    let start = Instant::now();
    let solver = LevenbergMarquardt::new(settings.tol_grad, settings.tol_cost);
    let (params, loss, iterations, termination) = execute(problem, solver, recorder, |s| {
        s.param(init).max_iters(settings.max_iters)
    })
    .map_err(|e| TrainError::Solver(e.to_string()))?;
    finish(params, loss, iterations, termination, &history, start)
}

/// Minimises any argmin problem over a flat parameter vector (a loss or a trajectory
/// problem) with the configured quasi-Newton method.
pub fn fit_problem<P>(
    objective: P,
    init: Vec<f64>,
    settings: &Settings,
    progress: impl FnMut(&Step) + Send + Sync + 'static,
) -> Result<Report, TrainError>
where
    P: CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>,
{
    let history = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        history: Arc::clone(&history),
        callback: progress,
    };
    let solver_err = |e: argmin::core::Error| TrainError::Solver(e.to_string());
    let start = Instant::now();
    let line_search = MoreThuenteLineSearch::new();
    // The two methods differ only in the solver and in BFGS's initial inverse Hessian.
    let (params, loss, iterations, termination) = match settings.method {
        Method::Lbfgs { memory } => {
            let solver = LBFGS::new(line_search, memory.max(1))
                .with_tolerance_grad(settings.tol_grad)
                .map_err(solver_err)?
                .with_tolerance_cost(settings.tol_cost)
                .map_err(solver_err)?;
            execute(objective, solver, recorder, |s| {
                s.param(init).max_iters(settings.max_iters)
            })
        }
        Method::Bfgs => {
            let p = init.len();
            let identity: Vec<Vec<f64>> = (0..p)
                .map(|i| (0..p).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
                .collect();
            let solver = BFGS::new(line_search)
                .with_tolerance_grad(settings.tol_grad)
                .map_err(solver_err)?
                .with_tolerance_cost(settings.tol_cost)
                .map_err(solver_err)?;
            execute(objective, solver, recorder, |s| {
                s.param(init)
                    .inv_hessian(identity)
                    .max_iters(settings.max_iters)
            })
        }
        // Needs residuals: fit_least_squares runs it.
        Method::LevenbergMarquardt => return Err(TrainError::Config(
            "solver.method = \"levenberg-marquardt\" needs a least-squares loss (residuals and \
                 their Jacobian); this problem has only a loss and its gradient: use \"bfgs\" or \
                 \"lbfgs\""
                .into(),
        )),
    }
    .map_err(solver_err)?;
    finish(params, loss, iterations, termination, &history, start)
}

/// The report from what [`execute`] returned and the recorded history.
fn finish(
    params: Option<Vec<f64>>,
    loss: f64,
    iterations: u64,
    termination: String,
    history: &Mutex<Vec<Step>>,
    start: Instant,
) -> Result<Report, TrainError> {
    let params = params.ok_or_else(|| TrainError::Solver("no parameters returned".into()))?;
    let history = history.lock().map(|h| h.clone()).unwrap_or_default();
    Ok(Report {
        params,
        loss,
        iterations,
        termination,
        history,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The state a quasi-Newton solver iterates on (`H`: its Hessian-like extra, if any).
type QnState<H> = IterState<Vec<f64>, Vec<f64>, (), H, (), f64>;

/// (best parameters, best cost, iterations, termination status).
type Outcome = (Option<Vec<f64>>, f64, u64, String);

/// Runs `solver` on `problem` with the recorder attached and returns (best parameters, best
/// cost, iterations, termination status).
fn execute<P, S, H, F>(
    problem: P,
    solver: S,
    recorder: Recorder<F>,
    configure: impl FnOnce(QnState<H>) -> QnState<H>,
) -> Result<Outcome, argmin::core::Error>
where
    S: argmin::core::Solver<P, QnState<H>>,
    Recorder<F>: Observe<QnState<H>> + 'static,
    QnState<H>: State<Param = Vec<f64>, Float = f64>,
{
    let res = Executor::new(problem, solver)
        .configure(configure)
        .add_observer(recorder, ObserverMode::Always)
        .run()?;
    let s = res.state();
    Ok((
        s.get_best_param().cloned(),
        s.get_best_cost(),
        s.get_iter(),
        s.get_termination_status().to_string(),
    ))
}

/// Deterministic starting parameters: weights uniform in +-1/sqrt(fan_in), biases in +-0.5,
/// from a SplitMix64 stream seeded by `seed`.
pub fn initial_parameters(arch: &Architecture, seed: u64) -> Vec<f64> {
    let mut rng = crate::random::SplitMix64::new(seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let mut uniform = move || rng.unit() * 2.0 - 1.0;
    let mut p = Vec::with_capacity(arch.parameter_count());
    let mut fan_in = arch.n;
    for &w in &arch.widths {
        let scale = 1.0 / (fan_in as f64).sqrt();
        for _ in 0..w * fan_in {
            p.push(uniform() * scale);
        }
        for _ in 0..w {
            p.push(uniform() * 0.5);
        }
        fan_in = w;
    }
    let scale = 1.0 / (fan_in as f64).sqrt();
    for _ in 0..fan_in {
        p.push(uniform() * scale);
    }
    p
}

//! Fitting with argmin: L-BFGS (or BFGS) with a More-Thuente line search over an
//! [`Objective`], or Levenberg-Marquardt ([`LevenbergMarquardt`], an argmin solver of this
//! crate) over a loss that is a sum of squares ([`LeastSquares`]); stopping rules, iteration
//! limits and the termination reason are argmin's.

use crate::fit::loss::Objective;
use crate::model::Architecture;
use crate::stopping::{Watch, Watched};
use crate::TrainError;
use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{CostFunction, Executor, Gradient, IterState, State, TerminationReason, KV};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod bfgs;
mod levenberg_marquardt;
pub use bfgs::{Bfgs, BfgsState};
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

/// What the solver's observer keeps across restarts: the caller's callback, the history, the
/// best parameters so far and the iteration count of the attempts before this one.
struct Tracker {
    callback: Box<dyn FnMut(&Step) + Send + Sync>,
    history: Vec<Step>,
    best: Option<(f64, Vec<f64>)>,
    /// Iterations of the previous attempts (a restart continues the numbering).
    offset: u64,
    /// Iterations of the current attempt.
    iterations: u64,
    /// The loss at the current attempt's first observation.
    start_cost: Option<f64>,
}

/// The observer attached to each argmin run; it forwards to the shared [`Tracker`].
struct Recorder {
    tracker: Arc<Mutex<Tracker>>,
    /// The run's evaluation counter ([`Lent`]), reset after each iteration.
    evaluations: Arc<AtomicU64>,
}

impl<J, H, R> Observe<IterState<Vec<f64>, Vec<f64>, J, H, R, f64>> for Recorder {
    fn observe_iter(
        &mut self,
        state: &IterState<Vec<f64>, Vec<f64>, J, H, R, f64>,
        _kv: &KV,
    ) -> Result<(), argmin::core::Error> {
        let grad_norm = state
            .get_gradient()
            .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
            .unwrap_or(f64::NAN);
        self.evaluations.store(0, Ordering::Relaxed);
        let Ok(mut t) = self.tracker.lock() else {
            return Ok(());
        };
        let step = Step {
            iteration: t.offset + state.get_iter(),
            loss: state.get_best_cost(),
            grad_norm,
        };
        t.iterations = state.get_iter();
        t.start_cost.get_or_insert(step.loss);
        if t.offset > 0 && state.get_iter() == 0 {
            // A restart's starting point: the previous attempt's best, already recorded.
            return Ok(());
        }
        // Kept here because argmin returns no state when an iteration fails.
        let improved = t.best.as_ref().is_none_or(|(c, _)| step.loss < *c);
        if improved {
            if let Some(p) = state.get_best_param() {
                t.best = Some((step.loss, p.clone()));
            }
        }
        (t.callback)(&step);
        t.history.push(step);
        Ok(())
    }
}

/// A problem lent to one argmin run, so that a restart can run on it again.
///
/// It also caps the evaluations between two iterations: argmin runs its line search without
/// an iteration limit, and More-Thuente can cycle forever on a gradient that disagrees with
/// the cost (rounding near a minimum). Past [`MAX_EVALUATIONS_PER_ITERATION`] the cost is
/// an error, which ends the run like any failed line search.
struct Lent<'a, P> {
    problem: &'a P,
    /// Cost evaluations since the last iteration ended (the recorder resets it).
    evaluations: Arc<AtomicU64>,
}

// Not derived: a derive would ask P: Clone, and only the reference is copied.
impl<P> Clone for Lent<'_, P> {
    fn clone(&self) -> Self {
        Lent {
            problem: self.problem,
            evaluations: Arc::clone(&self.evaluations),
        }
    }
}

/// Cost evaluations allowed within one iteration (More-Thuente usually needs 1 to 10).
pub const MAX_EVALUATIONS_PER_ITERATION: u64 = 100;

impl<P: CostFunction<Param = Vec<f64>, Output = f64>> CostFunction for Lent<'_, P> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        if self.evaluations.fetch_add(1, Ordering::Relaxed) >= MAX_EVALUATIONS_PER_ITERATION {
            return Err(argmin::core::Error::msg(format!(
                "the line search used {MAX_EVALUATIONS_PER_ITERATION} evaluations without \
                 finishing an iteration"
            )));
        }
        self.problem.cost(p)
    }
}

impl<P: Gradient<Param = Vec<f64>, Gradient = Vec<f64>>> Gradient for Lent<'_, P> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        self.problem.gradient(p)
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
    let tracker = tracker(progress);
    let start = Instant::now();
    let solver = LevenbergMarquardt::new(settings.tol_grad, settings.tol_cost);
    let recorder = Recorder {
        tracker: Arc::clone(&tracker),
        evaluations: Arc::default(),
    };
    let o = execute(problem, solver, recorder, |s| {
        s.param(init).max_iters(settings.max_iters)
    })
    .map_err(|e| TrainError::Solver(e.to_string()))?;
    finish(
        o.params,
        o.cost,
        o.iterations,
        o.termination,
        &tracker,
        start,
    )
}

/// How often a quasi-Newton solve restarts after a failed line search, each time from the
/// best parameters so far with a fresh memory.
pub const MAX_RESTARTS: u32 = 20;

/// Minimises any argmin problem over a flat parameter vector (a loss or a trajectory
/// problem) with the configured quasi-Newton method.
///
/// A line search can fail: More-Thuente refuses a direction that is not a descent direction,
/// which a quasi-Newton direction can become near a minimum where the gradient is mostly
/// rounding, or on a kink. argmin then returns an error and no state. Here the solve
/// restarts from the best parameters so far with a fresh quasi-Newton memory (at most
/// [`MAX_RESTARTS`] times, and only after an attempt that lowered the loss); when it cannot
/// go on, it returns the best parameters with the failure in [`Report::termination`]. A
/// failure before anything better than the start was found is an error.
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::{fit::loss::{Data, Fit, Objective}, model::Architecture, solve};
/// use ndarray::{Array1, Array2};
/// let arch = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![2] };
/// let xs = Array2::from_shape_fn((8, 1), |(i, _)| i as f64 / 7.0);
/// let obj = Objective::new(arch.clone(), Data::new(xs, Array1::from_elem(8, 1.0)).unwrap(), Fit::Integrand).unwrap();
/// let settings = solve::Settings { method: solve::Method::Bfgs, ..Default::default() };
/// let report = solve::fit_problem(obj, solve::initial_parameters(&arch, 1), &settings, |_| {}).unwrap();
/// assert!(report.loss < 1e-6);
/// ```
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
    fit_watched(objective, init, settings, progress, None)
}

/// [`fit_problem`] with validation checks inside the solve ([`Watch`]): a watch that runs
/// out of patience ends the solve as a success.
pub(crate) fn fit_watched<P>(
    objective: P,
    init: Vec<f64>,
    settings: &Settings,
    progress: impl FnMut(&Step) + Send + Sync + 'static,
    mut watch: Option<&mut Watch<'_>>,
) -> Result<Report, TrainError>
where
    P: CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>,
{
    let tracker = tracker(progress);
    let start = Instant::now();
    let (mut from, mut done, mut restarts) = (init, 0u64, 0u32);
    // The loss at the very start, once known.
    let mut first_cost: Option<f64> = None;
    loop {
        let attempt = quasi_newton(
            &objective,
            from,
            settings,
            settings.max_iters - done,
            &tracker,
            watch.as_deref_mut(),
        )?;
        let watched_out = watch.as_ref().is_some_and(|w| w.stopped.is_some());
        let (iterations, start_cost, best) = match tracker.lock() {
            Ok(t) => (t.iterations, t.start_cost, t.best.clone()),
            Err(_) => (0, None, None),
        };
        // L-BFGS ends a run on a failed line search, BFGS fails it: the same event.
        let failure = match attempt {
            Ok(o) if !o.solver_exit || watched_out => {
                let termination = match restarts {
                    0 => o.termination,
                    r => format!("{} (after {r} line-search restarts)", o.termination),
                };
                return finish(
                    o.params,
                    o.cost,
                    done + o.iterations,
                    termination,
                    &tracker,
                    start,
                );
            }
            Ok(o) => o.termination,
            Err(e) => e.to_string(),
        };
        done += iterations;
        let first = *first_cost.get_or_insert(start_cost.unwrap_or(f64::INFINITY));
        // Nothing better than the start: nothing to keep.
        let Some((loss, best)) = best.filter(|(l, _)| *l < first) else {
            return Err(TrainError::Solver(failure));
        };
        let progressed = start_cost.is_some_and(|c| loss < c);
        if progressed && restarts < MAX_RESTARTS && done < settings.max_iters {
            restarts += 1;
            if let Ok(mut t) = tracker.lock() {
                t.offset = done;
                t.iterations = 0;
                t.start_cost = None;
            }
            from = best;
            continue;
        }
        let termination = format!(
            "line search failed after {done} iterations and {restarts} restarts; kept the best \
             parameters ({failure})"
        );
        return finish(Some(best), loss, done, termination, &tracker, start);
    }
}

/// The shared tracker around the caller's callback.
fn tracker(progress: impl FnMut(&Step) + Send + Sync + 'static) -> Arc<Mutex<Tracker>> {
    Arc::new(Mutex::new(Tracker {
        callback: Box::new(progress),
        history: Vec::new(),
        best: None,
        offset: 0,
        iterations: 0,
        start_cost: None,
    }))
}

/// One run of the configured quasi-Newton method from `init` for at most `max_iters`
/// iterations: the outer error is a configuration error, the inner one argmin's.
fn quasi_newton<P>(
    objective: &P,
    init: Vec<f64>,
    settings: &Settings,
    max_iters: u64,
    tracker: &Arc<Mutex<Tracker>>,
    watch: Option<&mut Watch<'_>>,
) -> Result<Result<Outcome, argmin::core::Error>, TrainError>
where
    P: CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>,
{
    let solver_err = |e: argmin::core::Error| TrainError::Solver(e.to_string());
    let evaluations = Arc::new(AtomicU64::new(0));
    let recorder = Recorder {
        tracker: Arc::clone(tracker),
        evaluations: Arc::clone(&evaluations),
    };
    let lent = Lent {
        problem: objective,
        evaluations,
    };
    let line_search = MoreThuenteLineSearch::new();
    // The two methods differ only in the solver and in BFGS's initial inverse Hessian.
    Ok(match settings.method {
        Method::Lbfgs { memory } => {
            let inner = LBFGS::new(line_search, memory.max(1))
                .with_tolerance_grad(settings.tol_grad)
                .map_err(solver_err)?
                .with_tolerance_cost(settings.tol_cost)
                .map_err(solver_err)?;
            let solver = Watched { inner, watch };
            execute(lent, solver, recorder, |s| {
                s.param(init).max_iters(max_iters)
            })
        }
        Method::Bfgs => {
            let inner = Bfgs::new(settings.tol_grad, settings.tol_cost);
            let solver = Watched { inner, watch };
            execute(lent, solver, recorder, |s| {
                s.param(init).max_iters(max_iters)
            })
        }
        // Needs residuals: fit_least_squares runs it.
        Method::LevenbergMarquardt => return Err(TrainError::Config(
            "solver.method = \"levenberg-marquardt\" needs a least-squares loss (residuals and \
                 their Jacobian); this problem has only a loss and its gradient: use \"bfgs\" or \
                 \"lbfgs\""
                .into(),
        )),
    })
}

/// The report from what [`execute`] returned and the recorded history.
fn finish(
    params: Option<Vec<f64>>,
    loss: f64,
    iterations: u64,
    termination: String,
    tracker: &Mutex<Tracker>,
    start: Instant,
) -> Result<Report, TrainError> {
    let params = params.ok_or_else(|| TrainError::Solver("no parameters returned".into()))?;
    let history = tracker
        .lock()
        .map(|t| t.history.clone())
        .unwrap_or_default();
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

/// What one argmin run returned.
struct Outcome {
    params: Option<Vec<f64>>,
    cost: f64,
    iterations: u64,
    termination: String,
    /// The solver stopped itself (argmin's `SolverExit`): L-BFGS reports a failed line
    /// search this way, BFGS as an error.
    solver_exit: bool,
}

/// Runs `solver` on `problem` with the recorder attached.
fn execute<P, S, H>(
    problem: P,
    solver: S,
    recorder: Recorder,
    configure: impl FnOnce(QnState<H>) -> QnState<H>,
) -> Result<Outcome, argmin::core::Error>
where
    S: argmin::core::Solver<P, QnState<H>>,
    Recorder: Observe<QnState<H>> + 'static,
    QnState<H>: State<Param = Vec<f64>, Float = f64>,
{
    let res = Executor::new(problem, solver)
        .configure(configure)
        .add_observer(recorder, ObserverMode::Always)
        .run()?;
    let s = res.state();
    Ok(Outcome {
        params: s.get_best_param().cloned(),
        cost: s.get_best_cost(),
        iterations: s.get_iter(),
        termination: s.get_termination_status().to_string(),
        solver_exit: matches!(
            s.get_termination_reason(),
            Some(TerminationReason::SolverExit(_))
        ),
    })
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

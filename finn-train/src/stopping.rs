//! Training with early stopping on a validation score, shared by the applications that learn
//! from data (`density`, `deviation`).
//!
//! The validation score is measured inside one quasi-Newton solve ([`Watch`], wrapped around
//! the solver as argmin's `terminate` hook), so the checks never restart the solver's memory:
//! a restart every check cost the density benchmarks more than the checks were worth (the
//! first steps after a restart are gradient steps with the line search's full length).

use crate::observer::Observer;
use crate::solve::{Report, Settings};
use crate::TrainError;
use argmin::core::{
    CostFunction, Gradient, Problem, Solver, State, TerminationReason, TerminationStatus, KV,
};

/// A loss that [`fit`] can minimise: a cost with its exact gradient (argmin's traits) and a
/// direct value.
pub trait Loss:
    CostFunction<Param = Vec<f64>, Output = f64>
    + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>
    + Clone
    + Send
    + Sync
{
    /// The loss (with any ridge term).
    fn loss(&self, params: &[f64]) -> Result<f64, TrainError>;
}

/// When to stop: every `every` iterations the validation score is measured; after `patience`
/// measurements without a new best, training stops and keeps the best parameters.
#[derive(Clone, Copy, Debug)]
pub struct EarlyStopping {
    /// Measurements without improvement before stopping, >= 1.
    pub patience: usize,
    /// Iterations between measurements, >= 1.
    pub every: u64,
}

/// One validation measurement.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// Iterations run so far.
    pub iteration: u64,
    /// The training loss (with weight decay) at that point.
    pub train_loss: f64,
    /// The validation score (learning coordinates).
    pub validation: f64,
}

/// What [`fit`] found.
#[derive(Clone, Debug)]
pub struct Training {
    /// The solver's report; `params` are the best by validation score.
    pub report: Report,
    /// Every validation measurement.
    pub checks: Vec<Check>,
    /// Iterations at which the best parameters were reached.
    pub best_iteration: u64,
    /// Why training stopped, in words.
    pub stopped: String,
}

/// A validation score: lower is better.
pub type Score<'a> = &'a (dyn Fn(&[f64]) -> Result<f64, TrainError> + Sync);

/// The validation checks of one solve: the best parameters by score so far, and whether
/// patience has run out.
pub struct Watch<'a> {
    score: Score<'a>,
    stopping: EarlyStopping,
    /// Iterations completed, over every attempt of the solve (a restart after a failed line
    /// search continues the count).
    iterations: u64,
    last_checked: u64,
    best: (f64, Vec<f64>, u64),
    checks: Vec<Check>,
    since_best: usize,
    /// Why the watch ended the solve, once it has.
    pub(crate) stopped: Option<String>,
    error: Option<TrainError>,
}

impl<'a> Watch<'a> {
    /// A watch whose starting point `init` scores `score(init)`.
    fn new(score: Score<'a>, stopping: EarlyStopping, init: &[f64]) -> Result<Self, TrainError> {
        Ok(Watch {
            score,
            stopping,
            iterations: 0,
            last_checked: 0,
            best: (score(init)?, init.to_vec(), 0),
            checks: Vec::new(),
            since_best: 0,
            stopped: None,
            error: None,
        })
    }

    /// Measures `params` (reached after `self.iterations` iterations, training loss
    /// `train_loss`); true when training should stop.
    fn check(&mut self, params: &[f64], train_loss: f64) -> bool {
        self.last_checked = self.iterations;
        let validation = match (self.score)(params) {
            Ok(v) => v,
            Err(e) => {
                self.stopped = Some(format!("the validation score failed ({e})"));
                self.error = Some(e);
                return true;
            }
        };
        self.checks.push(Check {
            iteration: self.iterations,
            train_loss,
            validation,
        });
        if validation < self.best.0 {
            self.best = (validation, params.to_vec(), self.iterations);
            self.since_best = 0;
            return false;
        }
        self.since_best += 1;
        if self.since_best >= self.stopping.patience.max(1) {
            self.stopped = Some(format!(
                "early stopping: no better validation score in {} checks",
                self.stopping.patience
            ));
            return true;
        }
        false
    }

    /// Whether the iteration just completed is due for a check.
    fn due(&self) -> bool {
        self.iterations > self.last_checked && self.iterations % self.stopping.every.max(1) == 0
    }
}

/// A solver with a [`Watch`] on it: the inner solver's iterations, with the validation
/// checks made in argmin's `terminate` hook (before each next iteration, and once more at the
/// iteration cap), where a watch out of patience ends the solve.
pub(crate) struct Watched<'w, 'a, S> {
    pub(crate) inner: S,
    pub(crate) watch: Option<&'w mut Watch<'a>>,
}

impl<O, I, S> Solver<O, I> for Watched<'_, '_, S>
where
    S: Solver<O, I>,
    I: State<Param = Vec<f64>, Float = f64>,
{
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn init(
        &mut self,
        problem: &mut Problem<O>,
        state: I,
    ) -> Result<(I, Option<KV>), argmin::core::Error> {
        self.inner.init(problem, state)
    }

    fn next_iter(
        &mut self,
        problem: &mut Problem<O>,
        state: I,
    ) -> Result<(I, Option<KV>), argmin::core::Error> {
        let out = self.inner.next_iter(problem, state)?;
        if let Some(w) = self.watch.as_deref_mut() {
            w.iterations += 1;
        }
        Ok(out)
    }

    fn terminate(&mut self, state: &I) -> TerminationStatus {
        let inner = self.inner.terminate(state);
        let Some(w) = self.watch.as_deref_mut() else {
            return inner;
        };
        if !w.due() {
            return inner;
        }
        let stop = match state.get_param() {
            Some(p) => w.check(p, state.get_cost()),
            None => false,
        };
        match (stop, w.stopped.clone()) {
            (true, Some(why)) => TerminationStatus::Terminated(TerminationReason::SolverExit(why)),
            _ => inner,
        }
    }
}

/// Minimises `loss` from `init` (at most `settings.max_iters` iterations) in one quasi-Newton
/// solve, measuring `score` (a validation loss: NLL of held-out points, MSE of held-out
/// targets) every `stopping.every` iterations and at the end, and keeping the parameters
/// with the lowest score (the start included).
///
/// A solve that fails (a line search that meets an overflow after nothing better than the
/// start was found) ends training with the start, and says so in [`Training::stopped`].
///
/// ```
/// use argmin::core::{CostFunction, Error, Gradient};
/// use finn_train::solve::{Method, Settings};
/// use finn_train::stopping::{fit, EarlyStopping, Loss};
/// /// (p - 3)^2, validated by (p - 2)^2.
/// #[derive(Clone)]
/// struct Bowl;
/// impl CostFunction for Bowl {
///     type Param = Vec<f64>;
///     type Output = f64;
///     fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> { Ok((p[0] - 3.0).powi(2)) }
/// }
/// impl Gradient for Bowl {
///     type Param = Vec<f64>;
///     type Gradient = Vec<f64>;
///     fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> { Ok(vec![2.0 * (p[0] - 3.0)]) }
/// }
/// impl Loss for Bowl {
///     fn loss(&self, p: &[f64]) -> Result<f64, finn_train::TrainError> { Ok((p[0] - 3.0).powi(2)) }
/// }
/// let settings = Settings { method: Method::Bfgs, max_iters: 50, ..Default::default() };
/// let stopping = EarlyStopping { patience: 2, every: 1 };
/// let score = |p: &[f64]| Ok((p[0] - 2.0).powi(2));
/// let t = fit(&Bowl, &score, vec![0.0], &settings, stopping, "bowl",
///     &mut finn_train::observer::Silent).unwrap();
/// // The kept parameters score no worse than any check.
/// let kept = score(&t.report.params).unwrap();
/// assert!(t.checks.iter().all(|c| kept <= c.validation));
/// ```
pub fn fit<P: Loss>(
    nll: &P,
    score: Score<'_>,
    init: Vec<f64>,
    settings: &Settings,
    stopping: EarlyStopping,
    name: &str,
    observer: &mut dyn Observer,
) -> Result<Training, TrainError> {
    let start = std::time::Instant::now();
    let mut watch = Watch::new(score, stopping, &init)?;
    let solved = crate::observer::solve_watched(
        nll.clone(),
        init,
        settings,
        name,
        observer,
        Some(&mut watch),
    );
    if let Some(e) = watch.error.take() {
        return Err(e);
    }
    let (history, mut stopped, done) = match solved {
        Ok(report) => {
            // The last iterate, when no check saw it (a converged solve, or an iteration cap
            // that is not a multiple of `every`).
            if watch.stopped.is_none() && watch.iterations > watch.last_checked {
                watch.check(&report.params, report.loss);
                if let Some(e) = watch.error.take() {
                    return Err(e);
                }
            }
            let why = watch.stopped.clone().unwrap_or(report.termination);
            (report.history, why, watch.iterations)
        }
        Err(e) => (
            Vec::new(),
            format!("solver stopped after {} iterations ({e})", watch.iterations),
            watch.iterations,
        ),
    };
    if watch.stopped.is_none() && done >= settings.max_iters {
        stopped = format!("iteration cap ({})", settings.max_iters);
    }
    let (_, params, best_iteration) = watch.best;
    let report = Report {
        loss: nll.loss(&params)?,
        params,
        iterations: done,
        termination: stopped.clone(),
        history,
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok(Training {
        report,
        checks: watch.checks,
        best_iteration,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::Silent;
    use crate::solve::Method;
    use argmin::core::Error;

    /// Rosenbrock's function: BFGS needs a few dozen iterations and its memory matters.
    #[derive(Clone)]
    struct Rosenbrock;
    impl CostFunction for Rosenbrock {
        type Param = Vec<f64>;
        type Output = f64;
        fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
            Ok((1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2))
        }
    }
    impl Gradient for Rosenbrock {
        type Param = Vec<f64>;
        type Gradient = Vec<f64>;
        fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
            let d = p[1] - p[0] * p[0];
            Ok(vec![-2.0 * (1.0 - p[0]) - 400.0 * p[0] * d, 200.0 * d])
        }
    }
    impl Loss for Rosenbrock {
        fn loss(&self, p: &[f64]) -> Result<f64, TrainError> {
            Ok((1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2))
        }
    }

    fn settings(max_iters: u64) -> Settings {
        Settings {
            method: Method::Bfgs,
            max_iters,
            tol_grad: 0.0,
            tol_cost: 0.0,
        }
    }

    /// Regression: checks used to end a round and restart the quasi-Newton memory, so a
    /// check every iteration turned BFGS into gradient descent. Now the watched solve is the
    /// plain solve, bit for bit.
    #[test]
    fn checks_do_not_change_the_solve() {
        let init = vec![-1.2, 1.0];
        let plain =
            crate::solve::fit_problem(Rosenbrock, init.clone(), &settings(25), |_| {}).unwrap();
        // A score that only improves along the path keeps the last iterate.
        let score = |p: &[f64]| Rosenbrock.loss(p);
        let stopping = EarlyStopping {
            patience: 1_000,
            every: 1,
        };
        let t = fit(
            &Rosenbrock,
            &score,
            init,
            &settings(25),
            stopping,
            "rosenbrock",
            &mut Silent,
        )
        .unwrap();
        assert_eq!(t.checks.len(), 25);
        assert_eq!(t.report.params, plain.params);
        assert_eq!(t.report.iterations, 25);
    }

    /// A score that gets worse after its best stops the solve `patience` checks later and
    /// keeps the best checked parameters.
    #[test]
    fn patience_ends_the_solve_and_keeps_the_best() {
        // Validation prefers x = -0.5 on the way from -1.2 to 1.
        let score = |p: &[f64]| Ok((p[0] + 0.5).powi(2));
        let stopping = EarlyStopping {
            patience: 3,
            every: 2,
        };
        let t = fit(
            &Rosenbrock,
            &score,
            vec![-1.2, 1.0],
            &settings(200),
            stopping,
            "rosenbrock",
            &mut Silent,
        )
        .unwrap();
        assert!(t.stopped.starts_with("early stopping"), "{}", t.stopped);
        assert!(t.report.iterations < 200);
        let best = t
            .checks
            .iter()
            .min_by(|a, b| a.validation.total_cmp(&b.validation))
            .unwrap();
        assert_eq!(best.iteration, t.best_iteration);
        assert_eq!(score(&t.report.params).unwrap(), best.validation);
        // Stopped exactly `patience` checks after the best.
        let after = t
            .checks
            .iter()
            .filter(|c| c.iteration > best.iteration)
            .count();
        assert_eq!(after, 3);
        assert!(t.checks.iter().all(|c| c.iteration % 2 == 0));
    }
}

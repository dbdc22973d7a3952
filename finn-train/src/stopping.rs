//! Training in rounds with early stopping on a validation score, shared by the applications
//! that learn from data (`density`, `deviation`).

use crate::observer::Observer;
use crate::solve::{Report, Settings, Step};
use crate::TrainError;
use argmin::core::{CostFunction, Gradient};

/// A loss that [`fit`] can minimise: a cost with its exact gradient (argmin's traits) and a
/// direct value.
pub trait Loss:
    CostFunction<Param = Vec<f64>, Output = f64>
    + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>
    + Clone
    + Send
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
    /// Iterations between measurements (each round restarts the quasi-Newton memory), >= 1.
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
    /// The solver's combined report; `params` are the best by validation score.
    pub report: Report,
    /// Every validation measurement.
    pub checks: Vec<Check>,
    /// Iterations at which the best parameters were reached.
    pub best_iteration: u64,
    /// Why training stopped, in words.
    pub stopped: String,
}

/// Forwards iterations to the caller's observer with an offset, without the per-round start
/// and finish.
struct Rounds<'a> {
    inner: &'a mut dyn Observer,
    offset: u64,
}

impl Observer for Rounds<'_> {
    fn iteration(&mut self, step: &Step) {
        self.inner.iteration(&Step {
            iteration: step.iteration + self.offset,
            ..*step
        });
    }
}

/// Minimises `loss` from `init` in rounds of `stopping.every` iterations (at most
/// `settings.max_iters` in all), keeping the parameters with the lowest `score` (a
/// validation loss: NLL of held-out points, MSE of held-out targets).
///
/// A round whose solver fails (a line search that meets an overflow) ends training with the
/// best parameters so far, and says so in [`Training::stopped`].
pub fn fit<P: Loss>(
    nll: &P,
    score: &dyn Fn(&[f64]) -> Result<f64, TrainError>,
    init: Vec<f64>,
    settings: &Settings,
    stopping: EarlyStopping,
    name: &str,
    observer: &mut dyn Observer,
) -> Result<Training, TrainError> {
    let start = std::time::Instant::now();
    observer.start(name, settings.max_iters);
    let mut best = (score(&init)?, init.clone(), 0u64);
    let mut params = init;
    let mut history = Vec::new();
    let mut checks = Vec::new();
    let mut done = 0u64;
    let mut since_best = 0usize;
    let mut stopped = format!("iteration cap ({})", settings.max_iters);
    while done < settings.max_iters {
        let round = stopping.every.min(settings.max_iters - done);
        let mut s = settings.clone();
        s.max_iters = round;
        let mut forward = Rounds {
            inner: &mut *observer,
            offset: done,
        };
        let report = match crate::observer::solve(nll.clone(), params.clone(), &s, "", &mut forward)
        {
            Ok(r) => r,
            Err(e) => {
                stopped = format!("solver stopped after {done} iterations ({e})");
                break;
            }
        };
        history.extend(report.history.iter().map(|st| Step {
            iteration: st.iteration + done,
            ..*st
        }));
        done += report.iterations.max(1);
        params = report.params;
        let validation_nll = score(&params)?;
        checks.push(Check {
            iteration: done,
            train_loss: report.loss,
            validation: validation_nll,
        });
        if validation_nll < best.0 {
            best = (validation_nll, params.clone(), done);
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= stopping.patience {
                stopped = format!(
                    "early stopping: no better validation score in {} checks",
                    stopping.patience
                );
                break;
            }
        }
        // A round that ends early has either converged or stalled (a line search that
        // finds no decrease, or a cost change below the tolerance after a poor quasi-Newton
        // step). The next round restarts the quasi-Newton memory, which is often enough to
        // get going again; only a round that makes no progress at all ends training.
        if report.iterations < round && report.iterations <= 1 {
            stopped = format!("converged ({})", report.termination);
            break;
        }
    }
    let (_, params, best_iteration) = best;
    let report = Report {
        loss: nll.loss(&params)?,
        params,
        iterations: done,
        termination: stopped.clone(),
        history,
        seconds: start.elapsed().as_secs_f64(),
    };
    observer.finish(name, &report);
    Ok(Training {
        report,
        checks,
        best_iteration,
        stopped,
    })
}

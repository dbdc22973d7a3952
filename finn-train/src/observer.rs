//! Progress of a training run, reported to whoever runs it.
//!
//! A [`Job`](crate::config::Job) calls its [`Observer`] on the caller's thread: once when a solve
//! starts, after every solver iteration, and once when the solve ends. The `xtask` CLI draws a
//! progress bar from it; a library user can log, forward or ignore it ([`Silent`]).
//!
//! ```
//! use finn_train::observer::Observer;
//! use finn_train::solve::{Report, Step};
//!
//! /// Prints one line per solve.
//! struct Log;
//! impl Observer for Log {
//!     fn finish(&mut self, label: &str, report: &Report) {
//!         println!("{label}: loss {:.3e} after {} iterations", report.loss, report.iterations);
//!     }
//! }
//! ```

use crate::solve::{self, Report, Settings, Step};
use crate::stopping::Watch;
use crate::TrainError;
use argmin::core::{CostFunction, Gradient};
use std::sync::mpsc;

/// Receives the progress of a training run. Every method has an empty default.
pub trait Observer {
    /// A solve named `label` starts, with at most `max_iters` iterations.
    fn start(&mut self, label: &str, max_iters: u64) {
        let _ = (label, max_iters);
    }

    /// One iteration of the current solve finished.
    fn iteration(&mut self, step: &Step) {
        let _ = step;
    }

    /// The solve named `label` ended with `report`.
    fn finish(&mut self, label: &str, report: &Report) {
        let _ = (label, report);
    }
}

/// An observer that ignores everything.
///
/// ```
/// let mut quiet = finn_train::observer::Silent;
/// finn_train::observer::Observer::start(&mut quiet, "fit", 10);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Minimises `problem` from `init` with `settings`, reporting to `observer` on this thread.
///
/// argmin wants `'static` observers, so the solver runs on a scoped thread and sends each
/// [`Step`] back over a channel; the caller's observer never leaves the caller's thread.
pub(crate) fn solve<P>(
    problem: P,
    init: Vec<f64>,
    settings: &Settings,
    label: &str,
    observer: &mut dyn Observer,
) -> Result<Report, TrainError>
where
    P: CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>
        + Send,
{
    solve_watched(problem, init, settings, label, observer, None)
}

/// [`solve`] with validation checks inside the solve ([`crate::stopping::fit`]).
pub(crate) fn solve_watched<P>(
    problem: P,
    init: Vec<f64>,
    settings: &Settings,
    label: &str,
    observer: &mut dyn Observer,
    watch: Option<&mut Watch<'_>>,
) -> Result<Report, TrainError>
where
    P: CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>
        + Send,
{
    observed(settings, label, observer, move |progress| {
        solve::fit_watched(problem, init, settings, progress, watch)
    })
}

/// [`solve`] for a least-squares problem, which may also use Levenberg-Marquardt
/// ([`solve::fit_least_squares`]).
pub(crate) fn solve_least_squares<P>(
    problem: P,
    init: Vec<f64>,
    settings: &Settings,
    label: &str,
    observer: &mut dyn Observer,
) -> Result<Report, TrainError>
where
    P: solve::LeastSquares
        + CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>
        + Send,
{
    observed(settings, label, observer, move |progress| {
        solve::fit_least_squares(problem, init, settings, progress)
    })
}

/// Runs `run` (a solve that calls its progress callback per iteration) on a scoped thread and
/// forwards the steps to `observer` on this one.
fn observed<R>(
    settings: &Settings,
    label: &str,
    observer: &mut dyn Observer,
    run: R,
) -> Result<Report, TrainError>
where
    R: FnOnce(Box<dyn FnMut(&Step) + Send + Sync>) -> Result<Report, TrainError> + Send,
{
    observer.start(label, settings.max_iters);
    let (sender, receiver) = mpsc::channel::<Step>();
    let report = std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            run(Box::new(move |step: &Step| {
                // The receiver lives until the worker ends; a send cannot fail earlier.
                let _ = sender.send(*step);
            }))
        });
        for step in receiver {
            observer.iteration(&step);
        }
        worker
            .join()
            .unwrap_or_else(|_| Err(TrainError::Solver("the solver thread panicked".into())))
    })?;
    observer.finish(label, &report);
    Ok(report)
}

//! The `trajectory` application (paper §4.2): D coordinates, each a signed FINN of time, with
//! the start and end states met exactly by construction, optimised against obstacles, energy,
//! limits and control effort with exact gradients.
//!
//! Config (`application = "trajectory"`, every key in `docs/config.md`) ->
//! [`TrajectoryConfig`] -> [`TrajectoryProblem`] -> solve -> trajectory blob ([`blob`]) ->
//! `finn_embedded::trajectory` on the device. With a `[baseline]` section the same problem is
//! also solved with the end state as a soft penalty, from the same initial parameters, and the
//! report compares the two.
//!
//! Dynamics models live in [`dynamics`]; to add one, implement [`InverseDynamics`] and set
//! [`TrajectoryProblem::dynamics`] from Rust (see `docs/trajectory.md`).

pub mod blob;
mod check;
mod config;
pub mod dynamics;
mod plot;
mod problem;
mod report;

pub use check::{endpoint_errors, EndpointErrors};
pub use config::{
    BaselineConfig, CoordinateNetworkConfig, DynamicsConfig, LimitConfig, ObstacleConfig,
    PolicyConfig, ProblemConfig, TrajectoryConfig, ViaConfig,
};
pub use dynamics::{InverseDynamics, PointMass, TwoLinkArm};
pub use plot::plot_path;
pub use problem::{Endpoints, Obstacle, State, Terms, TrajectoryProblem};

use crate::config::{with_suffix, Artefacts, Job, Outcome};
use crate::observer::Observer;
use crate::solve::{self, Report};
use crate::TrainError;
use std::path::PathBuf;
use std::time::Instant;

/// One solve of a trajectory problem.
#[derive(Clone, Debug)]
pub struct Solved {
    /// The D coordinate networks' parameters back to back.
    pub params: Vec<f64>,
    /// The cost terms at the solution.
    pub terms: Terms,
    /// The solver's report.
    pub report: Report,
}

/// What a `trajectory` run produced.
#[derive(Clone, Debug)]
pub struct TrajectoryOutcome {
    /// The solve with exact endpoints.
    pub exact: Solved,
    /// The end-state errors of the written blob played back by finn-core in f64 and f32.
    pub endpoint_errors: EndpointErrors,
    /// The soft-penalty baseline, when the config asks for it.
    pub baseline: Option<Baseline>,
    /// The trajectory blob as written.
    pub blob: Vec<u8>,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// The output stem.
    pub stem: PathBuf,
}

/// The soft-penalty baseline's solve and how far it ends from the end state.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The penalty weight.
    pub endpoint_penalty: f64,
    /// The solve.
    pub solved: Solved,
    /// max_i |x_i(T) - xT_i|.
    pub endpoint_error: f64,
}

/// Deterministic initial parameters of every coordinate (seed + i), scaled by the config's
/// `network.initial_scale`.
fn initial_parameters(config: &TrajectoryConfig) -> Vec<f64> {
    let arch = config.architecture();
    (0..config.trajectory.start.len())
        .flat_map(|i| solve::initial_parameters(&arch, config.seed + i as u64))
        .map(|v| config.network.initial_scale * v)
        .collect()
}

/// Makes a user's dynamics model and its effort weight (one per solve).
pub type DynamicsFactory<'a> = &'a dyn Fn() -> (Box<dyn InverseDynamics>, f64);

/// The config's problem, with a user's dynamics model in place of the config's.
fn problem_of(
    config: &TrajectoryConfig,
    endpoints: Endpoints,
    dynamics: Option<DynamicsFactory<'_>>,
) -> TrajectoryProblem {
    let mut problem = config.problem(endpoints);
    if let Some(make) = dynamics {
        problem.dynamics = Some(make());
    }
    problem
}

fn solve_one(
    config: &TrajectoryConfig,
    endpoints: Endpoints,
    dynamics: Option<DynamicsFactory<'_>>,
    label: &str,
    observer: &mut dyn Observer,
) -> Result<Solved, TrainError> {
    let problem = problem_of(config, endpoints, dynamics);
    let terms_of = problem_of(config, endpoints, dynamics);
    problem.validate()?;
    let report = crate::observer::solve(
        problem,
        initial_parameters(config),
        &config.solver.settings(),
        label,
        observer,
    )?;
    let terms = terms_of.terms(&report.params)?;
    Ok(Solved {
        params: report.params.clone(),
        terms,
        report,
    })
}

/// Solves the problem `config` describes (and its baseline) and writes `<stem>.postcard`
/// (the trajectory blob), `<stem>.png` (path and speed, for two coordinates), `-loss.png` and
/// `-report.md` (see [`Job::run`]).
pub(crate) fn run(
    job: &Job,
    config: &TrajectoryConfig,
    observer: &mut dyn Observer,
    dynamics: Option<DynamicsFactory<'_>>,
) -> Result<Artefacts, TrainError> {
    let start = Instant::now();
    let exact = solve_one(
        config,
        Endpoints::Exact,
        dynamics,
        "exact endpoints",
        observer,
    )?;
    let baseline = match config.baseline {
        None => None,
        Some(b) => {
            let penalty = Endpoints::Penalty(b.endpoint_penalty);
            let solved = solve_one(config, penalty, dynamics, "penalty baseline", observer)?;
            let problem = problem_of(config, penalty, dynamics);
            let (_, t1) = problem.interval;
            let end = problem.states(&solved.params, &[t1])?;
            let endpoint_error = end[0]
                .position
                .iter()
                .zip(&problem.end)
                .map(|(x, e)| (x - e).abs())
                .fold(0.0, f64::max);
            Some(Baseline {
                endpoint_penalty: b.endpoint_penalty,
                solved,
                endpoint_error,
            })
        }
    };
    let problem = problem_of(config, Endpoints::Exact, dynamics);
    let policy = config.trajectory.outside.into();
    let blob = blob::problem_blob(&problem, &exact.params, policy, config.blob_scalar.into())
        .map_err(|e| TrainError::Data(format!("writing the trajectory blob: {e}")))?;
    let endpoint_errors = endpoint_errors(&blob)?;

    let stem = job.prepare_stem()?;
    let mut files = Vec::new();
    let blob_path = with_suffix(&stem, ".postcard");
    std::fs::write(&blob_path, &blob)?;
    files.push(blob_path);
    if problem.dims() == 2 {
        let png = with_suffix(&stem, ".png");
        plot_path(&png, &problem, &exact.params, None)?;
        files.push(png);
    }
    files.push(crate::plot::loss_history(&stem, "cost", &exact.report)?);
    let outcome = TrajectoryOutcome {
        exact,
        endpoint_errors,
        baseline,
        blob,
        seconds: start.elapsed().as_secs_f64(),
        stem: stem.clone(),
    };
    let md_path = with_suffix(&stem, "-report.md");
    std::fs::write(&md_path, report::markdown(job, config, &outcome))?;
    files.push(md_path);
    let summary = format!(
        "cost {:.5} after {} iterations ({}), end-state error {:.1e} (f64) / {:.1e} (f32), \
         minimum clearance over the nodes {}, {:.1} s",
        outcome.exact.terms.total,
        outcome.exact.report.iterations,
        outcome.exact.report.termination,
        outcome.endpoint_errors.f64,
        outcome.endpoint_errors.f32,
        report::clearance(outcome.exact.terms.min_clearance),
        outcome.seconds
    );
    Ok(Artefacts {
        stem,
        files,
        summary,
        outcome: Outcome::Trajectory(Box::new(outcome)),
    })
}

/// Runs a trajectory config with a dynamics model written in Rust in place of the config's
/// `trajectory.dynamics`: `dynamics` returns the model and its effort weight (it is called
/// once per problem built). See `docs/trajectory.md` for a worked example.
///
/// Errors: `Config` when the job is not a trajectory; then as [`Job::run`].
pub fn run_with_dynamics(
    job: &Job,
    observer: &mut dyn Observer,
    dynamics: DynamicsFactory<'_>,
) -> Result<Artefacts, TrainError> {
    match &job.spec {
        crate::config::Spec::Trajectory(c) => run(job, c, observer, Some(dynamics)),
        _ => Err(TrainError::Config(format!(
            "{}: run_with_dynamics needs application = \"trajectory\"",
            job.shown_path().display()
        ))),
    }
}

/// The report section of a run (its Markdown report without the config), for combining the
/// reports of several runs into one page.
pub fn report_section(job: &Job, outcome: &TrajectoryOutcome) -> String {
    match &job.spec {
        crate::config::Spec::Trajectory(c) => report::section(job, c, outcome),
        _ => String::new(),
    }
}

//! The `trajectory` application (paper §4.2): D coordinates, each a signed FINN of time, with
//! the start and end states met exactly by construction, optimised against obstacles, energy,
//! limits and control effort with exact gradients.
//!
//! Config (`application = "trajectory"`, every key in `docs/config.md`) ->
//! [`TrajectoryConfig`] -> [`TrajectoryProblem`] -> [`enforce`] (augmented Lagrangian, stopped
//! by the [`certify`] proof over the whole interval) -> trajectory blob ([`blob`]) ->
//! `finn_embedded::trajectory` on the device. The report compares the result with the
//! minimum-jerk quintic and, with a `[baseline]` section, with the same problem solved with
//! soft penalties (and with the end state as a penalty), all measured the same way
//! ([`compare`]).
//!
//! Dynamics models live in [`dynamics`]; to add one, implement [`InverseDynamics`] and set
//! [`TrajectoryProblem::dynamics`] from Rust (see `docs/trajectory.md`).

pub mod blob;
pub mod certify;
mod check;
pub mod compare;
mod config;
pub mod constraints;
pub mod dynamics;
pub mod enforce;
pub mod json;
pub mod path;
mod plot;
mod problem;
mod report;
mod via;

pub use check::{endpoint_errors, EndpointErrors};
pub use config::{
    AxisLimitConfig, BaselineConfig, CoordinateNetworkConfig, DynamicsConfig, EnforceConfig,
    EnforceMethod, LimitsConfig, ObstacleConfig, PolicyConfig, ProblemConfig, TrajectoryConfig,
    ViaConfig,
};
pub use constraints::{Constraint, Limit, Obstacle, Quantity};
pub use dynamics::{InverseDynamics, PointMass, TwoLinkArm};
pub use plot::plot_trajectory;
pub use problem::{Endpoints, Enforcement, Lagrangian, State, Terms, TrajectoryProblem};

use crate::config::{with_suffix, Artefacts, Job, Outcome};
use crate::observer::Observer;
use crate::solve::{self, Report};
use crate::TrainError;
use certify::{Certificate, Status};
use compare::Candidate;
use enforce::{EnforceSettings, Enforced, Round};
use path::{NetworkPath, Path, Quintic};
use std::path::PathBuf;
use std::time::Instant;

/// One solve of a trajectory problem.
#[derive(Clone, Debug)]
pub struct Solved {
    /// The D coordinate networks' parameters back to back.
    pub params: Vec<f64>,
    /// The cost terms at the solution (constraint terms left out).
    pub terms: Terms,
    /// The (last) solver report.
    pub report: Report,
}

/// What a `trajectory` run produced.
#[derive(Clone, Debug)]
pub struct TrajectoryOutcome {
    /// The solve with exact endpoints and enforced constraints.
    pub exact: Solved,
    /// The rounds of the augmented-Lagrangian loop (empty for `method = "penalty"`).
    pub rounds: Vec<Round>,
    /// The certificate of the written blob: every constraint proven or refuted over [t0, T].
    pub certificate: Certificate,
    /// The end-state errors of the written blob played back by finn-core in f64 and f32.
    pub endpoint_errors: EndpointErrors,
    /// The result and the baselines, measured the same way (the result first).
    pub comparison: Vec<Candidate>,
    /// The trajectory blob as written.
    pub blob: Vec<u8>,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// The output stem.
    pub stem: PathBuf,
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

/// Makes a user's dynamics model and its effort weight (one per problem built).
pub type DynamicsFactory<'a> = &'a dyn Fn() -> (Box<dyn InverseDynamics>, f64);

/// The config's problem, with a user's dynamics model in place of the config's.
fn problem_of(
    config: &TrajectoryConfig,
    endpoints: Endpoints,
    enforcement: Enforcement,
    dynamics: Option<DynamicsFactory<'_>>,
) -> TrajectoryProblem {
    let mut problem = config.problem(endpoints, enforcement);
    if let Some(make) = dynamics {
        problem.dynamics = Some(make());
    }
    problem
}

/// The constraints left out: cost terms only.
const PLAIN: Enforcement = Enforcement::Penalty { weight: 0.0 };

/// Solves the problem `config` describes (and its baselines) and writes `<stem>.postcard`
/// (the trajectory blob), `<stem>.png` (path and profiles), `-loss.png` and `-report.md` (see
/// [`Job::run`]). Constraints the certificate does not prove are listed in
/// [`Artefacts::unproven`].
pub(crate) fn run(
    job: &Job,
    config: &TrajectoryConfig,
    observer: &mut dyn Observer,
    dynamics: Option<DynamicsFactory<'_>>,
) -> Result<Artefacts, TrainError> {
    let start = Instant::now();
    let settings: EnforceSettings = config.trajectory.enforce.settings();
    let penalty_weight = config.trajectory.enforce.penalty_weight;
    let solver = config.solver.settings();
    let plain = problem_of(config, Endpoints::Exact, PLAIN, dynamics);
    plain.validate()?;
    let policy = config.trajectory.outside.into();
    let scalar = config.blob_scalar.into();
    let blob_of = |p: &[f64]| {
        blob::problem_blob(&plain, p, policy, scalar)
            .map_err(|e| TrainError::Data(format!("writing the trajectory blob: {e}")))
    };
    // What is certified is the blob: its parameters as stored (rounded to f32 for an f32 blob).
    let path_of = |p: &[f64]| -> Result<Box<dyn Path>, TrainError> {
        Ok(Box::new(NetworkPath::from_blob(&blob_of(p)?)?))
    };
    let soft = |endpoints: Endpoints, label: &str, observer: &mut dyn Observer| {
        let problem = problem_of(
            config,
            endpoints,
            Enforcement::Penalty {
                weight: penalty_weight,
            },
            dynamics,
        );
        crate::observer::solve(
            problem,
            initial_parameters(config),
            &solver,
            label,
            observer,
        )
    };
    let enforced = match config.trajectory.enforce.method {
        EnforceMethod::AugmentedLagrangian => enforce::enforce(
            &|e| problem_of(config, Endpoints::Exact, e, dynamics),
            initial_parameters(config),
            &solver,
            &settings,
            &path_of,
            observer,
        )?,
        EnforceMethod::Penalty => {
            let report = soft(Endpoints::Exact, "penalties at the nodes", observer)?;
            let certificate = certify::certify(
                &*path_of(&report.params)?,
                &plain.constraints,
                &settings.certificate,
            )?;
            Enforced {
                report,
                rounds: Vec::new(),
                certificate,
            }
        }
    };
    let params = enforced.report.params.clone();
    let blob = blob_of(&params)?;
    let endpoint_errors = endpoint_errors(&blob)?;
    let result_path = NetworkPath::from_blob(&blob)?;
    let iterations: u64 = enforced
        .rounds
        .iter()
        .map(|r| r.iterations)
        .sum::<u64>()
        .max(enforced.report.iterations);
    let mut comparison = vec![compare::measure(
        match config.trajectory.enforce.method {
            EnforceMethod::AugmentedLagrangian => {
                "FINN, constraints enforced (augmented Lagrangian)"
            }
            EnforceMethod::Penalty => "FINN, constraints as penalties",
        },
        &result_path,
        &plain,
        &settings.certificate,
        Some((iterations, start.elapsed().as_secs_f64())),
        Some(enforced.certificate.clone()),
    )?];
    if let Some(b) = config.baseline {
        if b.soft_penalty {
            let t = Instant::now();
            let report = soft(Endpoints::Exact, "baseline: soft penalties", observer)?;
            comparison.push(compare::measure(
                &format!("FINN, soft penalties at the nodes (weight {penalty_weight})"),
                &*path_of(&report.params)?,
                &plain,
                &settings.certificate,
                Some((report.iterations, t.elapsed().as_secs_f64())),
                None,
            )?);
        }
        if let Some(w) = b.endpoint_penalty {
            let t = Instant::now();
            let report = soft(
                Endpoints::Penalty(w),
                "baseline: endpoint penalty",
                observer,
            )?;
            let arch = config.architecture();
            let count = arch.parameter_count();
            let per_coord: Vec<Vec<f64>> =
                report.params.chunks(count).map(<[f64]>::to_vec).collect();
            let path = NetworkPath::new(
                arch.activation,
                &arch.widths,
                &per_coord,
                plain.interval,
                &plain.start,
                &plain.end,
                &plain.via,
                Endpoints::Penalty(w),
            )?;
            comparison.push(compare::measure(
                &format!("network, endpoint penalty {w}, soft constraints"),
                &path,
                &plain,
                &settings.certificate,
                Some((report.iterations, t.elapsed().as_secs_f64())),
                None,
            )?);
        }
    }
    let quintic = Quintic::new(plain.interval, &plain.start, &plain.end);
    comparison.push(compare::measure(
        "minimum-jerk quintic (rest to rest, ignores obstacles, limits, via-points)",
        &quintic,
        &plain,
        &settings.certificate,
        None,
        None,
    )?);

    let stem = job.prepare_stem()?;
    let mut files = Vec::new();
    let blob_path = with_suffix(&stem, ".postcard");
    std::fs::write(&blob_path, &blob)?;
    files.push(blob_path);
    let json_path = with_suffix(&stem, ".json");
    std::fs::write(
        &json_path,
        json::from_blob(&blob, Some(&enforced.certificate))?,
    )?;
    files.push(json_path);
    let png = with_suffix(&stem, ".png");
    plot_trajectory(&png, &result_path, &plain, Some(&quintic), None)?;
    files.push(png);
    files.push(crate::plot::loss_history(&stem, "cost", &enforced.report)?);
    let unproven: Vec<String> = enforced
        .certificate
        .failures()
        .map(report::failure)
        .collect();
    let outcome = TrajectoryOutcome {
        exact: Solved {
            terms: plain.terms(&params)?,
            params,
            report: enforced.report,
        },
        rounds: enforced.rounds,
        certificate: enforced.certificate,
        endpoint_errors,
        comparison,
        blob,
        seconds: start.elapsed().as_secs_f64(),
        stem: stem.clone(),
    };
    let md_path = with_suffix(&stem, "-report.md");
    std::fs::write(&md_path, report::markdown(job, config, &outcome))?;
    files.push(md_path);
    let proven = outcome
        .certificate
        .verdicts
        .iter()
        .filter(|v| v.status == Status::Proven)
        .count();
    let summary = format!(
        "cost {:.5}, {} of {} constraints proven over [t0, T]{}, end-state error {:.1e} (f64) / {:.1e} (f32), {:.1} s",
        outcome.comparison[0].cost,
        proven,
        outcome.certificate.verdicts.len(),
        if unproven.is_empty() { String::new() } else { format!(" (NOT MET: {})", unproven.join("; ")) },
        outcome.endpoint_errors.f64,
        outcome.endpoint_errors.f32,
        outcome.seconds
    );
    Ok(Artefacts {
        stem,
        files,
        summary,
        outcome: Outcome::Trajectory(Box::new(outcome)),
        unproven,
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

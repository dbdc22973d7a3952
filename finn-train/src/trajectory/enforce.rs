//! Constraints enforced as constraints: an augmented-Lagrangian outer loop with adaptive
//! enforcement times, stopped by the certificate.
//!
//! Each round minimises the cost plus the Powell-Hestenes-Rockafellar terms of every residual
//! g >= margin at the enforcement times (the configured quasi-Newton method, warm-started), then updates the multipliers
//! lambda <- max(0, lambda - rho (g - margin)) and multiplies rho by `growth` when the worst
//! residual did not improve fourfold. Once the residuals hold at the enforcement times, the
//! written model is certified over the whole interval ([`super::certify`]); the times where
//! it fails join the enforcement times and the loop goes on. It stops when every constraint is
//! proven, or after `rounds` rounds with the certificate's verdicts as they are.

use super::certify::{self, Certificate};
use super::path::Path;
use super::problem::{Enforcement, Lagrangian, TrajectoryProblem};
use crate::observer::Observer;
use crate::solve::{Report, Settings};
use crate::TrainError;

/// Settings of the outer loop (`[trajectory.enforce]` in a config).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnforceSettings {
    /// The residual the solver aims for (> 0 leaves the certificate room: with margin m, a
    /// speed limit is aimed at about (1 - m/2) times the limit).
    pub margin: f64,
    /// Initial enforcement times, evenly spaced over [t0, T] ends included.
    pub points: usize,
    /// At most this many rounds (solves).
    pub rounds: usize,
    /// Initial rho.
    pub rho: f64,
    /// Factor on rho when a round did not improve the worst residual fourfold.
    pub growth: f64,
    /// The certificate's search limits.
    pub certificate: certify::Settings,
}

impl Default for EnforceSettings {
    fn default() -> Self {
        EnforceSettings {
            margin: 0.02,
            points: 101,
            rounds: 12,
            rho: 10.0,
            growth: 10.0,
            certificate: certify::Settings::default(),
        }
    }
}

/// One round of the loop.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    /// rho of the round.
    pub rho: f64,
    /// Enforcement times.
    pub times: usize,
    /// Solver iterations.
    pub iterations: u64,
    /// The cost without the constraint terms, after the round.
    pub cost: f64,
    /// The smallest residual minus the margin at the enforcement times (>= 0: all met there).
    pub worst_residual: f64,
    /// Whether the certificate proved every constraint (None: not run this round).
    pub proven: Option<bool>,
}

/// The loop's result.
#[derive(Clone, Debug)]
pub struct Enforced {
    /// The last round's solve (its `params` are the result).
    pub report: Report,
    /// Every round.
    pub rounds: Vec<Round>,
    /// The certificate of the result.
    pub certificate: Certificate,
}

/// The residuals g at `times`, time-major (the Lagrangian's layout).
fn residuals(
    problem: &TrajectoryProblem,
    params: &[f64],
    times: &[f64],
) -> Result<Vec<f64>, TrainError> {
    let d = problem.dims();
    let mut scratch = vec![0.0; d];
    let mut out = Vec::with_capacity(times.len() * problem.residuals_per_time());
    for st in problem.states(params, times)? {
        for c in &problem.constraints {
            for j in 0..c.residual_count(d) {
                out.push(c.residual(j, st.derivative(c.order()), 1.0, &mut scratch));
            }
        }
    }
    Ok(out)
}

/// Gives the model that is certified for a parameter vector.
pub type PathOf<'a> = &'a dyn Fn(&[f64]) -> Result<Box<dyn Path>, TrainError>;

/// Runs the loop. `problem` builds the problem with a given enforcement (once per round);
/// `path` gives the model that is certified for a parameter vector (the written blob's, so
/// that what is proven is what ships).
///
/// Without constraints this is one plain solve.
///
/// Errors: those of the solver, the problem and the certificate.
pub fn enforce(
    problem: &dyn Fn(Enforcement) -> TrajectoryProblem,
    init: Vec<f64>,
    solver: &Settings,
    settings: &EnforceSettings,
    path: PathOf<'_>,
    observer: &mut dyn Observer,
) -> Result<Enforced, TrainError> {
    let probe = problem(Enforcement::Penalty { weight: 0.0 });
    let (t0, t1) = probe.interval;
    let per_time = probe.residuals_per_time();
    if probe.constraints.is_empty() {
        let report = crate::observer::solve(probe, init, solver, "solve", observer)?;
        let cost = problem(Enforcement::Penalty { weight: 0.0 })
            .terms(&report.params)?
            .total;
        return Ok(Enforced {
            rounds: vec![Round {
                rho: 0.0,
                times: 0,
                iterations: report.iterations,
                cost,
                worst_residual: 0.0,
                proven: Some(true),
            }],
            report,
            certificate: Certificate::default(),
        });
    }
    let n = settings.points.max(2);
    let mut times: Vec<f64> = (0..n)
        .map(|j| t0 + (t1 - t0) * j as f64 / (n - 1) as f64)
        .collect();
    let mut multipliers = vec![0.0; times.len() * per_time];
    let mut rho = settings.rho;
    let mut params = init;
    let mut rounds = Vec::new();
    let mut previous = f64::INFINITY;
    let mut last: Option<Report> = None;
    // The certificate of the current parameters, once computed.
    let mut certified: Option<Certificate> = None;
    for round in 0..settings.rounds.max(1) {
        let lagrangian = Lagrangian {
            times: times.clone(),
            multipliers: multipliers.clone(),
            rho,
            margin: settings.margin,
        };
        let label = format!("round {} (rho {rho:.0e}, {} times)", round + 1, times.len());
        let report = crate::observer::solve(
            problem(Enforcement::Lagrangian(lagrangian)),
            params.clone(),
            solver,
            &label,
            observer,
        )?;
        params = report.params.clone();
        certified = None;
        let plain = problem(Enforcement::Penalty { weight: 0.0 });
        let g = residuals(&plain, &params, &times)?;
        let worst = g
            .iter()
            .fold(f64::INFINITY, |w, v| w.min(v - settings.margin));
        for (lambda, gi) in multipliers.iter_mut().zip(&g) {
            *lambda = (*lambda - rho * (gi - settings.margin)).max(0.0);
        }
        let mut record = Round {
            rho,
            times: times.len(),
            iterations: report.iterations,
            cost: plain.terms(&params)?.total,
            worst_residual: worst,
            proven: None,
        };
        last = Some(report);
        // Certify once the residuals nearly hold at the enforcement times (the margin is what
        // the certificate may use up).
        if worst >= -0.5 * settings.margin {
            let certificate =
                certify::certify(&*path(&params)?, &plain.constraints, &settings.certificate)?;
            let proven = certificate.proven();
            record.proven = Some(proven);
            let mut added = 0;
            for v in certificate.failures() {
                for &t in v.violating_times.iter().chain(std::iter::once(&v.at)) {
                    if !times.contains(&t) {
                        times.push(t);
                        added += 1;
                    }
                }
            }
            multipliers.resize(times.len() * per_time, 0.0);
            certified = Some(certificate);
            if proven || added == 0 {
                rounds.push(record);
                break;
            }
        }
        if worst < 0.0 && -worst > 0.25 * previous {
            rho *= settings.growth;
        }
        previous = (-worst).max(0.0);
        rounds.push(record);
    }
    let report = last.ok_or_else(|| TrainError::Data("no round ran".into()))?;
    let certificate = match certified {
        Some(c) => c,
        None => certify::certify(&*path(&params)?, &probe.constraints, &settings.certificate)?,
    };
    Ok(Enforced {
        report,
        rounds,
        certificate,
    })
}

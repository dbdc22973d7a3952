//! The same problem solved several ways, measured the same way: each candidate (the enforced
//! FINN, the soft-penalty FINN, the endpoint-penalty network, the minimum-jerk quintic) is a
//! [`Path`]; its energy and effort come from the problem's Gauss-Legendre rule over the path's
//! jets, its constraints from the same certificate.

use super::certify::{self, Certificate};
use super::path::Path;
use super::problem::TrajectoryProblem;
use crate::TrainError;

/// One candidate's figures.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// What it is.
    pub name: String,
    /// Integral of |xdot|^2.
    pub energy: f64,
    /// Integral of |u|^2 (0 without dynamics).
    pub effort: f64,
    /// energy_weight * energy + effort weight * effort.
    pub cost: f64,
    /// max_i |x_i(T) - xT_i| and |x_i(t0) - x0_i|.
    pub endpoint_error: f64,
    /// max over via-points and coordinates of the miss.
    pub via_error: f64,
    /// Every constraint proven or refuted over [t0, T].
    pub certificate: Certificate,
    /// Solver iterations and wall time, when it was trained.
    pub training: Option<(u64, f64)>,
}

/// Measures `path` against `problem` (its weights, dynamics, nodes, ends, via-points and
/// constraints); `certificate`, when given, is the path's own (not computed again).
///
/// Errors: those of the path and of the certificate.
pub fn measure(
    name: &str,
    path: &dyn Path,
    problem: &TrajectoryProblem,
    settings: &certify::Settings,
    training: Option<(u64, f64)>,
    certificate: Option<Certificate>,
) -> Result<Candidate, TrainError> {
    let (t0, t1) = problem.interval;
    let h = t1 - t0;
    let d = problem.dims();
    let (mut energy, mut effort) = (0.0, 0.0);
    for (x, w) in crate::quadrature::gauss_legendre_pairs(problem.nodes) {
        let t = t0 + 0.5 * h * (x + 1.0);
        let wq = 0.5 * h * w;
        let jet = path.jet(t)?;
        let column = |k: usize| jet.iter().map(|j| j[k]).collect::<Vec<f64>>();
        let (pos, vel, acc) = (column(0), column(1), column(2));
        energy += wq * vel.iter().map(|v| v * v).sum::<f64>();
        if let Some((model, _)) = &problem.dynamics {
            let nu = model.controls();
            let mut u = vec![0.0; nu];
            let mut scratch = [vec![0.0; nu * d], vec![0.0; nu * d], vec![0.0; nu * d]];
            let [a, b, c] = &mut scratch;
            model.evaluate(&pos, &vel, &acc, &mut u, [a, b, c]);
            effort += wq * u.iter().map(|v| v * v).sum::<f64>();
        }
    }
    let effort_weight = problem.dynamics.as_ref().map_or(0.0, |(_, w)| *w);
    let miss = |t: f64, target: &[f64]| -> Result<f64, TrainError> {
        let jet = path.jet(t)?;
        Ok(jet
            .iter()
            .zip(target)
            .map(|(j, x)| (j[0] - x).abs())
            .fold(0.0, f64::max))
    };
    let endpoint_error = miss(t0, &problem.start)?.max(miss(t1, &problem.end)?);
    let mut via_error: f64 = 0.0;
    for (t, x) in &problem.via {
        via_error = via_error.max(miss(*t, x)?);
    }
    Ok(Candidate {
        name: name.to_string(),
        energy,
        effort,
        cost: problem.energy_weight * energy + effort_weight * effort,
        endpoint_error,
        via_error,
        certificate: match certificate {
            Some(c) => c,
            None => certify::certify(path, &problem.constraints, settings)?,
        },
        training,
    })
}

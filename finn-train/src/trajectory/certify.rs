//! Proves or refutes each constraint over the whole interval [t0, T], not at nodes.
//!
//! The method is branch and bound on the constraint's slack with Taylor enclosures. On a
//! sub-interval with centre m and half-width r, the derivative of order k that a constraint
//! reads satisfies, for every t in it and every coordinate i,
//!
//!   |x_i^(k)(t) - x_i^(k)(m)| <= sum_{j=1}^{4-k} |x_i^(k+j)(m)| r^j / j! + M5_i r^(5-k) / (5-k)!
//!                               + the rounding allowance of x_i^(k)(m),
//!
//! with M5_i a bound of |x_i^(5)| over [t0, T] (Taylor's theorem with the Lagrange remainder;
//! for a FINN the magnitude jets of `finn_core::Network::derivative_bound_over`). The
//! constraint's lower slack over that box of values is a lower bound of its slack over the
//! sub-interval; its slack at m is an upper bound of the minimum. Sub-intervals are split,
//! lowest lower bound first, until the minimum slack is known to within a tolerance:
//!
//! - **proven** when the lower bound of the minimum is >= 0;
//! - **violated** when the slack at some time is < 0 beyond rounding (that time is reported,
//!   with the worst slack found);
//! - **undecided** when the budget of sub-intervals runs out first (reported as not met).
//!
//! The proof is as rigorous as the bounds it uses: M5 is proved; the f64 rounding allowance
//! is 1e-10 relative to magnitude bounds, about 1000 times the errors measured in
//! `results/precision.md` (not itself proved).

use super::constraints::Constraint;
use super::path::Path;
use crate::TrainError;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What the certificate found for one constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The slack is >= 0 at every time of [t0, T].
    Proven,
    /// The slack is < 0 at the reported time.
    Violated,
    /// Neither within the budget: not met, as far as anything is reported.
    Undecided,
}

/// One constraint's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The constraint in words.
    pub constraint: String,
    /// The verdict.
    pub status: Status,
    /// A proved lower bound of the minimum slack over [t0, T].
    pub lower: f64,
    /// The smallest slack evaluated (an upper bound of the minimum), and where.
    pub worst: f64,
    /// The time of `worst`.
    pub at: f64,
    /// Sub-intervals examined.
    pub intervals: usize,
    /// Times with a negative slack, worst first (at most 16): where the solver needs nodes.
    pub violating_times: Vec<f64>,
}

/// Verdicts for every constraint of a path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Certificate {
    /// One per constraint, in order.
    pub verdicts: Vec<Verdict>,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl Certificate {
    /// Whether every constraint is proven.
    pub fn proven(&self) -> bool {
        self.verdicts.iter().all(|v| v.status == Status::Proven)
    }

    /// The verdicts that are not proven.
    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| v.status != Status::Proven)
    }
}

/// Limits of the search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Stop refining when the minimum slack is known to this fraction of the constraint's
    /// scale.
    pub tolerance: f64,
    /// Sub-intervals per constraint.
    pub budget: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tolerance: 1e-4,
            budget: 400_000,
        }
    }
}

/// A sub-interval and what the enclosure says about it.
struct Piece {
    lower: f64,
    a: f64,
    b: f64,
}

impl PartialEq for Piece {
    fn eq(&self, other: &Self) -> bool {
        self.lower.total_cmp(&other.lower) == Ordering::Equal
    }
}
impl Eq for Piece {}
impl PartialOrd for Piece {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Piece {
    // Reversed: the heap pops the lowest lower bound first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.lower.total_cmp(&self.lower)
    }
}

/// The enclosure of one sub-interval: (lower bound of the slack on it, an upper bound of the
/// slack at its centre, the centre).
fn enclose(path: &dyn Path, c: &Constraint, a: f64, b: f64) -> Result<(f64, f64, f64), TrainError> {
    let m = 0.5 * (a + b);
    let r = 0.5 * (b - a);
    let k = c.order();
    let jet = path.jet(m)?;
    let d = path.dims();
    let mut center = vec![0.0; d];
    let mut radius = vec![0.0; d];
    let mut rounding = vec![0.0; d];
    for i in 0..d {
        center[i] = jet[i][k];
        let (mut term, mut factorial) = (1.0, 1.0);
        let mut rad = 0.0;
        for j in 1..=(4 - k) {
            term *= r;
            factorial *= j as f64;
            rad += jet[i][k + j].abs() * term / factorial;
        }
        let last = (5 - k) as f64;
        rad += path.fifth_bound()[i] * term * r / (factorial * last);
        rounding[i] = path.rounding()[i][k];
        radius[i] = rad + rounding[i];
    }
    let lower = c.slack_lower(&center, &radius);
    let at_centre = c.slack(&center) + c.slack_change(&rounding);
    if lower.is_nan() || at_centre.is_nan() {
        return Err(TrainError::Data(format!(
            "certificate: the slack of \"{}\" is not finite at t = {m}",
            c.describe()
        )));
    }
    Ok((lower, at_centre, m))
}

/// Proves or refutes one constraint over the path's interval.
///
/// Errors: `Data` when the path cannot be evaluated or a slack is NaN.
pub fn certify_one(
    path: &dyn Path,
    c: &Constraint,
    settings: &Settings,
) -> Result<Verdict, TrainError> {
    let (t0, t1) = path.interval();
    let tol = settings.tolerance * c.scale();
    let mut heap = BinaryHeap::new();
    let (lower, at_centre, m) = enclose(path, c, t0, t1)?;
    let (mut worst, mut at) = (at_centre, m);
    let mut violating: Vec<(f64, f64)> = Vec::new();
    // The ends themselves (the enclosures only evaluate centres).
    for t in [t0, t1] {
        let (_, v, _) = enclose(path, c, t, t)?;
        if v < worst {
            (worst, at) = (v, t);
        }
        if v < 0.0 {
            violating.push((v, t));
        }
    }
    if at_centre < 0.0 {
        violating.push((at_centre, m));
    }
    heap.push(Piece {
        lower,
        a: t0,
        b: t1,
    });
    let mut intervals = 1;
    let mut proven_lower = f64::INFINITY;
    let mut exhausted = false;
    while let Some(piece) = heap.pop() {
        if piece.lower >= worst - tol {
            // Every other piece's bound is at least this one's.
            proven_lower = proven_lower.min(piece.lower);
            break;
        }
        let mid = 0.5 * (piece.a + piece.b);
        if intervals >= settings.budget || !(piece.a < mid && mid < piece.b) {
            proven_lower = proven_lower.min(piece.lower);
            exhausted = true;
            break;
        }
        for (a, b) in [(piece.a, mid), (mid, piece.b)] {
            let (lower, at_centre, m) = enclose(path, c, a, b)?;
            intervals += 1;
            if at_centre < worst {
                (worst, at) = (at_centre, m);
            }
            if at_centre < 0.0 {
                violating.push((at_centre, m));
            }
            heap.push(Piece { lower, a, b });
        }
    }
    if heap.is_empty() && !exhausted {
        proven_lower = proven_lower.min(worst);
    }
    let lower = proven_lower.min(worst);
    let status = if lower >= 0.0 {
        Status::Proven
    } else if worst < 0.0 {
        Status::Violated
    } else {
        Status::Undecided
    };
    violating.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut violating_times: Vec<f64> = Vec::new();
    for (_, t) in violating {
        // Spread out: skip times within 1e-3 of the interval of one already kept.
        if violating_times
            .iter()
            .all(|s| (s - t).abs() > 1e-3 * (t1 - t0))
        {
            violating_times.push(t);
        }
        if violating_times.len() == 16 {
            break;
        }
    }
    Ok(Verdict {
        constraint: c.describe(),
        status,
        lower,
        worst,
        at,
        intervals,
        violating_times,
    })
}

/// Proves or refutes every constraint over the path's interval.
///
/// Errors: as [`certify_one`].
pub fn certify(
    path: &dyn Path,
    constraints: &[Constraint],
    settings: &Settings,
) -> Result<Certificate, TrainError> {
    let start = Instant::now();
    let verdicts = constraints
        .iter()
        .map(|c| certify_one(path, c, settings))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Certificate {
        verdicts,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::constraints::{Limit, Obstacle, Quantity};
    use super::super::path::Quintic;
    use super::*;

    /// The quintic from 0 to 1 in 1 s peaks at speed 1.875 at t = 0.5, acceleration
    /// 10/sqrt(3) = 5.7735 at t = (3 - sqrt(3))/6, and jerk 60 at the ends.
    fn quintic() -> Quintic {
        Quintic::new((0.0, 1.0), &[0.0], &[1.0])
    }

    fn limit(quantity: Quantity, max: f64) -> Constraint {
        Constraint::Limit {
            quantity,
            limit: Limit::Norm(max),
        }
    }

    #[test]
    fn known_extrema_of_a_quintic_are_proven_or_refuted_at_the_right_time() {
        let s = Settings::default();
        let path = quintic();
        let speed_ok = certify_one(&path, &limit(Quantity::Velocity, 1.876), &s).unwrap();
        assert_eq!(speed_ok.status, Status::Proven);
        assert!(speed_ok.lower <= 0.001 + 1e-12 && speed_ok.lower > 0.0);
        let speed_bad = certify_one(&path, &limit(Quantity::Velocity, 1.874), &s).unwrap();
        assert_eq!(speed_bad.status, Status::Violated);
        assert!((speed_bad.at - 0.5).abs() < 1e-2, "{}", speed_bad.at);
        assert!((speed_bad.worst + 0.001).abs() < 2e-4);
        let peak = 10.0 / 3f64.sqrt();
        let acc = certify_one(&path, &limit(Quantity::Acceleration, peak - 1e-3), &s).unwrap();
        assert_eq!(acc.status, Status::Violated);
        let t_peak = (3.0 - 3f64.sqrt()) / 6.0;
        assert!(
            (acc.at - t_peak).abs() < 2e-2 || (acc.at - (1.0 - t_peak)).abs() < 2e-2,
            "{}",
            acc.at
        );
        let jerk = certify_one(&path, &limit(Quantity::Jerk, 60.001), &s).unwrap();
        assert_eq!(jerk.status, Status::Proven);
        let jerk_bad = certify_one(&path, &limit(Quantity::Jerk, 59.99), &s).unwrap();
        assert_eq!(jerk_bad.status, Status::Violated);
        assert!(jerk_bad.at == 0.0 || jerk_bad.at == 1.0);
    }

    #[test]
    fn a_violation_between_every_node_of_a_grid_is_found() {
        // The 1-D quintic passes x(0.3) at t = 0.3 only, at speed 1.32: an obstacle of
        // radius 1e-5 there is hit for |t - 0.3| < 7.6e-6, between the nodes of any grid
        // coarser than that (and t = 0.3 is no bisection point).
        let path = quintic();
        let x = path.jet(0.3).unwrap()[0][0];
        let c = Constraint::Clearance {
            obstacle: Obstacle::Ball {
                center: vec![x],
                radius: 1e-5,
            },
            clearance: 0.0,
        };
        let v = certify_one(&path, &c, &Settings::default()).unwrap();
        assert_eq!(v.status, Status::Violated);
        assert!((v.at - 0.3).abs() < 1e-5, "{}", v.at);
        assert!(!v.violating_times.is_empty());
        // Moved off the path: proven.
        let off = Constraint::Clearance {
            obstacle: Obstacle::Ball {
                center: vec![1.2],
                radius: 0.1,
            },
            clearance: 0.05,
        };
        let v = certify_one(&path, &off, &Settings::default()).unwrap();
        assert_eq!(v.status, Status::Proven);
        assert!((v.lower - 0.05).abs() < 1e-5, "{}", v.lower);
    }

    #[test]
    fn a_tiny_budget_is_undecided_not_proven() {
        let s = Settings {
            tolerance: 1e-9,
            budget: 3,
        };
        let v = certify_one(&quintic(), &limit(Quantity::Velocity, 1.9), &s).unwrap();
        assert_eq!(v.status, Status::Undecided);
    }
}

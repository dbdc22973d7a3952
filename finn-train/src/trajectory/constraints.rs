//! What a trajectory must satisfy between its ends: a clearance from obstacles (balls and
//! axis-aligned boxes) and limits on velocity, acceleration and jerk, as a Euclidean norm or per
//! axis.
//!
//! Each [`Constraint`] has three faces, one per user of it:
//! - [`Constraint::slack`]: in the constraint's own units (distance, speed, ...), >= 0 exactly
//!   when it holds at one time; what reports print;
//! - [`Constraint::slack_lower`]: a lower bound of the slack over every value in a box, the
//!   step of the certificate ([`super::certify`]);
//! - [`Constraint::residual`]: smooth dimensionless residuals g >= 0 with their gradients, which
//!   the solver enforces ([`super::enforce`]).

use std::fmt;

/// An obstacle.
#[derive(Clone, Debug, PartialEq)]
pub enum Obstacle {
    /// A disk (2-D), ball (3-D) or interval (1-D).
    Ball {
        /// Centre.
        center: Vec<f64>,
        /// Radius, > 0.
        radius: f64,
    },
    /// An axis-aligned box [lower, upper].
    Box {
        /// Lower corner.
        lower: Vec<f64>,
        /// Upper corner, > lower on every axis.
        upper: Vec<f64>,
    },
}

impl Obstacle {
    /// Signed distance of `x` to the surface (negative inside) and its gradient in x.
    pub fn signed_distance(&self, x: &[f64]) -> (f64, Vec<f64>) {
        match self {
            Obstacle::Ball { center, radius } => {
                let diff: Vec<f64> = x.iter().zip(center).map(|(a, c)| a - c).collect();
                let norm = diff.iter().map(|v| v * v).sum::<f64>().sqrt();
                let grad = if norm > 0.0 {
                    diff.iter().map(|v| v / norm).collect()
                } else {
                    vec![0.0; x.len()]
                };
                (norm - radius, grad)
            }
            Obstacle::Box { lower, upper } => {
                let excess: Vec<f64> = (0..x.len())
                    .map(|i| {
                        if x[i] < lower[i] {
                            x[i] - lower[i]
                        } else if x[i] > upper[i] {
                            x[i] - upper[i]
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let outside = excess.iter().map(|v| v * v).sum::<f64>().sqrt();
                if outside > 0.0 {
                    return (outside, excess.iter().map(|v| v / outside).collect());
                }
                // Inside: the nearest face.
                let mut best = (f64::INFINITY, 0, 0.0);
                for i in 0..x.len() {
                    for (depth, sign) in [(x[i] - lower[i], 1.0), (upper[i] - x[i], -1.0)] {
                        if depth < best.0 {
                            best = (depth, i, sign);
                        }
                    }
                }
                let mut grad = vec![0.0; x.len()];
                grad[best.1] = -best.2;
                (-best.0, grad)
            }
        }
    }

    /// A lower bound of the signed distance over every x with |x_i - c_i| <= r_i.
    pub fn distance_lower(&self, c: &[f64], r: &[f64]) -> f64 {
        match self {
            Obstacle::Ball { center, radius } => {
                let gap = (0..c.len())
                    .map(|i| ((c[i] - center[i]).abs() - r[i]).max(0.0).powi(2))
                    .sum::<f64>()
                    .sqrt();
                gap - radius
            }
            Obstacle::Box { lower, upper } => {
                let gap: Vec<f64> = (0..c.len())
                    .map(|i| {
                        (lower[i] - (c[i] + r[i]))
                            .max((c[i] - r[i]) - upper[i])
                            .max(0.0)
                    })
                    .collect();
                let apart = gap.iter().map(|v| v * v).sum::<f64>().sqrt();
                if apart > 0.0 {
                    apart
                } else {
                    // The boxes meet: no point is deeper than half the thinnest side.
                    -(0..c.len())
                        .map(|i| 0.5 * (upper[i] - lower[i]))
                        .fold(f64::INFINITY, f64::min)
                }
            }
        }
    }

    /// A length that sets the obstacle's scale: the radius, or half the thinnest side.
    fn size(&self) -> f64 {
        match self {
            Obstacle::Ball { radius, .. } => *radius,
            Obstacle::Box { lower, upper } => lower
                .iter()
                .zip(upper)
                .map(|(l, u)| 0.5 * (u - l))
                .fold(f64::INFINITY, f64::min),
        }
    }
}

impl fmt::Display for Obstacle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obstacle::Ball { center, radius } => write!(f, "ball at {center:?} radius {radius}"),
            Obstacle::Box { lower, upper } => write!(f, "box {lower:?} to {upper:?}"),
        }
    }
}

/// A time derivative of the position that a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// dx/dt.
    Velocity,
    /// d2x/dt2.
    Acceleration,
    /// d3x/dt3.
    Jerk,
}

impl Quantity {
    /// The derivative order: 1, 2 or 3.
    pub fn order(self) -> usize {
        match self {
            Quantity::Velocity => 1,
            Quantity::Acceleration => 2,
            Quantity::Jerk => 3,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Quantity::Velocity => "velocity",
            Quantity::Acceleration => "acceleration",
            Quantity::Jerk => "jerk",
        }
    }
}

/// How a limit measures its quantity.
#[derive(Clone, Debug, PartialEq)]
pub enum Limit {
    /// The Euclidean norm is at most this (for velocity: the speed).
    Norm(f64),
    /// |q_i| is at most the i-th value, per axis.
    Axes(Vec<f64>),
}

/// One constraint on a trajectory, required at every time of [t0, T].
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    /// The position stays `clearance` or more away from the obstacle's surface.
    Clearance {
        /// The obstacle.
        obstacle: Obstacle,
        /// Distance to keep, >= 0.
        clearance: f64,
    },
    /// A time derivative stays within a limit.
    Limit {
        /// Which derivative.
        quantity: Quantity,
        /// Norm or per-axis bound.
        limit: Limit,
    },
}

/// |v|.
fn norm(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

impl Constraint {
    /// The derivative order the constraint reads: 0 (position) to 3 (jerk).
    pub fn order(&self) -> usize {
        match self {
            Constraint::Clearance { .. } => 0,
            Constraint::Limit { quantity, .. } => quantity.order(),
        }
    }

    /// The constraint in words, for reports.
    pub fn describe(&self) -> String {
        match self {
            Constraint::Clearance {
                obstacle,
                clearance,
            } => format!("clearance >= {clearance} from the {obstacle}"),
            Constraint::Limit {
                quantity: Quantity::Velocity,
                limit: Limit::Norm(max),
            } => format!("speed <= {max}"),
            Constraint::Limit {
                quantity,
                limit: Limit::Norm(max),
            } => format!("norm of the {} <= {max}", quantity.name()),
            Constraint::Limit {
                quantity,
                limit: Limit::Axes(max),
            } => format!("abs({}) per axis <= {max:?}", quantity.name()),
        }
    }

    /// The scale of the slack: the limit, or the clearance plus the obstacle's size.
    pub fn scale(&self) -> f64 {
        match self {
            Constraint::Clearance {
                obstacle,
                clearance,
            } => clearance + obstacle.size(),
            Constraint::Limit {
                limit: Limit::Norm(max),
                ..
            } => *max,
            Constraint::Limit {
                limit: Limit::Axes(max),
                ..
            } => max.iter().copied().fold(f64::INFINITY, f64::min),
        }
    }

    /// The slack at one time, given the derivative of order [`Constraint::order`]: distance
    /// minus clearance, or limit minus the quantity; >= 0 exactly when the constraint holds.
    pub fn slack(&self, q: &[f64]) -> f64 {
        match self {
            Constraint::Clearance {
                obstacle,
                clearance,
            } => obstacle.signed_distance(q).0 - clearance,
            Constraint::Limit {
                limit: Limit::Norm(max),
                ..
            } => max - norm(q.iter().copied()),
            Constraint::Limit {
                limit: Limit::Axes(max),
                ..
            } => q
                .iter()
                .zip(max)
                .map(|(v, m)| m - v.abs())
                .fold(f64::INFINITY, f64::min),
        }
    }

    /// A lower bound of the slack over every value q with |q_i - c_i| <= r_i.
    pub fn slack_lower(&self, c: &[f64], r: &[f64]) -> f64 {
        match self {
            Constraint::Clearance {
                obstacle,
                clearance,
            } => obstacle.distance_lower(c, r) - clearance,
            Constraint::Limit {
                limit: Limit::Norm(max),
                ..
            } => max - norm(c.iter().zip(r).map(|(c, r)| c.abs() + r)),
            Constraint::Limit {
                limit: Limit::Axes(max),
                ..
            } => (0..c.len())
                .map(|i| max[i] - (c[i].abs() + r[i]))
                .fold(f64::INFINITY, f64::min),
        }
    }

    /// How much the slack can change when the value moves by `r` (per axis): the slack is
    /// 1-Lipschitz in the Euclidean norm (per-axis limits: in the largest component).
    pub fn slack_change(&self, r: &[f64]) -> f64 {
        match self {
            Constraint::Limit {
                limit: Limit::Axes(_),
                ..
            } => r.iter().copied().fold(0.0, f64::max),
            _ => norm(r.iter().copied()),
        }
    }

    /// Number of solver residuals over `dims` coordinates: one per axis for per-axis limits,
    /// otherwise one.
    pub fn residual_count(&self, dims: usize) -> usize {
        match self {
            Constraint::Limit {
                limit: Limit::Axes(_),
                ..
            } => dims,
            _ => 1,
        }
    }

    /// Residual `j` (< [`Constraint::residual_count`]): a smooth dimensionless g that is >= 0
    /// exactly when the constraint holds (on that axis), and its gradient in q (added to `grad`
    /// times `seed`).
    ///
    /// Balls: (|x - c|^2 - R^2)/R^2 with R the radius plus the clearance; boxes: (signed
    /// distance - clearance)/scale; norms: 1 - |q|^2/max^2; axes: 1 - q_j^2/max_j^2.
    pub fn residual(&self, j: usize, q: &[f64], seed: f64, grad: &mut [f64]) -> f64 {
        match self {
            Constraint::Clearance {
                obstacle: Obstacle::Ball { center, radius },
                clearance,
            } => {
                let big_r2 = (radius + clearance).powi(2);
                let mut d2 = 0.0;
                for i in 0..q.len() {
                    let d = q[i] - center[i];
                    d2 += d * d;
                    grad[i] += seed * 2.0 * d / big_r2;
                }
                d2 / big_r2 - 1.0
            }
            Constraint::Clearance {
                obstacle,
                clearance,
            } => {
                let scale = self.scale();
                let (sd, g) = obstacle.signed_distance(q);
                for (o, gi) in grad.iter_mut().zip(g) {
                    *o += seed * gi / scale;
                }
                (sd - clearance) / scale
            }
            Constraint::Limit {
                limit: Limit::Norm(max),
                ..
            } => {
                let m2 = max * max;
                let mut q2 = 0.0;
                for (o, v) in grad.iter_mut().zip(q) {
                    q2 += v * v;
                    *o -= seed * 2.0 * v / m2;
                }
                1.0 - q2 / m2
            }
            Constraint::Limit {
                limit: Limit::Axes(max),
                ..
            } => {
                let m2 = max[j] * max[j];
                grad[j] -= seed * 2.0 * q[j] / m2;
                1.0 - q[j] * q[j] / m2
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Constraint> {
        vec![
            Constraint::Clearance {
                obstacle: Obstacle::Ball {
                    center: vec![1.0, 0.5],
                    radius: 0.3,
                },
                clearance: 0.1,
            },
            Constraint::Clearance {
                obstacle: Obstacle::Box {
                    lower: vec![-1.0, 0.0],
                    upper: vec![0.5, 2.0],
                },
                clearance: 0.05,
            },
            Constraint::Limit {
                quantity: Quantity::Velocity,
                limit: Limit::Norm(1.5),
            },
            Constraint::Limit {
                quantity: Quantity::Jerk,
                limit: Limit::Axes(vec![2.0, 0.7]),
            },
        ]
    }

    fn grid() -> Vec<[f64; 2]> {
        let mut out = Vec::new();
        for i in 0..=40 {
            for j in 0..=40 {
                out.push([-2.0 + 0.1 * i as f64, -1.5 + 0.1 * j as f64]);
            }
        }
        out
    }

    #[test]
    fn slack_lower_bounds_the_slack_over_its_box() {
        let r = [0.15, 0.05];
        for c in all() {
            for q in grid() {
                let lower = c.slack_lower(&q, &r);
                for (a, b) in [
                    (-1.0, -1.0),
                    (1.0, -1.0),
                    (0.3, 0.9),
                    (-0.7, 0.2),
                    (0.0, 0.0),
                ] {
                    let p = [q[0] + a * r[0], q[1] + b * r[1]];
                    assert!(lower <= c.slack(&p) + 1e-15, "{}", c.describe());
                }
                // Zero radius: the bound is the slack (up to rounding), except inside a box.
                let exact = c.slack_lower(&q, &[0.0, 0.0]);
                if c.slack(&q) >= 0.0 {
                    assert!((exact - c.slack(&q)).abs() < 1e-12, "{}", c.describe());
                }
            }
        }
    }

    #[test]
    fn residuals_have_the_slacks_sign_and_exact_gradients() {
        for c in all() {
            for q in grid() {
                for j in 0..c.residual_count(2) {
                    let mut g = [0.0; 2];
                    let value = c.residual(j, &q, 1.0, &mut g);
                    if c.residual_count(2) == 1 && c.slack(&q).abs() > 1e-9 {
                        assert_eq!(value >= 0.0, c.slack(&q) >= 0.0, "{}", c.describe());
                    }
                    for i in 0..2 {
                        let h = 1e-6;
                        let (mut up, mut down) = (q, q);
                        up[i] += h;
                        down[i] -= h;
                        let mut scratch = [0.0; 2];
                        let fd = (c.residual(j, &up, 1.0, &mut scratch)
                            - c.residual(j, &down, 1.0, &mut scratch))
                            / (2.0 * h);
                        // Box distances have kinks on the faces' bisectors: skip those.
                        if (fd - g[i]).abs() > 1e-5 * (1.0 + fd.abs()) {
                            assert!(
                                matches!(
                                    c,
                                    Constraint::Clearance {
                                        obstacle: Obstacle::Box { .. },
                                        ..
                                    }
                                ),
                                "{}: {fd} vs {}",
                                c.describe(),
                                g[i]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn box_signed_distance_is_negative_inside_and_euclidean_outside() {
        let o = Obstacle::Box {
            lower: vec![0.0, 0.0],
            upper: vec![2.0, 1.0],
        };
        assert_eq!(o.signed_distance(&[1.0, 0.25]).0, -0.25);
        assert_eq!(o.signed_distance(&[5.0, 5.0]).0, 5.0);
        assert_eq!(o.signed_distance(&[1.0, 3.0]).0, 2.0);
    }
}

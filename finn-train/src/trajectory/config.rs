//! The config of the `trajectory` application (`application = "trajectory"`); every key is
//! listed in `docs/config.md`.

use super::certify;
use super::constraints::{Constraint, Limit, Obstacle, Quantity};
use super::dynamics::{InverseDynamics, PointMass, TwoLinkArm};
use super::enforce::EnforceSettings;
use super::path::{PATH_LAYERS, PATH_WIDTH};
use super::problem::{Endpoints, Enforcement, TrajectoryProblem};
use crate::config::{check_output, check_widths, ActivationConfig, ScalarConfig, SolverConfig};
use crate::model::Architecture;
use finn_core::format::{MAX_COORDS, MAX_VIA};
use finn_core::trajectory::OutsidePolicy;
use finn_core::Kind;
use serde::Deserialize;
use std::path::PathBuf;

/// A `trajectory` config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryConfig {
    /// Always `"trajectory"` here (read first, to choose this type).
    pub application: String,
    /// Seed of the initial parameters (coordinate i uses seed + i).
    #[serde(default)]
    pub seed: u64,
    /// Output stem (relative to the config file's directory).
    pub output: PathBuf,
    /// Scalar type of the blob's parameters.
    #[serde(default)]
    pub blob_scalar: ScalarConfig,
    /// `[network]`: each coordinate's network of time.
    pub network: CoordinateNetworkConfig,
    /// `[trajectory]`: the problem.
    pub trajectory: ProblemConfig,
    /// `[baseline]`, optional: the same problem solved other ways, for the report.
    pub baseline: Option<BaselineConfig>,
    /// `[solver]`: the solver of each round.
    #[serde(default)]
    pub solver: SolverConfig,
}

/// `[network]` of a trajectory: one signed network of time per coordinate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinateNetworkConfig {
    /// tanh | sigma.
    #[serde(default = "default_activation")]
    pub activation: ActivationConfig,
    /// Hidden widths (at most 3 layers of 64).
    pub widths: Vec<usize>,
    /// Factor on the random initial parameters (small values start near the straight line).
    #[serde(default = "default_initial_scale")]
    pub initial_scale: f64,
}

fn default_activation() -> ActivationConfig {
    ActivationConfig::Tanh
}
fn default_initial_scale() -> f64 {
    0.3
}

/// `[trajectory]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemConfig {
    /// [t0, T].
    pub interval: [f64; 2],
    /// Start state x(t0), one value per coordinate.
    pub start: Vec<f64>,
    /// End state x(T).
    pub end: Vec<f64>,
    /// Via-points, met up to a small linear solve's rounding.
    #[serde(default)]
    pub via: Vec<ViaConfig>,
    /// Obstacles: balls (`center`, `radius`) or axis-aligned boxes (`lower`, `upper`).
    #[serde(default)]
    pub obstacles: Vec<ObstacleConfig>,
    /// Distance to keep from every obstacle's surface (an obstacle's own `clearance` wins).
    #[serde(default)]
    pub clearance: f64,
    /// Weight of the energy, the integral of |xdot|^2.
    #[serde(default = "default_energy_weight")]
    pub energy_weight: f64,
    /// `[trajectory.limits]`: limits on velocity, acceleration and jerk.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[trajectory.enforce]`: how the constraints are enforced and certified.
    #[serde(default)]
    pub enforce: EnforceConfig,
    /// Inverse dynamics for the control-effort term.
    pub dynamics: Option<DynamicsConfig>,
    /// Gauss-Legendre nodes of the cost integrals (and of penalties).
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// What the blob's player does outside [t0, T]: hold | reject.
    #[serde(default = "default_policy")]
    pub outside: PolicyConfig,
}

fn default_energy_weight() -> f64 {
    1.0
}
fn default_nodes() -> usize {
    40
}
fn default_policy() -> PolicyConfig {
    PolicyConfig::Hold
}

/// One via-point.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViaConfig {
    /// Strictly inside (t0, T).
    pub time: f64,
    /// One value per coordinate.
    pub position: Vec<f64>,
}

/// One obstacle: a ball (`center`, `radius`) or an axis-aligned box (`lower`, `upper`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObstacleConfig {
    /// A ball's centre, one value per coordinate.
    pub center: Option<Vec<f64>>,
    /// A ball's radius, > 0.
    pub radius: Option<f64>,
    /// A box's lower corner.
    pub lower: Option<Vec<f64>>,
    /// A box's upper corner, > lower on every axis.
    pub upper: Option<Vec<f64>>,
    /// This obstacle's clearance (default: `trajectory.clearance`).
    pub clearance: Option<f64>,
}

/// A per-axis limit: one value for every axis, or one per axis.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum AxisLimitConfig {
    /// The same limit on every axis.
    Same(f64),
    /// One limit per axis.
    PerAxis(Vec<f64>),
}

impl AxisLimitConfig {
    fn values(&self, d: usize) -> Vec<f64> {
        match self {
            AxisLimitConfig::Same(v) => vec![*v; d],
            AxisLimitConfig::PerAxis(v) => v.clone(),
        }
    }
}

/// `[trajectory.limits]`: each limit is required at every time of [t0, T].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Speed, the Euclidean norm of the velocity.
    pub speed: Option<f64>,
    /// abs(xdot_i) per axis.
    pub velocity: Option<AxisLimitConfig>,
    /// Euclidean norm of the acceleration.
    pub acceleration: Option<f64>,
    /// abs(xddot_i) per axis.
    pub acceleration_axis: Option<AxisLimitConfig>,
    /// Euclidean norm of the jerk.
    pub jerk: Option<f64>,
    /// Absolute jerk per axis.
    pub jerk_axis: Option<AxisLimitConfig>,
}

/// How the solver sees the constraints.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum EnforceMethod {
    /// Augmented Lagrangian with certificate-driven times (the default).
    #[default]
    AugmentedLagrangian,
    /// Fixed-weight penalties at the quadrature nodes (one solve; still certified after).
    Penalty,
}

/// `[trajectory.enforce]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnforceConfig {
    /// augmented-lagrangian | penalty.
    pub method: EnforceMethod,
    /// Residual the solver aims for, in (0, 0.5].
    pub margin: f64,
    /// Initial enforcement times, >= 2.
    pub points: usize,
    /// Most rounds (solves), >= 1.
    pub rounds: usize,
    /// Initial rho, > 0.
    pub rho: f64,
    /// Factor on rho, > 1.
    pub growth: f64,
    /// Weight of the penalty method (and of the baselines' penalties), > 0.
    pub penalty_weight: f64,
    /// Sub-intervals the certificate may examine per constraint, >= 1.
    pub certificate_budget: usize,
    /// Stop refining when the minimum slack is known to this fraction of its scale, > 0.
    pub certificate_tolerance: f64,
}

impl Default for EnforceConfig {
    fn default() -> Self {
        let e = EnforceSettings::default();
        EnforceConfig {
            method: EnforceMethod::AugmentedLagrangian,
            margin: e.margin,
            points: e.points,
            rounds: e.rounds,
            rho: e.rho,
            growth: e.growth,
            penalty_weight: 1e4,
            certificate_budget: e.certificate.budget,
            certificate_tolerance: e.certificate.tolerance,
        }
    }
}

impl EnforceConfig {
    /// The outer loop's settings.
    pub fn settings(&self) -> EnforceSettings {
        EnforceSettings {
            margin: self.margin,
            points: self.points,
            rounds: match self.method {
                EnforceMethod::AugmentedLagrangian => self.rounds,
                EnforceMethod::Penalty => 1,
            },
            rho: self.rho,
            growth: self.growth,
            certificate: certify::Settings {
                tolerance: self.certificate_tolerance,
                budget: self.certificate_budget,
            },
        }
    }
}

/// `[baseline]`: the same problem solved other ways in the same run, for the report (the
/// minimum-jerk quintic is always there).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Also solve with the constraints as fixed penalties at the nodes (the soft-penalty
    /// FINN), weight `trajectory.enforce.penalty_weight`.
    #[serde(default = "yes")]
    pub soft_penalty: bool,
    /// When given (> 0), also solve with soft constraints and the end state as
    /// `endpoint_penalty` times abs(x(T) - xT)^2 instead of exact.
    pub endpoint_penalty: Option<f64>,
}

fn yes() -> bool {
    true
}

/// `trajectory.dynamics`: the model and the weight of the integral of |u|^2.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DynamicsConfig {
    /// u = m xddot per axis.
    PointMass {
        /// Mass.
        #[serde(default = "one")]
        mass: f64,
        /// Effort weight.
        weight: f64,
    },
    /// A planar two-link arm in joint space (two coordinates: the joint angles).
    TwoLinkArm {
        /// Link masses.
        #[serde(default = "arm_mass")]
        mass: [f64; 2],
        /// Link lengths.
        #[serde(default = "arm_length")]
        length: [f64; 2],
        /// Distance of each centre of mass from its joint.
        #[serde(default = "arm_com")]
        com: [f64; 2],
        /// Link inertias about their centres of mass.
        #[serde(default = "arm_inertia")]
        inertia: [f64; 2],
        /// Gravity along -y.
        #[serde(default = "arm_gravity")]
        gravity: f64,
        /// Effort weight.
        weight: f64,
    },
}

fn one() -> f64 {
    1.0
}
fn arm_mass() -> [f64; 2] {
    TwoLinkArm::default().mass
}
fn arm_length() -> [f64; 2] {
    TwoLinkArm::default().length
}
fn arm_com() -> [f64; 2] {
    TwoLinkArm::default().com
}
fn arm_inertia() -> [f64; 2] {
    TwoLinkArm::default().inertia
}
fn arm_gravity() -> f64 {
    TwoLinkArm::default().gravity
}

/// `trajectory.outside`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyConfig {
    /// Hold the end state (zero derivatives) outside the interval.
    Hold,
    /// Sampling outside the interval is an error.
    Reject,
}

impl From<PolicyConfig> for OutsidePolicy {
    fn from(p: PolicyConfig) -> OutsidePolicy {
        match p {
            PolicyConfig::Hold => OutsidePolicy::Hold,
            PolicyConfig::Reject => OutsidePolicy::Reject,
        }
    }
}

fn finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

fn non_negative(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

impl ProblemConfig {
    fn check_obstacles(&self, d: usize) -> Result<(), String> {
        for (k, o) in self.obstacles.iter().enumerate() {
            let key = format!("trajectory.obstacles[{k}]");
            match (&o.center, o.radius, &o.lower, &o.upper) {
                (Some(c), Some(r), None, None) => {
                    if c.len() != d || !finite(c) {
                        return Err(format!("{key}.center needs {d} finite values"));
                    }
                    if !positive(r) {
                        return Err(format!("{key}.radius must be finite and > 0, have {r}"));
                    }
                }
                (None, None, Some(lo), Some(hi)) => {
                    if lo.len() != d || hi.len() != d || !finite(lo) || !finite(hi) {
                        return Err(format!(
                            "{key}: lower and upper need {d} finite values each"
                        ));
                    }
                    if let Some(i) = (0..d).find(|&i| lo[i] >= hi[i]) {
                        return Err(format!(
                            "{key}: lower[{i}] = {} must be < upper[{i}] = {}",
                            lo[i], hi[i]
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "{key}: give either center and radius (a ball) or lower and upper (a box)"
                    ))
                }
            }
            if let Some(c) = o.clearance {
                if !non_negative(c) {
                    return Err(format!("{key}.clearance must be finite and >= 0"));
                }
            }
        }
        Ok(())
    }

    fn check_limits(&self, d: usize) -> Result<(), String> {
        let l = &self.limits;
        for (key, v) in [
            ("speed", l.speed),
            ("acceleration", l.acceleration),
            ("jerk", l.jerk),
        ] {
            if let Some(v) = v {
                if !positive(v) {
                    return Err(format!(
                        "trajectory.limits.{key} must be finite and > 0, have {v}"
                    ));
                }
            }
        }
        for (key, v) in [
            ("velocity", &l.velocity),
            ("acceleration_axis", &l.acceleration_axis),
            ("jerk_axis", &l.jerk_axis),
        ] {
            if let Some(v) = v {
                let values = v.values(d);
                if values.len() != d || !values.iter().all(|x| positive(*x)) {
                    return Err(format!(
                        "trajectory.limits.{key}: one value > 0 or {d} values > 0, have {v:?}"
                    ));
                }
            }
        }
        let e = &self.enforce;
        let checks = [
            (
                e.margin > 0.0 && e.margin <= 0.5,
                "margin must be in (0, 0.5]",
            ),
            (
                e.points >= 2 && e.points <= 100_000,
                "points must be in 2..=100000",
            ),
            (
                e.rounds >= 1 && e.rounds <= 1000,
                "rounds must be in 1..=1000",
            ),
            (positive(e.rho), "rho must be finite and > 0"),
            (
                e.growth.is_finite() && e.growth > 1.0,
                "growth must be finite and > 1",
            ),
            (
                positive(e.penalty_weight),
                "penalty_weight must be finite and > 0",
            ),
            (e.certificate_budget >= 1, "certificate_budget must be >= 1"),
            (
                positive(e.certificate_tolerance),
                "certificate_tolerance must be finite and > 0",
            ),
        ];
        for (ok, message) in checks {
            if !ok {
                return Err(format!("trajectory.enforce.{message}"));
            }
        }
        Ok(())
    }

    /// The constraints this config asks for: every obstacle's clearance, then the limits.
    pub fn constraints(&self) -> Vec<Constraint> {
        let d = self.start.len();
        let mut out: Vec<Constraint> = self
            .obstacles
            .iter()
            .filter_map(|o| {
                let obstacle = match (&o.center, o.radius, &o.lower, &o.upper) {
                    (Some(center), Some(radius), _, _) => Obstacle::Ball {
                        center: center.clone(),
                        radius,
                    },
                    (_, _, Some(lower), Some(upper)) => Obstacle::Box {
                        lower: lower.clone(),
                        upper: upper.clone(),
                    },
                    _ => return None,
                };
                Some(Constraint::Clearance {
                    obstacle,
                    clearance: o.clearance.unwrap_or(self.clearance),
                })
            })
            .collect();
        let l = &self.limits;
        let norms = [
            (Quantity::Velocity, l.speed),
            (Quantity::Acceleration, l.acceleration),
            (Quantity::Jerk, l.jerk),
        ];
        let axes = [
            (Quantity::Velocity, &l.velocity),
            (Quantity::Acceleration, &l.acceleration_axis),
            (Quantity::Jerk, &l.jerk_axis),
        ];
        for ((quantity, norm), (_, axis)) in norms.into_iter().zip(axes) {
            if let Some(max) = norm {
                out.push(Constraint::Limit {
                    quantity,
                    limit: Limit::Norm(max),
                });
            }
            if let Some(a) = axis {
                out.push(Constraint::Limit {
                    quantity,
                    limit: Limit::Axes(a.values(d)),
                });
            }
        }
        out
    }
}

impl TrajectoryConfig {
    /// Everything that can be checked before solving; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        let net = &self.network;
        check_widths(1, &net.widths)?;
        if net.widths.len() > PATH_LAYERS || net.widths.iter().any(|&w| w > PATH_WIDTH) {
            return Err(format!(
                "network.widths = {:?}: a trajectory has at most {PATH_LAYERS} layers of {PATH_WIDTH} units",
                net.widths
            ));
        }
        if !positive(net.initial_scale) {
            return Err("network.initial_scale must be finite and > 0".into());
        }
        let p = &self.trajectory;
        let d = p.start.len();
        if !(1..=MAX_COORDS).contains(&d) {
            return Err(format!(
                "trajectory.start: {d} coordinates; a trajectory has 1..={MAX_COORDS}"
            ));
        }
        if p.end.len() != d {
            return Err(format!(
                "trajectory.end has {} values; trajectory.start has {d}",
                p.end.len()
            ));
        }
        let [t0, t1] = p.interval;
        if !(t0.is_finite() && t1.is_finite() && t0 < t1) {
            return Err(format!(
                "trajectory.interval: need finite t0 < T, have [{t0}, {t1}]"
            ));
        }
        if !finite(&p.start) || !finite(&p.end) {
            return Err("trajectory.start and trajectory.end must be finite".into());
        }
        if p.via.len() > MAX_VIA {
            return Err(format!(
                "trajectory.via: {} via-points; at most {MAX_VIA}",
                p.via.len()
            ));
        }
        let mut last = t0;
        for (k, v) in p.via.iter().enumerate() {
            if !(v.time > last && v.time < t1) {
                return Err(format!(
                    "trajectory.via[{k}].time = {}: times must increase strictly inside ({t0}, {t1})",
                    v.time
                ));
            }
            last = v.time;
            if v.position.len() != d || !finite(&v.position) {
                return Err(format!(
                    "trajectory.via[{k}].position needs {d} finite values"
                ));
            }
        }
        p.check_obstacles(d)?;
        if !non_negative(p.clearance) {
            return Err("trajectory.clearance must be finite and >= 0".into());
        }
        if !non_negative(p.energy_weight) {
            return Err("trajectory.energy_weight must be finite and >= 0".into());
        }
        p.check_limits(d)?;
        match &p.dynamics {
            Some(DynamicsConfig::PointMass { mass, weight })
                if !(positive(*mass) && non_negative(*weight)) =>
            {
                return Err(
                    "trajectory.dynamics (point-mass): need mass > 0 and weight >= 0".into(),
                );
            }
            Some(DynamicsConfig::TwoLinkArm {
                mass,
                length,
                com,
                inertia,
                gravity,
                weight,
            }) => {
                if d != 2 {
                    return Err(format!(
                        "trajectory.dynamics (two-link-arm) needs 2 coordinates (the joint angles), have {d}"
                    ));
                }
                let all = [mass, length, com, inertia];
                if !all.iter().all(|v| finite(&v[..])) || !gravity.is_finite() {
                    return Err("trajectory.dynamics (two-link-arm): values must be finite".into());
                }
                if !non_negative(*weight) {
                    return Err("trajectory.dynamics.weight must be finite and >= 0".into());
                }
            }
            _ => {}
        }
        if !(2..=1000).contains(&p.nodes) {
            return Err(format!(
                "trajectory.nodes = {}: must be between 2 and 1000",
                p.nodes
            ));
        }
        if let Some(b) = &self.baseline {
            if let Some(w) = b.endpoint_penalty {
                if !positive(w) {
                    return Err("baseline.endpoint_penalty must be finite and > 0".into());
                }
            }
        }
        self.solver.check("trajectory")?;
        check_output(&self.output)
    }

    /// Each coordinate's network shape (signed, one input).
    pub fn architecture(&self) -> Architecture {
        Architecture {
            n: 1,
            kind: Kind::Signed,
            activation: self.network.activation.into(),
            widths: self.network.widths.clone(),
        }
    }

    /// The config's dynamics model and its effort weight.
    pub fn dynamics(&self) -> Option<(Box<dyn InverseDynamics>, f64)> {
        let p = &self.trajectory;
        p.dynamics
            .as_ref()
            .map(|d| -> (Box<dyn InverseDynamics>, f64) {
                match d {
                    DynamicsConfig::PointMass { mass, weight } => (
                        Box::new(PointMass {
                            mass: *mass,
                            dims: p.start.len(),
                        }),
                        *weight,
                    ),
                    DynamicsConfig::TwoLinkArm {
                        mass,
                        length,
                        com,
                        inertia,
                        gravity,
                        weight,
                    } => (
                        Box::new(TwoLinkArm {
                            mass: *mass,
                            length: *length,
                            com: *com,
                            inertia: *inertia,
                            gravity: *gravity,
                        }),
                        *weight,
                    ),
                }
            })
    }

    /// The problem this config describes, with the endpoints imposed as `endpoints` and the
    /// constraints enforced as `enforcement`.
    pub fn problem(&self, endpoints: Endpoints, enforcement: Enforcement) -> TrajectoryProblem {
        let p = &self.trajectory;
        TrajectoryProblem {
            architecture: self.architecture(),
            interval: (p.interval[0], p.interval[1]),
            start: p.start.clone(),
            end: p.end.clone(),
            via: p.via.iter().map(|v| (v.time, v.position.clone())).collect(),
            constraints: p.constraints(),
            enforcement,
            energy_weight: p.energy_weight,
            dynamics: self.dynamics(),
            endpoints,
            nodes: p.nodes,
        }
    }
}

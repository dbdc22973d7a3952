//! The config of the `trajectory` application (`application = "trajectory"`); every key is
//! listed in `docs/config.md`.

use super::dynamics::{InverseDynamics, PointMass, TwoLinkArm};
use super::problem::{Endpoints, Obstacle, TrajectoryProblem};
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
    /// `[baseline]`, optional: also solve with the end state as a soft penalty.
    pub baseline: Option<BaselineConfig>,
    /// `[solver]`.
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
    /// Hidden widths.
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
    /// Circular (2-D) or spherical (3-D) obstacles.
    #[serde(default)]
    pub obstacles: Vec<ObstacleConfig>,
    /// Distance to keep from every obstacle's surface.
    #[serde(default)]
    pub clearance: f64,
    /// Weight of the squared clearance violation.
    #[serde(default = "default_obstacle_weight")]
    pub obstacle_weight: f64,
    /// Weight of the energy, the integral of |xdot|^2.
    #[serde(default = "default_energy_weight")]
    pub energy_weight: f64,
    /// Per-axis |xdot| limit (soft penalty).
    pub velocity_limit: Option<LimitConfig>,
    /// Per-axis |xddot| limit (soft penalty).
    pub acceleration_limit: Option<LimitConfig>,
    /// Inverse dynamics for the control-effort term.
    pub dynamics: Option<DynamicsConfig>,
    /// Gauss-Legendre nodes of the cost integrals and penalties.
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// What the blob's player does outside [t0, T]: hold | reject.
    #[serde(default = "default_policy")]
    pub outside: PolicyConfig,
}

fn default_obstacle_weight() -> f64 {
    1e4
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

/// One obstacle.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObstacleConfig {
    /// Centre, one value per coordinate.
    pub center: Vec<f64>,
    /// Radius, > 0.
    pub radius: f64,
}

/// A soft limit: `weight` times the squared excess over `max`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// The limit, > 0.
    pub max: f64,
    /// The penalty weight, >= 0.
    pub weight: f64,
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

/// `[baseline]`: the same problem, from the same initial parameters, with the end state as
/// `endpoint_penalty` times |x(T) - xT|^2 instead of exact.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// The penalty weight, > 0.
    pub endpoint_penalty: f64,
}

fn finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

impl TrajectoryConfig {
    /// Everything that can be checked before solving; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        let net = &self.network;
        check_widths(1, &net.widths)?;
        if !(net.initial_scale.is_finite() && net.initial_scale > 0.0) {
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
        for (k, o) in p.obstacles.iter().enumerate() {
            if o.center.len() != d || !finite(&o.center) {
                return Err(format!(
                    "trajectory.obstacles[{k}].center needs {d} finite values"
                ));
            }
            if !(o.radius.is_finite() && o.radius > 0.0) {
                return Err(format!(
                    "trajectory.obstacles[{k}].radius must be finite and > 0"
                ));
            }
        }
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !non_negative(p.clearance) {
            return Err("trajectory.clearance must be finite and >= 0".into());
        }
        if !non_negative(p.obstacle_weight) || !non_negative(p.energy_weight) {
            return Err(
                "trajectory.obstacle_weight and trajectory.energy_weight must be finite and >= 0"
                    .into(),
            );
        }
        for (key, limit) in [
            ("velocity_limit", p.velocity_limit),
            ("acceleration_limit", p.acceleration_limit),
        ] {
            if let Some(l) = limit {
                if !(l.max.is_finite() && l.max > 0.0 && non_negative(l.weight)) {
                    return Err(format!(
                        "trajectory.{key}: need max > 0 and weight >= 0, both finite"
                    ));
                }
            }
        }
        match &p.dynamics {
            Some(DynamicsConfig::PointMass { mass, weight })
                if !(mass.is_finite() && *mass > 0.0 && non_negative(*weight)) =>
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
            if !(b.endpoint_penalty.is_finite() && b.endpoint_penalty > 0.0) {
                return Err("baseline.endpoint_penalty must be finite and > 0".into());
            }
        }
        self.solver.check()?;
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

    /// The problem this config describes, with the endpoints imposed as `endpoints`.
    pub fn problem(&self, endpoints: Endpoints) -> TrajectoryProblem {
        let p = &self.trajectory;
        let dynamics = p
            .dynamics
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
            });
        TrajectoryProblem {
            architecture: self.architecture(),
            interval: (p.interval[0], p.interval[1]),
            start: p.start.clone(),
            end: p.end.clone(),
            via: p.via.iter().map(|v| (v.time, v.position.clone())).collect(),
            obstacles: p
                .obstacles
                .iter()
                .map(|o| Obstacle {
                    center: o.center.clone(),
                    radius: o.radius,
                })
                .collect(),
            clearance: p.clearance,
            obstacle_weight: p.obstacle_weight,
            energy_weight: p.energy_weight,
            velocity_limit: p.velocity_limit.map(|l| (l.max, l.weight)),
            acceleration_limit: p.acceleration_limit.map(|l| (l.max, l.weight)),
            dynamics,
            endpoints,
            nodes: p.nodes,
        }
    }
}

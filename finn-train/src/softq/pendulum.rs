//! Gym's Pendulum-v1, in Rust, with its exact constants (gymnasium
//! `classic_control/pendulum.py`):
//!
//! ```text
//! max_speed 8, max_torque 2, dt 0.05, g 10, m 1, l 1, 200 steps per episode
//! u      = clip(u, -2, 2)
//! cost   = angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2      (reward = -cost)
//! thdot' = clip(thdot + (3 g / (2 l) sin(th) + 3 / (m l^2) u) dt, -8, 8)
//! th'    = th + thdot' dt
//! start  th ~ U[-pi, pi], thdot ~ U[-1, 1]
//! ```
//!
//! The cost uses the state before the step, as Gym does. The observation is Gym's
//! (cos th, sin th, thdot); the soft-Q model reads [`Pendulum::features`], the same with
//! thdot divided by the maximum speed 8 so that every feature lies in [-1, 1].

use std::f64::consts::PI;

/// Maximum angular speed (rad/s).
pub const MAX_SPEED: f64 = 8.0;
/// Maximum torque: the action box is [-2, 2].
pub const MAX_TORQUE: f64 = 2.0;
/// Time step (s).
pub const DT: f64 = 0.05;
/// Gravity.
pub const G: f64 = 10.0;
/// Mass.
pub const MASS: f64 = 1.0;
/// Length.
pub const LENGTH: f64 = 1.0;
/// Steps per episode (Gym's TimeLimit).
pub const EPISODE_STEPS: usize = 200;

/// The pendulum's state (angle 0 is upright).
///
/// ```
/// use finn_train::softq::pendulum::Pendulum;
/// let mut p = Pendulum { theta: 0.0, theta_dot: 0.0 };
/// // Upright and still with no torque: reward 0, and it stays (sin 0 = 0).
/// assert_eq!(p.step(0.0), 0.0);
/// assert_eq!((p.theta, p.theta_dot), (0.0, 0.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pendulum {
    /// Angle th (rad), not wrapped.
    pub theta: f64,
    /// Angular velocity thdot (rad/s), in [-8, 8].
    pub theta_dot: f64,
}

/// Gym's angle_normalize: x wrapped to [-pi, pi).
///
/// ```
/// use finn_train::softq::pendulum::angle_normalize;
/// assert!((angle_normalize(3.0 * std::f64::consts::PI) + std::f64::consts::PI).abs() < 1e-12);
/// ```
pub fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Pendulum {
    /// Gym's reset from two uniforms in [0, 1).
    ///
    /// ```
    /// use finn_train::softq::pendulum::Pendulum;
    /// let p = Pendulum::reset(0.5, 0.5);
    /// assert_eq!((p.theta, p.theta_dot), (0.0, 0.0));
    /// ```
    pub fn reset(u_theta: f64, u_theta_dot: f64) -> Pendulum {
        Pendulum {
            theta: -PI + 2.0 * PI * u_theta,
            theta_dot: -1.0 + 2.0 * u_theta_dot,
        }
    }

    /// Gym's observation (cos th, sin th, thdot).
    ///
    /// ```
    /// use finn_train::softq::pendulum::Pendulum;
    /// assert_eq!(Pendulum { theta: 0.0, theta_dot: 2.0 }.observation(), [1.0, 0.0, 2.0]);
    /// ```
    pub fn observation(&self) -> [f64; 3] {
        [self.theta.cos(), self.theta.sin(), self.theta_dot]
    }

    /// What the model reads: (cos th, sin th, thdot / 8).
    ///
    /// ```
    /// use finn_train::softq::pendulum::Pendulum;
    /// assert_eq!(Pendulum { theta: 0.0, theta_dot: 4.0 }.features(), [1.0, 0.0, 0.5]);
    /// ```
    pub fn features(&self) -> [f64; 3] {
        [
            self.theta.cos(),
            self.theta.sin(),
            self.theta_dot / MAX_SPEED,
        ]
    }

    /// Applies torque `u` (clipped to [-2, 2]) for one step; returns the reward.
    ///
    /// ```
    /// use finn_train::softq::pendulum::Pendulum;
    /// let mut p = Pendulum { theta: std::f64::consts::PI, theta_dot: 0.0 };
    /// // Hanging down: cost pi^2, plus 0.001 * 2^2 for the clipped torque.
    /// let r = p.step(5.0);
    /// assert!((r + std::f64::consts::PI.powi(2) + 0.004).abs() < 1e-12);
    /// assert!((p.theta_dot - 3.0 * 2.0 * 0.05).abs() < 1e-12); // sin(pi) ~ 0
    /// ```
    pub fn step(&mut self, u: f64) -> f64 {
        let u = u.clamp(-MAX_TORQUE, MAX_TORQUE);
        let th = self.theta;
        let thdot = self.theta_dot;
        let cost = angle_normalize(th).powi(2) + 0.1 * thdot * thdot + 0.001 * u * u;
        let accel = 3.0 * G / (2.0 * LENGTH) * th.sin() + 3.0 / (MASS * LENGTH * LENGTH) * u;
        let new_thdot = (thdot + accel * DT).clamp(-MAX_SPEED, MAX_SPEED);
        self.theta = th + new_thdot * DT;
        self.theta_dot = new_thdot;
        -cost
    }
}

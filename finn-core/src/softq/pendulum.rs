//! Gym's Pendulum-v1 dynamics, no_std, in `f32` or `f64` (`libm`'s sine and cosine): the
//! closed loop the device runs with a soft-Q policy, and the host recomputes bit for bit.
//!
//! ```text
//! u      = clip(u, -2, 2)
//! cost   = angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2      (reward = -cost)
//! thdot' = clip(thdot + (15 sin(th) + 3 u) 0.05, -8, 8)          (3 g / 2 l = 15, 3 / m l^2 = 3)
//! th'    = th + thdot' 0.05
//! ```
//!
//! The same operations in the same order as `finn_train::softq::pendulum` (which uses the
//! platform's `f64` sine, so its states can differ from these in the last bits).

use crate::Real;

/// A [`Real`] with the sine and cosine the pendulum needs (`libm`'s, on every target).
pub trait PendulumReal: Real {
    /// sin(self).
    fn sin(self) -> Self;
    /// cos(self).
    fn cos(self) -> Self;
    /// The remainder of self / m (IEEE `fmod`).
    fn fmod(self, m: Self) -> Self;
}

impl PendulumReal for f32 {
    fn sin(self) -> Self {
        libm::sinf(self)
    }
    fn cos(self) -> Self {
        libm::cosf(self)
    }
    fn fmod(self, m: Self) -> Self {
        libm::fmodf(self, m)
    }
}

impl PendulumReal for f64 {
    fn sin(self) -> Self {
        libm::sin(self)
    }
    fn cos(self) -> Self {
        libm::cos(self)
    }
    fn fmod(self, m: Self) -> Self {
        libm::fmod(self, m)
    }
}

/// Maximum angular speed (rad/s).
pub const MAX_SPEED: f64 = 8.0;
/// Maximum torque: the action box is [-2, 2].
pub const MAX_TORQUE: f64 = 2.0;
/// Time step (s).
pub const DT: f64 = 0.05;
/// Steps per episode.
pub const EPISODE_STEPS: usize = 200;

/// The pendulum's state (angle 0 is upright, not wrapped).
///
/// ```
/// use finn_core::softq::pendulum::Pendulum;
/// let mut p = Pendulum { theta: 0.0f32, theta_dot: 0.0 };
/// assert_eq!(p.step(0.0), 0.0); // upright and still: it stays
/// assert_eq!(p, Pendulum { theta: 0.0, theta_dot: 0.0 });
/// assert_eq!(p.features(), [1.0, 0.0, 0.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pendulum<T> {
    /// Angle th (rad).
    pub theta: T,
    /// Angular velocity thdot (rad/s), in [-8, 8].
    pub theta_dot: T,
}

/// x wrapped to [-pi, pi) as Gym's angle_normalize: ((x + pi) mod 2 pi) - pi, the remainder
/// taken non-negative.
///
/// ```
/// use finn_core::softq::pendulum::angle_normalize;
/// assert!((angle_normalize(3.0 * core::f64::consts::PI) + core::f64::consts::PI).abs() < 1e-12);
/// ```
pub fn angle_normalize<T: PendulumReal>(x: T) -> T {
    let pi = T::from_f64(core::f64::consts::PI);
    let two_pi = T::from_f64(2.0 * core::f64::consts::PI);
    let r = (x + pi).fmod(two_pi);
    let r = if r < T::ZERO { r + two_pi } else { r };
    r - pi
}

impl<T: PendulumReal> Pendulum<T> {
    /// What the soft-Q model reads: (cos th, sin th, thdot / 8).
    ///
    /// ```
    /// use finn_core::softq::pendulum::Pendulum;
    /// assert_eq!(Pendulum { theta: 0.0f64, theta_dot: 4.0 }.features(), [1.0, 0.0, 0.5]);
    /// ```
    pub fn features(&self) -> [T; 3] {
        [
            self.theta.cos(),
            self.theta.sin(),
            self.theta_dot / T::from_f64(MAX_SPEED),
        ]
    }

    /// Applies torque `u` (clipped to [-2, 2]; NaN is clipped to -2) for one step and
    /// returns the reward of the state before it.
    ///
    /// ```
    /// use finn_core::softq::pendulum::Pendulum;
    /// let mut p = Pendulum { theta: core::f64::consts::PI, theta_dot: 0.0 };
    /// let r = p.step(5.0); // clipped to 2
    /// assert!((r + core::f64::consts::PI.powi(2) + 0.004).abs() < 1e-12);
    /// assert!((p.theta_dot - 0.3).abs() < 1e-12);
    /// ```
    pub fn step(&mut self, u: T) -> T {
        let limit = T::from_f64(MAX_TORQUE);
        let u = clamp(u, -limit, limit);
        let (th, thdot) = (self.theta, self.theta_dot);
        let a = angle_normalize(th);
        let cost = a * a + T::from_f64(0.1) * thdot * thdot + T::from_f64(0.001) * u * u;
        let accel = T::from_f64(15.0) * th.sin() + T::from_f64(3.0) * u;
        let speed = T::from_f64(MAX_SPEED);
        let new_thdot = clamp(thdot + accel * T::from_f64(DT), -speed, speed);
        self.theta = th + new_thdot * T::from_f64(DT);
        self.theta_dot = new_thdot;
        T::ZERO - cost
    }
}

/// x clipped to [lo, hi]; NaN gives lo.
fn clamp<T: Real>(x: T, lo: T, hi: T) -> T {
    if x > hi {
        hi
    } else if x >= lo {
        x
    } else {
        lo
    }
}

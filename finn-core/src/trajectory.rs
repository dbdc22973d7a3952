//! Trajectories with exact endpoints and via-points (paper §4.2, math.md §7).
//!
//! One signed one-input FINN F_i per coordinate, shift-constrained on [t0, T] with
//! eps_i = xT_i - x0_i, so that x_i(t) = x0_i + F_i(t) - F_i(t0) + c_i (t - t0). It is
//! evaluated in the algebraically equal form, with s = (t - t0)/(T - t0) and
//! dF_i = F_i(T) - F_i(t0),
//!
//!   x_i(t) = (1 - s) x0_i + s xT_i + (F_i(t) - F_i(t0)) - s dF_i + sum_m beta_im phi_m(s),
//!
//! in which s = 0 and s = 1 give x0 and xT *exactly* in floating point (the bracketed terms
//! vanish exactly), whatever the parameters and the precision.
//!
//! Via-points x(t_k) = x_k are met through a correction basis phi_m(s) = s(1 - s)(2s - 1)^m,
//! which is exactly 0 at both ends (so it never disturbs them); its coefficients beta solve a
//! small linear system once, at construction, for the given parameters. No penalty is involved:
//! the via-points hold for any parameters, up to the rounding of that solve.

use heapless::Vec;

use crate::network::{Depth, HiddenBlocks, Network};
use crate::{error::finite, Error, Real};

/// What [`Trajectory::sample`] does with a time outside [t0, T].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutsidePolicy {
    /// Before t0 hold x0, after T hold xT, with zero velocity, acceleration and jerk.
    Hold,
    /// Return [`Error::OutsideInterval`].
    Reject,
}

/// A via-point: the trajectory passes through `position` at `time`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Via<T: Real, const D: usize> {
    /// A time strictly inside (t0, T).
    pub time: T,
    /// The position there.
    pub position: [T; D],
}

/// The state at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample<T: Real, const D: usize> {
    /// x(t).
    pub position: [T; D],
    /// dx/dt.
    pub velocity: [T; D],
    /// d2x/dt2.
    pub acceleration: [T; D],
    /// d3x/dt3.
    pub jerk: [T; D],
}

/// The state at one time without the jerk (see [`Trajectory::kinematics`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kinematics<T: Real, const D: usize> {
    /// x(t).
    pub position: [T; D],
    /// dx/dt.
    pub velocity: [T; D],
    /// d2x/dt2.
    pub acceleration: [T; D],
}

/// A D-dimensional trajectory on [t0, T] from x0 to xT, with up to V via-points; each
/// coordinate is a one-input network with up to L hidden layers of W units.
///
/// ```
/// use finn_core::{Activation, Network};
/// use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};
/// let p = [1.3, -0.2, 0.7, -0.4, 0.5, 0.9, 0.8, -1.1, 0.6];
/// let net = Network::<f64, 1, 3, 1>::signed(Activation::Tanh, &[3], &p).unwrap();
/// let via = [Via { time: 0.5, position: [2.0, -1.0] }];
/// let traj = Trajectory::<f64, 2, 3, 1, 1>::new(
///     [net.clone(), net], 0.0, 1.0, [0.0, 0.0], [1.0, 3.0], &via, OutsidePolicy::Hold,
/// ).unwrap();
/// assert_eq!(traj.sample(0.0).unwrap().position, [0.0, 0.0]);
/// assert_eq!(traj.sample(1.0).unwrap().position, [1.0, 3.0]);
/// let mid = traj.sample(0.5).unwrap().position;
/// assert!((mid[0] - 2.0).abs() < 1e-14 && (mid[1] + 1.0).abs() < 1e-14);
/// ```
#[derive(Clone, Debug)]
pub struct Trajectory<T: Real, const D: usize, const W: usize, const L: usize, const V: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    coords: [Network<T, 1, W, L>; D],
    t0: T,
    t1: T,
    x0: [T; D],
    x1: [T; D],
    /// F_i(t0).
    base: [T; D],
    /// F_i(T) - F_i(t0).
    delta: [T; D],
    /// The via-point correction: `beta[m][i]` is the coefficient of phi_m in coordinate i,
    /// one entry per via-point (empty without via-points, and when unloaded).
    beta: Vec<[T; D], V>,
    policy: OutsidePolicy,
    /// False until a successful [`Trajectory::reload`]: sampling refuses an unloaded one.
    loaded: bool,
}

/// phi_m(s) = s(1 - s)(2s - 1)^m and its first three derivatives in s, for m < count.
fn correction_basis<T: Real, const V: usize>(s: T, count: usize) -> [[T; 4]; V] {
    let mut out = [[T::ZERO; 4]; V];
    let two = T::from_f64(2.0);
    // p = s(1 - s): exactly 0 at s = 0 and s = 1.
    let p = [s * (T::ONE - s), T::ONE - two * s, -two, T::ZERO];
    let r = two * s - T::ONE;
    // q = r^m with derivatives in s: q^(j) = 2^j m!/(m-j)! r^(m-j).
    let mut pow = [T::ONE; V];
    for m in 1..V {
        pow[m] = pow[m - 1] * r;
    }
    for (m, o) in out.iter_mut().enumerate().take(count) {
        let mut q = [T::ZERO; 4];
        let mut coeff = T::ONE;
        for (j, qj) in q.iter_mut().enumerate() {
            if j > m {
                break;
            }
            *qj = coeff * pow[m - j];
            coeff *= two * T::from_usize(m - j);
        }
        // Leibniz: (pq)^(k) = sum_j C(k, j) p^(j) q^(k-j).
        o[0] = p[0] * q[0];
        o[1] = p[1] * q[0] + p[0] * q[1];
        o[2] = p[2] * q[0] + two * p[1] * q[1] + p[0] * q[2];
        let three = T::from_f64(3.0);
        o[3] = three * p[2] * q[1] + three * p[1] * q[2] + p[0] * q[3];
    }
    out
}

/// Bounds on |phi_m^(k)(s)| over s in [0, 1] for k = 0..=3, m < count: phi_m = p q with
/// p = s(1 - s) (|p| <= 1/4, |p'| <= 1, |p''| = 2) and q = (2s - 1)^m
/// (|q^(j)| <= 2^j m!/(m-j)!), by Leibniz.
fn basis_bounds<T: Real, const V: usize>(count: usize) -> [[T; 4]; V] {
    const P: [f64; 4] = [0.25, 1.0, 2.0, 0.0];
    const BINOMIAL: [[f64; 4]; 4] = [
        [1.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 0.0, 0.0],
        [1.0, 2.0, 1.0, 0.0],
        [1.0, 3.0, 3.0, 1.0],
    ];
    let mut out = [[T::ZERO; 4]; V];
    for (m, o) in out.iter_mut().enumerate().take(count) {
        let mut q = [0.0f64; 4];
        let mut c = 1.0;
        for (j, qj) in q.iter_mut().enumerate() {
            if j > m {
                break;
            }
            *qj = c;
            c *= 2.0 * (m - j) as f64;
        }
        for k in 0..4 {
            let mut v = 0.0;
            for j in 0..=k {
                v += BINOMIAL[k][j] * P[j] * q[k - j];
            }
            o[k] = T::from_f64(v);
        }
    }
    out
}

impl<T: Real, const D: usize, const W: usize, const L: usize, const V: usize>
    Trajectory<T, D, W, L, V>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Builds the trajectory and solves the via-point correction once.
    ///
    /// Errors: `EmptyInterval` (t0 >= T), `NonFiniteInput`, `InvalidViaPoints` (a time not
    /// strictly inside (t0, T), not increasing, more than V, or a singular system),
    /// `Overflow` (a network's value is not finite).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        coords: [Network<T, 1, W, L>; D],
        t0: T,
        t1: T,
        x0: [T; D],
        x1: [T; D],
        via: &[Via<T, D>],
        policy: OutsidePolicy,
    ) -> Result<Self, Error> {
        let mut traj = Trajectory {
            coords,
            ..Self::unloaded()
        };
        traj.reload(t0, t1, x0, x1, via, policy)?;
        Ok(traj)
    }

    /// A trajectory with unloaded networks, for a `static` to load into (see
    /// [`Trajectory::coordinates_mut`] and [`Trajectory::reload`]). Sampling it is an error.
    ///
    /// Every field is zero (the interval [0, 0], no via-point coefficients: an empty
    /// `heapless::Vec`, [`OutsidePolicy::Hold`], not loaded), so a `static` initialised with
    /// it is placed in `.bss`: zeroed at start-up, with no initial value stored in flash and
    /// nothing built on the stack.
    pub const fn unloaded() -> Self {
        Trajectory {
            coords: [const { Network::unloaded() }; D],
            t0: T::ZERO,
            t1: T::ZERO,
            x0: [T::ZERO; D],
            x1: [T::ZERO; D],
            base: [T::ZERO; D],
            delta: [T::ZERO; D],
            beta: Vec::new(),
            policy: OutsidePolicy::Hold,
            loaded: false,
        }
    }

    /// Marks the trajectory unloaded (sampling it is then an error), without touching the
    /// weights.
    pub fn unload(&mut self) {
        self.loaded = false;
    }

    /// The coordinate networks, to load in place with [`Network::load_parameters`]; call
    /// [`Trajectory::reload`] afterwards.
    pub fn coordinates_mut(&mut self) -> &mut [Network<T, 1, W, L>; D] {
        self.loaded = false;
        &mut self.coords
    }

    /// Sets the interval, end states, via-points and policy for the current coordinate
    /// networks and solves the via-point correction, in place. On an error the trajectory is
    /// left unloaded. Errors as for [`Trajectory::new`].
    ///
    /// ```
    /// use finn_core::trajectory::{OutsidePolicy, Trajectory};
    /// use finn_core::{Activation, Error, Kind};
    /// let mut traj = Trajectory::<f32, 1, 2, 1, 0>::unloaded();
    /// assert_eq!(traj.sample(0.5).unwrap_err(), Error::InvalidShape);
    /// traj.coordinates_mut()[0]
    ///     .load_parameters(Kind::Signed, Activation::Tanh, &[1], [1.0, 0.0, 1.0])
    ///     .unwrap();
    /// traj.reload(0.0, 1.0, [0.0], [2.0], &[], OutsidePolicy::Hold).unwrap();
    /// assert_eq!(traj.sample(1.0).unwrap().position, [2.0]);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn reload(
        &mut self,
        t0: T,
        t1: T,
        x0: [T; D],
        x1: [T; D],
        via: &[Via<T, D>],
        policy: OutsidePolicy,
    ) -> Result<(), Error> {
        self.loaded = false;
        crate::domain::check_box(&[t0], &[t1])?;
        if x0.iter().chain(&x1).any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        if via.len() > V {
            return Err(Error::InvalidViaPoints);
        }
        let mut last = t0;
        for v in via {
            if !v.time.is_finite() || v.position.iter().any(|p| !p.is_finite()) {
                return Err(Error::NonFiniteInput);
            }
            if v.time <= last || v.time >= t1 {
                return Err(Error::InvalidViaPoints);
            }
            last = v.time;
        }
        self.t0 = t0;
        self.t1 = t1;
        self.x0 = x0;
        self.x1 = x1;
        self.beta.clear();
        self.policy = policy;
        let mut f = [T::ZERO; 1];
        for i in 0..D {
            self.coords[i].time_jet(t0, &mut f)?;
            self.base[i] = f[0];
            self.coords[i].time_jet(t1, &mut f)?;
            self.delta[i] = finite(f[0] - self.base[i])?;
        }
        if !via.is_empty() {
            self.solve_via(via)?;
        }
        self.check_bounded()?;
        self.loaded = true;
        Ok(())
    }

    /// Proves at load that every sample in [t0, T] is finite: bounds |x^(k)(t)| for k = 0..=3
    /// over the whole interval from the networks' derivative bounds
    /// ([`Network::time_derivative_bounds`]), the end states, the via-point correction and
    /// 1/h^k, and requires each bound (and every intermediate) to stay below `T::MAX / 64`,
    /// which leaves room for the rounding of the actual evaluation. `Overflow` otherwise.
    fn check_bounded(&self) -> Result<(), Error> {
        let h = finite(self.t1 - self.t0)?;
        let inv = finite(T::ONE / h)?;
        let scale = [T::ONE, inv, finite(inv * inv)?, finite(inv * inv * inv)?];
        let beta = self.beta.as_slice();
        let basis = basis_bounds::<T, V>(beta.len());
        let limit = T::MAX / T::from_f64(64.0);
        for i in 0..D {
            let f = self.coords[i].time_derivative_bounds()?;
            let mut corr = [T::ZERO; 4];
            for (b, phi) in beta.iter().zip(&basis) {
                for k in 0..4 {
                    corr[k] += b[i].abs() * phi[k];
                }
            }
            let (x0, x1) = (self.x0[i].abs(), self.x1[i].abs());
            let (base, delta) = (self.base[i].abs(), self.delta[i].abs());
            let bounds = [
                x0 + x1 + f[0] + base + delta + corr[0],
                (x1 + x0 + delta) * inv + f[1] + corr[1] * scale[1],
                f[2] + corr[2] * scale[2],
                f[3] + corr[3] * scale[3],
            ];
            for b in bounds {
                if !(b.is_finite() && b <= limit) {
                    return Err(Error::Overflow);
                }
            }
        }
        Ok(())
    }

    /// beta_i = A^-1 r_i with A_km = phi_m(s_k) and r_ik the uncorrected miss at t_k.
    fn solve_via(&mut self, via: &[Via<T, D>]) -> Result<(), Error> {
        let k = via.len();
        let mut a = [[T::ZERO; V]; V];
        let mut rhs = [[T::ZERO; D]; V];
        let mut f = [T::ZERO; 1];
        for (row, v) in via.iter().enumerate() {
            let s = (v.time - self.t0) / (self.t1 - self.t0);
            let basis = correction_basis::<T, V>(s, k);
            for m in 0..k {
                a[row][m] = basis[m][0];
            }
            for i in 0..D {
                self.coords[i].time_jet(v.time, &mut f)?;
                let bracket = (f[0] - self.base[i]) - s * self.delta[i];
                let uncorrected = (T::ONE - s) * self.x0[i] + s * self.x1[i] + bracket;
                rhs[row][i] = v.position[i] - uncorrected;
            }
        }
        // Gaussian elimination with partial pivoting on the k x k system, D right-hand sides.
        for col in 0..k {
            let mut piv = col;
            for r in col + 1..k {
                if a[r][col].abs() > a[piv][col].abs() {
                    piv = r;
                }
            }
            let pivot = a[piv][col].abs();
            if pivot.is_nan() || pivot <= T::EPSILON * T::from_f64(1e-3) {
                return Err(Error::InvalidViaPoints);
            }
            a.swap(col, piv);
            rhs.swap(col, piv);
            for r in col + 1..k {
                let factor = a[r][col] / a[col][col];
                for c in col..k {
                    let v = a[col][c];
                    a[r][c] -= factor * v;
                }
                for i in 0..D {
                    let v = rhs[col][i];
                    rhs[r][i] -= factor * v;
                }
            }
        }
        let mut beta = [[T::ZERO; D]; V];
        for col in (0..k).rev() {
            for i in 0..D {
                let mut v = rhs[col][i];
                for c in col + 1..k {
                    v -= a[col][c] * beta[c][i];
                }
                beta[col][i] = finite(v / a[col][col])?;
            }
        }
        // One coefficient vector per via-point; more than V is refused before (and here).
        self.beta
            .extend_from_slice(beta.get(..k).unwrap_or(&[]))
            .map_err(|()| Error::InvalidViaPoints)
    }

    /// The start time t0 and end time T.
    pub fn interval(&self) -> (T, T) {
        (self.t0, self.t1)
    }

    /// The start and end states.
    pub fn endpoints(&self) -> (&[T; D], &[T; D]) {
        (&self.x0, &self.x1)
    }

    /// The coordinate networks.
    pub fn coordinates(&self) -> &[Network<T, 1, W, L>; D] {
        &self.coords
    }

    /// Position, velocity, acceleration and jerk at time `t`.
    ///
    /// Errors: `NonFiniteInput`, `OutsideInterval` (policy `Reject`), `Overflow`,
    /// `InvalidShape` (not loaded).
    pub fn sample(&self, t: T) -> Result<Sample<T, D>, Error> {
        let mut out = [[T::ZERO; D]; 4];
        self.evaluate::<4>(t, &mut out)?;
        let [position, velocity, acceleration, jerk] = out;
        Ok(Sample {
            position,
            velocity,
            acceleration,
            jerk,
        })
    }

    /// Position, velocity and acceleration at `t`, without the jerk: three jet orders instead
    /// of four, about a quarter less work per sample on a device. Bit for bit the same values
    /// as the first three of [`Trajectory::sample`].
    ///
    /// Errors as for [`Trajectory::sample`].
    ///
    /// ```
    /// use finn_core::trajectory::{OutsidePolicy, Trajectory};
    /// use finn_core::{Activation, Network};
    /// let net = Network::<f32, 1, 2, 1>::signed(Activation::Tanh, &[2], &[1.0, -0.5, 0.2, 0.3, 0.7, -0.4]).unwrap();
    /// let traj = Trajectory::<f32, 1, 2, 1, 0>::new([net], 0.0, 1.0, [0.0], [1.0], &[], OutsidePolicy::Hold).unwrap();
    /// let (k, s) = (traj.kinematics(0.3).unwrap(), traj.sample(0.3).unwrap());
    /// assert_eq!((k.position, k.velocity, k.acceleration), (s.position, s.velocity, s.acceleration));
    /// ```
    pub fn kinematics(&self, t: T) -> Result<Kinematics<T, D>, Error> {
        let mut out = [[T::ZERO; D]; 4];
        self.evaluate::<3>(t, &mut out)?;
        let [position, velocity, acceleration, _] = out;
        Ok(Kinematics {
            position,
            velocity,
            acceleration,
        })
    }

    /// Position and its first K - 1 time derivatives (K = 3 or 4) into `out`, whose rows
    /// past K - 1 it leaves alone. Written in place rather than returned: a returned
    /// `Result` of the rows was copied byte by byte on a Cortex-M4 (about 3 instructions a
    /// byte).
    fn evaluate<const K: usize>(&self, t: T, out: &mut [[T; D]; 4]) -> Result<(), Error> {
        if !self.loaded {
            return Err(Error::InvalidShape);
        }
        if !t.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        if t < self.t0 || t > self.t1 {
            return match self.policy {
                OutsidePolicy::Reject => Err(Error::OutsideInterval),
                OutsidePolicy::Hold => {
                    out[0] = if t < self.t0 { self.x0 } else { self.x1 };
                    Ok(())
                }
            };
        }
        let h = self.t1 - self.t0;
        let s = (t - self.t0) / h;
        let beta = self.beta.as_slice();
        let basis = correction_basis::<T, V>(s, beta.len());
        let mut f = [T::ZERO; K];
        for i in 0..D {
            self.coords[i].time_jet(t, &mut f)?;
            let mut corr = [T::ZERO; 4];
            for (b, phi) in beta.iter().zip(&basis) {
                for (c, p) in corr.iter_mut().zip(phi) {
                    *c += b[i] * *p;
                }
            }
            // The bracket is exactly 0 at s = 0 and s = 1: group it before adding the ends.
            let bracket = (f[0] - self.base[i]) - s * self.delta[i];
            out[0][i] = if t == self.t0 {
                // The stored bits, -0.0 included (the formula would give +0.0).
                self.x0[i]
            } else if t == self.t1 {
                self.x1[i]
            } else {
                finite((T::ONE - s) * self.x0[i] + s * self.x1[i] + (bracket + corr[0]))?
            };
            out[1][i] = finite((self.x1[i] - self.x0[i] - self.delta[i]) / h + f[1] + corr[1] / h)?;
            out[2][i] = finite(f[2] + corr[2] / (h * h))?;
            if K > 3 {
                out[3][i] = finite(f[K - 1] + corr[3] / (h * h * h))?;
            }
        }
        Ok(())
    }
}

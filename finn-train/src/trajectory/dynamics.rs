//! Inverse-dynamics models u = T(x, xdot, xddot) with their Jacobians, for the control-effort
//! term of a trajectory problem (`[trajectory.dynamics]` in a config).
//!
//! Built in: [`PointMass`] and [`TwoLinkArm`]. To add a model, implement [`InverseDynamics`]
//! (u and its three Jacobians, row-major) and pass it as [`super::TrajectoryProblem::dynamics`]
//! from Rust; see `docs/trajectory.md`.

/// An inverse-dynamics model u = T(x, xdot, xddot) with its Jacobians.
pub trait InverseDynamics: Send + Sync {
    /// Number of controls.
    fn controls(&self) -> usize;
    /// Writes u and the row-major Jacobians du/dx, du/dxdot, du/dxddot (controls x D each).
    fn evaluate(&self, x: &[f64], v: &[f64], a: &[f64], u: &mut [f64], du: [&mut [f64]; 3]);
}

/// A point mass: u = m xddot (per axis).
#[derive(Clone, Debug)]
pub struct PointMass {
    /// Mass.
    pub mass: f64,
    /// Number of axes.
    pub dims: usize,
}

impl InverseDynamics for PointMass {
    fn controls(&self) -> usize {
        self.dims
    }
    fn evaluate(&self, _x: &[f64], _v: &[f64], a: &[f64], u: &mut [f64], du: [&mut [f64]; 3]) {
        let [dx, dv, da] = du;
        dx.fill(0.0);
        dv.fill(0.0);
        da.fill(0.0);
        for i in 0..self.dims {
            u[i] = self.mass * a[i];
            da[i * self.dims + i] = self.mass;
        }
    }
}

/// A planar two-link arm in joint space (q1, q2), links of mass m, length l, centre of mass
/// at lc, inertia about the centre I, gravity g along -y:
/// tau = M(q) qddot + C(q, qdot) qdot + G(q) (the standard rigid-body model).
#[derive(Clone, Debug)]
pub struct TwoLinkArm {
    /// Link masses.
    pub mass: [f64; 2],
    /// Link lengths.
    pub length: [f64; 2],
    /// Distance of each centre of mass from its joint.
    pub com: [f64; 2],
    /// Link inertias about their centres of mass.
    pub inertia: [f64; 2],
    /// Gravity.
    pub gravity: f64,
}

impl Default for TwoLinkArm {
    fn default() -> Self {
        TwoLinkArm {
            mass: [1.0, 1.0],
            length: [1.0, 1.0],
            com: [0.5, 0.5],
            inertia: [1.0 / 12.0, 1.0 / 12.0],
            gravity: 9.81,
        }
    }
}

impl TwoLinkArm {
    /// Joint torques, and their partials along one direction (dx, dv, da) by forward mode.
    fn torque(
        &self,
        q: [f64; 2],
        qd: [f64; 2],
        qdd: [f64; 2],
        dir: [[f64; 2]; 3],
    ) -> ([f64; 2], [f64; 2]) {
        let [m1, m2] = self.mass;
        let l1 = self.length[0];
        let [lc1, lc2] = self.com;
        let [i1, i2] = self.inertia;
        let g = self.gravity;
        let a = i1 + i2 + m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2);
        let b = m2 * l1 * lc2;
        let d = i2 + m2 * lc2 * lc2;
        // Values and directional derivatives (value, tangent) of every intermediate.
        let (c2, dc2) = (q[1].cos(), -q[1].sin() * dir[0][1]);
        let (s2, ds2) = (q[1].sin(), q[1].cos() * dir[0][1]);
        let (c1, dc1) = (q[0].cos(), -q[0].sin() * dir[0][0]);
        let q12 = q[0] + q[1];
        let (c12, dc12) = (q12.cos(), -q12.sin() * (dir[0][0] + dir[0][1]));
        let [dqd1, dqd2] = dir[1];
        let [dqdd1, dqdd2] = dir[2];
        let m11 = a + 2.0 * b * c2;
        let dm11 = 2.0 * b * dc2;
        let m12 = d + b * c2;
        let dm12 = b * dc2;
        let h1 = -b * s2 * (2.0 * qd[0] * qd[1] + qd[1] * qd[1]);
        let dh1 = -b * ds2 * (2.0 * qd[0] * qd[1] + qd[1] * qd[1])
            - b * s2 * (2.0 * dqd1 * qd[1] + 2.0 * qd[0] * dqd2 + 2.0 * qd[1] * dqd2);
        let h2 = b * s2 * qd[0] * qd[0];
        let dh2 = b * ds2 * qd[0] * qd[0] + 2.0 * b * s2 * qd[0] * dqd1;
        let g1 = (m1 * lc1 + m2 * l1) * g * c1 + m2 * lc2 * g * c12;
        let dg1 = (m1 * lc1 + m2 * l1) * g * dc1 + m2 * lc2 * g * dc12;
        let g2 = m2 * lc2 * g * c12;
        let dg2 = m2 * lc2 * g * dc12;
        let t1 = m11 * qdd[0] + m12 * qdd[1] + h1 + g1;
        let dt1 = dm11 * qdd[0] + m11 * dqdd1 + dm12 * qdd[1] + m12 * dqdd2 + dh1 + dg1;
        let t2 = m12 * qdd[0] + d * qdd[1] + h2 + g2;
        let dt2 = dm12 * qdd[0] + m12 * dqdd1 + d * dqdd2 + dh2 + dg2;
        ([t1, t2], [dt1, dt2])
    }
}

impl InverseDynamics for TwoLinkArm {
    fn controls(&self) -> usize {
        2
    }
    fn evaluate(&self, x: &[f64], v: &[f64], a: &[f64], u: &mut [f64], du: [&mut [f64]; 3]) {
        let (q, qd, qdd) = ([x[0], x[1]], [v[0], v[1]], [a[0], a[1]]);
        let [dx, dv, da] = du;
        for (which, jac) in [dx, dv, da].into_iter().enumerate() {
            for col in 0..2 {
                let mut dir = [[0.0; 2]; 3];
                dir[which][col] = 1.0;
                let (t, dt) = self.torque(q, qd, qdd, dir);
                u[0] = t[0];
                u[1] = t[1];
                jac[col] = dt[0];
                jac[2 + col] = dt[1];
            }
        }
    }
}

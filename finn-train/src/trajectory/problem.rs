//! The trajectory problem and its cost with exact gradients (paper §4.2): obstacles with a clearance
//! margin, energy, velocity and acceleration limits, and control effort through a user's
//! inverse-dynamics model. Endpoints are met by construction (the shift-constrained form of
//! `finn_core::trajectory`) or, as a baseline, by a soft penalty.
//!
//! Gradients: position and velocity come from F and f = F' of each coordinate's one-input
//! network; acceleration F'' is the full mixed partial of F(t_1 + t_2), i.e. of a "lifted"
//! network with two inputs whose first-layer weights are copies, so [`crate::grad::Net`]
//! differentiates it exactly and the copies' gradients add up. Everything else (the endpoint
//! terms, the via-point correction) is linear in F at a few anchor times, whose adjoints are
//! gathered over all samples and sent back through the network once.

use super::dynamics::InverseDynamics;
use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use argmin::core::{CostFunction, Gradient};
use finn_core::{Error, Kind};

/// A circular (2-D) or spherical obstacle.
#[derive(Clone, Debug)]
pub struct Obstacle {
    /// Centre.
    pub center: Vec<f64>,
    /// Radius.
    pub radius: f64,
}

/// How the endpoints are imposed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Endpoints {
    /// By construction (shift constraint): exact for any parameters.
    Exact,
    /// Baseline: the plain network x0 + F(t) - F(t0), with weight * |x(T) - xT|^2 in the cost.
    Penalty(f64),
}

/// A trajectory optimisation problem over [t0, t1] in D coordinates.
pub struct TrajectoryProblem {
    /// Per-coordinate network shape (one input, signed).
    pub architecture: Architecture,
    /// Start time and end time.
    pub interval: (f64, f64),
    /// Start state.
    pub start: Vec<f64>,
    /// End state.
    pub end: Vec<f64>,
    /// Via-points (time strictly inside, position).
    pub via: Vec<(f64, Vec<f64>)>,
    /// Obstacles to keep `clearance` away from.
    pub obstacles: Vec<Obstacle>,
    /// Required distance from every obstacle's surface.
    pub clearance: f64,
    /// Weight of the squared obstacle violation.
    pub obstacle_weight: f64,
    /// Weight of the energy, the integral of |xdot|^2.
    pub energy_weight: f64,
    /// Per-axis |xdot| limit and its weight.
    pub velocity_limit: Option<(f64, f64)>,
    /// Per-axis |xddot| limit and its weight.
    pub acceleration_limit: Option<(f64, f64)>,
    /// Inverse dynamics and the weight of the integral of |u|^2.
    pub dynamics: Option<(Box<dyn InverseDynamics>, f64)>,
    /// Exact endpoints or the penalty baseline.
    pub endpoints: Endpoints,
    /// Number of Gauss-Legendre nodes for the integrals and the constraint checks.
    pub nodes: usize,
}

/// The state of all coordinates at one time, with what its gradient needs.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Position.
    pub position: Vec<f64>,
    /// Velocity.
    pub velocity: Vec<f64>,
    /// Acceleration.
    pub acceleration: Vec<f64>,
}

/// Cost terms at a parameter vector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Terms {
    /// Total cost.
    pub total: f64,
    /// Obstacle penalty.
    pub obstacles: f64,
    /// Integral of |xdot|^2.
    pub energy: f64,
    /// Limit penalties.
    pub limits: f64,
    /// Integral of |u|^2.
    pub effort: f64,
    /// Endpoint penalty (baseline only).
    pub endpoint_penalty: f64,
    /// Smallest distance to an obstacle surface over the nodes (inf without obstacles).
    pub min_clearance: f64,
}

fn lift(arch: &Architecture, p: &[f64], k: usize) -> Vec<f64> {
    let w = arch.widths[0];
    let mut out = Vec::with_capacity(p.len() + w * (k - 1));
    for j in 0..w {
        for _ in 0..k {
            out.push(p[j]);
        }
    }
    out.extend_from_slice(&p[w..]);
    out
}

fn unlift(arch: &Architecture, g: &[f64], k: usize, out: &mut [f64]) {
    let w = arch.widths[0];
    for j in 0..w {
        out[j] += g[j * k..j * k + k].iter().sum::<f64>();
    }
    for (o, v) in out[w..].iter_mut().zip(&g[w * k..]) {
        *o += v;
    }
}

/// phi_m(s) = s(1-s)(2s-1)^m and its first two derivatives in s (finn-core's basis).
fn basis(s: f64, count: usize) -> Vec<[f64; 3]> {
    let p = [s * (1.0 - s), 1.0 - 2.0 * s, -2.0];
    let r = 2.0 * s - 1.0;
    (0..count)
        .map(|m| {
            let q0 = r.powi(m as i32);
            let q1 = if m >= 1 {
                2.0 * m as f64 * r.powi(m as i32 - 1)
            } else {
                0.0
            };
            let q2 = if m >= 2 {
                4.0 * (m * (m - 1)) as f64 * r.powi(m as i32 - 2)
            } else {
                0.0
            };
            [
                p[0] * q0,
                p[1] * q0 + p[0] * q1,
                p[2] * q0 + 2.0 * p[1] * q1 + p[0] * q2,
            ]
        })
        .collect()
}

/// Inverse of a small dense matrix (Gauss-Jordan, partial pivoting).
fn invert(a: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, Error> {
    let k = a.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.extend((0..k).map(|j| if i == j { 1.0 } else { 0.0 }));
            r
        })
        .collect();
    for c in 0..k {
        let piv = (c..k)
            .max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))
            .unwrap_or(c);
        if m[piv][c].abs() < 1e-14 {
            return Err(Error::InvalidViaPoints);
        }
        m.swap(c, piv);
        let d = m[c][c];
        m[c].iter_mut().for_each(|v| *v /= d);
        for r in 0..k {
            if r != c {
                let f = m[r][c];
                let row_c = m[c].clone();
                m[r].iter_mut().zip(&row_c).for_each(|(v, cv)| *v -= f * cv);
            }
        }
    }
    Ok(m.into_iter().map(|r| r[k..].to_vec()).collect())
}

impl TrajectoryProblem {
    /// Number of coordinates D.
    pub fn dims(&self) -> usize {
        self.start.len()
    }

    /// Length of the parameter vector (D networks back to back).
    pub fn parameter_count(&self) -> usize {
        self.dims() * self.architecture.parameter_count()
    }

    /// Checks the problem's shape.
    pub fn validate(&self) -> Result<(), TrainError> {
        let d = self.dims();
        let (t0, t1) = self.interval;
        if self.architecture.n != 1 || self.architecture.kind != Kind::Signed {
            return Err(TrainError::Data(
                "trajectory networks have one input and are signed".into(),
            ));
        }
        if d == 0 || d > 6 || self.end.len() != d {
            return Err(Error::DimensionMismatch {
                expected: d,
                found: self.end.len(),
            }
            .into());
        }
        if !(t0.is_finite() && t1.is_finite()) || t0 >= t1 {
            return Err(Error::EmptyInterval { axis: 0 }.into());
        }
        let mut last = t0;
        for (t, p) in &self.via {
            if *t <= last || *t >= t1 || p.len() != d {
                return Err(Error::InvalidViaPoints.into());
            }
            last = *t;
        }
        if self.obstacles.iter().any(|o| {
            o.center.len() != d
                || o.radius.is_nan()
                || o.radius < 0.0
                || o.center.iter().any(|c| !c.is_finite())
        }) {
            return Err(TrainError::Data(
                "obstacle centres need D coordinates and radius >= 0".into(),
            ));
        }
        if self.nodes < 2 {
            return Err(TrainError::Data("at least 2 quadrature nodes".into()));
        }
        Ok(())
    }

    /// States at the given times (for reports and plots).
    pub fn states(&self, params: &[f64], times: &[f64]) -> Result<Vec<State>, TrainError> {
        let mut out = Vec::new();
        self.run(
            params,
            times,
            &mut |_, st| {
                out.push(st.clone());
                None
            },
            None,
        )?;
        Ok(out)
    }

    /// The cost terms (no gradient).
    pub fn terms(&self, params: &[f64]) -> Result<Terms, TrainError> {
        self.cost_and_gradient(params, None)
    }

    /// Core loop: evaluates the states at `times`; `visit` returns optional adjoint seeds
    /// (position, velocity, acceleration) for each state, which are propagated into `grad`.
    #[allow(clippy::type_complexity)]
    fn run(
        &self,
        params: &[f64],
        times: &[f64],
        visit: &mut dyn FnMut(usize, &State) -> Option<[Vec<f64>; 3]>,
        grad: Option<&mut [f64]>,
    ) -> Result<(), TrainError> {
        self.validate()?;
        let d = self.dims();
        let pc = self.architecture.parameter_count();
        if params.len() != d * pc {
            return Err(Error::DimensionMismatch {
                expected: d * pc,
                found: params.len(),
            }
            .into());
        }
        let (t0, t1) = self.interval;
        let h = t1 - t0;
        let exact = self.endpoints == Endpoints::Exact;
        let arch2 = Architecture {
            n: 2,
            ..self.architecture.clone()
        };
        let k = self.via.len();
        // Via-point system (depends only on the times).
        let a_inv = if k > 0 {
            let rows: Vec<Vec<f64>> = self
                .via
                .iter()
                .map(|(t, _)| basis((t - t0) / h, k).iter().map(|b| b[0]).collect())
                .collect();
            invert(&rows)?
        } else {
            Vec::new()
        };
        let mut tr = Trace::default();
        let mut lifted_grad = vec![0.0; pc + self.architecture.widths[0]];
        let mut states: Vec<State> = vec![State::default(); times.len()];
        let mut seeds: Vec<Option<[Vec<f64>; 3]>> = Vec::with_capacity(times.len());
        // Per coordinate: F at the anchors, then the states.
        let mut per_coord = Vec::with_capacity(d);
        for i in 0..d {
            let p = &params[i * pc..(i + 1) * pc];
            let net = Net::new(&self.architecture, p)?;
            let lifted = lift(&self.architecture, p, 2);
            let f_t0 = net.antiderivative_forward(&[t0], &mut tr)?;
            let f_t1 = net.antiderivative_forward(&[t1], &mut tr)?;
            let delta = f_t1 - f_t0;
            // beta = A^-1 r with r_k = x_k - uncorrected(t_k).
            let mut r = vec![0.0; k];
            for (kk, (t, pos)) in self.via.iter().enumerate() {
                let s = (t - t0) / h;
                let ft = net.antiderivative_forward(&[*t], &mut tr)?;
                let unc = if exact {
                    (1.0 - s) * self.start[i] + s * self.end[i] + (ft - f_t0) - s * delta
                } else {
                    self.start[i] + ft - f_t0
                };
                r[kk] = pos[i] - unc;
            }
            let beta: Vec<f64> = (0..k)
                .map(|m| (0..k).map(|j| a_inv[m][j] * r[j]).sum())
                .collect();
            let mut vals = Vec::with_capacity(times.len());
            for (j, &t) in times.iter().enumerate() {
                let s = (t - t0) / h;
                let ft = net.antiderivative_forward(&[t], &mut tr)?;
                let fp = net.integrand_forward(&[t], &mut tr)?;
                let l2 = Net::new(&arch2, &lifted)?;
                // F(t1 + t2) at t1 = t2 = t/2 (exact halving): its mixed partial is F''(t).
                let fpp = l2.integrand_forward(&[0.5 * t, 0.5 * t], &mut tr)?;
                let b = basis(s, k);
                let corr: [f64; 3] = (0..3)
                    .map(|o| (0..k).map(|m| beta[m] * b[m][o]).sum())
                    .collect::<Vec<f64>>()
                    .try_into()
                    .unwrap_or([0.0; 3]);
                let (x, v) = if exact {
                    (
                        (1.0 - s) * self.start[i]
                            + s * self.end[i]
                            + ((ft - f_t0) - s * delta)
                            + corr[0],
                        (self.end[i] - self.start[i] - delta) / h + fp + corr[1] / h,
                    )
                } else {
                    (self.start[i] + (ft - f_t0) + corr[0], fp + corr[1] / h)
                };
                let a = fpp + corr[2] / (h * h);
                states[j].position.push(x);
                states[j].velocity.push(v);
                states[j].acceleration.push(a);
                vals.push(s);
            }
            per_coord.push((f_t0, f_t1, beta, lifted));
        }
        for (j, st) in states.iter().enumerate() {
            seeds.push(visit(j, st));
        }
        let Some(grad) = grad else {
            return Ok(());
        };
        for i in 0..d {
            let p = &params[i * pc..(i + 1) * pc];
            let net = Net::new(&self.architecture, p)?;
            let (_, _, _, lifted) = &per_coord[i];
            let l2 = Net::new(&arch2, lifted)?;
            let mut g_eff = vec![0.0; pc];
            lifted_grad.iter_mut().for_each(|v| *v = 0.0);
            // Adjoints of the anchors F(t0), F(T) and of the via-point residual vector.
            let (mut bar_t0, mut bar_t1) = (0.0, 0.0);
            let mut bar_corr_r = vec![0.0; k]; // adjoint of r (through beta)
            for (j, &t) in times.iter().enumerate() {
                let Some(seed) = &seeds[j] else { continue };
                let (sx, sv, sa) = (seed[0][i], seed[1][i], seed[2][i]);
                if sx == 0.0 && sv == 0.0 && sa == 0.0 {
                    continue;
                }
                let s = (t - t0) / h;
                if sx != 0.0 {
                    net.antiderivative_forward(&[t], &mut tr)?;
                    net.antiderivative_backward(&[t], &mut tr, sx, &mut g_eff);
                }
                if sv != 0.0 {
                    net.integrand_forward(&[t], &mut tr)?;
                    net.integrand_backward(&[t], &mut tr, sv, &mut g_eff);
                }
                if sa != 0.0 {
                    l2.integrand_forward(&[0.5 * t, 0.5 * t], &mut tr)?;
                    l2.integrand_backward(&[0.5 * t, 0.5 * t], &mut tr, sa, &mut lifted_grad);
                }
                if exact {
                    // x: -(1 - s) F(t0) - s F(T); v: -(F(T) - F(t0))/h.
                    bar_t0 += -sx * (1.0 - s) + sv / h;
                    bar_t1 += -sx * s - sv / h;
                } else {
                    bar_t0 -= sx;
                }
                if k > 0 {
                    let b = basis(s, k);
                    // corr_o = sum_m beta_m b_m[o] and beta = A^-1 r.
                    for m in 0..k {
                        let w = sx * b[m][0] + sv * b[m][1] / h + sa * b[m][2] / (h * h);
                        for jj in 0..k {
                            bar_corr_r[jj] += w * a_inv[m][jj];
                        }
                    }
                }
            }
            // r_k = x_k - uncorrected(t_k): uncorrected is linear in F(t_k), F(t0), F(T).
            for (kk, (t, _)) in self.via.iter().enumerate() {
                let rb = bar_corr_r[kk];
                if rb == 0.0 {
                    continue;
                }
                let s = (t - t0) / h;
                net.antiderivative_forward(&[*t], &mut tr)?;
                net.antiderivative_backward(&[*t], &mut tr, -rb, &mut g_eff);
                if exact {
                    bar_t0 += rb * (1.0 - s);
                    bar_t1 += rb * s;
                } else {
                    bar_t0 += rb;
                }
            }
            for (t, bar) in [(t0, bar_t0), (t1, bar_t1)] {
                if bar != 0.0 {
                    net.antiderivative_forward(&[t], &mut tr)?;
                    net.antiderivative_backward(&[t], &mut tr, bar, &mut g_eff);
                }
            }
            let gi = &mut grad[i * pc..(i + 1) * pc];
            net.raw_gradient(&g_eff, gi);
            unlift(&self.architecture, &lifted_grad, 2, gi);
        }
        Ok(())
    }

    /// The cost and, when `grad` is given, its exact gradient.
    pub fn cost_and_gradient(
        &self,
        params: &[f64],
        grad: Option<&mut [f64]>,
    ) -> Result<Terms, TrainError> {
        let (t0, t1) = self.interval;
        let h = t1 - t0;
        let d = self.dims();
        let rule = crate::quadrature::gauss_legendre_pairs(self.nodes);
        let mut times: Vec<f64> = rule.iter().map(|(x, _)| t0 + 0.5 * h * (x + 1.0)).collect();
        let weights: Vec<f64> = rule.iter().map(|(_, w)| 0.5 * h * w).collect();
        let end_index = times.len();
        times.push(t1);
        let mut terms = Terms {
            min_clearance: f64::INFINITY,
            ..Terms::default()
        };
        let want_grad = grad.is_some();
        let dynamics = self.dynamics.as_ref();
        let nu = dynamics.map(|(m, _)| m.controls()).unwrap_or(0);
        let mut visit = |j: usize, st: &State| -> Option<[Vec<f64>; 3]> {
            let mut sx = vec![0.0; d];
            let mut sv = vec![0.0; d];
            let mut sa = vec![0.0; d];
            if j == end_index {
                if let Endpoints::Penalty(w) = self.endpoints {
                    for i in 0..d {
                        let e = st.position[i] - self.end[i];
                        terms.endpoint_penalty += w * e * e;
                        sx[i] += 2.0 * w * e;
                    }
                }
            } else {
                let wq = weights[j];
                for o in &self.obstacles {
                    let diff: Vec<f64> = (0..d).map(|i| st.position[i] - o.center[i]).collect();
                    let dist = diff.iter().map(|v| v * v).sum::<f64>().sqrt();
                    terms.min_clearance = terms.min_clearance.min(dist - o.radius);
                    let gap = o.radius + self.clearance - dist;
                    if gap > 0.0 {
                        terms.obstacles += self.obstacle_weight * wq * gap * gap;
                        if dist > 0.0 {
                            for i in 0..d {
                                sx[i] -= self.obstacle_weight * wq * 2.0 * gap * diff[i] / dist;
                            }
                        }
                    }
                }
                for i in 0..d {
                    let v = st.velocity[i];
                    terms.energy += wq * v * v;
                    sv[i] += self.energy_weight * wq * 2.0 * v;
                    if let Some((lim, w)) = self.velocity_limit {
                        let over = v.abs() - lim;
                        if over > 0.0 {
                            terms.limits += w * wq * over * over;
                            sv[i] += w * wq * 2.0 * over * v.signum();
                        }
                    }
                    if let Some((lim, w)) = self.acceleration_limit {
                        let a = st.acceleration[i];
                        let over = a.abs() - lim;
                        if over > 0.0 {
                            terms.limits += w * wq * over * over;
                            sa[i] += w * wq * 2.0 * over * a.signum();
                        }
                    }
                }
                if let Some((model, w)) = dynamics {
                    let mut u = vec![0.0; nu];
                    let (mut jx, mut jv, mut ja) =
                        (vec![0.0; nu * d], vec![0.0; nu * d], vec![0.0; nu * d]);
                    model.evaluate(
                        &st.position,
                        &st.velocity,
                        &st.acceleration,
                        &mut u,
                        [&mut jx, &mut jv, &mut ja],
                    );
                    for c in 0..nu {
                        terms.effort += wq * u[c] * u[c];
                        let s = w * wq * 2.0 * u[c];
                        for i in 0..d {
                            sx[i] += s * jx[c * d + i];
                            sv[i] += s * jv[c * d + i];
                            sa[i] += s * ja[c * d + i];
                        }
                    }
                }
            }
            if want_grad {
                Some([sx, sv, sa])
            } else {
                None
            }
        };
        self.run(params, &times, &mut visit, grad)?;
        let effort_w = dynamics.map(|(_, w)| *w).unwrap_or(0.0);
        terms.total = terms.obstacles
            + self.energy_weight * terms.energy
            + terms.limits
            + effort_w * terms.effort
            + terms.endpoint_penalty;
        if !terms.total.is_finite() {
            return Err(Error::Overflow.into());
        }
        Ok(terms)
    }
}

impl CostFunction for TrajectoryProblem {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.terms(p)?.total)
    }
}

impl Gradient for TrajectoryProblem {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let mut g = vec![0.0; p.len()];
        self.cost_and_gradient(p, Some(&mut g))?;
        Ok(g)
    }
}

//! The trajectory problem and its cost with exact gradients (paper §4.2): energy, control
//! effort through a user's inverse-dynamics model, and the [`Constraint`]s (obstacles,
//! velocity, acceleration and jerk limits), either as soft penalties at the quadrature nodes or
//! as augmented-Lagrangian terms at the enforcement's times ([`super::enforce`]). Endpoints are
//! met by construction (the shift-constrained form of `finn_core::trajectory`) or, as a
//! baseline, by a soft penalty.
//!
//! Gradients: position and velocity come from F and f = F' of each coordinate's one-input
//! network; the k-th derivative F^(k) (k = 2, 3) is the full mixed partial of
//! F(t_1 + ... + t_k), i.e. of a "lifted" network with k inputs whose first-layer weights are
//! copies, so [`crate::grad::Net`] differentiates it exactly and the copies' gradients add up.
//! Everything else (the endpoint terms, the via-point correction) is linear in F at a few
//! anchor times, whose adjoints are gathered over all samples and sent back through the
//! network once.

use super::constraints::Constraint;
use super::dynamics::InverseDynamics;
use super::via;
use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use argmin::core::{CostFunction, Gradient};
use finn_core::{Error, Kind};

/// How the endpoints are imposed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Endpoints {
    /// By construction (shift constraint): exact for any parameters.
    Exact,
    /// Baseline: the plain network x0 + F(t) - F(t0), with weight * |x(T) - xT|^2 in the cost.
    Penalty(f64),
}

/// How the solver sees the constraints.
#[derive(Clone, Debug, PartialEq)]
pub enum Enforcement {
    /// `weight` times the quadrature-weighted squared negative residuals at the nodes: the
    /// soft-penalty formulation (nothing holds between nodes, nor exactly at them).
    Penalty {
        /// The penalty weight.
        weight: f64,
    },
    /// Augmented-Lagrangian terms at chosen times ([`super::enforce`] updates them).
    Lagrangian(Lagrangian),
}

/// The augmented-Lagrangian terms (Powell-Hestenes-Rockafellar form for g >= margin):
/// sum over times and residuals of (max(0, lambda - rho (g - margin))^2 - lambda^2) / (2 rho).
#[derive(Clone, Debug, PartialEq)]
pub struct Lagrangian {
    /// The times at which every residual is enforced.
    pub times: Vec<f64>,
    /// One multiplier per (time, residual), time-major; residuals in constraint order.
    pub multipliers: Vec<f64>,
    /// The penalty parameter rho > 0.
    pub rho: f64,
    /// The residual each constraint is pushed to (> 0 leaves room for the certificate).
    pub margin: f64,
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
    /// What must hold at every time.
    pub constraints: Vec<Constraint>,
    /// How the solver sees them.
    pub enforcement: Enforcement,
    /// Weight of the energy, the integral of |xdot|^2.
    pub energy_weight: f64,
    /// Inverse dynamics and the weight of the integral of |u|^2.
    pub dynamics: Option<(Box<dyn InverseDynamics>, f64)>,
    /// Exact endpoints or the penalty baseline.
    pub endpoints: Endpoints,
    /// Number of Gauss-Legendre nodes of the cost integrals (and of the soft penalties).
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
    /// Jerk (zeros unless a constraint reads it).
    pub jerk: Vec<f64>,
}

impl State {
    /// The derivative of order k (0 position .. 3 jerk).
    pub fn derivative(&self, k: usize) -> &[f64] {
        match k {
            0 => &self.position,
            1 => &self.velocity,
            2 => &self.acceleration,
            _ => &self.jerk,
        }
    }
}

/// Cost terms at a parameter vector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Terms {
    /// Total cost.
    pub total: f64,
    /// Integral of |xdot|^2.
    pub energy: f64,
    /// Integral of |u|^2.
    pub effort: f64,
    /// The constraints' penalty or augmented-Lagrangian terms.
    pub constraints: f64,
    /// Endpoint penalty (baseline only).
    pub endpoint_penalty: f64,
    /// Per constraint, the smallest slack at the times evaluated (nodes and enforcement
    /// times): a measurement, not a proof.
    pub slack: Vec<f64>,
    /// The smallest residual minus the margin over the enforcement times (Lagrangian only;
    /// < 0 where a constraint is not yet met there).
    pub worst_residual: f64,
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

impl TrajectoryProblem {
    /// Number of coordinates D.
    pub fn dims(&self) -> usize {
        self.start.len()
    }

    /// Length of the parameter vector (D networks back to back).
    pub fn parameter_count(&self) -> usize {
        self.dims() * self.architecture.parameter_count()
    }

    /// Number of residuals at one time (the Lagrangian's multipliers per time).
    pub fn residuals_per_time(&self) -> usize {
        let d = self.dims();
        self.constraints.iter().map(|c| c.residual_count(d)).sum()
    }

    /// Highest derivative order any constraint or the dynamics reads (2 at least).
    fn orders(&self) -> usize {
        self.constraints
            .iter()
            .map(|c| c.order())
            .max()
            .unwrap_or(0)
            .max(2)
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
        if self.nodes < 2 {
            return Err(TrainError::Data("at least 2 quadrature nodes".into()));
        }
        if let Enforcement::Lagrangian(l) = &self.enforcement {
            if l.multipliers.len() != l.times.len() * self.residuals_per_time()
                || l.rho.is_nan()
                || l.rho <= 0.0
                || l.times.iter().any(|t| !(*t >= t0 && *t <= t1))
            {
                return Err(TrainError::Data(
                    "Lagrangian terms: one multiplier per time and residual, rho > 0, times in [t0, T]"
                        .into(),
                ));
            }
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
    /// (position, velocity, acceleration, jerk) for each state, which are propagated into
    /// `grad`.
    #[allow(clippy::type_complexity)]
    fn run(
        &self,
        params: &[f64],
        times: &[f64],
        visit: &mut dyn FnMut(usize, &State) -> Option<[Vec<f64>; 4]>,
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
        let orders = self.orders();
        let lifted_arch: Vec<Architecture> = (2..=orders)
            .map(|k| Architecture {
                n: k,
                ..self.architecture.clone()
            })
            .collect();
        let k = self.via.len();
        let via_times: Vec<f64> = self.via.iter().map(|(t, _)| *t).collect();
        let a_inv = via::system_inverse(&via_times, self.interval)?;
        let mut tr = Trace::default();
        let mut states: Vec<State> = vec![State::default(); times.len()];
        let mut seeds: Vec<Option<[Vec<f64>; 4]>> = Vec::with_capacity(times.len());
        let mut per_coord = Vec::with_capacity(d);
        for i in 0..d {
            let p = &params[i * pc..(i + 1) * pc];
            let net = Net::new(&self.architecture, p)?;
            let lifted: Vec<Vec<f64>> = (2..=orders)
                .map(|o| lift(&self.architecture, p, o))
                .collect();
            let lifted_nets = lifted_arch
                .iter()
                .zip(&lifted)
                .map(|(a, l)| Net::new(a, l))
                .collect::<Result<Vec<_>, _>>()?;
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
            for (j, &t) in times.iter().enumerate() {
                let s = (t - t0) / h;
                let ft = net.antiderivative_forward(&[t], &mut tr)?;
                let fp = net.integrand_forward(&[t], &mut tr)?;
                let b = via::basis(s, k);
                let corr = |o: usize| -> f64 {
                    (0..k).map(|m| beta[m] * b[m][o]).sum::<f64>() / h.powi(o as i32)
                };
                let (x, v) = if exact {
                    (
                        (1.0 - s) * self.start[i]
                            + s * self.end[i]
                            + ((ft - f_t0) - s * delta)
                            + corr(0),
                        (self.end[i] - self.start[i] - delta) / h + fp + corr(1),
                    )
                } else {
                    (self.start[i] + (ft - f_t0) + corr(0), fp + corr(1))
                };
                let st = &mut states[j];
                st.position.push(x);
                st.velocity.push(v);
                // F(t_1 + .. + t_o) at t_1 = .. = t_o = t/o: its mixed partial is F^(o)(t).
                let mut higher = [0.0; 2];
                for (o, l) in lifted_nets.iter().enumerate() {
                    let order = o + 2;
                    let at = vec![t / order as f64; order];
                    higher[o] = l.integrand_forward(&at, &mut tr)? + corr(order);
                }
                st.acceleration.push(higher[0]);
                st.jerk.push(higher[1]);
            }
            per_coord.push((beta, lifted));
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
            let (_, lifted) = &per_coord[i];
            let lifted_nets = lifted_arch
                .iter()
                .zip(lifted)
                .map(|(a, l)| Net::new(a, l))
                .collect::<Result<Vec<_>, _>>()?;
            let mut lifted_grads: Vec<Vec<f64>> =
                lifted.iter().map(|l| vec![0.0; l.len()]).collect();
            let mut g_eff = vec![0.0; pc];
            // Adjoints of the anchors F(t0), F(T) and of the via-point residual vector.
            let (mut bar_t0, mut bar_t1) = (0.0, 0.0);
            let mut bar_corr_r = vec![0.0; k]; // adjoint of r (through beta)
            for (j, &t) in times.iter().enumerate() {
                let Some(seed) = &seeds[j] else { continue };
                let sd = [seed[0][i], seed[1][i], seed[2][i], seed[3][i]];
                if sd.iter().all(|v| *v == 0.0) {
                    continue;
                }
                let s = (t - t0) / h;
                if sd[0] != 0.0 {
                    net.antiderivative_forward(&[t], &mut tr)?;
                    net.antiderivative_backward(&[t], &mut tr, sd[0], &mut g_eff);
                }
                if sd[1] != 0.0 {
                    net.integrand_forward(&[t], &mut tr)?;
                    net.integrand_backward(&[t], &mut tr, sd[1], &mut g_eff);
                }
                for (o, (l, lg)) in lifted_nets.iter().zip(&mut lifted_grads).enumerate() {
                    let order = o + 2;
                    if sd[order] != 0.0 {
                        let at = vec![t / order as f64; order];
                        l.integrand_forward(&at, &mut tr)?;
                        l.integrand_backward(&at, &mut tr, sd[order], lg);
                    }
                }
                if exact {
                    // x: -(1 - s) F(t0) - s F(T); v: -(F(T) - F(t0))/h.
                    bar_t0 += -sd[0] * (1.0 - s) + sd[1] / h;
                    bar_t1 += -sd[0] * s - sd[1] / h;
                } else {
                    bar_t0 -= sd[0];
                }
                if k > 0 {
                    let b = via::basis(s, k);
                    // corr_o = sum_m beta_m b_m[o] / h^o and beta = A^-1 r.
                    for m in 0..k {
                        let w: f64 = (0..4).map(|o| sd[o] * b[m][o] / h.powi(o as i32)).sum();
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
            for (o, lg) in lifted_grads.iter().enumerate() {
                unlift(&self.architecture, lg, o + 2, gi);
            }
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
        if let Enforcement::Lagrangian(l) = &self.enforcement {
            times.extend_from_slice(&l.times);
        }
        let mut terms = Terms {
            slack: vec![f64::INFINITY; self.constraints.len()],
            worst_residual: f64::INFINITY,
            ..Terms::default()
        };
        let want_grad = grad.is_some();
        let dynamics = self.dynamics.as_ref();
        let nu = dynamics.map(|(m, _)| m.controls()).unwrap_or(0);
        let per_time = self.residuals_per_time();
        let mut scratch = vec![0.0; d];
        let mut visit = |j: usize, st: &State| -> Option<[Vec<f64>; 4]> {
            let mut seed = [vec![0.0; d], vec![0.0; d], vec![0.0; d], vec![0.0; d]];
            if j != end_index {
                for (c, slack) in self.constraints.iter().zip(&mut terms.slack) {
                    *slack = slack.min(c.slack(st.derivative(c.order())));
                }
            }
            // The weight of each residual's term at this time, and its derivative in g.
            // Returns the smallest residual.
            let mut residual_terms = |weight: &dyn Fn(usize, f64) -> (f64, f64)| -> f64 {
                let (mut r, mut smallest) = (0, f64::INFINITY);
                for c in &self.constraints {
                    let order = c.order();
                    for jj in 0..c.residual_count(d) {
                        scratch.fill(0.0);
                        let g = c.residual(jj, st.derivative(order), 1.0, &mut scratch);
                        smallest = smallest.min(g);
                        let (value, slope) = weight(r, g);
                        terms.constraints += value;
                        if slope != 0.0 {
                            for (s, v) in seed[order].iter_mut().zip(&scratch) {
                                *s += slope * v;
                            }
                        }
                        r += 1;
                    }
                }
                smallest
            };
            if j == end_index {
                if let Endpoints::Penalty(w) = self.endpoints {
                    for i in 0..d {
                        let e = st.position[i] - self.end[i];
                        terms.endpoint_penalty += w * e * e;
                        seed[0][i] += 2.0 * w * e;
                    }
                }
            } else if j > end_index {
                if let Enforcement::Lagrangian(l) = &self.enforcement {
                    let p = j - end_index - 1;
                    let smallest = residual_terms(&|r, g| {
                        let lambda = l.multipliers[p * per_time + r];
                        let shifted = (lambda - l.rho * (g - l.margin)).max(0.0);
                        let value = (shifted * shifted - lambda * lambda) / (2.0 * l.rho);
                        (value, -shifted)
                    });
                    terms.worst_residual = terms.worst_residual.min(smallest - l.margin);
                }
            } else {
                let wq = weights[j];
                if let Enforcement::Penalty { weight } = self.enforcement {
                    residual_terms(&|_, g| {
                        let under = g.min(0.0);
                        (weight * wq * under * under, 2.0 * weight * wq * under)
                    });
                }
                for i in 0..d {
                    let v = st.velocity[i];
                    terms.energy += wq * v * v;
                    seed[1][i] += self.energy_weight * wq * 2.0 * v;
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
                            seed[0][i] += s * jx[c * d + i];
                            seed[1][i] += s * jv[c * d + i];
                            seed[2][i] += s * ja[c * d + i];
                        }
                    }
                }
            }
            if want_grad {
                Some(seed)
            } else {
                None
            }
        };
        self.run(params, &times, &mut visit, grad)?;
        let effort_w = dynamics.map(|(_, w)| *w).unwrap_or(0.0);
        terms.total = self.energy_weight * terms.energy
            + effort_w * terms.effort
            + terms.constraints
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

//! Levenberg-Marquardt (damped Gauss-Newton) for losses that are sums of squares, as an argmin
//! [`Solver`](argmin::core::Solver).
//!
//! A [`LeastSquares`] problem has the loss |r(theta)|^2 + ridge |theta|^2 with residuals r
//! (m of them) and their Jacobian J (m x p, a row per residual). Each iteration solves the
//! damped normal equations
//!
//! ```text
//! (J^T J + ridge I + lambda D) delta = -(J^T r + ridge theta)
//! ```
//!
//! by Cholesky (`linfa-linalg`), where D is the running maximum of diag(J^T J) (Marquardt's
//! scaling, as MINPACK keeps it), and tries theta + delta. A step that lowers the loss is taken
//! and lambda shrinks by Nielsen's rule (by at most 3x, less when the quadratic model predicted
//! the decrease poorly); a step that does not, or a matrix that is not positive definite, raises
//! lambda (doubling the factor each time) and the same iteration tries again with the same J.
//! So one iteration is one accepted step and one Jacobian; rejected trials cost one residual
//! evaluation each.
//!
//! Parameters that enter only through their magnitude ([`LeastSquares::nonnegative`]: the
//! weights of a positive network, which sees |w|) are kept >= 0, which describes the same
//! models: a step that would take one below 0 is projected onto 0, and one at 0 whose gradient
//! points outwards is held there for the step. Without this, Gauss-Newton steps keep crossing
//! the kink of |w| at 0, where the linear model is wrong, and the damping grows without end.
//!
//! J^T J is one matrix product (`matrixmultiply`), which for a few hundred parameters and a
//! few thousand residuals costs about as much as building J.

use crate::TrainError;
use argmin::core::{IterState, Problem, Solver, TerminationReason, TerminationStatus, KV};
use linfa_linalg::cholesky::SolveCInplace;
use ndarray::Array2;

/// A loss that is a sum of squared residuals plus a ridge term:
/// loss(theta) = |r(theta)|^2 + ridge |theta|^2.
///
/// ```
/// use finn_train::solve::LeastSquares;
/// use finn_train::TrainError;
/// /// r(a, b) = (a - 1, 10 (b - a^2)): Rosenbrock's function as a sum of squares.
/// struct Rosenbrock;
/// impl LeastSquares for Rosenbrock {
///     fn residual_count(&self) -> usize { 2 }
///     fn residuals(&self, p: &[f64], r: &mut [f64]) -> Result<(), TrainError> {
///         r[0] = p[0] - 1.0;
///         r[1] = 10.0 * (p[1] - p[0] * p[0]);
///         Ok(())
///     }
///     fn residuals_and_jacobian(&self, p: &[f64], r: &mut [f64], j: &mut [f64]) -> Result<(), TrainError> {
///         self.residuals(p, r)?;
///         j.copy_from_slice(&[1.0, 0.0, -20.0 * p[0], 10.0]);
///         Ok(())
///     }
/// }
/// let mut r = [0.0; 2];
/// Rosenbrock.residuals(&[1.0, 1.0], &mut r).unwrap();
/// assert_eq!(r, [0.0, 0.0]);
/// ```
pub trait LeastSquares {
    /// m, the number of residuals.
    fn residual_count(&self) -> usize;

    /// The ridge coefficient (0 by default).
    fn ridge(&self) -> f64 {
        0.0
    }

    /// Which parameters the residuals use only through their magnitude |theta_j| (a positive
    /// network's weights), so the solver may keep them >= 0 instead of stepping across the kink
    /// at 0; empty (the default) for none.
    fn nonnegative(&self) -> Vec<bool> {
        Vec::new()
    }

    /// Writes the m residuals at `params` into `r`.
    fn residuals(&self, params: &[f64], r: &mut [f64]) -> Result<(), TrainError>;

    /// Writes the residuals into `r` and their Jacobian into `jacobian` (row-major, m rows of
    /// `params.len()` entries: row i is the gradient of r_i).
    fn residuals_and_jacobian(
        &self,
        params: &[f64],
        r: &mut [f64],
        jacobian: &mut [f64],
    ) -> Result<(), TrainError>;
}

/// The state the solver iterates on: parameters, and the loss gradient 2 (J^T r + ridge theta)
/// (so observers see the same gradient norm as with BFGS).
pub type LmState = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;

/// Largest damping tried before the solver gives up on finding a decrease.
const MAX_LAMBDA: f64 = 1e16;
/// Damping of the first step, relative to the scaling D. Not the textbook 1e-3: from a random
/// start a nearly undamped first step can throw a tanh network into saturation, where the
/// gradient vanishes and the solver stops far from a fit.
const INITIAL_LAMBDA: f64 = 1.0;

/// The Levenberg-Marquardt solver (see the module documentation). Stops when the loss
/// gradient's norm is below `tol_grad`, when an accepted step lowers the loss by less than
/// `tol_cost`, when no damping up to 1e16 gives a decrease, or at argmin's iteration cap.
///
/// ```
/// use argmin::core::{Executor, State};
/// use finn_train::solve::{LeastSquares, LevenbergMarquardt};
/// # use finn_train::TrainError;
/// # struct Rosenbrock;
/// # impl LeastSquares for Rosenbrock {
/// #     fn residual_count(&self) -> usize { 2 }
/// #     fn residuals(&self, p: &[f64], r: &mut [f64]) -> Result<(), TrainError> {
/// #         r[0] = p[0] - 1.0;
/// #         r[1] = 10.0 * (p[1] - p[0] * p[0]);
/// #         Ok(())
/// #     }
/// #     fn residuals_and_jacobian(&self, p: &[f64], r: &mut [f64], j: &mut [f64]) -> Result<(), TrainError> {
/// #         self.residuals(p, r)?;
/// #         j.copy_from_slice(&[1.0, 0.0, -20.0 * p[0], 10.0]);
/// #         Ok(())
/// #     }
/// # }
/// let solver = LevenbergMarquardt::new(1e-12, 0.0);
/// let result = Executor::new(Rosenbrock, solver)
///     .configure(|s| s.param(vec![-1.2, 1.0]).max_iters(100))
///     .run()
///     .unwrap();
/// let best = result.state().get_best_param().unwrap();
/// assert!((best[0] - 1.0).abs() < 1e-6 && (best[1] - 1.0).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct LevenbergMarquardt {
    tol_grad: f64,
    tol_cost: f64,
    lambda: f64,
    nu: f64,
    /// Residuals, Jacobian (m x p), J^T J (p x p) and J^T r + ridge theta at the current point.
    r: Vec<f64>,
    jacobian: Vec<f64>,
    jtj: Vec<f64>,
    g: Vec<f64>,
    /// Marquardt's scaling D.
    scale: Vec<f64>,
    /// Parameters kept >= 0 (empty: none).
    bounded: Vec<bool>,
    /// Loss decrease of the last accepted step.
    last_decrease: f64,
    /// Set when no damping gave a decrease.
    stalled: bool,
}

impl LevenbergMarquardt {
    /// A solver with the given stopping tolerances (as [`crate::solve::Settings`]).
    ///
    /// ```
    /// let solver = finn_train::solve::LevenbergMarquardt::new(1e-10, 0.0);
    /// # let _ = solver;
    /// ```
    pub fn new(tol_grad: f64, tol_cost: f64) -> Self {
        LevenbergMarquardt {
            tol_grad,
            tol_cost,
            lambda: INITIAL_LAMBDA,
            nu: 2.0,
            r: Vec::new(),
            jacobian: Vec::new(),
            jtj: Vec::new(),
            g: Vec::new(),
            scale: Vec::new(),
            bounded: Vec::new(),
            last_decrease: f64::INFINITY,
            stalled: false,
        }
    }

    /// Residuals, Jacobian, J^T J and J^T r + ridge theta at `params`; returns the loss.
    fn linearise<O: LeastSquares>(
        &mut self,
        problem: &mut Problem<O>,
        params: &[f64],
    ) -> Result<f64, argmin::core::Error> {
        let p = params.len();
        let (r, jacobian) = (&mut self.r, &mut self.jacobian);
        let (m, ridge) = problem.problem("jacobian_count", |o| {
            let m = o.residual_count();
            r.resize(m, 0.0);
            jacobian.resize(m * p, 0.0);
            o.residuals_and_jacobian(params, r, jacobian)?;
            Ok((m, o.ridge()))
        })?;
        self.jtj.resize(p * p, 0.0);
        // SAFETY: J is m x p row-major, read as J^T (p x m) through the strides (1, p); J^T J is
        // p x p row-major; all three buffers were just sized.
        unsafe {
            matrixmultiply::dgemm(
                p,
                m,
                p,
                1.0,
                self.jacobian.as_ptr(),
                1,
                p as isize,
                self.jacobian.as_ptr(),
                p as isize,
                1,
                0.0,
                self.jtj.as_mut_ptr(),
                p as isize,
                1,
            );
        }
        self.g.clear();
        self.g.extend(params.iter().map(|t| ridge * t));
        for (row, ri) in self.jacobian.chunks_exact(p).zip(&self.r) {
            for (gj, jj) in self.g.iter_mut().zip(row) {
                *gj += jj * ri;
            }
        }
        self.scale.resize(p, 0.0);
        let mean_diag = (0..p).map(|j| self.jtj[j * p + j]).sum::<f64>() / p as f64;
        for (j, d) in self.scale.iter_mut().enumerate() {
            // A parameter the residuals ignore still gets some damping.
            *d = d
                .max(self.jtj[j * p + j])
                .max(1e-9 * mean_diag)
                .max(f64::MIN_POSITIVE);
        }
        Ok(sum_squares(&self.r) + ridge * sum_squares(params))
    }

    /// The step solving the damped normal equations at `params`, projected so bounded
    /// parameters stay >= 0, or `None` when the matrix is not positive definite (in floating
    /// point).
    fn step(&self, params: &[f64], ridge: f64) -> Option<Vec<f64>> {
        let p = self.g.len();
        // Held: at the bound with a gradient that points outwards (the loss falls as the
        // parameter goes below 0, which it cannot).
        let held: Vec<bool> = (0..p)
            .map(|j| self.bounded.get(j) == Some(&true) && params[j] <= 0.0 && self.g[j] > 0.0)
            .collect();
        let mut a = Array2::from_shape_fn((p, p), |(i, j)| {
            if held[i] || held[j] {
                return if i == j { 1.0 } else { 0.0 };
            }
            let mut v = self.jtj[i * p + j];
            if i == j {
                v += ridge + self.lambda * self.scale[i];
            }
            v
        });
        let mut b = Array2::from_shape_fn((p, 1), |(i, _)| if held[i] { 0.0 } else { -self.g[i] });
        a.solvec_inplace(&mut b).ok()?;
        let mut delta: Vec<f64> = b.into_raw_vec_and_offset().0;
        for (j, d) in delta.iter_mut().enumerate() {
            if self.bounded.get(j) == Some(&true) && params[j] + *d < 0.0 {
                *d = -params[j];
            }
        }
        delta.iter().all(|v| v.is_finite()).then_some(delta)
    }

    /// The decrease of the Gauss-Newton model |r + J delta|^2 + ridge |theta + delta|^2.
    fn predicted_decrease(&self, delta: &[f64], ridge: f64) -> f64 {
        let p = delta.len();
        let mut curvature = ridge * sum_squares(delta);
        for (i, di) in delta.iter().enumerate() {
            let row = &self.jtj[i * p..][..p];
            curvature += di * row.iter().zip(delta).map(|(a, d)| a * d).sum::<f64>();
        }
        let slope: f64 = delta.iter().zip(&self.g).map(|(d, g)| d * g).sum();
        -2.0 * slope - curvature
    }

    fn gradient(&self) -> Vec<f64> {
        self.g.iter().map(|v| 2.0 * v).collect()
    }
}

fn sum_squares(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum()
}

impl<O: LeastSquares> Solver<O, LmState> for LevenbergMarquardt {
    fn name(&self) -> &str {
        "Levenberg-Marquardt"
    }

    fn init(
        &mut self,
        problem: &mut Problem<O>,
        mut state: LmState,
    ) -> Result<(LmState, Option<KV>), argmin::core::Error> {
        let mut params = state.take_param().ok_or_else(|| {
            TrainError::Solver("Levenberg-Marquardt needs initial parameters".into())
        })?;
        self.bounded = problem
            .problem
            .as_ref()
            .map_or_else(Vec::new, |o| o.nonnegative());
        for (t, b) in params.iter_mut().zip(&self.bounded) {
            if *b {
                // The same model: the residuals see only |t|.
                *t = t.abs();
            }
        }
        self.scale.clear();
        let cost = self.linearise(problem, &params)?;
        let gradient = self.gradient();
        Ok((state.param(params).cost(cost).gradient(gradient), None))
    }

    fn next_iter(
        &mut self,
        problem: &mut Problem<O>,
        mut state: LmState,
    ) -> Result<(LmState, Option<KV>), argmin::core::Error> {
        let params = state
            .take_param()
            .ok_or_else(|| TrainError::Solver("Levenberg-Marquardt lost its parameters".into()))?;
        let cost = state.get_cost();
        let ridge = problem.problem.as_ref().map_or(0.0, |o| o.ridge());
        let mut trial_r = vec![0.0; self.r.len()];
        loop {
            if self.lambda > MAX_LAMBDA {
                self.stalled = true;
                return Ok((state.param(params).cost(cost), None));
            }
            let Some(delta) = self.step(&params, ridge) else {
                self.lambda *= self.nu;
                self.nu *= 2.0;
                continue;
            };
            let trial: Vec<f64> = params.iter().zip(&delta).map(|(t, d)| t + d).collect();
            // A trial point where the model overflows is a rejected step, not an error.
            let evaluated = problem.problem("cost_count", |o| {
                Ok(o.residuals(&trial, &mut trial_r).is_ok())
            })?;
            let trial_cost = if evaluated {
                sum_squares(&trial_r) + ridge * sum_squares(&trial)
            } else {
                f64::INFINITY
            };
            let predicted = self.predicted_decrease(&delta, ridge);
            let actual = cost - trial_cost;
            let rho = actual / predicted;
            if trial_cost.is_finite() && actual > 0.0 && predicted > 0.0 {
                self.lambda *= (1.0 - (2.0 * rho - 1.0).powi(3)).max(1.0 / 3.0);
                self.nu = 2.0;
                let new_cost = self.linearise(problem, &trial)?;
                self.last_decrease = actual;
                let gradient = self.gradient();
                return Ok((state.param(trial).cost(new_cost).gradient(gradient), None));
            }
            self.lambda *= self.nu;
            self.nu *= 2.0;
        }
    }

    fn terminate(&mut self, state: &LmState) -> TerminationStatus {
        if self.stalled {
            return TerminationStatus::Terminated(TerminationReason::SolverExit(
                "no damped Gauss-Newton step lowers the loss".into(),
            ));
        }
        let grad_norm = state
            .get_gradient()
            .map(|g| sum_squares(g).sqrt())
            .unwrap_or(f64::INFINITY);
        if grad_norm < self.tol_grad || self.last_decrease < self.tol_cost {
            return TerminationStatus::Terminated(TerminationReason::SolverConverged);
        }
        TerminationStatus::NotTerminated
    }
}

//! The regression loss of a bounded-deviation model, with exact gradients.
//!
//! The model learns in coordinates u where the domain is a box U (the data's box mapped by
//! [`crate::density::train::Standardise`]); with V the volume ratio |dx/du| and
//! s = min(1, eps / I), I = the corner sum of the magnitude network F' over U, it predicts
//!
//! ```text
//! phi(x) = psi(x) + (s / V) f'(u) d(u),   d = nu / sqrt(|nu|^2 + softness^2)
//! ```
//!
//! so the magnitude in x, (s / V) f', integrates over the domain to s I <= eps. The loss over
//! m points is
//!
//! ```text
//! L = (1/m) sum_i |phi(x_i) - y_i|^2 + weight_decay |theta|^2
//!     + ceiling_weight (1/m) sum_i max(0, (s/V) f'(u_i) - delta)^2
//! ```
//!
//! (the last term only with a pointwise ceiling delta: it steers training below the ceiling;
//! the ceiling itself is then enforced exactly by the certificate, see the module above).
//! Without a constraint (`eps = None`) s = 1: the unconstrained residual model of the same
//! size, the baseline.
//!
//! Gradients: the magnitude network through its integrand's backward pass and, when the
//! constraint is active, through s (ds/dI = -s/I) and the corner sum's backward pass; each
//! direction network through its value's backward pass with
//! dd_k/dnu_j = delta_kj / r - nu_k nu_j / r^3, r = sqrt(|nu|^2 + softness^2).

use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use finn_core::Error;
use ndarray::Array2;

/// The loss of one bounded-deviation model over a data set (module docs).
///
/// Parameters: the magnitude network's, then each direction network's in turn.
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::deviation::loss::DeviationLoss;
/// use finn_train::model::Architecture;
/// use ndarray::array;
/// let magnitude = Architecture { n: 1, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![3] };
/// let direction = Architecture { n: 1, kind: Kind::Signed, activation: Activation::Tanh, widths: vec![2] };
/// let u = array![[-1.0], [0.0], [1.5]];
/// let residual = array![[0.1], [-0.2], [0.05]];
/// let loss = DeviationLoss::new(magnitude, direction, 1, u, residual, vec![-2.0], vec![2.0], 1.0, Some(0.1), 0.05).unwrap();
/// let p = vec![0.3; loss.parameter_count()];
/// let mut g = vec![0.0; p.len()];
/// let l = loss.loss_and_gradient(&p, &mut g).unwrap();
/// assert_eq!(l, loss.loss(&p).unwrap());
/// ```
#[derive(Clone, Debug)]
pub struct DeviationLoss {
    /// The magnitude network (positive, sigma).
    pub magnitude: Architecture,
    /// Each direction network (signed).
    pub direction: Architecture,
    /// The output dimension m.
    pub outputs: usize,
    /// Points in learning coordinates, one per row.
    pub points: Array2<f64>,
    /// y - psi(x) per point (m columns).
    pub residuals: Array2<f64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    /// |dx/du|: the magnitude in x is f_u / volume_ratio.
    pub volume_ratio: f64,
    /// The budget eps of the integral of the magnitude; `None`: unconstrained.
    pub eps: Option<f64>,
    /// The direction's softness.
    pub softness: f64,
    /// Ridge coefficient on every parameter.
    pub weight_decay: f64,
    /// A pointwise ceiling delta on the magnitude and the weight of its penalty.
    pub ceiling: Option<(f64, f64)>,
}

/// One evaluation's intermediate values.
struct Scale {
    /// s.
    s: f64,
    /// I.
    integral: f64,
    /// Whether s = eps / I (the constraint binds).
    active: bool,
}

impl DeviationLoss {
    /// A loss over `points` (learning coordinates, inside [lower, upper]) whose targets are
    /// `residuals` = y - psi(x).
    ///
    /// Errors: `Data` for mismatched shapes or no points, `Core(NotADeviation)` for a
    /// magnitude that is not positive, a bad eps or softness.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        magnitude: Architecture,
        direction: Architecture,
        outputs: usize,
        points: Array2<f64>,
        residuals: Array2<f64>,
        lower: Vec<f64>,
        upper: Vec<f64>,
        volume_ratio: f64,
        eps: Option<f64>,
        softness: f64,
    ) -> Result<Self, TrainError> {
        let n = magnitude.n;
        if points.ncols() != n || direction.n != n || lower.len() != n || upper.len() != n {
            return Err(TrainError::Data(format!(
                "points have {} columns; the networks take {n} inputs",
                points.ncols()
            )));
        }
        if points.nrows() == 0
            || residuals.nrows() != points.nrows()
            || residuals.ncols() != outputs
        {
            return Err(TrainError::Data(format!(
                "{} points and {} x {} targets: need one target row of {outputs} values per point",
                points.nrows(),
                residuals.nrows(),
                residuals.ncols()
            )));
        }
        let ok = magnitude.kind == finn_core::Kind::Positive
            && direction.kind == finn_core::Kind::Signed
            && eps.is_none_or(|e| e.is_finite() && e > 0.0)
            && softness.is_finite()
            && softness > 0.0
            && volume_ratio.is_finite()
            && volume_ratio > 0.0
            && outputs >= 1;
        if !ok {
            return Err(Error::NotADeviation.into());
        }
        Ok(DeviationLoss {
            magnitude,
            direction,
            outputs,
            points,
            residuals,
            lower,
            upper,
            volume_ratio,
            eps,
            softness,
            weight_decay: 0.0,
            ceiling: None,
        })
    }

    /// The learning box's corners.
    pub fn lower_upper(&self) -> (&[f64], &[f64]) {
        (&self.lower, &self.upper)
    }

    /// The number of parameters: the magnitude's and `outputs` direction networks'.
    pub fn parameter_count(&self) -> usize {
        self.magnitude.parameter_count() + self.outputs * self.direction.parameter_count()
    }

    /// The loss value.
    pub fn loss(&self, params: &[f64]) -> Result<f64, TrainError> {
        self.evaluate(params, &self.points, &self.residuals, None)
            .map(|(l, _)| l)
    }

    /// The loss; its exact gradient is written into `grad`.
    pub fn loss_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
        self.evaluate(params, &self.points, &self.residuals, Some(grad))
            .map(|(l, _)| l)
    }

    /// The mean squared error (summed over outputs, no ridge or ceiling term) of other
    /// points (learning coordinates) and their residual targets.
    pub fn mse(
        &self,
        params: &[f64],
        points: &Array2<f64>,
        residuals: &Array2<f64>,
    ) -> Result<f64, TrainError> {
        self.evaluate(params, points, residuals, None)
            .map(|(_, mse)| mse)
    }

    /// s, the scale of the magnitude, at these parameters.
    fn scale(&self, net: &Net, tr: &mut Trace) -> Result<Scale, Error> {
        let integral = net.corner_sum(&self.lower, &self.upper, tr, None)?;
        let Some(eps) = self.eps else {
            return Ok(Scale {
                s: 1.0,
                integral,
                active: false,
            });
        };
        if !(integral > 0.0 && integral.is_finite()) {
            return Err(Error::DegenerateIntegral);
        }
        let active = eps < integral;
        Ok(Scale {
            s: if active { eps / integral } else { 1.0 },
            integral,
            active,
        })
    }

    /// The correction (s/V) f'(u) d(u) at one point in learning coordinates, and the
    /// magnitude (s/V) f'(u): for checks and plots.
    pub fn correction(&self, params: &[f64], u: &[f64]) -> Result<(Vec<f64>, f64), TrainError> {
        let (mp, dps) = self.split(params)?;
        let mag = Net::new(&self.magnitude, mp)?;
        let mut tr = Trace::default();
        let sc = self.scale(&mag, &mut tr)?;
        let f = sc.s / self.volume_ratio * mag.integrand_forward(u, &mut tr)?;
        let mut nu = Vec::with_capacity(self.outputs);
        for dp in &dps {
            nu.push(Net::new(&self.direction, dp)?.antiderivative_forward(u, &mut tr)?);
        }
        let r = (nu.iter().map(|v| v * v).sum::<f64>() + self.softness * self.softness).sqrt();
        Ok((nu.iter().map(|v| f * v / r).collect(), f))
    }

    fn split<'p>(&self, params: &'p [f64]) -> Result<(&'p [f64], Vec<&'p [f64]>), TrainError> {
        if params.len() != self.parameter_count() {
            return Err(Error::DimensionMismatch {
                expected: self.parameter_count(),
                found: params.len(),
            }
            .into());
        }
        let (mp, rest) = params.split_at(self.magnitude.parameter_count());
        Ok((mp, rest.chunks(self.direction.parameter_count()).collect()))
    }

    /// (loss, mse) over `points`; with `grad`, the loss's gradient.
    fn evaluate(
        &self,
        params: &[f64],
        points: &Array2<f64>,
        residuals: &Array2<f64>,
        grad: Option<&mut [f64]>,
    ) -> Result<(f64, f64), TrainError> {
        let (mp, dps) = self.split(params)?;
        let m_out = self.outputs;
        let mag = Net::new(&self.magnitude, mp)?;
        let dirs = dps
            .iter()
            .map(|p| Net::new(&self.direction, p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tr = Trace::default();
        let mut dir_tr: Vec<Trace> = (0..m_out).map(|_| Trace::default()).collect();
        let sc = self.scale(&mag, &mut tr)?;
        let k = sc.s / self.volume_ratio;
        let count = points.nrows() as f64;
        let want = grad.is_some();
        let mut g_mag = vec![0.0; if want { mag.len() } else { 0 }];
        let mut g_dir: Vec<Vec<f64>> = dirs
            .iter()
            .map(|d| vec![0.0; if want { d.len() } else { 0 }])
            .collect();
        let (mut sse, mut penalty, mut d_loss_d_s) = (0.0, 0.0, 0.0);
        let mut nu = vec![0.0; m_out];
        let mut e = vec![0.0; m_out];
        for (x, y) in points.rows().into_iter().zip(residuals.rows()) {
            let x = x
                .as_slice()
                .ok_or_else(|| TrainError::Data("points must be contiguous rows".into()))?;
            let fp = mag.integrand_forward(x, &mut tr)?;
            for ((v, net), t) in nu.iter_mut().zip(&dirs).zip(dir_tr.iter_mut()) {
                *v = net.antiderivative_forward(x, t)?;
            }
            let r = (nu.iter().map(|v| v * v).sum::<f64>() + self.softness * self.softness).sqrt();
            let f = k * fp;
            for ((ek, nk), yk) in e.iter_mut().zip(&nu).zip(y) {
                *ek = f * nk / r - yk;
            }
            sse += e.iter().map(|v| v * v).sum::<f64>();
            // d loss / d f (through phi, and through the ceiling penalty).
            let mut d_f: f64 = e.iter().zip(&nu).map(|(ek, nk)| 2.0 * ek * nk / r).sum();
            if let Some((delta, weight)) = self.ceiling {
                let over = (f - delta).max(0.0);
                penalty += weight * over * over;
                d_f += 2.0 * weight * over;
            }
            if !want {
                continue;
            }
            d_f /= count;
            mag.integrand_backward(x, &mut tr, d_f * k, &mut g_mag);
            d_loss_d_s += d_f * fp / self.volume_ratio;
            // d loss / d d_k = 2 e_k f / m; then through d = nu / r.
            let dot: f64 = e.iter().zip(&nu).map(|(ek, nk)| ek * nk).sum();
            for (j, (net, t)) in dirs.iter().zip(dir_tr.iter_mut()).enumerate() {
                let dd_j = 2.0 * e[j] * f / count;
                let d_nu = dd_j / r - nu[j] * (2.0 * dot * f / count) / (r * r * r);
                net.antiderivative_backward(x, t, d_nu, &mut g_dir[j]);
            }
        }
        let mse = sse / count;
        let mut loss = mse + penalty / count;
        let decay: f64 = params.iter().map(|p| p * p).sum();
        loss += self.weight_decay * decay;
        if let Some(grad) = grad {
            if sc.active {
                // s = eps / I: ds/dI = -s / I.
                let seed = d_loss_d_s * (-sc.s / sc.integral);
                mag.corner_sum(&self.lower, &self.upper, &mut tr, Some((seed, &mut g_mag)))?;
            }
            grad.iter_mut().for_each(|g| *g = 0.0);
            let (gm, gd) = grad.split_at_mut(mag.len());
            mag.raw_gradient(&g_mag, gm);
            for ((net, g_eff), out) in dirs
                .iter()
                .zip(&g_dir)
                .zip(gd.chunks_mut(self.direction.parameter_count()))
            {
                net.raw_gradient(g_eff, out);
            }
            for (g, p) in grad.iter_mut().zip(params) {
                *g += 2.0 * self.weight_decay * p;
            }
        }
        if !loss.is_finite() {
            return Err(Error::Overflow.into());
        }
        Ok((loss, mse))
    }
}

argmin_loss!(DeviationLoss);

impl crate::stopping::Loss for DeviationLoss {
    fn loss(&self, params: &[f64]) -> Result<f64, TrainError> {
        DeviationLoss::loss(self, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finn_core::{Activation, Kind};

    fn arch(kind: Kind, widths: Vec<usize>, n: usize) -> Architecture {
        let activation = match kind {
            Kind::Positive => Activation::Sigma,
            Kind::Signed => Activation::Tanh,
        };
        Architecture {
            n,
            kind,
            activation,
            widths,
        }
    }

    /// The exact gradient against central differences, with the budget binding and not,
    /// two outputs, two layers, the ceiling penalty and weight decay.
    #[test]
    fn gradient_matches_central_differences() {
        for (eps, ceiling) in [
            (Some(1e-3), None),
            (Some(50.0), Some((0.01, 3.0))),
            (None, None),
        ] {
            let n = 2;
            let points =
                Array2::from_shape_fn((7, n), |(i, j)| ((i * 3 + j) as f64 * 0.77).sin() * 1.8);
            let residuals =
                Array2::from_shape_fn((7, 2), |(i, j)| ((i + 5 * j) as f64 * 0.41).cos() * 0.3);
            let mut loss = DeviationLoss::new(
                arch(Kind::Positive, vec![3, 2], n),
                arch(Kind::Signed, vec![2], n),
                2,
                points,
                residuals,
                vec![-2.0; n],
                vec![2.0; n],
                0.7,
                eps,
                0.2,
            )
            .unwrap();
            loss.weight_decay = 1e-3;
            loss.ceiling = ceiling;
            let p: Vec<f64> = (0..loss.parameter_count())
                .map(|i| ((i as f64) * 1.37 + 0.3).sin() * 0.9)
                .collect();
            let mut g = vec![0.0; p.len()];
            loss.loss_and_gradient(&p, &mut g).unwrap();
            for i in 0..p.len() {
                let h = 1e-6;
                let (mut a, mut b) = (p.clone(), p.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (loss.loss(&a).unwrap() - loss.loss(&b).unwrap()) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "eps {eps:?}: parameter {i}: exact {} vs differences {fd}",
                    g[i]
                );
            }
        }
    }

    /// With the budget, the learned magnitude integrates to at most eps over the box.
    #[test]
    fn correction_integral_within_budget() {
        let points = Array2::from_shape_fn((5, 1), |(i, _)| i as f64 * 0.8 - 1.6);
        let residuals = Array2::from_elem((5, 1), 10.0);
        let loss = DeviationLoss::new(
            arch(Kind::Positive, vec![4], 1),
            arch(Kind::Signed, vec![2], 1),
            1,
            points,
            residuals,
            vec![-2.0],
            vec![2.0],
            2.0,
            Some(0.05),
            0.1,
        )
        .unwrap();
        let p: Vec<f64> = (0..loss.parameter_count())
            .map(|i| (i as f64 * 0.9).cos() + 1.5)
            .collect();
        let mut total = 0.0;
        for (u, w) in crate::quadrature::composite_nodes(-2.0, 2.0, 40) {
            total += w * loss.correction(&p, &[u]).unwrap().1;
        }
        // Magnitude in x = f_u / V; dx = V du: the integral over x is that of f_u over u.
        let in_x = total * 2.0;
        assert!(in_x <= 0.05 * (1.0 + 1e-9), "{in_x}");
        assert!(in_x > 0.049, "the budget should bind here: {in_x}");
    }
}

//! Maximum likelihood for a positive FINN whose integral over the support is fixed to 1.
//!
//! With F' the raw network's antiderivative, f' = d_1...d_n F' its mixed partial and
//! Z = the vertex sum of F' over the support (paper Eq. 4), the model's density is
//! pdf(x) = f'(x) / Z (the scale constraint with eps = 1). The loss over m training points is
//!
//! ```text
//! L(theta) = -(1/m) sum_i log f'(x_i) + log Z + weight_decay * |theta|^2
//! ```
//!
//! and its gradient is exact: the first term through the integrand's backward pass
//! ([`Net::integrand_backward`], seed -1/(m f'(x_i))), log Z through the antiderivative's
//! backward pass at the 2^n corners (seed +-1/Z), then both through the positive map |w|
//! ([`Net::raw_gradient`]).

use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use finn_core::Error;
use ndarray::Array2;

/// Below this, f' counts as this (its logarithm stays finite, about -690, so a line search
/// that strays into a region where f' underflows sees a large finite cost, not infinity).
pub const FLOOR: f64 = 1e-300;

/// The negative log-likelihood of points under a positive network normalised over a box.
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::{density::loss::Nll, model::Architecture};
/// use ndarray::array;
/// let arch = Architecture { n: 1, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![3] };
/// let nll = Nll::new(arch.clone(), array![[0.1], [-0.4], [0.7]], vec![-2.0], vec![2.0]).unwrap();
/// let params = finn_train::solve::initial_parameters(&arch, 1);
/// let mut g = vec![0.0; params.len()];
/// let loss = nll.loss_and_gradient(&params, &mut g).unwrap();
/// assert_eq!(loss, nll.loss(&params).unwrap());
/// // A uniform density on [-2, 2] would give log 4; any density gives a finite value.
/// assert!(loss.is_finite() && g.iter().all(|v| v.is_finite()));
/// ```
#[derive(Clone, Debug)]
pub struct Nll {
    /// The network's shape (positive, sigma).
    pub architecture: Architecture,
    /// Training points, one per row.
    pub points: Array2<f64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    /// Ridge coefficient on every parameter.
    pub weight_decay: f64,
}

impl Nll {
    /// The loss of `points` (m x n) under a positive sigma network normalised over
    /// [lower, upper].
    ///
    /// Errors: `Core(InvalidShape)` for a network that is not positive with sigma, `Data` for
    /// points of the wrong width or no points, `Core` for a bad box.
    pub fn new(
        architecture: Architecture,
        points: Array2<f64>,
        lower: Vec<f64>,
        upper: Vec<f64>,
    ) -> Result<Self, TrainError> {
        let n = architecture.n;
        if architecture.kind != finn_core::Kind::Positive
            || architecture.activation != finn_core::Activation::Sigma
        {
            return Err(Error::InvalidShape.into());
        }
        if points.ncols() != n || points.nrows() == 0 {
            return Err(TrainError::Data(format!(
                "{} points of {} columns for a network of {n} inputs",
                points.nrows(),
                points.ncols()
            )));
        }
        if lower.len() != n || upper.len() != n {
            return Err(Error::DimensionMismatch {
                expected: n,
                found: lower.len().min(upper.len()),
            }
            .into());
        }
        for (axis, (a, b)) in lower.iter().zip(&upper).enumerate() {
            if !(a.is_finite() && b.is_finite()) {
                return Err(Error::NonFiniteInput.into());
            }
            if a >= b {
                return Err(Error::EmptyInterval { axis }.into());
            }
        }
        Ok(Nll {
            architecture,
            points,
            lower,
            upper,
            weight_decay: 0.0,
        })
    }

    /// Sets the ridge coefficient.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Z, the vertex sum of F' over the box; with `seed`, adds seed * dZ/d(effective
    /// parameters) into the gradient.
    fn normaliser(
        &self,
        net: &Net,
        tr: &mut Trace,
        seed: Option<(f64, &mut [f64])>,
    ) -> Result<f64, Error> {
        let sum = net.corner_sum(&self.lower, &self.upper, tr, seed)?;
        if sum > 0.0 && sum.is_finite() {
            Ok(sum)
        } else {
            Err(Error::DegenerateIntegral)
        }
    }

    /// The mean of -log pdf over `points` (no weight decay): the NLL in nats per sample, in
    /// the coordinates the loss was built in.
    pub fn mean_nll(&self, params: &[f64], points: &Array2<f64>) -> Result<f64, TrainError> {
        let net = Net::new(&self.architecture, params)?;
        let mut tr = Trace::default();
        let z = self.normaliser(&net, &mut tr, None)?;
        let mut sum = 0.0;
        for part in crate::parallel::map_blocks(points, |block| {
            let mut tr = Trace::default();
            let mut sum = 0.0;
            for x in block.rows() {
                let x = x.to_vec();
                sum -= net.integrand_forward(&x, &mut tr)?.max(FLOOR).ln();
            }
            Ok::<_, Error>(sum)
        }) {
            sum += part?;
        }
        Ok(sum / points.nrows() as f64 + z.ln())
    }

    /// The loss value.
    pub fn loss(&self, params: &[f64]) -> Result<f64, TrainError> {
        self.evaluate(params, None)
    }

    /// The loss value; its exact gradient is written into `grad`.
    pub fn loss_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
        self.evaluate(params, Some(grad))
    }

    fn evaluate(&self, params: &[f64], grad: Option<&mut [f64]>) -> Result<f64, TrainError> {
        let net = Net::new(&self.architecture, params)?;
        let mut tr = Trace::default();
        let m = self.points.nrows() as f64;
        let want = grad.is_some();
        // One partial sum (and gradient) per block of rows, in parallel, added in row order.
        let partials = crate::parallel::map_blocks(&self.points, |block| {
            let mut tr = Trace::default();
            let mut g = vec![0.0; if want { params.len() } else { 0 }];
            let mut sum = 0.0;
            for x in block.rows() {
                let x = x.to_vec();
                let f = net.integrand_forward(&x, &mut tr)?;
                if f > FLOOR {
                    sum -= f.ln();
                    if want {
                        net.integrand_backward(&x, &mut tr, -1.0 / (m * f), &mut g);
                    }
                } else {
                    sum -= FLOOR.ln();
                }
            }
            Ok::<_, Error>((sum, g))
        });
        let mut sum = 0.0;
        let mut g_eff = want.then(|| vec![0.0; params.len()]);
        for part in partials {
            let (s, g) = part?;
            sum += s;
            if let Some(total) = g_eff.as_mut() {
                total.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            }
        }
        let z = match g_eff.as_mut() {
            None => self.normaliser(&net, &mut tr, None)?,
            Some(g) => {
                let z = self.normaliser(&net, &mut tr, None)?;
                self.normaliser(&net, &mut tr, Some((1.0 / z, g)))?;
                z
            }
        };
        let decay: f64 = self.weight_decay * params.iter().map(|p| p * p).sum::<f64>();
        let loss = sum / m + z.ln() + decay;
        if let (Some(grad), Some(g)) = (grad, g_eff) {
            grad.iter_mut().for_each(|v| *v = 0.0);
            net.raw_gradient(&g, grad);
            for (gi, p) in grad.iter_mut().zip(params) {
                *gi += 2.0 * self.weight_decay * p;
            }
        }
        if loss.is_finite() {
            Ok(loss)
        } else {
            Err(Error::Overflow.into())
        }
    }
}

argmin_loss!(Nll);

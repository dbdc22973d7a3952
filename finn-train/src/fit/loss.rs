//! Training losses over data in `ndarray`: regression on f (paper Eq. 3) or on F, plus weight
//! decay, for every network kind with or without an integral constraint. Each loss implements
//! argmin's [`CostFunction`](argmin::core::CostFunction) and [`Gradient`](argmin::core::Gradient) with exact gradients ([`crate::grad`]),
//! and [`LeastSquares`](crate::solve::LeastSquares) (residuals and their Jacobian) for
//! Levenberg-Marquardt.

use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use finn_core::{Bound, Constraint, Error, Method, Resolved};
use ndarray::{Array1, Array2};
use std::path::Path;

mod residuals;

/// Training data: points (one row per sample, n columns) and a target per point.
#[derive(Clone, Debug)]
pub struct Data {
    /// m x n sample points.
    pub points: Array2<f64>,
    /// m targets.
    pub targets: Array1<f64>,
}

impl Data {
    /// Checks that shapes agree and every value is finite.
    ///
    /// ```
    /// use finn_train::fit::loss::Data;
    /// use ndarray::{array, Array1};
    /// assert!(Data::new(array![[0.0, 1.0]], Array1::from(vec![1.0])).is_ok());
    /// assert!(Data::new(array![[0.0, 1.0]], Array1::from(vec![1.0, 2.0])).is_err());
    /// ```
    pub fn new(points: Array2<f64>, targets: Array1<f64>) -> Result<Self, TrainError> {
        if points.nrows() != targets.len() {
            return Err(TrainError::Data(format!(
                "{} points but {} targets",
                points.nrows(),
                targets.len()
            )));
        }
        if points.nrows() == 0 {
            return Err(TrainError::Data("no samples".into()));
        }
        if points.iter().chain(targets.iter()).any(|v| !v.is_finite()) {
            return Err(TrainError::Data(
                "a point or target is NaN or infinite".into(),
            ));
        }
        Ok(Data { points, targets })
    }

    /// Reads a CSV file whose columns are x_1..x_n then the target; a header row is allowed
    /// (detected by a non-numeric first field).
    pub fn from_csv(path: &Path, n: usize) -> Result<Self, TrainError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_path(path)
            .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
        let mut flat = Vec::new();
        let mut targets = Vec::new();
        for (line, record) in reader.records().enumerate() {
            let record =
                record.map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
            if line == 0 && record.get(0).is_some_and(|f| f.parse::<f64>().is_err()) {
                continue;
            }
            if record.len() != n + 1 {
                return Err(TrainError::Data(format!(
                    "{} line {}: {} columns, expected {} (x_1..x_{n}, y)",
                    path.display(),
                    line + 1,
                    record.len(),
                    n + 1
                )));
            }
            for (i, field) in record.iter().enumerate() {
                let v: f64 = field.parse().map_err(|_| {
                    TrainError::Data(format!(
                        "{} line {}: '{field}' is not a number",
                        path.display(),
                        line + 1
                    ))
                })?;
                if i < n {
                    flat.push(v);
                } else {
                    targets.push(v);
                }
            }
        }
        let m = targets.len();
        let points =
            Array2::from_shape_vec((m, n), flat).map_err(|e| TrainError::Data(e.to_string()))?;
        Data::new(points, Array1::from(targets))
    }
}

/// What the targets are values of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Targets are samples of f (paper Eq. 3).
    Integrand,
    /// Targets are samples of F.
    Antiderivative,
}

/// A regression loss: mean squared error of f (or F) against the targets, plus
/// `weight_decay * |theta|^2` over every parameter.
///
/// With a constraint the prediction is the constrained model's (F = s F' + c prod (x - a)),
/// whose constants depend on the parameters through the integral over the domain; the
/// gradient accounts for that dependence exactly.
#[derive(Clone, Debug)]
pub struct Objective {
    /// The network's shape.
    pub architecture: Architecture,
    /// The samples.
    pub data: Data,
    /// Whether targets are of f or F.
    pub fit: Fit,
    /// Lower corner of the domain (the constraint's box; unit box by default).
    domain_lower: Vec<f64>,
    /// Upper corner of the domain.
    domain_upper: Vec<f64>,
    /// The integral constraint, if any.
    pub constraint: Option<Constraint<f64>>,
    /// Ridge coefficient.
    pub weight_decay: f64,
}

/// The parts of the constraint that depend on the parameters.
struct Resolution {
    constants: Resolved<f64>,
    /// Shift c of f.
    shift: f64,
    /// d scale / d I'.
    dscale: f64,
    /// d shift / d I'.
    dshift: f64,
}

impl Objective {
    /// A loss without constraint.
    pub fn new(architecture: Architecture, data: Data, fit: Fit) -> Result<Self, TrainError> {
        let n = architecture.n;
        if data.points.ncols() != n {
            return Err(TrainError::Data(format!(
                "points have {} columns, the network {n} inputs",
                data.points.ncols()
            )));
        }
        Ok(Objective {
            architecture,
            data,
            fit,
            domain_lower: vec![0.0; n],
            domain_upper: vec![1.0; n],
            constraint: None,
            weight_decay: 0.0,
        })
    }

    /// Adds an integral constraint over the box [lower, upper].
    pub fn with_constraint(
        mut self,
        lower: &[f64],
        upper: &[f64],
        constraint: Constraint<f64>,
    ) -> Result<Self, TrainError> {
        let n = self.architecture.n;
        if lower.len() != n || upper.len() != n {
            return Err(Error::DimensionMismatch {
                expected: n,
                found: lower.len().min(upper.len()),
            }
            .into());
        }
        // The same checks as finn-core's Domain (finite, lower < upper per axis).
        for (axis, (a, b)) in lower.iter().zip(upper).enumerate() {
            if !a.is_finite() || !b.is_finite() {
                return Err(Error::NonFiniteInput.into());
            }
            if a >= b {
                return Err(Error::EmptyInterval { axis }.into());
            }
        }
        self.domain_lower = lower.to_vec();
        self.domain_upper = upper.to_vec();
        if constraint.method == Method::Scale && self.architecture.kind != finn_core::Kind::Positive
        {
            return Err(Error::ScaleNeedsPositiveNetwork.into());
        }
        // A shift other than AtLeast could be negative and make a positive network's f < 0.
        if constraint.method == Method::Shift
            && self.architecture.kind == finn_core::Kind::Positive
            && constraint.bound != finn_core::Bound::AtLeast
        {
            return Err(Error::ShiftBreaksPositivity.into());
        }
        if !constraint.eps.is_finite() {
            return Err(Error::NonFiniteInput.into());
        }
        self.constraint = Some(constraint);
        Ok(self)
    }

    /// Sets the ridge coefficient.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The domain's corners, n entries each.
    pub fn domain_bounds(&self) -> (&[f64], &[f64]) {
        (&self.domain_lower, &self.domain_upper)
    }

    fn volume(&self) -> f64 {
        let (lo, hi) = self.domain_bounds();
        lo.iter().zip(hi).map(|(a, b)| b - a).product()
    }

    /// The unconstrained integral over the domain (vertex sum of F', Eq. 4).
    fn base_integral(
        &self,
        net: &Net,
        tr: &mut Trace,
        grad_seed: Option<(f64, &mut [f64])>,
    ) -> Result<f64, Error> {
        let (lo, hi) = self.domain_bounds();
        net.corner_sum(lo, hi, tr, grad_seed)
    }

    fn resolve(&self, base: f64) -> Result<Resolution, Error> {
        let Some(c) = self.constraint else {
            return Ok(Resolution {
                constants: Resolved::scaled(1.0),
                shift: 0.0,
                dscale: 0.0,
                dshift: 0.0,
            });
        };
        let constants = c.resolve(self.architecture.kind, base)?;
        let vol = self.volume();
        let active = match (c.method, c.bound) {
            (_, Bound::Equal) => true,
            (Method::Scale, Bound::AtMost) => c.eps / base < 1.0,
            (Method::Scale, Bound::AtLeast) => c.eps / base > 1.0,
            (Method::Shift, Bound::AtMost) => c.eps - base < 0.0,
            (Method::Shift, Bound::AtLeast) => c.eps - base > 0.0,
        };
        let (dscale, dshift) = match (active, c.method) {
            (false, _) => (0.0, 0.0),
            (true, Method::Scale) => (-constants.scale / base, 0.0),
            (true, Method::Shift) => (0.0, -1.0 / vol),
        };
        Ok(Resolution {
            constants,
            shift: (constants.gap + constants.gap_low) / vol,
            dscale,
            dshift,
        })
    }

    /// The constrained model's constants at these parameters, for the model training
    /// writes: resolved from the corner sum of F in double-double
    /// ([`crate::model::wide_base_integral`]), so the stored model's true integral is eps to
    /// the rounding of the constants (the loss itself uses the f64 corner sum, whose error
    /// only perturbs the fit, not the constraint).
    pub fn constants(&self, params: &[f64]) -> Result<Resolved<f64>, TrainError> {
        let Some(c) = self.constraint else {
            return Ok(Resolved::scaled(1.0));
        };
        let (lo, hi) = self.domain_bounds();
        let base = crate::model::wide_base_integral(&self.architecture, params, lo, hi)?;
        Ok(c.resolve_from(self.architecture.kind, base)?)
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
        let constrained = self.constraint.is_some();
        let base = if constrained {
            self.base_integral(&net, &mut tr, None)?
        } else {
            0.0
        };
        let r = self.resolve(base)?;
        let m = self.data.targets.len() as f64;
        let (lo, _) = self.domain_bounds();
        let mut g_eff = grad.as_ref().map(|_| vec![0.0; params.len()]);
        let (mut sse, mut sum_r_base, mut sum_r_poly) = (0.0, 0.0, 0.0);
        for (x, &y) in self
            .data
            .points
            .rows()
            .into_iter()
            .zip(self.data.targets.iter())
        {
            let x = x
                .as_slice()
                .ok_or_else(|| TrainError::Data("points must be contiguous rows".into()))?;
            let (base_pred, poly) = match self.fit {
                Fit::Integrand => (net.integrand_forward(x, &mut tr)?, 1.0),
                Fit::Antiderivative => (
                    net.antiderivative_forward(x, &mut tr)?,
                    x.iter().zip(lo).map(|(xi, ai)| xi - ai).product(),
                ),
            };
            let pred = r.constants.scale * base_pred + r.shift * poly;
            let resid = pred - y;
            sse += resid * resid;
            if let Some(g) = g_eff.as_mut() {
                let rr = 2.0 * resid / m;
                let seed = rr * r.constants.scale;
                match self.fit {
                    Fit::Integrand => net.integrand_backward(x, &mut tr, seed, g),
                    Fit::Antiderivative => net.antiderivative_backward(x, &mut tr, seed, g),
                }
                sum_r_base += rr * base_pred;
                sum_r_poly += rr * poly;
            }
        }
        let decay: f64 = self.weight_decay * params.iter().map(|p| p * p).sum::<f64>();
        let loss = sse / m + decay;
        if let (Some(grad), Some(mut g)) = (grad, g_eff) {
            // The constants depend on theta only through I': chain once through the vertices.
            let kappa = sum_r_base * r.dscale + sum_r_poly * r.dshift;
            if constrained && kappa != 0.0 {
                self.base_integral(&net, &mut tr, Some((kappa, &mut g)))?;
            }
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

argmin_loss!(Objective);

impl crate::stopping::Loss for Objective {
    fn loss(&self, params: &[f64]) -> Result<f64, TrainError> {
        Objective::loss(self, params)
    }
}

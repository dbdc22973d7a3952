//! Fitting a density: the network learns in coordinates where the support is [-2, 2]^n,
//! starts with its first-layer units centred on training points, is solved in rounds of
//! quasi-Newton iterations with early stopping on the validation NLL, and is finally folded
//! back into the data's coordinates (an affine map of the first layer, exact in the model).

use super::mixture::Likelihood;
use crate::model::{Architecture, TrainedModel};
use crate::observer::Observer;
use crate::random::SplitMix64;
use crate::solve::Settings;
pub use crate::stopping::{Check, EarlyStopping, Training};
use crate::TrainError;
use finn_core::{Bound, Constraint, Method, Resolved};
use ndarray::Array2;

/// Half the side of the box the network learns on: the support maps to [-2, 2]^n.
pub const HALF_SIDE: f64 = 2.0;

/// The affine map from the data's coordinates x to the learning coordinates
/// u = (x - centre) / scale, which sends the support onto [-[`HALF_SIDE`], [`HALF_SIDE`]]^n.
///
/// ```
/// let s = finn_train::density::train::Standardise::new(&[0.0, 10.0], &[4.0, 11.0]);
/// assert_eq!(s.apply(&[4.0, 10.0]), vec![2.0, -2.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Standardise {
    /// The support's centre.
    pub centre: Vec<f64>,
    /// Half the support's side over [`HALF_SIDE`], per axis.
    pub scale: Vec<f64>,
}

impl Standardise {
    /// The map for the support [lower, upper].
    pub fn new(lower: &[f64], upper: &[f64]) -> Self {
        Standardise {
            centre: lower
                .iter()
                .zip(upper)
                .map(|(a, b)| 0.5 * (a + b))
                .collect(),
            scale: lower
                .iter()
                .zip(upper)
                .map(|(a, b)| 0.5 * (b - a) / HALF_SIDE)
                .collect(),
        }
    }

    /// u for one point.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.centre.iter().zip(&self.scale))
            .map(|(x, (c, s))| (x - c) / s)
            .collect()
    }

    /// u for every row.
    pub fn apply_rows(&self, points: &Array2<f64>) -> Array2<f64> {
        let mut out = points.clone();
        for mut row in out.rows_mut() {
            for (i, v) in row.iter_mut().enumerate() {
                *v = (*v - self.centre[i]) / self.scale[i];
            }
        }
        out
    }

    /// Parameters of a network of u rewritten as the same function of x: the first layer's
    /// weights are divided by the scale and its biases absorb the centre (signs are kept, so
    /// a positive network stays positive). Then F_x(x) = F_u(u(x)) and
    /// f_x(x) = f_u(u(x)) / prod(scale).
    pub fn fold(&self, arch: &Architecture, params: &[f64]) -> Vec<f64> {
        let n = arch.n;
        let w0 = arch.widths[0];
        let mut out = params.to_vec();
        for j in 0..w0 {
            let mut shift = 0.0;
            for i in 0..n {
                let w = params[j * n + i];
                let eff = match arch.kind {
                    finn_core::Kind::Positive => w.abs(),
                    finn_core::Kind::Signed => w,
                };
                out[j * n + i] = w / self.scale[i];
                shift += eff * self.centre[i] / self.scale[i];
            }
            out[w0 * n + j] -= shift;
        }
        out
    }
}

/// Initial parameters: finn's usual random start, then each first-layer unit's bias chosen so
/// that its pre-activation is 0 at a random training point (its bump sits on the data) and
/// its weights doubled (narrower bumps than the default start).
pub fn initial_parameters(arch: &Architecture, train_u: &Array2<f64>, seed: u64) -> Vec<f64> {
    let mut p = crate::solve::initial_parameters(arch, seed);
    let n = arch.n;
    let w0 = arch.widths[0];
    let mut rng = SplitMix64::new(seed ^ 0x2545_F491_4F6C_DD1D);
    for j in 0..w0 {
        let k = ((rng.unit() * train_u.nrows() as f64) as usize).min(train_u.nrows() - 1);
        let mut z = 0.0;
        for i in 0..n {
            p[j * n + i] *= 2.0;
            z += p[j * n + i].abs() * train_u[[k, i]];
        }
        p[w0 * n + j] = -z;
    }
    p
}

/// Minimises `nll` from `init` with early stopping on the NLL of `validation` (see
/// [`crate::stopping::fit`]).
pub fn fit<P: Likelihood>(
    nll: &P,
    validation: &Array2<f64>,
    init: Vec<f64>,
    settings: &Settings,
    stopping: EarlyStopping,
    observer: &mut dyn Observer,
) -> Result<Training, TrainError> {
    crate::stopping::fit(
        nll,
        &|p: &[f64]| nll.mean_nll(p, validation),
        init,
        settings,
        stopping,
        "density",
        observer,
    )
}

/// The trained density as a model file: the folded network on the support with the scale
/// constraint (eps = 1) and its constants resolved in f64 for the folded parameters.
pub fn model(
    arch: &Architecture,
    params_u: &[f64],
    map: &Standardise,
    lower: &[f64],
    upper: &[f64],
) -> Result<TrainedModel, TrainError> {
    let params = map.fold(arch, params_u);
    let constraint = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let eval =
        crate::eval::Evaluator::from_parts(arch, &params, lower, upper, Resolved::scaled(1.0))?;
    let base = eval.integral()?;
    let constants = constraint.resolve(arch.kind, base)?;
    Ok(TrainedModel {
        architecture: arch.clone(),
        domain_lower: lower.to_vec(),
        domain_upper: upper.to_vec(),
        constraint: Some(constraint),
        constants,
        params,
    })
}

//! The baselines a density is compared with, on the same split: a Gaussian mixture fitted by
//! EM (`linfa-clustering`'s `GaussianMixture`, full covariances, KMeans initialisation, the
//! number of components chosen by validation NLL) and a Gaussian kernel density estimate
//! (bandwidth matrix h^2 diag(s^2) with s the training data's per-axis standard deviations, h
//! chosen by validation NLL over a geometric grid around Scott's factor).
//!
//! Both are normalised over all of R^n, not over the FINN's support: mass they put outside the
//! support is lost to them, which can only cost them a little for supports that contain the
//! data with a margin.

use crate::TrainError;
use linfa::prelude::*;
use linfa_clustering::GaussianMixtureModel;
use ndarray::{Array2, ArrayView1};
use std::f64::consts::PI;

/// A fitted baseline density: its log density, and from it the NLL of points.
///
/// ```
/// use finn_train::density::baselines::{Baseline, Kde};
/// let kde = Kde::new(ndarray::array![[0.0], [1.0]], 1.0);
/// let nll = kde.nll_each(&ndarray::array![[0.0], [0.5]]);
/// assert!((kde.mean_nll(&ndarray::array![[0.0], [0.5]]) - (nll[0] + nll[1]) / 2.0).abs() < 1e-15);
/// ```
pub trait Baseline {
    /// log p(x).
    fn log_density(&self, x: ArrayView1<f64>) -> f64;

    /// -log p of every row.
    fn nll_each(&self, points: &Array2<f64>) -> Vec<f64> {
        points
            .rows()
            .into_iter()
            .map(|x| -self.log_density(x))
            .collect()
    }

    /// The mean of -log p over the rows.
    fn mean_nll(&self, points: &Array2<f64>) -> f64 {
        self.nll_each(points).iter().sum::<f64>() / points.nrows() as f64
    }
}

/// log(sum(exp(v))), stable.
pub(crate) fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// The Cholesky factor L (lower, L L^T = a) of a symmetric positive definite matrix, or None.
fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let d = a[[i, i]] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[[i, i]] = d.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    Some(l)
}

/// A Gaussian mixture: weights, means and precision matrices, with log densities.
#[derive(Clone, Debug)]
pub struct Mixture {
    log_weights: Vec<f64>,
    means: Array2<f64>,
    precisions: Vec<Array2<f64>>,
    /// 0.5 log det(precision) - n/2 log(2 pi), per component.
    constants: Vec<f64>,
}

impl Mixture {
    /// A mixture from weights (summing to 1), means (k x n) and precision matrices.
    ///
    /// Errors: `Data` when a precision matrix is not positive definite.
    ///
    /// ```
    /// use finn_train::density::baselines::Baseline;
    /// use ndarray::array;
    /// let m = finn_train::density::baselines::Mixture::new(
    ///     &[1.0], array![[0.0]], vec![array![[1.0]]]).unwrap();
    /// let p = m.log_density(array![0.0].view());
    /// assert!((p + 0.5 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-15);
    /// ```
    pub fn new(
        weights: &[f64],
        means: Array2<f64>,
        precisions: Vec<Array2<f64>>,
    ) -> Result<Self, TrainError> {
        let n = means.ncols();
        let mut constants = Vec::with_capacity(weights.len());
        for p in &precisions {
            let l = cholesky(p).ok_or_else(|| {
                TrainError::Data("a mixture precision is not positive definite".into())
            })?;
            let log_det: f64 = (0..n).map(|i| l[[i, i]].ln()).sum::<f64>() * 2.0;
            constants.push(0.5 * log_det - 0.5 * n as f64 * (2.0 * PI).ln());
        }
        Ok(Mixture {
            log_weights: weights.iter().map(|w| w.ln()).collect(),
            means,
            precisions,
            constants,
        })
    }

    /// The number of components.
    pub fn components(&self) -> usize {
        self.log_weights.len()
    }
}

impl Baseline for Mixture {
    fn log_density(&self, x: ArrayView1<f64>) -> f64 {
        let n = x.len();
        let terms: Vec<f64> = (0..self.components())
            .map(|k| {
                let d: Vec<f64> = (0..n).map(|i| x[i] - self.means[[k, i]]).collect();
                let p = &self.precisions[k];
                let mut q = 0.0;
                for i in 0..n {
                    for j in 0..n {
                        q += d[i] * p[[i, j]] * d[j];
                    }
                }
                self.log_weights[k] + self.constants[k] - 0.5 * q
            })
            .collect();
        log_sum_exp(&terms)
    }
}

/// Fits a Gaussian mixture of `k` components by EM on `train` (linfa-clustering, full
/// covariances, KMeans initialisation, 3 runs, regularisation 1e-6 on the diagonal).
pub fn fit_mixture(train: &Array2<f64>, k: usize) -> Result<Mixture, TrainError> {
    let data = DatasetBase::from(train.clone());
    let gmm = GaussianMixtureModel::params(k)
        .n_runs(3)
        .max_n_iterations(300)
        .tolerance(1e-6)
        .reg_covariance(1e-6)
        .fit(&data)
        .map_err(|e| TrainError::Data(format!("Gaussian mixture of {k} components: {e}")))?;
    let precisions = gmm
        .precisions()
        .outer_iter()
        .map(|p| p.to_owned())
        .collect();
    Mixture::new(
        gmm.weights().as_slice().unwrap_or(&gmm.weights().to_vec()),
        gmm.means().to_owned(),
        precisions,
    )
}

/// The mixture whose number of components in 1..=`max_components` has the lowest NLL on
/// `validation` (components that fail to fit are skipped); with the validation NLL of each
/// tried k.
///
/// ```
/// use finn_train::density::{baselines, datasets};
/// let points = datasets::bimodal(400, 1);
/// let (train, validation) = (points.slice(ndarray::s![..300, ..]).to_owned(),
///                            points.slice(ndarray::s![300.., ..]).to_owned());
/// let (m, tried) = baselines::select_mixture(&train, &validation, 3).unwrap();
/// assert_eq!(tried.len(), 3);
/// assert!(m.components() >= 2); // two modes
/// ```
pub fn select_mixture(
    train: &Array2<f64>,
    validation: &Array2<f64>,
    max_components: usize,
) -> Result<(Mixture, Vec<(usize, f64)>), TrainError> {
    let mut best: Option<(f64, Mixture)> = None;
    let mut tried = Vec::new();
    let mut last_error = None;
    for k in 1..=max_components.min(train.nrows()) {
        match fit_mixture(train, k) {
            Ok(m) => {
                let v = m.mean_nll(validation);
                tried.push((k, v));
                if v.is_finite() && best.as_ref().is_none_or(|(b, _)| v < *b) {
                    best = Some((v, m));
                }
            }
            Err(e) => last_error = Some(e),
        }
    }
    match best {
        Some((_, m)) => Ok((m, tried)),
        None => Err(last_error
            .unwrap_or_else(|| TrainError::Data("no Gaussian mixture could be fitted".into()))),
    }
}

/// A Gaussian kernel density estimate with bandwidth matrix h^2 diag(s^2).
#[derive(Clone, Debug)]
pub struct Kde {
    centres: Array2<f64>,
    widths: Vec<f64>,
    /// The factor h.
    pub factor: f64,
}

impl Kde {
    /// A KDE on `centres` with factor h times the per-axis standard deviations of the centres.
    ///
    /// ```
    /// use finn_train::density::baselines::Baseline;
    /// use ndarray::array;
    /// let k = finn_train::density::baselines::Kde::new(array![[0.0], [2.0]], 1.0);
    /// // Two unit Gaussians at 0 and 2 (s = 1): at 1 both contribute exp(-1/2) / sqrt(2 pi).
    /// let p = k.log_density(array![1.0].view()).exp();
    /// assert!((p - (-0.5f64).exp() / (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-15);
    /// ```
    pub fn new(centres: Array2<f64>, factor: f64) -> Self {
        let m = centres.nrows() as f64;
        let widths = centres
            .columns()
            .into_iter()
            .map(|c| {
                let mean = c.sum() / m;
                let var = c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m;
                factor * var.sqrt().max(1e-12)
            })
            .collect();
        Kde {
            centres,
            widths,
            factor,
        }
    }
}

impl Baseline for Kde {
    fn log_density(&self, x: ArrayView1<f64>) -> f64 {
        let n = x.len();
        let norm: f64 = self.widths.iter().map(|w| w.ln()).sum::<f64>()
            + 0.5 * n as f64 * (2.0 * PI).ln()
            + (self.centres.nrows() as f64).ln();
        let terms: Vec<f64> = self
            .centres
            .rows()
            .into_iter()
            .map(|c| {
                -0.5 * (0..n)
                    .map(|i| ((x[i] - c[i]) / self.widths[i]).powi(2))
                    .sum::<f64>()
            })
            .collect();
        log_sum_exp(&terms) - norm
    }
}

/// Scott's factor m^(-1/(n+4)).
pub fn scott(m: usize, n: usize) -> f64 {
    (m as f64).powf(-1.0 / (n as f64 + 4.0))
}

/// The KDE on `train` whose factor h, among 30 values from Scott's factor / 20 to Scott's
/// factor * 2 (geometric), has the lowest NLL on `validation` (hold-out cross-validation);
/// with the grid's (h, validation NLL).
pub fn select_kde(train: &Array2<f64>, validation: &Array2<f64>) -> (Kde, Vec<(f64, f64)>) {
    let h0 = scott(train.nrows(), train.ncols());
    let steps = 30;
    let (lo, hi) = (h0 / 20.0, h0 * 2.0);
    let mut tried = Vec::with_capacity(steps);
    let mut best: Option<(f64, Kde)> = None;
    for s in 0..steps {
        let h = lo * (hi / lo).powf(s as f64 / (steps - 1) as f64);
        let kde = Kde::new(train.clone(), h);
        let v = kde.mean_nll(validation);
        tried.push((h, v));
        if v.is_finite() && best.as_ref().is_none_or(|(b, _)| v < *b) {
            best = Some((v, kde));
        }
    }
    let kde = best.map_or_else(|| Kde::new(train.clone(), h0), |(_, k)| k);
    (kde, tried)
}

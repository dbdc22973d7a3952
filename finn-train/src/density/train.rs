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

/// Where the starting bumps sit and how wide they are: one row per bump.
#[derive(Clone, Debug, PartialEq)]
pub struct Bumps {
    /// Centres (k x n).
    pub centres: Array2<f64>,
    /// Widths per axis (k x n), > 0.
    pub widths: Array2<f64>,
    /// Per bump, the weights of its n first-layer units (row i: unit i), n x n: the inverse
    /// square root of its cluster's covariance, so that the bump starts tilted and stretched
    /// like its cluster ([`bumps`]); diag(1 / width) for a cluster without correlation.
    pub shapes: Vec<Array2<f64>>,
}

impl Bumps {
    /// The rows `rows` (indices taken modulo the number of bumps), with the flagged axes of
    /// the centres reflected about 0.
    pub fn select(&self, rows: &[usize], reflect: &[bool]) -> Bumps {
        let k = self.centres.nrows().max(1);
        let rows: Vec<usize> = rows.iter().map(|r| r % k).collect();
        let mut centres = self.centres.select(ndarray::Axis(0), &rows);
        for mut row in centres.rows_mut() {
            for (v, s) in row.iter_mut().zip(reflect) {
                if *s {
                    *v = -*v;
                }
            }
        }
        // A reflection R maps the shape W to R W R.
        let sign = |i: usize| {
            if reflect.get(i) == Some(&true) {
                -1.0
            } else {
                1.0
            }
        };
        let shapes = rows
            .iter()
            .map(|&r| {
                let w = &self.shapes[r % self.shapes.len().max(1)];
                Array2::from_shape_fn(w.dim(), |(i, a)| w[[i, a]] * sign(i) * sign(a))
            })
            .collect();
        Bumps {
            centres,
            shapes,
            widths: self.widths.select(ndarray::Axis(0), &rows),
        }
    }
}

/// `count` bumps that cover the training points: the centroids of linfa's k-means (k-means++
/// seeding, deterministic), each as wide per axis as the standard deviation of its cluster,
/// but at least [`BUMP_WIDTH`] times Scott's bandwidth factor m^(-1/(n+4)) times the axis's
/// spread (a cluster of one or two points would otherwise start as a spike). A bump on
/// every cluster, rather than on random points, reaches the sparse ends of the data (the
/// tips of the moons) that random picks miss; a width per cluster lets the dense core
/// have narrow bumps and the sparse tails wide ones.
///
/// ```
/// use ndarray::array;
/// let points = array![[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]];
/// let b = finn_train::density::train::bumps(&points, 2).unwrap();
/// assert_eq!(b.centres.nrows(), 2);
/// // k-means stops at its tolerance (1e-6): the centroid is within about 3e-7 of 0.05.
/// assert!(b.centres.rows().into_iter().any(|r| (r[0] - 0.05).abs() < 1e-5));
/// assert!(b.widths.iter().all(|w| *w > 0.0));
/// ```
pub fn bumps(points: &Array2<f64>, count: usize) -> Result<Bumps, TrainError> {
    bumps_with_floor(points, count, BUMP_WIDTH)
}

/// [`bumps`] with another width floor than [`BUMP_WIDTH`] (in the same units: a fraction of
/// Scott's factor times each axis's spread). A wider floor starts broader, rounder bumps.
///
/// ```
/// use ndarray::array;
/// use finn_train::density::train::bumps_with_floor;
/// let points = array![[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]];
/// let narrow = bumps_with_floor(&points, 2, 0.6).unwrap();
/// let wide = bumps_with_floor(&points, 2, 2.4).unwrap();
/// assert!(wide.widths.iter().zip(&narrow.widths).all(|(w, v)| w >= v));
/// ```
pub fn bumps_with_floor(
    points: &Array2<f64>,
    count: usize,
    width_floor: f64,
) -> Result<Bumps, TrainError> {
    use linfa::prelude::*;
    let (m, n) = points.dim();
    if m == 0 || count == 0 {
        return Err(TrainError::Data("bumps need points and a count".into()));
    }
    let spread: Vec<f64> = (0..n)
        .map(|i| {
            let col = points.column(i);
            let mean = col.sum() / m as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64;
            var.sqrt().max(1e-3)
        })
        .collect();
    let floor = width_floor * (m as f64).powf(-1.0 / (n as f64 + 4.0));
    let (centres, labels) = if m <= count {
        (points.clone(), (0..m).collect::<Vec<_>>())
    } else {
        let data = linfa::DatasetBase::from(points.clone());
        let model = linfa_clustering::KMeans::params(count)
            .max_n_iterations(100)
            .tolerance(1e-6)
            .fit(&data)
            .map_err(|e| TrainError::Data(format!("k-means of {count} bumps: {e}")))?;
        let labels = model.predict(points).to_vec();
        (model.centroids().to_owned(), labels)
    };
    let k = centres.nrows();
    let mut sum_sq = Array2::<f64>::zeros((k, n));
    let mut counts = vec![0usize; k];
    for (row, &c) in points.rows().into_iter().zip(&labels) {
        counts[c] += 1;
        for i in 0..n {
            sum_sq[[c, i]] += (row[i] - centres[[c, i]]).powi(2);
        }
    }
    let widths = Array2::from_shape_fn((k, n), |(c, i)| {
        let local = (sum_sq[[c, i]] / counts[c].max(1) as f64).sqrt();
        local.max(floor * spread[i])
    });
    let mut covariances = vec![Array2::<f64>::zeros((n, n)); k];
    for (row, &c) in points.rows().into_iter().zip(&labels) {
        for i in 0..n {
            for a in 0..n {
                covariances[c][[i, a]] += (row[i] - centres[[c, i]]) * (row[a] - centres[[c, a]]);
            }
        }
    }
    let shapes = covariances
        .into_iter()
        .enumerate()
        .map(|(c, cov)| {
            let cov = cov / counts[c].max(1) as f64;
            let diagonal = || {
                Array2::from_shape_fn(
                    (n, n),
                    |(i, a)| if i == a { 1.0 / widths[[c, i]] } else { 0.0 },
                )
            };
            whitening(&cov, &spread, floor).unwrap_or_else(diagonal)
        })
        .collect();
    Ok(Bumps {
        centres,
        widths,
        shapes,
    })
}

/// The symmetric inverse square root of `cov`, its eigenvalues first raised to at least
/// (`floor` * spread)^2 in coordinates scaled by each axis's `spread` (the same floor as the
/// widths'). None when the eigensolver fails.
/// Entries of a bump's shape below this fraction of its largest are rounding: set to 0.
const SNAP: f64 = 1e-12;

fn whitening(cov: &Array2<f64>, spread: &[f64], floor: f64) -> Option<Array2<f64>> {
    use linfa_linalg::eigh::Eigh;
    let n = spread.len();
    let scaled = Array2::from_shape_fn((n, n), |(i, a)| cov[[i, a]] / (spread[i] * spread[a]));
    let (values, vectors) = scaled.eigh().ok()?;
    let inv_sqrt: Vec<f64> = values
        .iter()
        .map(|v| 1.0 / v.max(floor * floor).sqrt())
        .collect();
    let mut w = Array2::from_shape_fn((n, n), |(i, a)| {
        (0..n)
            .map(|e| vectors[[i, e]] * inv_sqrt[e] * vectors[[a, e]])
            .sum::<f64>()
            / spread[a]
    });
    // Where the exact W has zeros (a cluster along the axes, or one whose eigenvalues are all
    // floored) rounding leaves entries of about 1e-16 of the largest. A positive network sees
    // |w|, so such a weight sits next to the kink of abs(w), where -g points across it; a
    // weight of exactly 0 gets the least-norm subgradient instead.
    let largest = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    w.mapv_inplace(|v| if v.abs() <= SNAP * largest { 0.0 } else { v });
    w.iter().all(|v| v.is_finite()).then_some(w)
}

/// Starting parameters that make a network of two or more hidden layers a sum of localised
/// bumps, one per second-layer unit that the first layer can feed
/// ([`bumps_per_network`]: k = min(w0 / n, w1)).
///
/// A positive network's mixed partial is a sum of ridges when its first layer acts alone:
/// every unit of w . x is constant along a hyperplane, and the learned density leaks along
/// it across the whole support, a local minimum that training rarely leaves. One unit of the
/// second layer fed by n first-layer units, h = W (x - c) with W the bump's shape (its
/// cluster's inverse square root covariance, or diag(1 / s) axis-aligned when the shape has
/// a negative weight), gives z = sum_i sigma_n(h_i) - b, and the z-term of its mixed partial,
/// sigma_n^(n)(z) prod_i sigma_n'(h_i), vanishes along every arm of the level set z = 0: a
/// bump around c. The centres c and widths s are the rows of `bumps` (cycled when there are
/// fewer than k; see [`bumps`]). Every other weight (the couplings between the bumps' units
/// and the output weights of unused second-layer units) starts at `coupling` (>= 0, see
/// [`DEFAULT_COUPLING`]): at 0 a weight sits on the kink of abs(w), where training grows it
/// only while that lowers the loss. Networks of one hidden layer start as
/// [`initial_parameters`].
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::density::train::{bump_parameters, bumps};
/// use finn_train::model::Architecture;
/// use ndarray::array;
/// let arch = Architecture { n: 2, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![4, 3] };
/// let points = array![[0.1, 0.2], [-0.5, 0.7], [1.0, -1.0]];
/// let p = bump_parameters(&arch, &points, &bumps(&points, 2).unwrap(), 0.0, 1);
/// assert_eq!(p.len(), arch.parameter_count());
/// // Units 0 and 1 are bump 0: h = W (x - c) with non-negative weights, 0 at its centre.
/// let c = bumps(&points, 2).unwrap().centres.row(0).to_owned();
/// let h0 = p[0] * c[0] + p[1] * c[1] + p[arch.widths[0] * 2];
/// assert!(p[..4].iter().all(|w| *w >= 0.0) && h0.abs() < 1e-12);
/// ```
pub fn bump_parameters(
    arch: &Architecture,
    train_u: &Array2<f64>,
    bumps: &Bumps,
    coupling: f64,
    seed: u64,
) -> Vec<f64> {
    let n = arch.n;
    let mut p = initial_parameters(arch, train_u, seed);
    let (centres, widths) = (&bumps.centres, &bumps.widths);
    if arch.widths.len() < 2
        || arch.widths[0] < n
        || centres.nrows() == 0
        || centres.dim() != (centres.nrows(), n)
        || widths.dim() != centres.dim()
    {
        return p;
    }
    let (w0, w1) = (arch.widths[0], arch.widths[1]);
    let k = bumps_per_network(arch);
    let centre = |j: usize, a: usize| centres[[j % centres.nrows(), a]];
    let width = |j: usize, a: usize| widths[[j % widths.nrows(), a]].max(1e-6);
    // First layer: unit j n + i is row i of bump j's shape, or axis i alone when the shape
    // has a negative weight (a positive network uses |w|, which would tilt it the other way).
    for j in 0..k {
        let shape = bumps
            .shapes
            .get(j % bumps.shapes.len().max(1))
            .filter(|w| w.dim() == (n, n) && w.iter().all(|v| *v >= 0.0));
        for i in 0..n {
            let unit = j * n + i;
            let mut bias = 0.0;
            for a in 0..n {
                // A zero of the shape is a coupling like any other (its W is positive
                // definite: the diagonal is never 0).
                let w = match shape {
                    Some(w) if w[[i, a]] != 0.0 => w[[i, a]],
                    _ if a != i => coupling,
                    _ => 1.0 / width(j, i),
                };
                p[unit * n + a] = w;
                bias -= w * centre(j, a);
            }
            p[w0 * n + unit] = bias;
        }
    }
    // Second layer: unit j sums its own n units; its bias puts z = 0 at its centre.
    let o1 = w0 * n + w0;
    let act = arch.activation;
    for j in 0..k {
        let mut z = 0.0;
        for u in 0..w0 {
            let w = if u / n == j { 1.0 } else { coupling };
            p[o1 + j * w0 + u] = w;
            let h: f64 = (0..n)
                .map(|a| p[u * n + a].abs() * centre(j, a))
                .sum::<f64>()
                + p[w0 * n + u];
            z += w * act.value(n, h).unwrap_or(0.0);
        }
        p[o1 + w1 * w0 + j] = -z;
    }
    // With exactly two hidden layers the output weights follow: the bumps share the mass.
    if arch.widths.len() == 2 {
        let o2 = o1 + w1 * w0 + w1;
        for j in 0..w1 {
            p[o2 + j] = if j < k { 1.0 } else { coupling };
        }
    }
    p
}

/// The starting value of the weights that couple a bump start's units
/// ([`bump_parameters`], `network.coupling`). At 0 a weight only leaves the kink of abs(w)
/// where that lowers the loss; a small value lets every coupling move both ways from the
/// first step at the price of a faint background. Over five seeds on a banana draw that the
/// reported figures never use, 0.01 left the FINN 0.0324 nats above the true density's NLL
/// and 0 left it 0.0364 (results/density-variants.md); on the 4-D iris 0 is far better
/// (validation NLL 3.16 against 4.13, one start).
pub const DEFAULT_COUPLING: f64 = 0.01;

/// Width of a starting bump, at least: this fraction of Scott's bandwidth factor for the
/// training set times the axis's spread (0.6 measured better than 0.3 and 1.2 on the moons
/// and the iris).
pub const BUMP_WIDTH: f64 = 0.6;

/// How much wider each further start's width floor is (`network.starts`): start s uses
/// [`BUMP_WIDTH`] times this to the power s (0.6, 0.96, 1.54, 2.46, 3.93 for five starts).
pub const START_WIDENING: f64 = 1.6;

/// How many bumps [`bump_parameters`] places in one network (0 for one hidden layer).
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::{density::train::bumps_per_network, model::Architecture};
/// let arch = Architecture { n: 2, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![16, 8] };
/// assert_eq!(bumps_per_network(&arch), 8);
/// ```
pub fn bumps_per_network(arch: &Architecture) -> usize {
    if arch.widths.len() < 2 {
        0
    } else {
        (arch.widths[0] / arch.n).min(arch.widths[1])
    }
}

/// A density network of two or more hidden layers starts as bumps of n first-layer units
/// each ([`bump_parameters`], [`bumps_per_network`]): with `widths[0] < n` there is no bump and every weight
/// would start random, which trained a 6-D density to 9.95 nats where the Gaussian mixture
/// scored 5.36. One hidden layer starts on random training points and takes any width.
///
/// ```
/// use finn_train::density::train::check_bump_widths;
/// assert!(check_bump_widths(6, &[12, 2]).is_ok());
/// assert!(check_bump_widths(6, &[4]).is_ok());
/// let e = check_bump_widths(6, &[4, 2]).unwrap_err();
/// assert!(e.contains("network.widths[0] = 4") && e.contains("[12, 2]"), "{e}");
/// ```
pub fn check_bump_widths(n: usize, widths: &[usize]) -> Result<(), String> {
    match widths {
        [w0, rest @ ..] if !rest.is_empty() && *w0 < n => Err(format!(
            "network.widths[0] = {w0} is below n = {n}: a density of two or more hidden layers \
             starts as bumps of n first-layer units each, so this start has none and every \
             weight would start random; give widths[0] a multiple of n (two bumps per \
             network: [{}, 2])",
            2 * n
        )),
        _ => Ok(()),
    }
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

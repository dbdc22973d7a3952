//! Training data of a `fit` config: a CSV file, or a built-in target sampled on a regular grid
//! or at uniform random points of the domain.

use super::loss::{Data, Fit};
use super::targets::Target;
use super::FitConfig;
use crate::config::Job;
use crate::TrainError;
use ndarray::{Array1, Array2};

/// Points of a regular grid with `per_axis` points per axis on [lower, upper] (endpoints
/// included), first axis fastest; or, with `offset`, the cell midpoints (per_axis - 1 per
/// axis), a grid disjoint from the first.
///
/// ```
/// let g = finn_train::fit::data::grid_points(&[0.0, 10.0], &[1.0, 12.0], 3, false);
/// assert_eq!(g.nrows(), 9);
/// assert_eq!(g.row(1).to_vec(), vec![0.5, 10.0]);
/// ```
pub fn grid_points(lower: &[f64], upper: &[f64], per_axis: usize, offset: bool) -> Array2<f64> {
    let n = lower.len();
    let k = if offset { per_axis - 1 } else { per_axis };
    let count = k.pow(n as u32);
    Array2::from_shape_fn((count, n), |(row, axis)| {
        let idx = (row / k.pow(axis as u32)) % k;
        let h = (upper[axis] - lower[axis]) / (per_axis - 1) as f64;
        let t = if offset { idx as f64 + 0.5 } else { idx as f64 };
        if !offset && idx == per_axis - 1 {
            upper[axis]
        } else {
            lower[axis] + t * h
        }
    })
}

/// `count` uniform random points in [lower, upper] from a SplitMix64 stream.
///
/// ```
/// let p = finn_train::fit::data::random_points(&[-1.0], &[1.0], 100, 7);
/// assert!(p.iter().all(|v| (-1.0..=1.0).contains(v)));
/// assert_eq!(p, finn_train::fit::data::random_points(&[-1.0], &[1.0], 100, 7));
/// ```
pub fn random_points(lower: &[f64], upper: &[f64], count: usize, seed: u64) -> Array2<f64> {
    let mut rng = crate::random::SplitMix64::new(seed ^ 0xD1B5_4A32_D192_ED03);
    let mut uniform = move || rng.unit();
    let n = lower.len();
    Array2::from_shape_fn((count, n), |(_, axis)| {
        lower[axis] + uniform() * (upper[axis] - lower[axis])
    })
}

/// Targets of a built-in function at the given points (f or F).
pub fn target_values(target: &Target, points: &Array2<f64>, fit: Fit) -> Array1<f64> {
    Array1::from_iter(points.rows().into_iter().map(|r| {
        let x = r.to_vec();
        match fit {
            Fit::Integrand => target.value(&x),
            Fit::Antiderivative => target.antiderivative(&x),
        }
    }))
}

/// The training data a `fit` config describes (`data.csv` is relative to the config file).
pub fn load(job: &Job, c: &FitConfig) -> Result<Data, TrainError> {
    let n = c.network.n;
    if let Some(csv) = &c.data.csv {
        let path = job.resolve(csv);
        if !path.is_file() {
            return Err(TrainError::Data(format!(
                "data file {} does not exist (data.csv is relative to the config file)",
                path.display()
            )));
        }
        return Data::from_csv(&path, n);
    }
    let name = c.data.target.as_deref().unwrap_or_default();
    let target = Target::by_name(name, n)?;
    let (lo, hi) = (&c.domain.lower, &c.domain.upper);
    let points = match (c.data.grid, c.data.samples) {
        (Some(g), _) => grid_points(lo, hi, g, false),
        (_, Some(s)) => random_points(lo, hi, s, c.seed),
        _ => {
            return Err(TrainError::Config(
                "data: with a target, give grid or samples".into(),
            ))
        }
    };
    let targets = target_values(&target, &points, c.fit());
    Data::new(points, targets)
}

//! Data of a `density` config: raw points from a CSV file (no targets), the support box, and
//! the seeded train/validation/test split.

use crate::random::SplitMix64;
use crate::TrainError;
use ndarray::Array2;
use std::path::Path;

/// Reads a CSV file of raw points: every row is one point, all columns are coordinates. A
/// header line (a first row whose first field is not a number) and `#` comments are allowed;
/// every row must have the same number of columns.
///
/// Errors: `Data` naming the file and the line for a ragged row, a field that is not a number
/// or is not finite, and for a file without points.
///
/// ```
/// let dir = std::env::temp_dir().join("finn-density-doc-csv");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("points.csv");
/// std::fs::write(&path, "x,y\n# a comment\n0.5,1.0\n-1,2e-1\n").unwrap();
/// let p = finn_train::density::data::read_points(&path).unwrap();
/// assert_eq!(p.dim(), (2, 2));
/// assert_eq!(p[[1, 1]], 0.2);
/// ```
pub fn read_points(path: &Path) -> Result<Array2<f64>, TrainError> {
    let err = |line: usize, msg: String| {
        TrainError::Data(format!("{} line {line}: {msg}", path.display()))
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .flexible(true)
        .from_path(path)
        .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
    let mut flat = Vec::new();
    let mut columns = 0;
    let mut rows = 0;
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
        let line = record.position().map_or(index + 1, |p| p.line() as usize);
        if rows == 0 && columns == 0 && record.get(0).is_some_and(|f| f.parse::<f64>().is_err()) {
            continue;
        }
        if columns == 0 {
            columns = record.len();
        } else if record.len() != columns {
            return Err(err(
                line,
                format!("{} columns, the first row has {columns}", record.len()),
            ));
        }
        for field in record.iter() {
            let v: f64 = field
                .parse()
                .map_err(|_| err(line, format!("'{field}' is not a number")))?;
            if !v.is_finite() {
                return Err(err(line, format!("'{field}' is not finite")));
            }
            flat.push(v);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(TrainError::Data(format!(
            "{}: no points (a CSV of raw points, one per row)",
            path.display()
        )));
    }
    Array2::from_shape_vec((rows, columns), flat).map_err(|e| TrainError::Data(e.to_string()))
}

/// Per-axis mean and standard deviation of the rows (a constant axis gets 1).
///
/// ```
/// use ndarray::array;
/// let (m, s) = finn_train::density::data::moments(&array![[0.0, 1.0], [2.0, 1.0]]);
/// assert_eq!((m, s), (vec![1.0, 1.0], vec![1.0, 1.0]));
/// ```
pub fn moments(points: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let m = points.nrows() as f64;
    let mean: Vec<f64> = points.columns().into_iter().map(|c| c.sum() / m).collect();
    let sd = points
        .columns()
        .into_iter()
        .zip(&mean)
        .map(|(c, mu)| {
            let v = c.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / m;
            if v > 0.0 {
                v.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    (mean, sd)
}

/// The data's bounding box enlarged by `margin` times its side at both ends of every axis (a
/// side of zero length is taken as 1).
///
/// ```
/// use ndarray::array;
/// let (lo, hi) = finn_train::density::data::auto_support(&array![[0.0, 1.0], [2.0, 1.0]], 0.25);
/// assert_eq!(lo, vec![-0.5, 0.75]);
/// assert_eq!(hi, vec![2.5, 1.25]);
/// ```
pub fn auto_support(points: &Array2<f64>, margin: f64) -> (Vec<f64>, Vec<f64>) {
    let n = points.ncols();
    let mut lo = vec![f64::INFINITY; n];
    let mut hi = vec![f64::NEG_INFINITY; n];
    for row in points.rows() {
        for (i, v) in row.iter().enumerate() {
            lo[i] = lo[i].min(*v);
            hi[i] = hi[i].max(*v);
        }
    }
    for i in 0..n {
        let side = if hi[i] > lo[i] { hi[i] - lo[i] } else { 1.0 };
        lo[i] -= margin * side;
        hi[i] += margin * side;
    }
    (lo, hi)
}

/// Checks that every point lies in the box [lower, upper] (`clip = false`), or moves each
/// coordinate outside onto the nearest face (`clip = true`). Returns how many rows were
/// clipped.
///
/// Errors (without clipping): `Data` naming the first row outside (1-based, counting points,
/// not header or comment lines), its axis and the box.
///
/// ```
/// use ndarray::array;
/// use finn_train::density::data::fit_to_support;
/// let mut p = array![[0.5], [3.0]];
/// let e = fit_to_support(&mut p.clone(), &[0.0], &[1.0], false).unwrap_err();
/// assert!(e.to_string().contains("point 2"));
/// assert_eq!(fit_to_support(&mut p, &[0.0], &[1.0], true).unwrap(), 1);
/// assert_eq!(p[[1, 0]], 1.0);
/// ```
pub fn fit_to_support(
    points: &mut Array2<f64>,
    lower: &[f64],
    upper: &[f64],
    clip: bool,
) -> Result<usize, TrainError> {
    let mut clipped = 0;
    for (r, mut row) in points.rows_mut().into_iter().enumerate() {
        let mut moved = false;
        for (i, v) in row.iter_mut().enumerate() {
            if *v < lower[i] || *v > upper[i] {
                if !clip {
                    return Err(TrainError::Data(format!(
                        "point {} (value {v} on axis {}) lies outside the support [{}, {}] on \
                         that axis: the support must contain the data (enlarge support.lower / \
                         support.upper, use support.auto = true, or support.outside = \"clip\")",
                        r + 1,
                        i + 1,
                        lower[i],
                        upper[i]
                    )));
                }
                *v = v.clamp(lower[i], upper[i]);
                moved = true;
            }
        }
        clipped += usize::from(moved);
    }
    Ok(clipped)
}

/// The rows of a seeded train/validation/test split.
#[derive(Clone, Debug)]
pub struct Split {
    /// Training points.
    pub train: Array2<f64>,
    /// Validation points (early stopping, model selection of the baselines).
    pub validation: Array2<f64>,
    /// Test points (reported only).
    pub test: Array2<f64>,
}

/// Shuffles the rows with a SplitMix64 stream from `seed` (Fisher-Yates) and cuts them into
/// validation (`round(validation * m)` rows), test (`round(test * m)`) and training (the rest).
///
/// Errors: `Data` when any of the three parts would be empty (a part asked for with a zero
/// fraction may be empty).
///
/// ```
/// let p = ndarray::Array2::from_shape_fn((10, 1), |(i, _)| i as f64);
/// let s = finn_train::density::data::split(&p, 0.2, 0.3, 1).unwrap();
/// assert_eq!((s.train.nrows(), s.validation.nrows(), s.test.nrows()), (5, 2, 3));
/// let mut all: Vec<f64> = s.train.iter().chain(&s.validation).chain(&s.test).copied().collect();
/// all.sort_by(f64::total_cmp);
/// assert_eq!(all, (0..10).map(|i| i as f64).collect::<Vec<_>>());
/// ```
pub fn split(
    points: &Array2<f64>,
    validation: f64,
    test: f64,
    seed: u64,
) -> Result<Split, TrainError> {
    let m = points.nrows();
    let mut order: Vec<usize> = (0..m).collect();
    let mut rng = SplitMix64::new(seed ^ 0x5851_F42D_4C95_7F2D);
    for i in (1..m).rev() {
        let j = ((rng.unit() * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
    let n_val = (validation * m as f64).round() as usize;
    let n_test = (test * m as f64).round() as usize;
    if (validation > 0.0 && n_val == 0) || (test > 0.0 && n_test == 0) || n_val + n_test >= m {
        return Err(TrainError::Data(format!(
            "{m} points cannot be split into training, validation ({validation}) and test \
             ({test}) parts that are all non-empty"
        )));
    }
    let take = |rows: &[usize]| points.select(ndarray::Axis(0), rows);
    Ok(Split {
        validation: take(&order[..n_val]),
        test: take(&order[n_val..n_val + n_test]),
        train: take(&order[n_val + n_test..]),
    })
}

//! The benchmark's datasets: three non-Gaussian shapes generated with fixed seeds (two moons,
//! a ring, a banana), the real iris measurements (4-D, shipped inside `linfa-datasets`,
//! standardised), and the 1-D bimodal mixture of Figure 4. [`write_all`] writes them as CSV
//! files of raw points, which the `configs/density-*.toml` configs read.

use crate::random::SplitMix64;
use crate::TrainError;
use linfa::dataset::Records;
use ndarray::Array2;
use std::f64::consts::PI;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Points per generated 2-D dataset.
pub const POINTS: usize = 2000;

/// Points of the [`disk`] dataset (`configs/data/density-disk.csv`).
pub const DISK_POINTS: usize = 1000;

/// Normal variates by Box-Muller over a SplitMix64 stream.
struct Normal(SplitMix64);

impl Normal {
    fn new(seed: u64) -> Self {
        Normal(SplitMix64::new(seed))
    }
    fn unit(&mut self) -> f64 {
        self.0.unit()
    }
    fn next(&mut self) -> f64 {
        let u1 = 1.0 - self.0.unit(); // (0, 1]
        let u2 = self.0.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// Two interleaved half circles (radius 1, the second shifted by (1, -0.5)) with Gaussian
/// noise of standard deviation 0.1.
///
/// ```
/// let p = finn_train::density::datasets::two_moons(100, 1);
/// assert_eq!(p.dim(), (100, 2));
/// assert_eq!(p, finn_train::density::datasets::two_moons(100, 1));
/// ```
pub fn two_moons(count: usize, seed: u64) -> Array2<f64> {
    let mut g = Normal::new(seed);
    let mut a = Array2::zeros((count, 2));
    {
        for k in 0..count {
            let t = PI * g.unit();
            let (x, y) = if k % 2 == 0 {
                (t.cos(), t.sin())
            } else {
                (1.0 - t.cos(), 0.5 - t.sin())
            };
            a[[k, 0]] = x + 0.1 * g.next();
            a[[k, 1]] = y + 0.1 * g.next();
        }
    }
    a
}

/// A ring: angle uniform, radius 2 plus Gaussian noise of standard deviation 0.2.
pub fn ring(count: usize, seed: u64) -> Array2<f64> {
    let mut g = Normal::new(seed);
    let mut a = Array2::zeros((count, 2));
    {
        for k in 0..count {
            let t = 2.0 * PI * g.unit();
            let r = 2.0 + 0.2 * g.next();
            a[[k, 0]] = r * t.cos();
            a[[k, 1]] = r * t.sin();
        }
    }
    a
}

/// A banana: x1 ~ N(0, 1), x2 = x1^2 / 2 - 1 + N(0, 0.25^2).
pub fn banana(count: usize, seed: u64) -> Array2<f64> {
    let mut g = Normal::new(seed);
    let mut a = Array2::zeros((count, 2));
    {
        for k in 0..count {
            let x = g.next();
            a[[k, 0]] = x;
            a[[k, 1]] = 0.5 * x * x - 1.0 + 0.25 * g.next();
        }
    }
    a
}

/// Figure 4's 1-D mixture: 0.4 N(-1.5, 0.45^2) + 0.6 N(1.2, 0.7^2).
pub fn bimodal(count: usize, seed: u64) -> Array2<f64> {
    let mut g = Normal::new(seed);
    let mut a = Array2::zeros((count, 1));
    {
        for k in 0..count {
            a[[k, 0]] = if g.unit() < BIMODAL[0].0 {
                BIMODAL[0].1 + BIMODAL[0].2 * g.next()
            } else {
                BIMODAL[1].1 + BIMODAL[1].2 * g.next()
            };
        }
    }
    a
}

/// Points on the unit disk with mass across the seam of polar coordinates (theta = 0, the
/// positive x1-axis), for the `disk` map: with probability 0.6 a Gaussian blob at (0.55, 0)
/// of standard deviation 0.2, else a ring of radius 0.3 (noise 0.08); draws outside the
/// disk are redrawn.
///
/// Why this shape: the blob straddles theta = 0, where the disk's u-coordinates are glued,
/// so an unpenalised model can show a jump there.
///
/// ```
/// let p = finn_train::density::datasets::disk(200, 3);
/// assert_eq!(p.dim(), (200, 2));
/// assert!(p.rows().into_iter().all(|r| r[0] * r[0] + r[1] * r[1] <= 1.0));
/// ```
pub fn disk(count: usize, seed: u64) -> Array2<f64> {
    let mut g = Normal::new(seed);
    let mut a = Array2::zeros((count, 2));
    for k in 0..count {
        loop {
            let (x, y) = if g.unit() < 0.6 {
                (0.55 + 0.2 * g.next(), 0.2 * g.next())
            } else {
                let t = 2.0 * PI * g.unit();
                let r = 0.3 + 0.08 * g.next();
                (r * t.cos(), r * t.sin())
            };
            if x * x + y * y <= 1.0 {
                a[[k, 0]] = x;
                a[[k, 1]] = y;
                break;
            }
        }
    }
    a
}

/// A generated 2-D shape of the benchmark: its generator, the seed of the shipped CSV, and
/// its exact log density, so that a model can be scored against fresh draws and against the
/// truth itself (the lowest expected NLL any model can reach).
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// The dataset's name (`configs/data/density-<name>.csv`).
    pub name: &'static str,
    /// The seed of the shipped CSV's [`POINTS`] points.
    pub seed: u64,
    /// The generator: `count` points from `seed`.
    pub draw: fn(usize, u64) -> Array2<f64>,
    /// The exact log density of the generator at a point.
    pub log_pdf: fn(&[f64]) -> f64,
    /// The CSV's comment line.
    pub description: &'static str,
}

/// The three generated shapes of the benchmark.
pub const SHAPES: [Shape; 3] = [
    Shape {
        name: "moons",
        seed: 11,
        draw: two_moons,
        log_pdf: two_moons_log_pdf,
        description: "two moons, 2000 points, noise 0.1, seed 11",
    },
    Shape {
        name: "ring",
        seed: 12,
        draw: ring,
        log_pdf: ring_log_pdf,
        description: "ring of radius 2, noise 0.2, 2000 points, seed 12",
    },
    Shape {
        name: "banana",
        seed: 13,
        draw: banana,
        log_pdf: banana_log_pdf,
        description: "banana x2 = x1^2/2 - 1 + 0.25 N(0,1), x1 ~ N(0,1), 2000 points, seed 13",
    },
];

/// ln N(v; mean, sd^2).
fn log_normal(v: f64, mean: f64, sd: f64) -> f64 {
    let z = (v - mean) / sd;
    -0.5 * z * z - sd.ln() - 0.5 * (2.0 * PI).ln()
}

/// Steps of the midpoint rule over the moons' arc parameter t in [0, pi]: 2,048 steps of
/// 0.0015 against a noise of 0.1 (about 65 steps per standard deviation along the arc).
const ARC_STEPS: usize = 2048;

/// The exact log density of [`two_moons`]: each moon has weight 1/2, its arc parameter t is
/// uniform on [0, pi] and the noise isotropic with standard deviation 0.1, so
/// p(x) = 1/2 sum over the moons of (1 / pi) integral over t of N(x; m(t), 0.01 I), the
/// integral by the midpoint rule (2,048 steps) as a log-sum-exp (finite far from the data).
///
/// ```
/// use finn_train::density::datasets::two_moons_log_pdf;
/// // On the first arc's apex: half the mass spread over an arc of length pi, times the
/// // noise's density across the arc, 1 / (0.1 sqrt(2 pi)) (up to the arc's curvature).
/// let pi = std::f64::consts::PI;
/// let across = 0.5 / pi / (0.1 * (2.0 * pi).sqrt());
/// assert!((two_moons_log_pdf(&[0.0, 1.0]) - across.ln()).abs() < 0.01);
/// // Far away it is tiny but finite.
/// assert!(two_moons_log_pdf(&[10.0, 10.0]).is_finite());
/// ```
pub fn two_moons_log_pdf(x: &[f64]) -> f64 {
    let variance = 0.01;
    let mut exponents = Vec::with_capacity(2 * ARC_STEPS);
    for j in 0..ARC_STEPS {
        let t = PI * (j as f64 + 0.5) / ARC_STEPS as f64;
        let (c, s) = (t.cos(), t.sin());
        for (mx, my) in [(c, s), (1.0 - c, 0.5 - s)] {
            let d2 = (x[0] - mx).powi(2) + (x[1] - my).powi(2);
            exponents.push(-0.5 * d2 / variance);
        }
    }
    // (1/2) (1/pi) (pi / steps) sum of exp(e) / (2 pi variance) over both moons.
    super::baselines::log_sum_exp(&exponents)
        - (2.0 * ARC_STEPS as f64).ln()
        - (2.0 * PI * variance).ln()
}

/// The exact log density of [`ring`]: the angle is uniform and the radius r = 2 + 0.2 z, so
/// at a point of radius r > 0, p = (N(r; 2, 0.04) + N(-r; 2, 0.04)) / (2 pi r) (the second
/// term is the radius drawn negative, below 1e-21). At the centre this is +inf: an
/// integrable singularity of weight about e^-50 that no draw reaches.
///
/// ```
/// use finn_train::density::datasets::ring_log_pdf;
/// let on = ring_log_pdf(&[2.0, 0.0]);
/// // N(2; 2, 0.04) / (4 pi) = 1 / (0.2 sqrt(2 pi) 4 pi).
/// let expected = -(0.2 * (2.0 * std::f64::consts::PI).sqrt() * 4.0 * std::f64::consts::PI).ln();
/// assert!((on - expected).abs() < 1e-12);
/// assert_eq!(ring_log_pdf(&[0.0, 0.0]), f64::INFINITY);
/// ```
pub fn ring_log_pdf(x: &[f64]) -> f64 {
    let r = x[0].hypot(x[1]);
    let near = log_normal(r, 2.0, 0.2);
    let far = log_normal(-r, 2.0, 0.2);
    near + (far - near).exp().ln_1p() - (2.0 * PI * r).ln()
}

/// The exact log density of [`banana`]: N(x1; 0, 1) N(x2; x1^2 / 2 - 1, 0.25^2).
///
/// ```
/// use finn_train::density::datasets::banana_log_pdf;
/// let p = banana_log_pdf(&[0.0, -1.0]).exp();
/// assert!((p - 1.0 / (2.0 * std::f64::consts::PI * 0.25)).abs() < 1e-12);
/// ```
pub fn banana_log_pdf(x: &[f64]) -> f64 {
    log_normal(x[0], 0.0, 1.0) + log_normal(x[1], 0.5 * x[0] * x[0] - 1.0, 0.25)
}

/// (weight, mean, standard deviation) of [`bimodal`]'s components.
pub const BIMODAL: [(f64, f64, f64); 2] = [(0.4, -1.5, 0.45), (0.6, 1.2, 0.7)];

/// The iris measurements (150 x 4: sepal length and width, petal length and width), each
/// column standardised to mean 0 and standard deviation 1.
pub fn iris() -> Array2<f64> {
    let data = linfa_datasets::iris();
    let mut x = data.records().to_owned();
    let m = x.nrows() as f64;
    for mut c in x.columns_mut() {
        let mean = c.sum() / m;
        let sd = (c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m).sqrt();
        c.mapv_inplace(|v| (v - mean) / sd);
    }
    debug_assert_eq!(data.nsamples(), 150);
    x
}

/// A CSV of raw points: a header `x1,..,xn`, then one row per point (shortest round-trip
/// decimal form).
pub fn to_csv(points: &Array2<f64>, comment: &str) -> String {
    let mut s = format!("# {comment}\n");
    let header: Vec<String> = (1..=points.ncols()).map(|i| format!("x{i}")).collect();
    s.push_str(&header.join(","));
    s.push('\n');
    for r in points.rows() {
        let row: Vec<String> = r.iter().map(|v| format!("{v}")).collect();
        let _ = writeln!(s, "{}", row.join(","));
    }
    s
}

/// The datasets by name: (file stem, points, description).
pub fn all() -> Vec<(&'static str, Array2<f64>, &'static str)> {
    let mut all: Vec<(&'static str, Array2<f64>, &'static str)> = SHAPES
        .iter()
        .map(|s| (s.name, (s.draw)(POINTS, s.seed), s.description))
        .collect();
    all.extend([
        (
            "iris",
            iris(),
            "iris (linfa-datasets), 150 x 4, columns standardised",
        ),
        (
            "bimodal",
            bimodal(POINTS, 14),
            "0.4 N(-1.5, 0.45^2) + 0.6 N(1.2, 0.7^2), 2000 points, seed 14",
        ),
        (
            "disk",
            disk(DISK_POINTS, 15),
            "unit disk: 0.6 N((0.55, 0), 0.2^2) + 0.4 ring r = 0.3 (noise 0.08), redrawn \
             outside the disk, 1000 points, seed 15",
        ),
    ]);
    all
}

/// Writes every dataset as `<dir>/density-<name>.csv`; returns the paths.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (name, points, what) in all() {
        let path = dir.join(format!("density-{name}.csv"));
        std::fs::write(&path, to_csv(&points, what))?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shape's log density is its generator's: its midpoint integral over a box that
    /// holds all but about 1e-9 of the mass is 1, and the share of 20,000 draws in each
    /// cell of a 4 x 4 grid over the box matches the density's integral over the cell within
    /// 4 standard errors (a wrong shift, width or Jacobian fails both).
    #[test]
    fn every_shapes_log_pdf_is_its_generators_density() {
        let boxes = [
            ([-1.6, -1.1], [2.6, 1.6]),
            ([-3.2, -3.2], [3.2, 3.2]),
            ([-6.0, -3.0], [6.0, 19.0]),
        ];
        let (fine, cells) = (200, 4);
        for (shape, (lo, hi)) in SHAPES.into_iter().zip(boxes) {
            let h = [(hi[0] - lo[0]) / fine as f64, (hi[1] - lo[1]) / fine as f64];
            let mut mass = [[0.0; 4]; 4];
            for i in 0..fine {
                for j in 0..fine {
                    let x = [
                        lo[0] + (i as f64 + 0.5) * h[0],
                        lo[1] + (j as f64 + 0.5) * h[1],
                    ];
                    mass[i * cells / fine][j * cells / fine] +=
                        (shape.log_pdf)(&x).exp() * h[0] * h[1];
                }
            }
            let total: f64 = mass.iter().flatten().sum();
            assert!(
                (total - 1.0).abs() < 1e-6,
                "{}: integral {total}",
                shape.name
            );
            let draws = (shape.draw)(20_000, 99);
            let mut count = [[0usize; 4]; 4];
            for r in draws.rows() {
                let cell = |k: usize| ((r[k] - lo[k]) / (hi[k] - lo[k]) * cells as f64) as usize;
                count[cell(0)][cell(1)] += 1;
            }
            for (m, c) in mass.iter().flatten().zip(count.iter().flatten()) {
                let expected = 20_000.0 * m;
                let se = (expected * (1.0 - m)).sqrt();
                assert!(
                    (*c as f64 - expected).abs() <= 4.0 * se + 1.0,
                    "{}: {c} draws in a cell of expected {expected:.1}",
                    shape.name
                );
            }
        }
    }

    /// The disk generator: seeded, inside the unit disk, with mass on both sides of the seam
    /// (theta = 0), and the shipped CSV is its output.
    #[test]
    fn the_disk_dataset_straddles_the_seam_and_is_the_shipped_csv() {
        let p = disk(DISK_POINTS, 15);
        assert_eq!(p, disk(DISK_POINTS, 15));
        assert!(p.rows().into_iter().all(|r| r[0].hypot(r[1]) <= 1.0));
        let near = |above: bool| {
            p.rows()
                .into_iter()
                .filter(|r| r[0] > 0.3 && r[1].abs() < 0.1 && (r[1] > 0.0) == above)
                .count()
        };
        assert!(
            near(true) > 50 && near(false) > 50,
            "{} {}",
            near(true),
            near(false)
        );
        let (_, points, what) = all().into_iter().find(|d| d.0 == "disk").unwrap();
        let shipped =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/data/density-disk.csv");
        let text = std::fs::read_to_string(shipped).unwrap();
        assert_eq!(text, to_csv(&points, what));
    }
}

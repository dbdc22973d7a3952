//! Built-in training targets: functions f with a closed-form antiderivative F
//! (F(x) = integral of f over (-inf, x_1] x ... x (-inf, x_n]), so both fits and exact
//! reference integrals are available.
//!
//! | name | n | f |
//! | --- | --- | --- |
//! | `figure1-gmm` | 2 | the paper's Figure 1 ground truth: two axis-aligned Gaussian modes, total volume exactly 2 over [-3, 3]^2 ([`Gmm::figure1`]) |
//! | `gaussian` | any | the standard normal density exp(-abs(x)^2 / 2) / (2 pi)^(n/2) |

use crate::TrainError;
use std::f64::consts::{PI, SQRT_2};

/// One axis-aligned Gaussian mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Mode {
    /// Mixture weight (before the overall normalisation).
    pub weight: f64,
    /// Mean per axis.
    pub mean: Vec<f64>,
    /// Standard deviation per axis.
    pub std: Vec<f64>,
}

/// A mixture of axis-aligned Gaussians, scaled by `scale`: g(x) = scale sum_k w_k N(x; mu_k,
/// diag(s_k^2)).
#[derive(Clone, Debug, PartialEq)]
pub struct Gmm {
    /// The modes.
    pub modes: Vec<Mode>,
    /// The overall factor.
    pub scale: f64,
}

/// Phi, the standard normal CDF, through erfc (accurate in both tails).
fn normal_cdf(t: f64) -> f64 {
    0.5 * libm::erfc(-t / SQRT_2)
}

impl Gmm {
    /// The Figure 1 ground truth on [-3, 3]^2: modes (w = 0.6, mu = (-1, -0.75),
    /// s = (0.75, 0.9)) and (w = 0.4, mu = (1.25, 1), s = (0.6, 0.8)), scaled so that the
    /// integral over the square is exactly [`FIGURE1_VOLUME`].
    pub fn figure1() -> Self {
        let modes = vec![
            Mode {
                weight: 0.6,
                mean: vec![-1.0, -0.75],
                std: vec![0.75, 0.9],
            },
            Mode {
                weight: 0.4,
                mean: vec![1.25, 1.0],
                std: vec![0.6, 0.8],
            },
        ];
        let mut g = Gmm { modes, scale: 1.0 };
        let unit = g.box_integral(&FIGURE1_LOWER, &FIGURE1_UPPER);
        g.scale = FIGURE1_VOLUME / unit;
        g
    }

    /// g(x).
    pub fn value(&self, x: &[f64]) -> f64 {
        self.scale
            * self
                .modes
                .iter()
                .map(|m| {
                    let mut p = m.weight;
                    for ((xi, mu), s) in x.iter().zip(&m.mean).zip(&m.std) {
                        let t = (xi - mu) / s;
                        p *= (-0.5 * t * t).exp() / (s * (2.0 * PI).sqrt());
                    }
                    p
                })
                .sum::<f64>()
    }

    /// G(x) = integral of g over (-inf, x].
    pub fn antiderivative(&self, x: &[f64]) -> f64 {
        self.scale
            * self
                .modes
                .iter()
                .map(|m| {
                    let mut p = m.weight;
                    for ((xi, mu), s) in x.iter().zip(&m.mean).zip(&m.std) {
                        p *= normal_cdf((xi - mu) / s);
                    }
                    p
                })
                .sum::<f64>()
    }

    /// The exact integral of g over [lower, upper], as products of erf differences (each
    /// factor computed as (erf(b) - erf(a)) / 2 so nothing cancels in the tails that matter).
    pub fn box_integral(&self, lower: &[f64], upper: &[f64]) -> f64 {
        self.scale
            * self
                .modes
                .iter()
                .map(|m| {
                    let mut p = m.weight;
                    for (((a, b), mu), s) in lower.iter().zip(upper).zip(&m.mean).zip(&m.std) {
                        let ta = (a - mu) / (s * SQRT_2);
                        let tb = (b - mu) / (s * SQRT_2);
                        p *= 0.5 * (libm::erf(tb) - libm::erf(ta));
                    }
                    p
                })
                .sum::<f64>()
    }
}

/// The Figure 1 square's corners and the ground truth's volume over it.
pub const FIGURE1_LOWER: [f64; 2] = [-3.0, -3.0];
/// Upper corner of the Figure 1 square.
pub const FIGURE1_UPPER: [f64; 2] = [3.0, 3.0];
/// The ground truth's integral over the square.
pub const FIGURE1_VOLUME: f64 = 2.0;

/// A built-in target.
#[derive(Clone, Debug)]
pub enum Target {
    /// A Gaussian mixture (the Figure 1 one).
    Gmm(Gmm),
    /// The standard normal density in n dimensions.
    Gaussian {
        /// The dimension.
        n: usize,
    },
}

/// The names `data.target` accepts.
pub const NAMES: &[&str] = &["figure1-gmm", "gaussian"];

impl Target {
    /// The built-in target called `name`, for input dimension `n`.
    pub fn by_name(name: &str, n: usize) -> Result<Self, TrainError> {
        match name {
            "figure1-gmm" => {
                if n != 2 {
                    return Err(TrainError::Config(format!(
                        "target 'figure1-gmm' is two-dimensional, but network.n = {n}"
                    )));
                }
                Ok(Target::Gmm(Gmm::figure1()))
            }
            "gaussian" => Ok(Target::Gaussian { n }),
            _ => Err(TrainError::Config(format!(
                "unknown target '{name}'; the built-in targets are: {}",
                NAMES.join(", ")
            ))),
        }
    }

    /// f(x).
    pub fn value(&self, x: &[f64]) -> f64 {
        match self {
            Target::Gmm(g) => g.value(x),
            Target::Gaussian { n } => {
                let r2: f64 = x.iter().map(|v| v * v).sum();
                (-0.5 * r2).exp() / (2.0 * PI).powf(*n as f64 / 2.0)
            }
        }
    }

    /// F(x) = integral of f over (-inf, x].
    pub fn antiderivative(&self, x: &[f64]) -> f64 {
        match self {
            Target::Gmm(g) => g.antiderivative(x),
            Target::Gaussian { .. } => x.iter().map(|v| normal_cdf(*v)).product(),
        }
    }

    /// The exact integral of f over the box [lower, upper].
    pub fn box_integral(&self, lower: &[f64], upper: &[f64]) -> f64 {
        match self {
            Target::Gmm(g) => g.box_integral(lower, upper),
            Target::Gaussian { .. } => lower
                .iter()
                .zip(upper)
                .map(|(a, b)| 0.5 * (libm::erf(b / SQRT_2) - libm::erf(a / SQRT_2)))
                .product(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quadrature::quadrature_2d;

    #[test]
    fn figure1_volume_is_two() {
        let g = Gmm::figure1();
        let closed = g.box_integral(&FIGURE1_LOWER, &FIGURE1_UPPER);
        assert!((closed - 2.0).abs() <= 1e-14, "{closed}");
        let q = quadrature_2d(|x| g.value(x), FIGURE1_LOWER, FIGURE1_UPPER, 24);
        assert!((q - 2.0).abs() <= 1e-12, "{q}");
        // The vertex sum of the antiderivative gives the same.
        let v = g.antiderivative(&[3.0, 3.0])
            - g.antiderivative(&[-3.0, 3.0])
            - g.antiderivative(&[3.0, -3.0])
            + g.antiderivative(&[-3.0, -3.0]);
        assert!((v - 2.0).abs() <= 1e-13, "{v}");
    }

    #[test]
    fn gaussian_target() {
        let t = Target::by_name("gaussian", 1).unwrap();
        let i = t.box_integral(&[-1.0], &[1.0]);
        assert!((i - 0.682_689_492_137_085_9).abs() < 1e-15);
        assert!((t.antiderivative(&[1.0]) - t.antiderivative(&[-1.0]) - i).abs() < 1e-15);
        assert!(Target::by_name("figure1-gmm", 3).is_err());
        assert!(Target::by_name("nope", 1).is_err());
    }
}

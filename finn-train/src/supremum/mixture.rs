//! The certified pdf of a trained density mixture ([`DensityModel`]) on a box support or on
//! all of R^n.

use super::{load_model, Enclose};
use crate::density::composite::{DensityModel, SupportMap};
use crate::TrainError;
use finn_core::{Error, Interval};

/// The pdf of a trained mixture of reflected densities on a box support
/// ([`DensityModel`] with [`SupportMap::Box`]): p(x) = sum_k w_k p_k(R_k x), R_k the
/// reflection of component k's flagged axes about the centre of the box. Its enclosure over a
/// box is the weighted sum of the components' enclosures over the reflected boxes (each
/// widened outward by the rounding of the reflection).
///
/// On all of R^n ([`SupportMap::RealSpace`]) the function lives on the u-box (0, 1)^n:
/// p(x(u)) = p_u(u) prod_i u_i (1 - u_i) / s_i, the mixture's u-density over the map's
/// abs det. Its supremum over the u-box is the supremum of p over R^n (the factor is 0 on
/// the u-box's faces, which are at infinity); [`Enclose::to_data`] maps a point back.
///
/// ```no_run
/// use finn_train::density::composite::DensityModel;
/// use finn_train::supremum::{supremum, Enclose, Mixture, Settings};
/// let d = DensityModel::load_json("results/densities/moons.density.json".as_ref())?;
/// let p = Mixture::new(&d)?;
/// let (lo, hi) = p.domain();
/// let s = supremum(&p, &lo, &hi, &Settings::default())?;
/// println!("the two-moons density never exceeds {}", s.upper);
/// # Ok::<(), finn_train::TrainError>(())
/// ```
pub struct Mixture {
    parts: Vec<(f64, Vec<bool>, Box<dyn Enclose>)>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    magnitude: f64,
    /// On R^n: the map's centres and scales.
    real_space: Option<(Vec<f64>, Vec<f64>)>,
}

impl Mixture {
    /// The mixture of a density model on a box support or on all of R^n.
    ///
    /// Errors: `Data` for a mapped domain (disk, annulus, sector, ball, simplex: their
    /// components are certified one by one, in u), or a component that does not load
    /// ([`load_model`]).
    pub fn new(density: &DensityModel) -> Result<Self, TrainError> {
        let real_space =
            match &density.map {
                SupportMap::Box => None,
                SupportMap::RealSpace { centre, scale } => Some((centre.clone(), scale.clone())),
                _ => return Err(TrainError::Data(
                    "the certificate bounds densities on a box support or all of R^n, not on a \
                     mapped domain (certify its components, in u)"
                        .into(),
                )),
            };
        let mut magnitude = 0.0;
        let mut parts = Vec::new();
        for c in &density.components {
            let loaded = load_model(&c.model)?;
            magnitude += c.weight * loaded.magnitude_bound;
            parts.push((c.weight, c.reflect.clone(), loaded.function));
        }
        if let Some((_, scale)) = &real_space {
            // u (1 - u) <= 1/4 on every axis; padded for the rounding of the product.
            magnitude *= scale.iter().map(|s| 0.25 / s).product::<f64>() * (1.0 + 1e-12);
        }
        let (lower, upper) = density.u_box();
        Ok(Mixture {
            parts,
            lower: lower.to_vec(),
            upper: upper.to_vec(),
            magnitude,
            real_space,
        })
    }

    /// On R^n, per axis over [lower_i, upper_i] (inside [0, 1]): enclosures of
    /// q_i = u (1 - u) / s_i and of its derivative (1 - 2 u) / s_i. The product of the q_i
    /// is 1 / abs det dr/du.
    fn jacobian(
        &self,
        lower: &[f64],
        upper: &[f64],
    ) -> Option<Vec<(Interval<f64>, Interval<f64>)>> {
        let (_, scale) = self.real_space.as_ref()?;
        let one = Interval::point(1.0);
        let q = |u: f64| Interval::point(u) * (one - Interval::point(u));
        Some(
            lower
                .iter()
                .zip(upper)
                .zip(scale)
                .map(|((&a, &b), &s)| {
                    // u (1 - u) is concave with its top at 1/2: the ends give the bottom.
                    let (qa, qb) = (q(a), q(b));
                    let top = q(0.5f64.max(a).min(b));
                    let inv = inverse(s);
                    let range = Interval {
                        lo: qa.lo.min(qb.lo).max(0.0),
                        hi: qa.hi.max(qb.hi).max(top.hi),
                    };
                    let slope = one - Interval::point(2.0) * Interval { lo: a, hi: b };
                    (range * inv, slope * inv)
                })
                .collect(),
        )
    }

    /// The weighted sum of the components' magnitude bounds ([`super::Loaded::magnitude_bound`]),
    /// on R^n times the largest 1 / abs det, prod 1 / (4 s_i).
    pub fn magnitude_bound(&self) -> f64 {
        self.magnitude
    }

    /// The box [lower, upper] reflected on the flagged axes, widened outward by the rounding
    /// of a + b - v (and, on an axis where the box lies in the support, cut back to the
    /// support, which the exact reflection maps onto itself).
    fn reflect_box(&self, flags: &[bool], lower: &[f64], upper: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mut lo, mut hi) = (lower.to_vec(), upper.to_vec());
        for (i, &flag) in flags.iter().enumerate() {
            if flag {
                let (a, b) = (self.lower[i], self.upper[i]);
                let sum = a + b;
                let pad = 4.0 * f64::EPSILON * (sum.abs() + lower[i].abs().max(upper[i].abs()))
                    + f64::MIN_POSITIVE;
                lo[i] = (sum - upper[i]) - pad;
                hi[i] = (sum - lower[i]) + pad;
                if a <= lower[i] && upper[i] <= b {
                    lo[i] = lo[i].max(a);
                    hi[i] = hi[i].min(b);
                }
            }
        }
        (lo, hi)
    }

    /// The mixture's u-density p_u over the box (no Jacobian).
    fn enclose_u(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        let mut total = Interval::point(0.0);
        for (w, flags, part) in &self.parts {
            let (lo, hi) = self.reflect_box(flags, lower, upper);
            total += Interval::point(*w) * part.enclosure(&lo, &hi)?;
        }
        Ok(total)
    }

    fn enclose(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        let mut total = self.enclose_u(lower, upper)?;
        if let Some(factors) = self.jacobian(lower, upper) {
            for (q, _) in factors {
                total = total * q;
            }
        }
        if total.is_finite() {
            Ok(Interval {
                lo: total.lo.max(0.0),
                hi: total.hi,
            })
        } else {
            Err(Error::Overflow)
        }
    }
}

impl Enclose for Mixture {
    fn dim(&self) -> usize {
        self.lower.len()
    }
    fn domain(&self) -> (Vec<f64>, Vec<f64>) {
        (self.lower.clone(), self.upper.clone())
    }
    fn value(&self, x: &[f64]) -> Result<f64, Error> {
        let mut p = 0.0;
        for (w, flags, part) in &self.parts {
            let y: Vec<f64> = x
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if flags[i] {
                        self.lower[i] + self.upper[i] - v
                    } else {
                        *v
                    }
                })
                .collect();
            p += w * part.value(&y)?;
        }
        if let Some((_, scale)) = &self.real_space {
            for (u, s) in x.iter().zip(scale) {
                p *= u * (1.0 - u) / s;
            }
        }
        Ok(p)
    }
    fn enclosure(&self, lower: &[f64], upper: &[f64]) -> Result<Interval<f64>, Error> {
        self.enclose(lower, upper)
    }
    /// x = u on a box, x = centre + scale ln(u / (1 - u)) on R^n.
    fn to_data(&self, u: &[f64]) -> Vec<f64> {
        match &self.real_space {
            None => u.to_vec(),
            Some((centre, scale)) => crate::density::composite::real_space_x(u, centre, scale),
        }
    }
    /// The weighted sum of the components' gradients (negated on reflected axes): summed
    /// before the mean-value form, so that they cancel at a maximum of the mixture where the
    /// components' own gradients do not.
    fn gradient_enclosure(
        &self,
        lower: &[f64],
        upper: &[f64],
    ) -> Result<Option<Vec<Interval<f64>>>, Error> {
        let mut total = vec![Interval::point(0.0); self.dim()];
        for (w, flags, part) in &self.parts {
            let (lo, hi) = self.reflect_box(flags, lower, upper);
            let Some(g) = part.gradient_enclosure(&lo, &hi)? else {
                return Ok(None);
            };
            for (i, (t, gi)) in total.iter_mut().zip(g).enumerate() {
                let gi = if flags[i] { -gi } else { gi };
                *t += Interval::point(*w) * gi;
            }
        }
        let Some(factors) = self.jacobian(lower, upper) else {
            return Ok(Some(total));
        };
        // d_i (p_u Q) = (d_i p_u) Q + p_u Q_-i q_i', Q the product of the q_j.
        let p_u = self.enclose_u(lower, upper)?;
        let product = |skip: usize| {
            factors
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != skip)
                .fold(Interval::point(1.0), |acc, (_, (q, _))| acc * *q)
        };
        let all = product(usize::MAX);
        Ok(Some(
            total
                .into_iter()
                .enumerate()
                .map(|(i, g)| g * all + p_u * product(i) * factors[i].1)
                .collect(),
        ))
    }
}

/// An enclosure of 1 / s for s > 0.
fn inverse(s: f64) -> Interval<f64> {
    let r = 1.0 / s;
    Interval {
        lo: r * (1.0 - 2.0 * f64::EPSILON),
        hi: r * (1.0 + 2.0 * f64::EPSILON),
    }
}

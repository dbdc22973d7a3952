//! Where a density lives: its support map (a box, all of R^n, or one of finn-core's mapped
//! domains), the map between the data's coordinates x and the components' coordinates u.

use crate::TrainError;
use serde::{Deserialize, Serialize};

/// Where the density lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SupportMap {
    /// u = x: the components' box is the support; the density is 0 outside it.
    Box,
    /// All of R^n: x_i = centre_i + scale_i ln(u_i / (1 - u_i)) from u in (0, 1)^n
    /// (finn-core's `RealSpace`), abs det = prod scale_i / (u_i (1 - u_i)).
    RealSpace {
        /// Per-axis centre.
        centre: Vec<f64>,
        /// Per-axis scale, > 0.
        scale: Vec<f64>,
    },
    /// An annular sector in 2-D (finn-core's area-preserving `Polar`: disk, annulus, sector):
    /// r = sqrt(inner^2 + u_1 (outer^2 - inner^2)), theta = start + span u_2, constant
    /// abs det = span (outer^2 - inner^2) / 2. A full turn (span = 2 pi) makes u_2 periodic.
    Polar {
        /// The centre (2 entries).
        centre: Vec<f64>,
        /// Inner radius, >= 0 (0: a disk or a sector).
        inner: f64,
        /// Outer radius, > inner.
        outer: f64,
        /// Start angle, radians.
        start: f64,
        /// Angle spanned, radians, in (0, 2 pi].
        span: f64,
    },
    /// The ball of radius `radius` in 3-D (finn-core's volume-preserving `Ball`): constant
    /// abs det = 4 pi R^3 / 3, u_3 periodic.
    Ball {
        /// The centre (3 entries).
        centre: Vec<f64>,
        /// The radius, > 0.
        radius: f64,
    },
    /// The standard simplex x_i >= 0, sum x_i <= 1 (finn-core's `Simplex`, stick-breaking):
    /// constant abs det = 1 / n!.
    Simplex,
}

/// Runs `$body` with `$s` bound to finn-core's `Simplex<f64, N>` for the runtime dimension
/// `$n` (1..=8), else evaluates `$none`.
macro_rules! with_simplex {
    ($n:expr, $s:ident, $body:expr, $none:expr) => {
        match $n {
            1 => with_simplex!(@ 1, $s, $body),
            2 => with_simplex!(@ 2, $s, $body),
            3 => with_simplex!(@ 3, $s, $body),
            4 => with_simplex!(@ 4, $s, $body),
            5 => with_simplex!(@ 5, $s, $body),
            6 => with_simplex!(@ 6, $s, $body),
            7 => with_simplex!(@ 7, $s, $body),
            8 => with_simplex!(@ 8, $s, $body),
            _ => $none,
        }
    };
    (@ $k:literal, $s:ident, $body:expr) => {{
        let $s = finn_core::Simplex::<f64, $k>::new();
        $body
    }};
}

fn arr<const N: usize>(v: &[f64]) -> Option<[f64; N]> {
    (v.len() == N).then(|| core::array::from_fn(|i| v[i]))
}

impl SupportMap {
    /// Whether every axis-aligned x-box is the image of a u-box (box and real-space maps), so
    /// that [`DensityModel::box_probability`] is exact.
    ///
    /// [`DensityModel::box_probability`]: super::composite::DensityModel::box_probability
    ///
    /// ```
    /// use finn_train::density::composite::SupportMap;
    /// assert!(SupportMap::Box.exact_boxes() && !SupportMap::Simplex.exact_boxes());
    /// ```
    pub fn exact_boxes(&self) -> bool {
        matches!(self, SupportMap::Box | SupportMap::RealSpace { .. })
    }

    /// The axis of u that is periodic in x (glued faces u = 0 and u = 1), if any: u_2 of a
    /// full-turn polar map, u_3 of a ball.
    ///
    /// ```
    /// use finn_train::density::composite::SupportMap;
    /// let disk = SupportMap::Polar { centre: vec![0.0, 0.0], inner: 0.0, outer: 1.0, start: 0.0, span: std::f64::consts::TAU };
    /// assert_eq!(disk.periodic_axis(), Some(1));
    /// assert_eq!(SupportMap::Simplex.periodic_axis(), None);
    /// ```
    pub fn periodic_axis(&self) -> Option<usize> {
        use finn_core::DomainMap;
        match self {
            SupportMap::Polar { .. } => self.polar().ok()?.periodic_axis(),
            SupportMap::Ball { .. } => Some(2),
            _ => None,
        }
    }

    /// A short description (report and run output).
    pub fn describe(&self) -> String {
        match self {
            SupportMap::Box => "box".into(),
            SupportMap::RealSpace { .. } => "all of R^n".into(),
            SupportMap::Polar {
                centre,
                inner,
                outer,
                start,
                span,
            } => format!(
                "polar (annular sector) centre {centre:?}, radii {inner} to {outer}, angles \
                 {:.4} to {:.4} degrees",
                start.to_degrees(),
                (start + span).to_degrees()
            ),
            SupportMap::Ball { centre, radius } => {
                format!("ball centre {centre:?}, radius {radius}")
            }
            SupportMap::Simplex => "the standard simplex x_i >= 0, sum x_i <= 1".into(),
        }
    }

    fn polar(&self) -> Result<finn_core::Polar<f64>, TrainError> {
        let bad = |m: &str| TrainError::Data(format!("density model: polar map: {m}"));
        let SupportMap::Polar {
            centre,
            inner,
            outer,
            start,
            span,
        } = self
        else {
            return Err(bad("not a polar map"));
        };
        let c = arr::<2>(centre).ok_or_else(|| bad("the centre needs 2 entries"))?;
        finn_core::Polar::annular_sector(c, *inner, *outer, *start, *span).map_err(|e| {
            bad(&format!(
                "{e} (need finite values, 0 <= inner < outer, span in (0, 2 pi])"
            ))
        })
    }

    fn ball(&self) -> Result<finn_core::Ball<f64>, TrainError> {
        let bad = |m: &str| TrainError::Data(format!("density model: ball map: {m}"));
        let SupportMap::Ball { centre, radius } = self else {
            return Err(bad("not a ball map"));
        };
        let c = arr::<3>(centre).ok_or_else(|| bad("the centre needs 3 entries"))?;
        finn_core::Ball::new(c, *radius)
            .map_err(|e| bad(&format!("{e} (need a finite centre and radius > 0)")))
    }

    /// Checks the map's parameters for `n` coordinates (polar maps need n = 2, balls n = 3,
    /// the simplex 1..=8).
    pub fn check(&self, n: usize) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Data(format!("density model: {m}")));
        match self {
            SupportMap::Box | SupportMap::RealSpace { .. } => Ok(()),
            SupportMap::Polar { .. } if n != 2 => bad(format!("a polar map needs n = 2, not {n}")),
            SupportMap::Polar { .. } => self.polar().map(|_| ()),
            SupportMap::Ball { .. } if n != 3 => bad(format!("a ball needs n = 3, not {n}")),
            SupportMap::Ball { .. } => self.ball().map(|_| ()),
            SupportMap::Simplex if !(1..=8).contains(&n) => {
                bad(format!("a simplex has 1..=8 coordinates, not {n}"))
            }
            SupportMap::Simplex => Ok(()),
        }
    }

    /// For the maps onto bounded domains (polar, ball, simplex): u = r^-1(x) in [0, 1]^n and
    /// ln abs det dr/du (a constant), `None` outside the domain or for the other maps.
    ///
    /// ```
    /// use finn_train::density::composite::SupportMap;
    /// let (u, log_det) = SupportMap::Simplex.domain_to_u(&[0.25, 0.25]).unwrap();
    /// assert!(u.iter().all(|v| (0.0..=1.0).contains(v)));
    /// assert!((log_det - 0.5f64.ln()).abs() < 1e-15); // abs det = 1 / 2!
    /// assert!(SupportMap::Simplex.domain_to_u(&[0.75, 0.5]).is_none());
    /// ```
    pub fn domain_to_u(&self, x: &[f64]) -> Option<(Vec<f64>, f64)> {
        use finn_core::DomainMap;
        match self {
            SupportMap::Box | SupportMap::RealSpace { .. } => None,
            SupportMap::Polar { .. } => {
                let m = self.polar().ok()?;
                let u = m.inverse(&arr::<2>(x)?)?;
                Some((u.to_vec(), m.log_jacobian(&u)))
            }
            SupportMap::Ball { .. } => {
                let m = self.ball().ok()?;
                let u = m.inverse(&arr::<3>(x)?)?;
                Some((u.to_vec(), m.log_jacobian(&u)))
            }
            SupportMap::Simplex => with_simplex!(
                x.len(),
                s,
                {
                    let u = s.inverse(&arr(x)?)?;
                    Some((u.to_vec(), s.log_jacobian(&u)))
                },
                None
            ),
        }
    }

    /// For the maps onto bounded domains: x = r(u) (u clamped into [0, 1]^n); `None` for the
    /// box and real-space maps (see [`DensityModel::from_u`]) or a wrong length.
    ///
    /// [`DensityModel::from_u`]: super::composite::DensityModel::from_u
    pub fn domain_from_u(&self, u: &[f64]) -> Option<Vec<f64>> {
        use finn_core::DomainMap;
        match self {
            SupportMap::Box | SupportMap::RealSpace { .. } => None,
            SupportMap::Polar { .. } => Some(self.polar().ok()?.forward(&arr::<2>(u)?).to_vec()),
            SupportMap::Ball { .. } => Some(self.ball().ok()?.forward(&arr::<3>(u)?).to_vec()),
            SupportMap::Simplex => {
                with_simplex!(u.len(), s, Some(s.forward(&arr(u)?).to_vec()), None)
            }
        }
    }

    /// For the maps onto bounded domains: x moved into the domain (the nearest radius and
    /// angle of a polar map, the radius of a ball, negative coordinates to 0 and then the
    /// sum scaled down to 1 for the simplex), and whether it moved. Points already inside stay
    /// as they are; `None` for the box and real-space maps and non-finite x.
    ///
    /// ```
    /// use finn_train::density::composite::SupportMap;
    /// let disk = SupportMap::Polar { centre: vec![0.0, 0.0], inner: 0.0, outer: 1.0, start: 0.0, span: std::f64::consts::TAU };
    /// let (x, moved) = disk.clip(&[2.0, 0.0]).unwrap();
    /// assert!(moved && disk.domain_to_u(&x).is_some());
    /// assert_eq!(disk.clip(&[0.5, 0.0]), Some((vec![0.5, 0.0], false)));
    /// ```
    pub fn clip(&self, x: &[f64]) -> Option<(Vec<f64>, bool)> {
        if x.iter().any(|v| !v.is_finite()) || self.exact_boxes() {
            return None;
        }
        if self.domain_to_u(x).is_some() {
            return Some((x.to_vec(), false));
        }
        let moved = match self {
            SupportMap::Polar {
                centre,
                inner,
                outer,
                start,
                span,
            } => {
                let (dx, dy) = (x[0] - centre[0], x[1] - centre[1]);
                let rho = dx.hypot(dy).clamp(*inner, *outer);
                let tau = std::f64::consts::TAU;
                let mut rel = dy.atan2(dx) - start;
                rel -= tau * (rel / tau).floor();
                if rel > *span {
                    // Nearer to the end angle or (going round) to the start angle.
                    rel = if rel - span < tau - rel { *span } else { 0.0 };
                }
                let u = [
                    (rho * rho - inner * inner) / (outer * outer - inner * inner),
                    rel / span,
                ];
                self.domain_from_u(&u.map(|v| v.clamp(0.0, 1.0)))?
            }
            SupportMap::Ball { centre, radius } => {
                let d: Vec<f64> = x.iter().zip(centre).map(|(a, c)| a - c).collect();
                let rho = d.iter().map(|v| v * v).sum::<f64>().sqrt();
                // Slightly inside, so that rounding cannot leave it out.
                let k = radius * (1.0 - 1e-12) / rho;
                d.iter().zip(centre).map(|(v, c)| c + v * k).collect()
            }
            SupportMap::Simplex => {
                let mut y: Vec<f64> = x.iter().map(|v| v.max(0.0)).collect();
                let total: f64 = y.iter().sum();
                if total > 1.0 {
                    let k = (1.0 - 1e-12) / total;
                    y.iter_mut().for_each(|v| *v *= k);
                }
                y
            }
            SupportMap::Box | SupportMap::RealSpace { .. } => return None,
        };
        // Through u and back, so that the moved point is inside up to the map's rounding.
        let u = self.domain_to_u(&moved).map(|(u, _)| u)?;
        Some((self.domain_from_u(&u)?, true))
    }
}

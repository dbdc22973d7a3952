//! Arbitrary domains by u-substitution (paper §3.2, math.md §10).
//!
//! A [`DomainMap`] is a bijection x = r(u) from the unit box [0, 1]^N onto a domain in x.
//! A model is learned in u, where boxes (and so exact integrals) live; in x its density is
//!
//! ```text
//! p_x(x) = p_u(u) / |det dr/du(u)|,   u = r^-1(x)
//! ```
//!
//! and the probability of the image r(B) of a u-box B is exactly the u-model's probability
//! of B ([`MappedDensity::image_probability`]). Built-in maps: [`AffineBox`], [`Polar`]
//! (disk, annulus, sector, annular sector), [`Ball`], [`Simplex`] and [`RealSpace`] (all of
//! R^N). Users add their own by implementing the trait.
//!
//! # Two traps
//!
//! * **A vanishing Jacobian.** Plain polar coordinates r = u_1 have |det| = r, so
//!   p_x = p_u / r is infinite at the centre unless p_u vanishes there. The built-ins are
//!   area-preserving wherever possible (disk: r = R sqrt(u_1), theta = 2 pi u_2, |det| = pi R^2
//!   everywhere; ball: r = R u_1^(1/3), cos(phi) = 1 - 2 u_2; simplex: the inverse-CDF
//!   (stick-breaking) map, |det| = 1/N!), so the x-density is as bounded as the u-density.
//!   For a user map, [`MappedDensity::pdf`] returns `Overflow` (never infinity or NaN) where
//!   |det| = 0 and p_u > 0.
//! * **The seam of a periodic coordinate.** theta = 2 pi u_2 glues the faces u_2 = 0 and
//!   u_2 = 1 together in x, but the network knows nothing of it: F at the two faces is
//!   unrelated, so the x-density can jump across theta = 0. [`MappedDensity::seam_jump`]
//!   measures the jump at a point of the seam and [`MappedDensity::max_seam_jump`] over a
//!   grid of it (a training loss can penalise either). Faces that collapse to a point (the
//!   centre of a disk, u_1 = 0; the poles of a ball) are seams of the same kind: the x-density
//!   there is single-valued only if p_u is constant along the collapsed face; the inverse
//!   picks u_2 = 0 (disk centre) or u_3 = 0 (ball poles).

use crate::density::Density;
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks};
use crate::{Error, Real};

/// The elementary functions the built-in maps need beyond [`Real`] (from `libm`), for `f32`
/// and `f64`.
///
/// ```
/// use finn_core::MapReal;
/// assert!((MapReal::atan2(1.0f64, 1.0) - core::f64::consts::FRAC_PI_4).abs() < 1e-15);
/// ```
pub trait MapReal: Real {
    /// sin(self).
    fn sin(self) -> Self;
    /// cos(self).
    fn cos(self) -> Self;
    /// The angle of the point (x, self) in (-pi, pi].
    fn atan2(self, x: Self) -> Self;
    /// The real cube root.
    fn cbrt(self) -> Self;
    /// ln(1 + self), accurate near 0.
    fn ln_1p(self) -> Self;
    /// The largest integer <= self.
    fn floor(self) -> Self;
}

macro_rules! impl_map_real {
    ($t:ty, $sin:path, $cos:path, $atan2:path, $cbrt:path, $log1p:path, $floor:path) => {
        impl MapReal for $t {
            fn sin(self) -> Self {
                $sin(self)
            }
            fn cos(self) -> Self {
                $cos(self)
            }
            fn atan2(self, x: Self) -> Self {
                $atan2(self, x)
            }
            fn cbrt(self) -> Self {
                $cbrt(self)
            }
            fn ln_1p(self) -> Self {
                $log1p(self)
            }
            fn floor(self) -> Self {
                $floor(self)
            }
        }
    };
}
impl_map_real!(
    f64,
    libm::sin,
    libm::cos,
    libm::atan2,
    libm::cbrt,
    libm::log1p,
    libm::floor
);
impl_map_real!(
    f32,
    libm::sinf,
    libm::cosf,
    libm::atan2f,
    libm::cbrtf,
    libm::log1pf,
    libm::floorf
);

/// A bijection x = r(u) from the unit box [0, 1]^N onto a domain, with its inverse and the
/// absolute Jacobian determinant.
///
/// Contract: `forward` is defined on the closed unit box and returns finite points of the
/// domain; `inverse(forward(u))` gives back u (up to rounding, and up to the seams and
/// collapsed faces of the module docs); `inverse(x)` is `None` exactly when x is outside the
/// domain (points within a few ulps of its boundary count as inside); `jacobian(u)` >= 0.
///
/// ```
/// use finn_core::{DomainMap, Error};
/// /// x = 2u: the box [0, 2].
/// struct Double;
/// impl DomainMap<f64, 1> for Double {
///     fn forward(&self, u: &[f64; 1]) -> [f64; 1] { [2.0 * u[0]] }
///     fn inverse(&self, x: &[f64; 1]) -> Option<[f64; 1]> {
///         (0.0..=2.0).contains(&x[0]).then(|| [x[0] / 2.0])
///     }
///     fn jacobian(&self, _u: &[f64; 1]) -> f64 { 2.0 }
/// }
/// assert_eq!(Double.inverse(&Double.forward(&[0.3])), Some([0.3]));
/// assert_eq!(Double.log_jacobian(&[0.3]), 2.0f64.ln());
/// assert_eq!(Double.periodic_axis(), None);
/// ```
pub trait DomainMap<T: Real, const N: usize> {
    /// x = r(u) for u in [0, 1]^N.
    fn forward(&self, u: &[T; N]) -> [T; N];
    /// u = r^-1(x) in [0, 1]^N, or `None` when x is not in the domain.
    fn inverse(&self, x: &[T; N]) -> Option<[T; N]>;
    /// |det dr/du| at u.
    fn jacobian(&self, u: &[T; N]) -> T;
    /// ln |det dr/du| at u (override where the determinant itself over- or underflows).
    fn log_jacobian(&self, u: &[T; N]) -> T {
        self.jacobian(u).ln()
    }
    /// The axis of u that is periodic in x (its faces u = 0 and u = 1 are glued), if any.
    fn periodic_axis(&self) -> Option<usize> {
        None
    }
}

/// 2 pi.
const TAU: f64 = core::f64::consts::TAU;

/// `Some(v)` clamped into [0, 1] when v is within `slack` of it, else `None`.
fn unit<T: Real>(v: T, slack: T) -> Option<T> {
    if v.is_nan() || v < -slack || v > T::ONE + slack {
        None
    } else {
        Some(v.max(T::ZERO).min(T::ONE))
    }
}

/// The affine box x_i = lower_i + u_i (upper_i - lower_i), |det| = the box's volume.
///
/// ```
/// use finn_core::{AffineBox, DomainMap};
/// let m = AffineBox::new([-1.0f64, 0.0], [1.0, 4.0]).unwrap();
/// assert_eq!(m.forward(&[0.5, 0.25]), [0.0, 1.0]);
/// assert_eq!(m.jacobian(&[0.1, 0.9]), 8.0);
/// assert_eq!(m.inverse(&[2.0, 1.0]), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineBox<T: Real, const N: usize> {
    lower: [T; N],
    upper: [T; N],
}

impl<T: Real, const N: usize> AffineBox<T, N> {
    /// The map onto [lower, upper]. Errors as for [`crate::Domain::new`].
    pub fn new(lower: [T; N], upper: [T; N]) -> Result<Self, Error> {
        crate::Domain::new(lower, upper)?;
        Ok(AffineBox { lower, upper })
    }
}

impl<T: Real, const N: usize> DomainMap<T, N> for AffineBox<T, N> {
    fn forward(&self, u: &[T; N]) -> [T; N] {
        core::array::from_fn(|i| {
            let x = self.lower[i] + u[i] * (self.upper[i] - self.lower[i]);
            x.max(self.lower[i]).min(self.upper[i])
        })
    }
    fn inverse(&self, x: &[T; N]) -> Option<[T; N]> {
        let mut u = [T::ZERO; N];
        for i in 0..N {
            if !(x[i] >= self.lower[i] && x[i] <= self.upper[i]) {
                return None;
            }
            u[i] = unit(
                (x[i] - self.lower[i]) / (self.upper[i] - self.lower[i]),
                T::ZERO,
            )?;
        }
        Some(u)
    }
    fn jacobian(&self, _u: &[T; N]) -> T {
        crate::domain::box_volume(&self.lower, &self.upper)
    }
}

/// Area-preserving polar coordinates in 2-D: an annular sector with radii r_0 <= r_1 and
/// angles [start, start + span], span in (0, 2 pi]:
///
/// ```text
/// r = sqrt(r_0^2 + u_1 (r_1^2 - r_0^2)),  theta = start + span u_2,
/// x = centre + r (cos theta, sin theta),  |det| = span (r_1^2 - r_0^2) / 2 (constant).
/// ```
///
/// A full turn (span = 2 pi: disk, annulus) makes u_2 periodic (the seam at theta = start).
///
/// ```
/// use finn_core::{DomainMap, Polar};
/// let disk = Polar::disk([0.0f64, 0.0], 2.0).unwrap();
/// assert!((disk.jacobian(&[0.3, 0.6]) - 4.0 * core::f64::consts::PI).abs() < 1e-14);
/// let x = disk.forward(&[0.25, 0.25]); // r = 1, theta = pi/2
/// assert!(x[0].abs() < 1e-15 && (x[1] - 1.0).abs() < 1e-15);
/// assert_eq!(disk.inverse(&[2.1, 0.0]), None);
/// assert_eq!(disk.periodic_axis(), Some(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Polar<T: Real> {
    centre: [T; 2],
    r0_sq: T,
    r1_sq: T,
    start: T,
    span: T,
    full: bool,
}

impl<T: MapReal> Polar<T> {
    /// The annular sector of the type's docs.
    ///
    /// Errors: `NonFiniteInput` (a non-finite parameter), `EmptyInterval { axis: 0 }`
    /// (not 0 <= r_0 < r_1), `EmptyInterval { axis: 1 }` (span not in (0, 2 pi]).
    pub fn annular_sector(
        centre: [T; 2],
        inner: T,
        outer: T,
        start: T,
        span: T,
    ) -> Result<Self, Error> {
        if [centre[0], centre[1], inner, outer, start, span]
            .iter()
            .any(|v| !v.is_finite())
        {
            return Err(Error::NonFiniteInput);
        }
        if !(inner >= T::ZERO && inner < outer && (outer * outer).is_finite()) {
            return Err(Error::EmptyInterval { axis: 0 });
        }
        let tau = T::from_f64(TAU);
        if !(span > T::ZERO && span <= tau * (T::ONE + T::from_f64(4.0) * T::EPSILON)) {
            return Err(Error::EmptyInterval { axis: 1 });
        }
        let full = span >= tau * (T::ONE - T::from_f64(4.0) * T::EPSILON);
        // Reduce the start angle to [0, 2 pi).
        let start = start - tau * (start / tau).floor();
        Ok(Polar {
            centre,
            r0_sq: inner * inner,
            r1_sq: outer * outer,
            start,
            span: if full { tau } else { span },
            full,
        })
    }

    /// The disk of radius `radius`: r = radius sqrt(u_1), theta = 2 pi u_2, |det| = pi R^2.
    /// Errors as for [`Polar::annular_sector`].
    pub fn disk(centre: [T; 2], radius: T) -> Result<Self, Error> {
        Self::annular_sector(centre, T::ZERO, radius, T::ZERO, T::from_f64(TAU))
    }

    /// The annulus inner <= r <= outer. Errors as for [`Polar::annular_sector`].
    pub fn annulus(centre: [T; 2], inner: T, outer: T) -> Result<Self, Error> {
        Self::annular_sector(centre, inner, outer, T::ZERO, T::from_f64(TAU))
    }

    /// The sector of a disk between the angles start and start + span.
    /// Errors as for [`Polar::annular_sector`].
    pub fn sector(centre: [T; 2], radius: T, start: T, span: T) -> Result<Self, Error> {
        Self::annular_sector(centre, T::ZERO, radius, start, span)
    }
}

impl<T: MapReal> DomainMap<T, 2> for Polar<T> {
    fn forward(&self, u: &[T; 2]) -> [T; 2] {
        let u0 = u[0].max(T::ZERO).min(T::ONE);
        let r = (self.r0_sq + u0 * (self.r1_sq - self.r0_sq)).sqrt();
        let theta = self.start + self.span * u[1].max(T::ZERO).min(T::ONE);
        [
            self.centre[0] + r * theta.cos(),
            self.centre[1] + r * theta.sin(),
        ]
    }
    fn inverse(&self, x: &[T; 2]) -> Option<[T; 2]> {
        let (dx, dy) = (x[0] - self.centre[0], x[1] - self.centre[1]);
        let rho_sq = dx * dx + dy * dy;
        let eps8 = T::from_f64(8.0) * T::EPSILON;
        let u0 = unit(
            (rho_sq - self.r0_sq) / (self.r1_sq - self.r0_sq),
            eps8 * self.r1_sq / (self.r1_sq - self.r0_sq),
        )?;
        if rho_sq == T::ZERO {
            // The centre of a disk or sector: every angle maps here; the inverse picks 0.
            return Some([u0, T::ZERO]);
        }
        let tau = T::from_f64(TAU);
        let mut rel = dy.atan2(dx) - self.start;
        rel -= tau * (rel / tau).floor();
        if !self.full && rel > self.span {
            // Within rounding of the end angle, or of the start angle from below.
            if rel <= self.span * (T::ONE + eps8) {
                return Some([u0, T::ONE]);
            }
            if rel >= tau * (T::ONE - eps8) {
                return Some([u0, T::ZERO]);
            }
            return None;
        }
        let u1 = (rel / self.span).max(T::ZERO);
        // A full turn: u_2 in [0, 1) (the seam belongs to u_2 = 0).
        let u1 = if self.full && u1 >= T::ONE {
            T::ZERO
        } else {
            u1.min(T::ONE)
        };
        Some([u0, u1])
    }
    fn jacobian(&self, _u: &[T; 2]) -> T {
        self.span * (self.r1_sq - self.r0_sq) * T::from_f64(0.5)
    }
    fn periodic_axis(&self) -> Option<usize> {
        self.full.then_some(1)
    }
}

/// The ball of radius R in 3-D, volume-preserving:
/// r = R u_1^(1/3), cos(phi) = 1 - 2 u_2, theta = 2 pi u_3, |det| = 4 pi R^3 / 3.
/// u_3 is periodic.
///
/// ```
/// use finn_core::{Ball, DomainMap};
/// let b = Ball::new([0.0f64; 3], 1.0).unwrap();
/// let x = b.forward(&[0.125, 0.5, 0.0]); // r = 1/2 on the equator, theta = 0
/// assert!((x[0] - 0.5).abs() < 1e-15 && x[2].abs() < 1e-15);
/// let u = b.inverse(&x).unwrap();
/// assert!((u[0] - 0.125).abs() < 1e-15 && (u[1] - 0.5).abs() < 1e-15);
/// assert!((b.jacobian(&u) - 4.0 * core::f64::consts::PI / 3.0).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ball<T: Real> {
    centre: [T; 3],
    radius: T,
}

impl<T: MapReal> Ball<T> {
    /// Errors: `NonFiniteInput` (non-finite parameters), `EmptyInterval { axis: 0 }`
    /// (radius <= 0).
    pub fn new(centre: [T; 3], radius: T) -> Result<Self, Error> {
        if centre.iter().chain([&radius]).any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        if !(radius > T::ZERO && (radius * radius * radius).is_finite()) {
            return Err(Error::EmptyInterval { axis: 0 });
        }
        Ok(Ball { centre, radius })
    }
}

impl<T: MapReal> DomainMap<T, 3> for Ball<T> {
    fn forward(&self, u: &[T; 3]) -> [T; 3] {
        let c = |v: T| v.max(T::ZERO).min(T::ONE);
        let r = self.radius * c(u[0]).cbrt();
        let u1 = c(u[1]);
        let two = T::from_f64(2.0);
        let cos_phi = T::ONE - two * u1;
        let sin_phi = two * (u1 * (T::ONE - u1)).sqrt();
        let theta = T::from_f64(TAU) * c(u[2]);
        [
            self.centre[0] + r * sin_phi * theta.cos(),
            self.centre[1] + r * sin_phi * theta.sin(),
            self.centre[2] + r * cos_phi,
        ]
    }
    fn inverse(&self, x: &[T; 3]) -> Option<[T; 3]> {
        let d: [T; 3] = core::array::from_fn(|i| x[i] - self.centre[i]);
        let rho = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        let q = rho / self.radius;
        let u0 = unit(q * q * q, T::from_f64(16.0) * T::EPSILON)?;
        let half = T::from_f64(0.5);
        let u1 = if rho > T::ZERO {
            ((T::ONE - d[2] / rho) * half).max(T::ZERO).min(T::ONE)
        } else {
            half
        };
        let tau = T::from_f64(TAU);
        let mut theta = d[1].atan2(d[0]);
        if theta < T::ZERO {
            theta += tau;
        }
        let u2 = theta / tau;
        let u2 = if u2 >= T::ONE {
            T::ZERO
        } else {
            u2.max(T::ZERO)
        };
        Some([u0, u1, u2])
    }
    fn jacobian(&self, _u: &[T; 3]) -> T {
        T::from_f64(2.0 * TAU / 3.0) * self.radius * self.radius * self.radius
    }
    fn periodic_axis(&self) -> Option<usize> {
        Some(2)
    }
}

/// The standard simplex {x : x_i >= 0, sum x_i <= 1} in R^N, by the inverse CDF of its
/// uniform distribution (stick-breaking): with m = N - k and R_k = 1 - (x_0 + ... + x_(k-1)),
///
/// ```text
/// x_k = R_k (1 - (1 - u_k)^(1/m)),   |det| = 1 / N! (constant).
/// ```
///
/// ```
/// use finn_core::{DomainMap, Simplex};
/// let s = Simplex::<f64, 3>::new();
/// let x = s.forward(&[0.3, 0.6, 0.9]);
/// assert!(x.iter().all(|v| *v >= 0.0) && x.iter().sum::<f64>() <= 1.0);
/// let u = s.inverse(&x).unwrap();
/// assert!((u[1] - 0.6).abs() < 1e-14);
/// assert!((s.jacobian(&u) - 1.0 / 6.0).abs() < 1e-16);
/// assert_eq!(s.inverse(&[0.5, 0.5, 0.5]), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Simplex<T: Real, const N: usize> {
    _t: core::marker::PhantomData<T>,
}

impl<T: MapReal, const N: usize> Simplex<T, N> {
    /// The map onto the standard simplex of dimension N.
    pub fn new() -> Self {
        Simplex {
            _t: core::marker::PhantomData,
        }
    }
}

impl<T: MapReal, const N: usize> DomainMap<T, N> for Simplex<T, N> {
    fn forward(&self, u: &[T; N]) -> [T; N] {
        let mut x = [T::ZERO; N];
        let mut rest = T::ONE;
        for k in 0..N {
            let m = T::from_usize(N - k);
            let uk = u[k].max(T::ZERO).min(T::ONE);
            // 1 - (1 - u)^(1/m) = -expm1(ln(1 - u) / m), accurate for small u too.
            let keep = if uk >= T::ONE {
                T::ZERO
            } else {
                ((-uk).ln_1p() / m).exp()
            };
            let take = if uk >= T::ONE {
                T::ONE
            } else {
                -((-uk).ln_1p() / m).exp_m1()
            };
            x[k] = rest * take;
            rest = (rest * keep).max(T::ZERO);
        }
        x
    }
    fn inverse(&self, x: &[T; N]) -> Option<[T; N]> {
        let slack = T::from_f64(8.0 * N as f64) * T::EPSILON;
        let mut total = T::ZERO;
        for v in x {
            if v.is_nan() || *v < -slack {
                return None;
            }
            total += v.max(T::ZERO);
        }
        if total > T::ONE + slack {
            return None;
        }
        let mut u = [T::ZERO; N];
        let mut rest = T::ONE;
        for k in 0..N {
            let m = T::from_usize(N - k);
            let xk = x[k].max(T::ZERO);
            if rest <= T::ZERO {
                break;
            }
            let frac = (xk / rest).min(T::ONE);
            // u = 1 - (1 - frac)^m = -expm1(m ln(1 - frac)).
            u[k] = if frac >= T::ONE {
                T::ONE
            } else {
                (-(m * (-frac).ln_1p()).exp_m1()).max(T::ZERO).min(T::ONE)
            };
            rest = (rest - xk).max(T::ZERO);
        }
        Some(u)
    }
    fn jacobian(&self, _u: &[T; N]) -> T {
        let mut f = T::ONE;
        for k in 2..=N {
            f *= T::from_usize(k);
        }
        T::ONE / f
    }
}

/// All of R^N, one logistic bijection per axis: x_i = centre_i + scale_i ln(u_i / (1 - u_i)),
/// |det| = prod_i scale_i / (u_i (1 - u_i)).
///
/// Tails: p_x(x) = p_u(u) prod_i u_i (1 - u_i) / scale_i, and u (1 - u) <= e^-|t| with
/// t = (x - centre) / scale, so the x-density decays at least like the logistic
/// distribution's, e^-|t| per axis, times p_u near the faces of the unit box (which the
/// network makes bounded): heavier tails than exponential cannot be represented; pick the
/// scale to cover the data. `forward` clamps u into [MIN_POSITIVE, 1 - u_T/2] (u_T the unit
/// roundoff), so samples reach t in [-708, 36.7] in f64 and [-87, 16.6] in f32 (the upper
/// side is limited by the spacing of floats below 1). [`DomainMap::inverse`] is accurate
/// to a few ulps of u over the same range; beyond it the density is reported as 0 (its
/// logarithm as -inf) rather than extrapolated.
///
/// ```
/// use finn_core::{DomainMap, RealSpace};
/// let m = RealSpace::new([0.0f64], [1.0]).unwrap();
/// assert!(m.forward(&[0.5])[0].abs() < 1e-15);
/// let u = m.inverse(&[2.0]).unwrap();
/// assert!((u[0] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
/// assert!((m.forward(&u)[0] - 2.0).abs() < 1e-14);
/// assert!(m.forward(&[0.0])[0].is_finite());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RealSpace<T: Real, const N: usize> {
    centre: [T; N],
    scale: [T; N],
}

impl<T: MapReal, const N: usize> RealSpace<T, N> {
    /// Errors: `NonFiniteInput` (a non-finite parameter), `EmptyInterval { axis }`
    /// (scale <= 0 on that axis).
    pub fn new(centre: [T; N], scale: [T; N]) -> Result<Self, Error> {
        for i in 0..N {
            if !centre[i].is_finite() || !scale[i].is_finite() {
                return Err(Error::NonFiniteInput);
            }
            if !(scale[i] > T::ZERO && scale[i].is_finite()) {
                return Err(Error::EmptyInterval { axis: i });
            }
        }
        Ok(RealSpace { centre, scale })
    }

    /// The centre of each axis (x where u = 1/2).
    ///
    /// ```
    /// let m = finn_core::RealSpace::new([1.0f64], [2.0]).unwrap();
    /// assert_eq!((m.centre(), m.scale()), (&[1.0], &[2.0]));
    /// ```
    pub fn centre(&self) -> &[T; N] {
        &self.centre
    }

    /// The scale of each axis, > 0.
    pub fn scale(&self) -> &[T; N] {
        &self.scale
    }
}

impl<T: MapReal, const N: usize> DomainMap<T, N> for RealSpace<T, N> {
    fn forward(&self, u: &[T; N]) -> [T; N] {
        let top = T::ONE - T::EPSILON * T::from_f64(0.5);
        core::array::from_fn(|i| {
            let v = u[i].max(T::MIN_POSITIVE).min(top);
            self.centre[i] + self.scale[i] * (v.ln() - (T::ONE - v).ln())
        })
    }
    fn inverse(&self, x: &[T; N]) -> Option<[T; N]> {
        let mut u = [T::ZERO; N];
        for i in 0..N {
            if !x[i].is_finite() {
                return None;
            }
            let t = (x[i] - self.centre[i]) / self.scale[i];
            if t.is_nan() {
                return None;
            }
            // 1 / (1 + e^-t) without overflow on either side.
            let e = (-t.abs()).exp();
            let v = if t >= T::ZERO {
                T::ONE / (T::ONE + e)
            } else {
                e / (T::ONE + e)
            };
            u[i] = v;
        }
        Some(u)
    }
    fn jacobian(&self, u: &[T; N]) -> T {
        let mut d = T::ONE;
        for i in 0..N {
            d *= self.scale[i] / (u[i] * (T::ONE - u[i]));
        }
        d
    }
    fn log_jacobian(&self, u: &[T; N]) -> T {
        let mut l = T::ZERO;
        for i in 0..N {
            l += self.scale[i].ln() - u[i].ln() - (-u[i]).ln_1p();
        }
        l
    }
}

/// A [`Density`] learned in u, placed on a domain by a [`DomainMap`]:
/// p_x(x) = p_u(r^-1(x)) / |det dr/du|.
///
/// ```
/// use finn_core::{Bound, Constraint, Density, Domain, DomainMap, Finn, MappedDensity, Method, Network, Polar};
/// let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
/// let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
/// let unit_box = Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap();
/// let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
/// let p_u = Density::new(Finn::new(net, unit_box, Some(one)).unwrap()).unwrap();
/// let disk = Polar::disk([0.0, 0.0], 1.0).unwrap();
/// let p = MappedDensity::new(p_u, disk).unwrap();
/// assert_eq!(p.pdf(&[2.0, 0.0]).unwrap(), 0.0);
/// let x = p.sample(&[0.5, 0.5]).unwrap();
/// assert!(x[0] * x[0] + x[1] * x[1] <= 1.0);
/// // The inner half of the disk's area (r <= 1/sqrt 2) is the u-box [0, 1/2] x [0, 1].
/// let inner = p.image_probability(&[0.0, 0.0], &[0.5, 1.0]).unwrap();
/// assert!(inner > 0.0 && inner < 1.0);
/// ```
#[derive(Clone, Debug)]
pub struct MappedDensity<T: Real, M, const N: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    density: Density<T, N, W, L>,
    map: M,
}

impl<T, M, const N: usize, const W: usize, const L: usize> MappedDensity<T, M, N, W, L>
where
    T: Real,
    M: DomainMap<T, N>,
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Places `density` (in u) on the map's domain. Its support must lie inside the unit box
    /// [0, 1]^N, where maps are defined; a smaller support is a density on the image of that
    /// sub-box.
    ///
    /// Errors: `NotADensity` when the support leaves the unit box.
    ///
    /// ```
    /// use finn_core::{AffineBox, Bound, Constraint, Density, Domain, Error, Finn, MappedDensity, Method, Network};
    /// let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// let p = Density::new(Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let m = AffineBox::new([0.0], [1.0]).unwrap();
    /// assert_eq!(MappedDensity::new(p, m).unwrap_err(), Error::NotADensity);
    /// ```
    pub fn new(density: Density<T, N, W, L>, map: M) -> Result<Self, Error> {
        let s = density.support();
        if s.lower().iter().any(|a| *a < T::ZERO) || s.upper().iter().any(|b| *b > T::ONE) {
            return Err(Error::NotADensity);
        }
        Ok(MappedDensity { density, map })
    }

    /// The density in u.
    pub fn density(&self) -> &Density<T, N, W, L> {
        &self.density
    }

    /// The map.
    pub fn map(&self) -> &M {
        &self.map
    }

    /// u = r^-1(x) when x is in the image of the support, else `None`.
    fn u_of(&self, x: &[T; N]) -> Result<Option<[T; N]>, Error> {
        if x.iter().any(|v| v.is_nan()) {
            return Err(Error::NonFiniteInput);
        }
        Ok(self
            .map
            .inverse(x)
            .filter(|u| self.density.support().contains(u)))
    }

    /// The density at x: p_u(u) / |det dr/du(u)|, 0 outside the domain.
    ///
    /// Errors: `NonFiniteInput` (NaN), `Overflow` (a vanishing Jacobian under a positive
    /// u-density: the x-density is infinite there).
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, MappedDensity, Method, Network, Polar};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p_u = Density::new(Finn::new(net, Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let p = MappedDensity::new(p_u, Polar::disk([0.0, 0.0], 1.0).unwrap()).unwrap();
    /// let u = [0.25, 0.5];
    /// let x = [-0.5, 0.0]; // r = sqrt(u_1) = 0.5, theta = pi
    /// let expected = p.density().pdf(&u).unwrap() / core::f64::consts::PI;
    /// assert!((p.pdf(&x).unwrap() - expected).abs() < 1e-12);
    /// ```
    pub fn pdf(&self, x: &[T; N]) -> Result<T, Error> {
        let Some(u) = self.u_of(x)? else {
            return Ok(T::ZERO);
        };
        let p = self.density.pdf(&u)?;
        let j = self.map.jacobian(&u);
        if p == T::ZERO || j.is_nan() {
            return Ok(T::ZERO);
        }
        if j <= T::ZERO {
            return Err(Error::Overflow);
        }
        let v = p / j;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::Overflow)
        }
    }

    /// ln of the density at x: ln p_u(u) - ln |det|, -inf outside the domain (and where
    /// p_u = 0). Uses [`Density::log_pdf`] and [`DomainMap::log_jacobian`], so it stays finite
    /// where p_x underflows.
    ///
    /// Errors: as for [`MappedDensity::pdf`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, MappedDensity, Method, Network, RealSpace};
    /// # let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p_u = Density::new(Finn::new(net, Domain::new([0.0], [1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let p = MappedDensity::new(p_u, RealSpace::new([0.0], [1.0]).unwrap()).unwrap();
    /// let l = p.log_pdf(&[-600.0]).unwrap(); // p_x itself underflows here
    /// assert!(l.is_finite() && l < -590.0);
    /// assert!((p.log_pdf(&[0.3]).unwrap() - p.pdf(&[0.3]).unwrap().ln()).abs() < 1e-13);
    /// ```
    pub fn log_pdf(&self, x: &[T; N]) -> Result<T, Error> {
        let neg_inf = -(T::ONE / T::ZERO);
        let Some(u) = self.u_of(x)? else {
            return Ok(neg_inf);
        };
        let l = self.density.log_pdf(&u)?;
        if l == neg_inf {
            return Ok(neg_inf);
        }
        let lj = self.map.log_jacobian(&u);
        if lj.is_nan() || lj == neg_inf {
            return Err(Error::Overflow);
        }
        let v = l - lj;
        if v.is_nan() {
            Err(Error::Overflow)
        } else {
            Ok(v)
        }
    }

    /// The exact probability of the image r([lo, hi]) of a u-box: the u-density's
    /// [`Density::box_probability`].
    ///
    /// Errors as for [`Density::box_probability`].
    pub fn image_probability(&self, lo: &[T; N], hi: &[T; N]) -> Result<T, Error> {
        self.density.box_probability(lo, hi)
    }

    /// A sample in x: r of [`Density::sample`]'s u, so always in the domain (up to the
    /// rounding of `forward`, which [`DomainMap::inverse`] accepts).
    ///
    /// Errors as for [`Density::sample`].
    pub fn sample(&self, uniforms: &[T; N]) -> Result<[T; N], Error> {
        Ok(self.map.forward(&self.density.sample(uniforms)?))
    }

    /// The jump of the x-density across the periodic seam at the seam point given by `u`
    /// (its periodic coordinate is ignored): |p_u(u, u_p = 1) - p_u(u, u_p = 0)| / |det|, the
    /// difference of the two one-sided limits of p_x there. 0 when the map has no periodic
    /// axis. Training can add it (squared, over a grid of seam points) as a penalty.
    ///
    /// Errors: `NonFiniteInput` (NaN), `Overflow`.
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, MappedDensity, Method, Network, Polar};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p_u = Density::new(Finn::new(net, Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let p = MappedDensity::new(p_u, Polar::disk([0.0, 0.0], 1.0).unwrap()).unwrap();
    /// let jump = p.seam_jump(&[0.5, 0.0]).unwrap();
    /// let left = p.pdf(&[0.5f64.sqrt(), -1e-9]).unwrap(); // just below theta = 0
    /// let right = p.pdf(&[0.5f64.sqrt(), 1e-9]).unwrap();
    /// assert!(((left - right).abs() - jump).abs() < 1e-6);
    /// ```
    pub fn seam_jump(&self, u: &[T; N]) -> Result<T, Error> {
        let Some(p) = self.map.periodic_axis().filter(|p| *p < N) else {
            return Ok(T::ZERO);
        };
        let (mut lo, mut hi) = (*u, *u);
        lo[p] = T::ZERO;
        hi[p] = T::ONE;
        let d = (self.density.pdf(&hi)? - self.density.pdf(&lo)?).abs();
        let j = self.map.jacobian(u);
        if d == T::ZERO {
            return Ok(T::ZERO);
        }
        let v = d / j;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::Overflow)
        }
    }

    /// The largest [`MappedDensity::seam_jump`] over a grid of `steps` cell midpoints per
    /// non-periodic axis (steps^(N-1) points; `steps` is taken as at least 1, and lowered
    /// until the grid has at most 2^20 points), with the u where it occurs.
    ///
    /// Errors as for [`MappedDensity::seam_jump`].
    ///
    /// ```
    /// # use finn_core::{Bound, Constraint, Density, Domain, Finn, MappedDensity, Method, Network, Polar};
    /// # let params: Vec<f64> = (0..finn_core::parameter_count(2, &[4])).map(|i| (i as f64 * 0.7).sin()).collect();
    /// # let net = Network::<f64, 2, 4, 1>::positive(&[4], &params).unwrap();
    /// # let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// # let p_u = Density::new(Finn::new(net, Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap(), Some(one)).unwrap()).unwrap();
    /// let p = MappedDensity::new(p_u, Polar::disk([0.0, 0.0], 1.0).unwrap()).unwrap();
    /// let (max, at) = p.max_seam_jump(64).unwrap();
    /// assert!(max >= p.seam_jump(&[0.5, 0.0]).unwrap() * 0.9 && at[1] == 0.0);
    /// ```
    pub fn max_seam_jump(&self, steps: usize) -> Result<(T, [T; N]), Error> {
        let Some(p) = self.map.periodic_axis().filter(|p| *p < N) else {
            return Ok((T::ZERO, [T::ZERO; N]));
        };
        // The largest steps with steps^(N-1) <= 2^20, for N - 1 = 0..=7.
        const MAX_STEPS: [usize; 8] = [1, 1 << 20, 1024, 101, 32, 16, 10, 7];
        let steps = steps.clamp(1, MAX_STEPS[(N - 1).min(7)]);
        let count = steps.saturating_pow(N as u32 - 1);
        let mut best = (T::ZERO, [T::ZERO; N]);
        for index in 0..count {
            let mut rest = index;
            let mut u = [T::ZERO; N];
            for i in (0..N).filter(|i| *i != p) {
                let cell = rest % steps;
                rest /= steps;
                u[i] = (T::from_usize(cell) + T::from_f64(0.5)) / T::from_usize(steps);
            }
            let j = self.seam_jump(&u)?;
            if j > best.0 {
                best = (j, u);
            }
        }
        Ok(best)
    }
}

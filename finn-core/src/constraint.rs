//! Integral constraints (paper §3.1 and math.md §4): a network over a domain whose integral
//! is fixed (or bounded) by construction.
//!
//! * **Scale** (Eq. 5-11): F = s F' with s = eps / I', I' the unconstrained integral over the
//!   domain. Needs I' > 0, so it belongs to positive networks; it keeps f >= 0.
//! * **Shift**: F = F' + c prod_i (x_i - a_i), i.e. f = f' + c, with c = (eps - I') / vol(D).
//!   Works for any network and any sign of eps, and never divides by an integral.
//! * Inequalities: scale by min(1, eps/I') for `<=`, max(1, eps/I') for `>=`; shift by
//!   min(0, eps - I')/vol for `<=`, max(0, eps - I')/vol for `>=`.

use crate::domain::{box_volume, vertex_sum};
use crate::jet::{Dim, JetDim};
use crate::network::{Kind, Network};
use crate::{error::finite, Antiderivative, Domain, Error, Real};

/// Which relation the integral over the domain must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Bound {
    /// integral = eps.
    Equal,
    /// integral <= eps.
    AtMost,
    /// integral >= eps.
    AtLeast,
}

/// How the constraint is imposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// Multiply f by a constant (positive networks only).
    Scale,
    /// Add a constant to f (any network).
    Shift,
}

/// An integral constraint over a model's domain.
///
/// ```
/// use finn_core::{Bound, Constraint, Method};
/// let c = Constraint::new(Bound::Equal, Method::Scale, 1.0f64);
/// assert_eq!(c.eps, 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Constraint<T: Real> {
    /// The relation.
    pub bound: Bound,
    /// Scale or shift.
    pub method: Method,
    /// The target value of the integral.
    pub eps: T,
}

impl<T: Real> Constraint<T> {
    /// A constraint `integral (bound) eps`, imposed by `method`.
    pub fn new(bound: Bound, method: Method, eps: T) -> Self {
        Constraint { bound, method, eps }
    }

    /// The constants that impose this constraint on a network of `kind` whose unconstrained
    /// integral over the domain is `base`.
    ///
    /// Errors: `NonFiniteInput` (eps), `ScaleNeedsPositiveNetwork`, `NonPositiveEpsilon`
    /// (scale with eps <= 0), `DegenerateIntegral` (scale with base <= 0 or not finite; shift
    /// with base not finite).
    pub fn resolve(&self, kind: Kind, base: T) -> Result<Resolved<T>, Error> {
        if !self.eps.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        if !base.is_finite() {
            return Err(Error::DegenerateIntegral);
        }
        match self.method {
            Method::Scale => {
                if kind != Kind::Positive {
                    return Err(Error::ScaleNeedsPositiveNetwork);
                }
                if self.eps <= T::ZERO {
                    return Err(Error::NonPositiveEpsilon);
                }
                if base <= T::ZERO {
                    return Err(Error::DegenerateIntegral);
                }
                let s = self.eps / base;
                let s = match self.bound {
                    Bound::Equal => s,
                    Bound::AtMost => s.min(T::ONE),
                    Bound::AtLeast => s.max(T::ONE),
                };
                let scale = finite(s).map_err(|_| Error::DegenerateIntegral)?;
                Ok(Resolved::scaled(scale))
            }
            Method::Shift => {
                let (gap, gap_low) = two_sum(self.eps, -base);
                let keep = match self.bound {
                    Bound::Equal => true,
                    Bound::AtMost => gap <= T::ZERO,
                    Bound::AtLeast => gap >= T::ZERO,
                };
                if !gap.is_finite() {
                    return Err(Error::DegenerateIntegral);
                }
                Ok(if keep {
                    Resolved {
                        scale: T::ONE,
                        gap,
                        gap_low,
                    }
                } else {
                    Resolved::scaled(T::ONE)
                })
            }
        }
    }
}

/// The constants of a resolved constraint: F = scale F' + (gap / vol(D)) prod_i (x_i - a_i).
///
/// `gap` is the integral the shift adds over the domain, eps - I', kept as the exact
/// unevaluated sum `gap + gap_low` (Knuth's TwoSum), so that it cancels I' exactly: the
/// constrained integral over the domain is eps to about one ulp of eps in f32 as in f64, however
/// large I' is.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resolved<T: Real> {
    /// Factor on F' (1 for a shift).
    pub scale: T,
    /// Leading part of the shift's integral over the domain (0 for a scale).
    pub gap: T,
    /// Rounding error of `gap`.
    pub gap_low: T,
}

impl<T: Real> Resolved<T> {
    /// Constants of a pure scale.
    pub fn scaled(scale: T) -> Self {
        Resolved {
            scale,
            gap: T::ZERO,
            gap_low: T::ZERO,
        }
    }
}

/// a + b as hi + lo exactly (Knuth's TwoSum).
fn two_sum<T: Real>(a: T, b: T) -> (T, T) {
    let s = a + b;
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    (s, err)
}

/// A fixed-integral network: a [`Network`] F' over a [`Domain`], with an optional integral
/// constraint resolved into F = s F' + c prod_i (x_i - a_i).
///
/// ```
/// use finn_core::{Antiderivative, Bound, Constraint, Domain, Finn, Method, Network};
/// let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
/// let domain = Domain::new([0.0], [2.0]).unwrap();
/// let c = Constraint::new(Bound::Equal, Method::Scale, 1.0);
/// let model = Finn::new(net, domain, Some(c)).unwrap();
/// assert!((model.integral().unwrap() - 1.0).abs() < 1e-14);
/// ```
#[derive(Clone, Debug)]
pub struct Finn<T: Real, const N: usize, const W: usize, const L: usize> {
    network: Network<T, N, W, L>,
    domain: Domain<T, N>,
    constraint: Option<Constraint<T>>,
    constants: Resolved<T>,
    volume: T,
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Finn<T, N, W, L>
where
    Dim<N>: JetDim,
{
    /// Resolves `constraint` (if any) against the network's integral over `domain`,
    /// computed in `T`. For an f32 model, prefer computing the constants in f64 on the host
    /// and passing them to [`Finn::with_constants`]: the vertex sum cancels (math.md §3).
    pub fn new(
        network: Network<T, N, W, L>,
        domain: Domain<T, N>,
        constraint: Option<Constraint<T>>,
    ) -> Result<Self, Error> {
        let constants = match &constraint {
            None => Resolved::scaled(T::ONE),
            Some(c) => {
                let base = network
                    .integral_over(domain.lower(), domain.upper())
                    .map_err(|_| Error::DegenerateIntegral)?;
                c.resolve(network.kind(), base)?
            }
        };
        Self::with_constants(network, domain, constraint, constants)
    }

    /// A model with constants resolved elsewhere (for example in f64 on the host).
    ///
    /// Errors: `NonFiniteParameter` for non-finite constants, `ScaleNeedsPositiveNetwork`
    /// for a scale other than 1 on a signed network, `DegenerateIntegral` for scale <= 0.
    pub fn with_constants(
        network: Network<T, N, W, L>,
        domain: Domain<T, N>,
        constraint: Option<Constraint<T>>,
        constants: Resolved<T>,
    ) -> Result<Self, Error> {
        let Resolved {
            scale,
            gap,
            gap_low,
        } = constants;
        if !scale.is_finite() || !gap.is_finite() || !gap_low.is_finite() {
            return Err(Error::NonFiniteParameter);
        }
        if scale <= T::ZERO {
            return Err(Error::DegenerateIntegral);
        }
        if network.kind() == Kind::Signed && scale != T::ONE {
            return Err(Error::ScaleNeedsPositiveNetwork);
        }
        let volume = domain.volume();
        if !(volume > T::ZERO && volume.is_finite()) {
            return Err(Error::DegenerateIntegral);
        }
        Ok(Finn {
            network,
            domain,
            constraint,
            constants,
            volume,
        })
    }

    /// The unconstrained network F'.
    pub fn network(&self) -> &Network<T, N, W, L> {
        &self.network
    }

    /// The domain of the constraint.
    pub fn domain(&self) -> &Domain<T, N> {
        &self.domain
    }

    /// The constraint, if any.
    pub fn constraint(&self) -> Option<&Constraint<T>> {
        self.constraint.as_ref()
    }

    /// The resolved constants.
    pub fn constants(&self) -> Resolved<T> {
        self.constants
    }

    /// The shift c of f = s f' + c (0 without a shift).
    pub fn shift(&self) -> T {
        (self.constants.gap + self.constants.gap_low) / self.volume
    }

    /// The exact integral of f over the whole domain.
    pub fn integral(&self) -> Result<T, Error> {
        self.integral_over(self.domain.lower(), self.domain.upper())
    }
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Antiderivative<T> for Finn<T, N, W, L>
where
    Dim<N>: JetDim,
{
    fn dim(&self) -> usize {
        N
    }

    fn antiderivative(&self, x: &[T]) -> Result<T, Error> {
        let base = self.network.antiderivative(x)?;
        let mut poly = self.shift();
        for (xi, ai) in x.iter().zip(self.domain.lower()) {
            poly *= *xi - *ai;
        }
        finite(self.constants.scale * base + poly)
    }

    fn integrand(&self, x: &[T]) -> Result<T, Error> {
        finite(self.constants.scale * self.network.integrand(x)? + self.shift())
    }

    fn integral_over(&self, lower: &[T], upper: &[T]) -> Result<T, Error> {
        if lower.len() != N || upper.len() != N {
            return Err(Error::DimensionMismatch {
                expected: N,
                found: if lower.len() != N {
                    lower.len()
                } else {
                    upper.len()
                },
            });
        }
        // The polynomial part integrates in closed form: gap * vol(box) / vol(D), and the
        // ratio is exactly 1 on the domain itself, where gap cancels I' exactly.
        let base = vertex_sum(lower, upper, |v| self.network.antiderivative(v))?;
        let ratio = box_volume(lower, upper) / self.volume;
        let Resolved {
            scale,
            gap,
            gap_low,
        } = self.constants;
        finite(scale * base + gap * ratio + gap_low * ratio)
    }
}

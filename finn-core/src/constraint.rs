//! Integral constraints (paper §3.1 and math.md §4): a network over a domain whose integral
//! is fixed (or bounded) by construction.
//!
//! * **Scale** (Eq. 5-11): F = s F' with s = eps / I', I' the unconstrained integral over the
//!   domain. Needs I' > 0, so it belongs to positive networks; it keeps f >= 0.
//! * **Shift**: F = F' + c prod_i (x_i - a_i), i.e. f = f' + c, with c = (eps - I') / vol(D).
//!   Works for any network and any sign of eps, and never divides by an integral.
//! * Inequalities: scale by min(1, eps/I') for `<=`, max(1, eps/I') for `>=`; shift by
//!   min(0, eps - I')/vol for `<=`, max(0, eps - I')/vol for `>=`.
//!
//! # Positivity
//!
//! A positive network keeps f >= 0 under every constraint it accepts: a scale (s > 0), or a
//! shift with `Bound::AtLeast`, whose shift max(0, eps - I')/vol is never negative. A shift
//! with `Equal` or `AtMost` can be negative, so a positive network refuses it
//! ([`Error::ShiftBreaksPositivity`]) on every route: [`Constraint::resolve`],
//! [`Finn::with_constants`], the blob and JSON readers.
//!
//! # Constants that come from elsewhere
//!
//! [`Finn::with_constants`] (and so every blob a device loads) accepts constants only if the
//! declared constraint could have produced them ([`check_constants`]) and if the constrained
//! integral, recomputed from the parameters in `T`, meets the constraint within
//!
//! ```text
//! tol = 2^(n+4) * u * (s * M + |gap| + |eps|),   M = sum over the 2^n corners of |F'(v)|
//! ```
//!
//! (u the unit roundoff of `T`, or of f32 for a blob whose parameters are stored in f32): `Equal` needs |I - eps| <= tol, `AtMost` I <= eps + tol,
//! `AtLeast` I >= eps - tol. M is the scale of the cancellation in the vertex sum, so the
//! check is as tight as the precision allows; where the corner sum cancels so badly that tol
//! exceeds eps (possible in f32 for n >= 5), it cannot tell a doubled scale apart.

use crate::dd::DoubleDouble;
use crate::domain::{box_volume, vertex_sum, vertex_sum_and_magnitude};
use crate::error::ConstantsProblem;
use crate::jet::{Dim, JetDim};
use crate::network::{Depth, HiddenBlocks, Kind, Network};
use crate::{convert, error::finite, Antiderivative, Domain, Error, Real};

/// Which relation the integral over the domain must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Bound {
    /// integral = eps.
    Equal,
    /// integral <= eps.
    AtMost,
    /// integral >= eps.
    AtLeast,
}

/// How the constraint is imposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// (scale with eps <= 0), `ShiftBreaksPositivity` (a positive network with a shift other
    /// than `AtLeast`), `DegenerateIntegral` (scale with base <= 0 or not finite; shift with
    /// base not finite).
    pub fn resolve(&self, kind: Kind, base: T) -> Result<Resolved<T>, Error> {
        self.resolve_from(kind, base)
    }

    /// [`Constraint::resolve`] with the unconstrained integral `base` given, and the constants
    /// computed, in a wider type `U` (a [`DoubleDouble`] corner sum
    /// on the host), each constant then rounded once to `T`: a scale is the nearest `T` to
    /// eps / base, a shift's `gap + gap_low` the nearest pair to eps - base. So the stored
    /// model's integral is eps to the accuracy of `base` and one rounding of the scale,
    /// not to that of a corner sum in `T`. With `U = T` this is exactly
    /// [`Constraint::resolve`].
    ///
    /// Errors as for [`Constraint::resolve`].
    ///
    /// ```
    /// use finn_core::{dd::DoubleDouble, Bound, Constraint, Kind, Method, Real};
    /// // An integral known to 32 digits: 1 + 1e-20, shifted to eps = 3.
    /// let base = DoubleDouble::from_f64(1.0) + DoubleDouble::from_f64(1e-20);
    /// let c = Constraint::new(Bound::Equal, Method::Shift, 3.0f64);
    /// let k = c.resolve_from(Kind::Signed, base).unwrap();
    /// assert_eq!((k.gap, k.gap_low), (2.0, -1e-20));
    /// ```
    pub fn resolve_from<U: Real>(&self, kind: Kind, base: U) -> Result<Resolved<T>, Error> {
        self.check_for(kind)?;
        if !base.is_finite() {
            return Err(Error::DegenerateIntegral);
        }
        // Both conversions keep what both types hold: through f64 alone, a double-double
        // scale kept f64's 53 bits and missed its own integral check.
        let eps: U = convert(self.eps);
        let round = |v: U| -> T { convert(v) };
        match self.method {
            Method::Scale => {
                if base <= U::ZERO {
                    return Err(Error::DegenerateIntegral);
                }
                let s = eps / base;
                let s = match self.bound {
                    Bound::Equal => s,
                    Bound::AtMost => s.min(U::ONE),
                    Bound::AtLeast => s.max(U::ONE),
                };
                let scale = finite(round(s)).map_err(|_| Error::DegenerateIntegral)?;
                Ok(Resolved::scaled(scale))
            }
            Method::Shift => {
                let (sum, err) = two_sum(eps, -base);
                let keep = match self.bound {
                    Bound::Equal => true,
                    Bound::AtMost => sum <= U::ZERO,
                    Bound::AtLeast => sum >= U::ZERO,
                };
                let gap = round(sum);
                if !gap.is_finite() {
                    return Err(Error::DegenerateIntegral);
                }
                // What rounding gap to T left over, plus TwoSum's error (exact for U = T).
                let gap_low = round((sum - convert::<T, U>(gap)) + err);
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

impl<T: Real> Constraint<T> {
    /// The rules a constraint obeys for a network of `kind`, whatever its constants: eps
    /// finite; a scale needs a positive network and eps > 0; a positive network takes a shift
    /// only with `AtLeast`.
    fn check_for(&self, kind: Kind) -> Result<(), Error> {
        if !self.eps.is_finite() {
            return Err(Error::NonFiniteInput);
        }
        match self.method {
            Method::Scale if kind != Kind::Positive => Err(Error::ScaleNeedsPositiveNetwork),
            Method::Scale if self.eps <= T::ZERO => Err(Error::NonPositiveEpsilon),
            Method::Shift if kind == Kind::Positive && self.bound != Bound::AtLeast => {
                Err(Error::ShiftBreaksPositivity)
            }
            _ => Ok(()),
        }
    }
}

/// The constants of a resolved constraint: F = scale F' + (gap / vol(D)) prod_i (x_i - a_i).
///
/// `gap` is the integral the shift adds over the domain, eps - I', kept as the exact
/// unevaluated sum `gap + gap_low` (Knuth's TwoSum), so that it cancels I' exactly: the
/// constrained integral over the domain is eps to about one ulp of eps in f32 as in f64, however
/// large I' is.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// A computed value and a bound on its error: the exact value lies in
/// [value - error, value + error].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounded<T: Real> {
    /// The computed value.
    pub value: T,
    /// The bound on |value - exact|.
    pub error: T,
    /// Which formulation gave the value: `false` for the exact corner sum of F (Eq. 4),
    /// `true` for 3-point Gauss-Legendre quadrature of the exact f with its remainder bound,
    /// used where the corner sum cancels too much (small or far-out boxes).
    pub by_quadrature: bool,
}

/// Checks that `constants` are ones `constraint` can produce for a network of `kind`, without
/// evaluating the network: finite; (1, 0, 0) without a constraint; a scale > 0 with no shift
/// (and <= 1 for `AtMost`, >= 1 for `AtLeast`); a shift with scale 1, `gap_low` no larger than
/// the rounding error of `gap`, and its sign allowed by the bound and by positivity.
///
/// Errors: `NonFiniteParameter`, `NonFiniteInput` (eps), `ScaleNeedsPositiveNetwork`,
/// `NonPositiveEpsilon`, `ShiftBreaksPositivity`, `InconsistentConstants(reason)`.
///
/// ```
/// use finn_core::{constraint::check_constants, Bound, Constraint, ConstantsProblem, Error, Kind, Method, Resolved};
/// let bad = Resolved { scale: 1.0, gap: -10.0, gap_low: 0.0 };
/// assert_eq!(
///     check_constants(Kind::Positive, None, &bad),
///     Err(Error::InconsistentConstants(ConstantsProblem::NotIdentity))
/// );
/// let shift = Constraint::new(Bound::Equal, Method::Shift, 1.0);
/// assert_eq!(check_constants(Kind::Positive, Some(&shift), &bad), Err(Error::ShiftBreaksPositivity));
/// assert!(check_constants(Kind::Signed, Some(&shift), &bad).is_ok());
/// ```
pub fn check_constants<T: Real>(
    kind: Kind,
    constraint: Option<&Constraint<T>>,
    constants: &Resolved<T>,
) -> Result<(), Error> {
    let Resolved {
        scale,
        gap,
        gap_low,
    } = *constants;
    if !scale.is_finite() || !gap.is_finite() || !gap_low.is_finite() {
        return Err(Error::NonFiniteParameter);
    }
    let problem = |p| Err(Error::InconsistentConstants(p));
    let Some(c) = constraint else {
        if scale != T::ONE || gap != T::ZERO || gap_low != T::ZERO {
            return problem(ConstantsProblem::NotIdentity);
        }
        return Ok(());
    };
    c.check_for(kind)?;
    match c.method {
        Method::Scale => {
            if scale <= T::ZERO {
                return problem(ConstantsProblem::NonPositiveScale);
            }
            if gap != T::ZERO || gap_low != T::ZERO {
                return problem(ConstantsProblem::ShiftInScale);
            }
            let wrong = match c.bound {
                Bound::Equal => false,
                Bound::AtMost => scale > T::ONE,
                Bound::AtLeast => scale < T::ONE,
            };
            if wrong {
                return problem(ConstantsProblem::WrongDirection);
            }
        }
        Method::Shift => {
            if scale != T::ONE {
                return problem(ConstantsProblem::ScaleInShift);
            }
            // TwoSum leaves |gap_low| <= ulp(gap) / 2; anything larger smuggles in a shift.
            if gap_low.abs() > gap.abs() * T::EPSILON {
                return problem(ConstantsProblem::GapNotNormalised);
            }
            let wrong = match c.bound {
                Bound::Equal => false,
                Bound::AtMost => gap > T::ZERO,
                Bound::AtLeast => gap < T::ZERO,
            };
            if wrong {
                return problem(ConstantsProblem::WrongDirection);
            }
        }
    }
    Ok(())
}

/// Whether `integral` meets `constraint` within the tolerance of the module docs, for a vertex
/// sum over `n` axes whose terms' magnitudes add up to `magnitude` (already multiplied by the
/// scale), a shift integral `gap`, and unit roundoff `unit`. Host code with run-time sizes
/// (finn-train's model files) checks loaded constants with it, as [`Finn::with_constants`]
/// does.
///
/// ```
/// use finn_core::{constraint::integral_meets, Bound, Constraint, Method};
/// let c = Constraint::new(Bound::Equal, Method::Scale, 1.0f64);
/// assert!(integral_meets(&c, 1.0 + 1e-15, 2, 10.0, 0.0, f64::EPSILON));
/// assert!(!integral_meets(&c, 2.0, 2, 10.0, 0.0, f64::EPSILON));
/// ```
pub fn integral_meets<T: Real>(
    constraint: &Constraint<T>,
    integral: T,
    n: usize,
    magnitude: T,
    gap: T,
    unit: T,
) -> bool {
    let factor = T::from_usize(1usize << (n + 4).min(30));
    let tol = factor * unit * (magnitude + gap.abs() + constraint.eps.abs());
    match constraint.bound {
        Bound::Equal => (integral - constraint.eps).abs() <= tol,
        Bound::AtMost => integral <= constraint.eps + tol,
        Bound::AtLeast => integral >= constraint.eps - tol,
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
pub struct Finn<T: Real, const N: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<T, W>,
{
    network: Network<T, N, W, L>,
    domain: Domain<T, N>,
    /// The constraint, meaningful when `constrained` (kept apart from its flag rather than as
    /// an `Option`, whose `None` is not all zeros: see [`Finn::unloaded`]).
    constraint: Constraint<T>,
    constrained: bool,
    constants: Resolved<T>,
    volume: T,
    /// False until a successful construction or [`Finn::reload`]: evaluating refuses an
    /// unloaded model.
    loaded: bool,
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Finn<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    /// Resolves `constraint` (if any) against the network's integral over `domain`, and
    /// checks the result as [`Finn::with_constants`] does.
    ///
    /// The integral is the corner sum of F (Eq. 4) evaluated in double-double
    /// ([`Network::antiderivative_wide`], [`crate::dd`]) and the constants are computed from
    /// it in double-double ([`Constraint::resolve_from`]), then rounded once to `T`. The corner
    /// sum cancels (its terms are up to thousands of times the integral on trained models),
    /// so in f64 it would miss eps by up to about 1e-13 relative; in double-double the true
    /// integral of the model with its stored parameters and constants is eps to the rounding
    /// of the constants to `T` (a scale: one rounding, 1.1e-16 relative in f64; a shift:
    /// `gap + gap_low` carries about 106 bits). A double-double evaluation costs tens of f64
    /// ones: on a device, resolve on the host and load with [`Finn::with_constants`].
    ///
    /// ```
    /// use finn_core::{Antiderivative, Bound, Constraint, Domain, Finn, Method, Network};
    /// let net = Network::<f64, 1, 4, 1>::signed(finn_core::Activation::Tanh, &[2], &[3.0, -2.0, 0.5, 0.1, 1.0, 2.0]).unwrap();
    /// let domain = Domain::new([-1.0], [4.0]).unwrap();
    /// let c = Constraint::new(Bound::Equal, Method::Shift, 0.25);
    /// let model = Finn::new(net, domain, Some(c)).unwrap();
    /// assert!((model.integral().unwrap() - 0.25).abs() < 1e-15);
    /// ```
    pub fn new(
        network: Network<T, N, W, L>,
        domain: Domain<T, N>,
        constraint: Option<Constraint<T>>,
    ) -> Result<Self, Error> {
        let constants = match &constraint {
            None => Resolved::scaled(T::ONE),
            Some(c) => {
                let wide = |v: &[T; N]| v.map(convert::<T, DoubleDouble>);
                let base = vertex_sum(&wide(domain.lower()), &wide(domain.upper()), |v| {
                    network.antiderivative_wide(v)
                })
                .map_err(|_| Error::DegenerateIntegral)?;
                c.resolve_from(network.kind(), base)?
            }
        };
        Self::with_constants(network, domain, constraint, constants)
    }

    /// A model with constants resolved elsewhere (for example in f64 on the host, or read
    /// from a blob). The constants must be ones the constraint can produce
    /// ([`check_constants`]), and the constrained integral recomputed here in `T` must meet
    /// the constraint within the tolerance of the module docs.
    ///
    /// Errors: as [`check_constants`]; `InconsistentConstants(IntegralMismatch)` when the
    /// recomputed integral misses; `Overflow` when the shift or the integral is not finite in
    /// `T`, or when F or f cannot be proved finite over the whole domain
    /// ([`Network::bounds_over`]: what loads, evaluates everywhere in its domain);
    /// `ScaleNeedsPositiveNetwork` for a scale other than 1 on a signed network.
    ///
    /// ```
    /// use finn_core::{Bound, ConstantsProblem, Constraint, Domain, Error, Finn, Method, Network, Resolved};
    /// let net = Network::<f64, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let domain = Domain::new([0.0], [2.0]).unwrap();
    /// let c = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    /// let good = Finn::new(net.clone(), domain, Some(c)).unwrap().constants();
    /// let doubled = Resolved { scale: 2.0 * good.scale, ..good };
    /// assert_eq!(
    ///     Finn::with_constants(net, domain, Some(c), doubled).unwrap_err(),
    ///     Error::InconsistentConstants(ConstantsProblem::IntegralMismatch)
    /// );
    /// ```
    pub fn with_constants(
        network: Network<T, N, W, L>,
        domain: Domain<T, N>,
        constraint: Option<Constraint<T>>,
        constants: Resolved<T>,
    ) -> Result<Self, Error> {
        Self::with_constants_to(network, domain, constraint, constants, T::EPSILON)
    }

    /// [`Finn::with_constants`] with the integral check's unit roundoff `unit` instead of
    /// `T`'s: for parameters that were stored at a lower precision than `T` (an f32 blob
    /// loaded into an f64 model is checked to f32's precision, `unit = f32::EPSILON`).
    /// `unit` below `T::EPSILON` counts as `T::EPSILON`.
    ///
    /// Errors as for [`Finn::with_constants`].
    pub fn with_constants_to(
        network: Network<T, N, W, L>,
        domain: Domain<T, N>,
        constraint: Option<Constraint<T>>,
        constants: Resolved<T>,
        unit: T,
    ) -> Result<Self, Error> {
        let mut model = Finn {
            network,
            ..Self::unloaded()
        };
        model.reload(domain, constraint, constants, unit)?;
        Ok(model)
    }

    /// A model with an unloaded network and no domain, for a `static` to load into in place
    /// (see [`Finn::network_mut`] and [`Finn::reload`], or
    /// [`ModelView::load_finn_into`](crate::format::ModelView::load_finn_into) for a blob).
    /// Evaluating it is an error (`InvalidShape`).
    ///
    /// Every field is zero, so a `static` initialised with it is placed in `.bss`: zeroed at
    /// start-up, with no initial value stored in flash and nothing built on the stack.
    ///
    /// ```
    /// use finn_core::{Activation, Antiderivative, Domain, Error, Finn, Kind, Resolved};
    /// let mut model = Finn::<f32, 1, 4, 1>::unloaded();
    /// assert_eq!(model.integrand(&[0.5]).unwrap_err(), Error::InvalidShape);
    /// model
    ///     .network_mut()
    ///     .load_parameters(Kind::Signed, Activation::Tanh, &[1], [1.0, 0.0, 1.0])
    ///     .unwrap();
    /// let domain = Domain::new([0.0], [1.0]).unwrap();
    /// model.reload(domain, None, Resolved::scaled(1.0), f32::EPSILON).unwrap();
    /// assert!((model.integral().unwrap() - 1.0f32.tanh()).abs() < 1e-6);
    /// ```
    pub const fn unloaded() -> Self {
        Finn {
            network: Network::unloaded(),
            domain: Domain::unloaded(),
            constraint: Constraint {
                bound: Bound::Equal,
                method: Method::Scale,
                eps: T::ZERO,
            },
            constrained: false,
            constants: Resolved {
                scale: T::ZERO,
                gap: T::ZERO,
                gap_low: T::ZERO,
            },
            volume: T::ZERO,
            loaded: false,
        }
    }

    /// Marks the model unloaded (evaluating it is then an error), without touching the
    /// weights.
    pub fn unload(&mut self) {
        self.loaded = false;
    }

    /// The network F', to load in place with [`Network::load_parameters`]; call
    /// [`Finn::reload`] afterwards. Marks the model unloaded until then.
    pub fn network_mut(&mut self) -> &mut Network<T, N, W, L> {
        self.loaded = false;
        &mut self.network
    }

    /// [`Finn::with_constants_to`] for the current network, in place: sets the domain, the
    /// constraint and its constants, and runs the same checks. On an error the model is left
    /// unloaded. Errors as for [`Finn::with_constants`].
    pub fn reload(
        &mut self,
        domain: Domain<T, N>,
        constraint: Option<Constraint<T>>,
        constants: Resolved<T>,
        unit: T,
    ) -> Result<(), Error> {
        self.loaded = false;
        let network = &self.network;
        check_constants(network.kind(), constraint.as_ref(), &constants)?;
        let Resolved {
            scale,
            gap,
            gap_low,
        } = constants;
        if network.kind() == Kind::Signed && scale != T::ONE {
            return Err(Error::ScaleNeedsPositiveNetwork);
        }
        let volume = domain.volume();
        if !(volume > T::ZERO && volume.is_finite()) {
            return Err(Error::DegenerateIntegral);
        }
        // What loads, works: prove that F and f stay finite over the whole domain, with room
        // for the rounding of the actual evaluation.
        let shift = finite((gap + gap_low) / volume)?;
        let (big_f, f) = network.bounds_over(domain.lower(), domain.upper())?;
        // Divided in f64: double-double's product of numbers near f64::MAX overflows to NaN.
        let limit = T::from_f64(T::MAX.to_f64() / 1024.0);
        for bound in [
            scale * big_f + shift.abs() * volume,
            scale * f + shift.abs(),
        ] {
            if !(bound.is_finite() && bound <= limit) {
                return Err(Error::Overflow);
            }
        }
        if let Some(c) = &constraint {
            let (base, magnitude) =
                vertex_sum_and_magnitude(domain.lower(), domain.upper(), |v| {
                    network.antiderivative(v)
                })?;
            let integral = finite(scale * base + gap + gap_low)?;
            let unit = unit.max(T::EPSILON);
            if !integral_meets(c, integral, N, scale * magnitude, gap, unit) {
                return Err(Error::InconsistentConstants(
                    ConstantsProblem::IntegralMismatch,
                ));
            }
        }
        self.domain = domain;
        if let Some(c) = constraint {
            self.constraint = c;
        }
        self.constrained = constraint.is_some();
        self.constants = constants;
        self.volume = volume;
        self.loaded = true;
        Ok(())
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
        self.constrained.then_some(&self.constraint)
    }

    /// The resolved constants.
    pub fn constants(&self) -> Resolved<T> {
        self.constants
    }

    /// The shift c of f = s f' + c (0 without a shift); finite (checked at construction).
    /// 0 for an unloaded model.
    pub fn shift(&self) -> T {
        if self.loaded {
            self.loaded_shift()
        } else {
            T::ZERO
        }
    }

    /// The shift of a loaded model.
    fn loaded_shift(&self) -> T {
        (self.constants.gap + self.constants.gap_low) / self.volume
    }

    /// `Ok` for a loaded model, `InvalidShape` for an unloaded one.
    pub(crate) fn check_loaded(&self) -> Result<(), Error> {
        if self.loaded {
            Ok(())
        } else {
            Err(Error::InvalidShape)
        }
    }

    /// The exact integral of f over the whole domain.
    pub fn integral(&self) -> Result<T, Error> {
        self.integral_over(self.domain.lower(), self.domain.upper())
    }

    /// The integral of f over the box [lower, upper] with a bound on its error against the
    /// exact integral of this model's parameters: each corner's F comes with a running error
    /// bound of its forward pass (each sum's rounding, each activation's own error as measured
    /// against the 25-digit reference, each preactivation's error through the activation's
    /// slope), and the compensated corner sum and the constants add their rounding. The bound
    /// grows with the corners' magnitudes, not with the result: it says how much a small or
    /// ill-conditioned box can be trusted.
    ///
    /// Where that bound exceeds sqrt(u) |value| (small boxes, boxes far out where F is large
    /// and f small), 3-point Gauss-Legendre quadrature of the exact f with a rigorous
    /// remainder bound is computed too, and the result with the smaller bound is returned
    /// (`by_quadrature` says which); [`Antiderivative::integral_over`] makes the same choice.
    ///
    /// For a positive model (f >= 0, so every box integral is >= 0) a slightly negative value
    /// that the bound covers is returned as 0, as [`Antiderivative::integral_over`] does.
    ///
    /// Errors as for [`Antiderivative::integral_over`].
    ///
    /// ```
    /// use finn_core::{Bound, Constraint, Domain, Finn, Method, Network};
    /// let net = Network::<f32, 1, 4, 1>::positive(&[2], &[1.0, -0.5, 0.2, 0.3, 1.0, 2.0]).unwrap();
    /// let model = Finn::new(net, Domain::new([0.0], [2.0]).unwrap(), None).unwrap();
    /// let i = model.integral_over_with_bound(&[0.5], &[0.5001]).unwrap();
    /// assert!(i.value >= 0.0 && i.error > 0.0 && i.error < 1e-4);
    /// ```
    pub fn integral_over_with_bound(&self, lower: &[T], upper: &[T]) -> Result<Bounded<T>, Error> {
        let lo = crate::point::<T, N>(lower)?;
        let hi = crate::point::<T, N>(upper)?;
        let mut corner_error = T::ZERO;
        let (base, magnitude) = vertex_sum_and_magnitude(&lo, &hi, |v| {
            let p = crate::point::<T, N>(v)?;
            let (y, e) = self.network.antiderivative_with_error(&p)?;
            corner_error += e;
            Ok(y)
        })?;
        let u = T::EPSILON;
        let corners = T::from_usize(1usize << N);
        // Neumaier's sum: 2u |sum| plus a second-order term in the magnitudes.
        let sum_error = T::from_f64(2.0) * u * base.abs() + corners * u * u * magnitude;
        let ratio = box_volume(&lo, &hi) / self.volume;
        let Resolved {
            scale,
            gap,
            gap_low,
        } = self.constants;
        let value = finite(scale * base + gap * ratio + gap_low * ratio)?;
        let n_ops = T::from_usize(2 * N + 4);
        let error = scale * (corner_error + sum_error)
            + n_ops * u * (scale * base.abs() + gap.abs() * ratio + value.abs());
        let error = finite(error * T::from_f64(1.01))?;
        let mut best = Bounded {
            value,
            error,
            by_quadrature: false,
        };
        let whole = lo == *self.domain.lower() && hi == *self.domain.upper();
        if !whole && error > T::from_f64(64.0) * T::EPSILON * value.abs() {
            if let Ok(q) = self.quadrature_with_bound(&lo, &hi) {
                if q.error < best.error {
                    best = q;
                }
            }
        }
        best.value = clamp_positive(self.network.kind(), best.value, best.error);
        Ok(best)
    }

    /// The integral of f over [lower, upper] by 3-point Gauss-Legendre quadrature on every
    /// axis (3^n evaluations of the exact f), with its error bound: the rule's remainder,
    /// vol sum_i h_i^6 sup|d_i^6 f| / 2016000 with the sixth derivatives bounded over the box
    /// by the magnitude jets ([`Network::bounds_over`]'s method), plus f's own rounding
    /// (the activation's measured error plus 64 ulps per input and layer, relative to f's
    /// magnitude bound over the box) and the sum's.
    fn quadrature_with_bound(&self, lo: &[T; N], hi: &[T; N]) -> Result<Bounded<T>, Error> {
        const NODES: [f64; 3] = [-0.774_596_669_241_483_4, 0.0, 0.774_596_669_241_483_4];
        const WEIGHTS: [f64; 3] = [5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0];
        let half: [T; N] = core::array::from_fn(|i| (hi[i] - lo[i]) * T::from_f64(0.5));
        let mid: [T; N] = core::array::from_fn(|i| lo[i] + half[i]);
        let (mut sum, mut comp, mut magnitude) = (T::ZERO, T::ZERO, T::ZERO);
        let mut x = [T::ZERO; N];
        let points = 3usize.pow(N as u32);
        for k in 0..points {
            let mut w = T::ONE;
            let mut index = k;
            for i in 0..N {
                let j = index % 3;
                index /= 3;
                x[i] = mid[i] + T::from_f64(NODES[j]) * half[i];
                w *= T::from_f64(WEIGHTS[j]) * half[i];
            }
            let term = w * self.integrand(&x)?;
            magnitude += term.abs();
            let t = sum + term;
            comp += if sum.abs() >= term.abs() {
                (sum - t) + term
            } else {
                (term - t) + sum
            };
            sum = t;
        }
        let value = finite(sum + comp)?;
        let volume = box_volume(lo, hi);
        // The sixth derivative of f along axis i: order n + 6 of F, the shift drops out.
        let b = self
            .network
            .derivative_bounds::<{ crate::bound::QUADRATURE_ORDERS }>(lo, hi, N + 6)?;
        let mut common = self.constants.scale * b.c[N + 6];
        for w in b.w_star {
            common *= w;
        }
        let mut remainder = T::ZERO;
        for i in 0..N {
            let h = hi[i] - lo[i];
            let (h2, w2) = (h * h, b.w_star[i] * b.w_star[i]);
            remainder += h2 * h2 * h2 * w2 * w2 * w2;
        }
        let remainder = volume * common * remainder / T::from_f64(2_016_000.0);
        // f's own rounding is relative to the magnitudes inside its jets, bounded by f's
        // magnitude bound over the box (not by |f|, which can cancel): the activation's error
        // plus a few ulps per operation of each jet level.
        let mut f_bound = self.constants.scale * b.c[N];
        for w in b.w_star {
            f_bound *= w;
        }
        let f_bound = f_bound + self.shift().abs();
        let ops = T::from_usize(64 * (N + self.network.widths().len()));
        let per_eval =
            crate::bound::activation_error::<T>(self.network.activation()) + ops * T::EPSILON;
        let rounding =
            per_eval * volume * f_bound + T::from_usize(2 * N + 4) * T::EPSILON * magnitude;
        let error = finite((remainder + rounding) * T::from_f64(1.01))?;
        Ok(Bounded {
            value,
            error,
            by_quadrature: true,
        })
    }
}

impl<T: Real, const N: usize, const W: usize, const L: usize> Antiderivative<T> for Finn<T, N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<T, W>,
{
    fn dim(&self) -> usize {
        N
    }

    fn antiderivative(&self, x: &[T]) -> Result<T, Error> {
        self.check_loaded()?;
        let base = self.network.antiderivative(x)?;
        let mut poly = self.loaded_shift();
        for (xi, ai) in x.iter().zip(self.domain.lower()) {
            poly *= *xi - *ai;
        }
        finite(self.constants.scale * base + poly)
    }

    fn integrand(&self, x: &[T]) -> Result<T, Error> {
        self.check_loaded()?;
        finite(self.constants.scale * self.network.integrand(x)? + self.loaded_shift())
    }

    fn integral_over(&self, lower: &[T], upper: &[T]) -> Result<T, Error> {
        self.check_loaded()?;
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
        let (base, magnitude) =
            vertex_sum_and_magnitude(lower, upper, |v| self.network.antiderivative(v))?;
        let ratio = box_volume(lower, upper) / self.volume;
        let Resolved {
            scale,
            gap,
            gap_low,
        } = self.constants;
        let value = finite(scale * base + gap * ratio + gap_low * ratio)?;
        // The corner sum cancels: about 2^(n+4) u scale M of error against |value|. Where
        // that may exceed sqrt(u) |value| (small or far-out boxes), and where a positive
        // model's value came out < 0, let the bounded computation choose the formulation.
        let cancel = T::from_usize(1usize << (N + 4)) * T::EPSILON * scale * magnitude;
        let positive_below_zero = value < T::ZERO && self.network.kind() == Kind::Positive;
        // On the domain itself the corner sum stays: its error is bounded by the load check's
        // tolerance (the constants make the true integral eps, `Finn::new`).
        let whole = lower == self.domain.lower() && upper == self.domain.upper();
        if positive_below_zero || (!whole && cancel > T::EPSILON.sqrt() * value.abs()) {
            return self.integral_over_with_bound(lower, upper).map(|b| b.value);
        }
        Ok(value)
    }
}

/// A positive model's integral is >= 0: a negative value within `error` of 0 becomes 0.
fn clamp_positive<T: Real>(kind: Kind, value: T, error: T) -> T {
    if kind == Kind::Positive && value < T::ZERO && -value <= error {
        T::ZERO
    } else {
        value
    }
}

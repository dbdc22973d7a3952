//! The one error type of `finn-core`: every bad input maps to a variant, never to a panic or NaN.

use core::fmt;

/// Why an operation of `finn-core` refused its input or could not produce a finite result.
///
/// ```
/// use finn_core::{Domain, Error};
/// assert_eq!(Domain::new([1.0f64], [0.0]).unwrap_err(), Error::EmptyInterval { axis: 0 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A point, box or parameter vector has the wrong number of entries.
    DimensionMismatch {
        /// What the model needs.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// An input (point, bound, epsilon) is NaN or infinite, or a box too large or too small
    /// for its volume to be finite and positive in this precision.
    NonFiniteInput,
    /// A parameter (weight or bias) is NaN or infinite.
    NonFiniteParameter,
    /// `lower >= upper` on this axis of a box or domain.
    EmptyInterval {
        /// The offending axis.
        axis: usize,
    },
    /// The network shape does not fit the compile-time capacity or is empty.
    InvalidShape,
    /// A scale constraint needs `eps > 0`.
    NonPositiveEpsilon,
    /// A scale constraint needs a positive network: a signed network's integral can be 0 or
    /// change sign, so rescaling it is not defined. Use a shift constraint.
    ScaleNeedsPositiveNetwork,
    /// The unconstrained integral over the domain is 0 or not finite, so it cannot be rescaled.
    DegenerateIntegral,
    /// The result overflowed (or came out NaN) in this precision: the inputs or parameters
    /// are too large for the scalar type.
    Overflow,
    /// The derivative order asked for exceeds what this build supports.
    OrderTooHigh,
    /// A time outside [t0, T] under the `Reject` policy.
    OutsideInterval,
    /// Via-points must lie strictly inside (t0, T), in increasing order, at most the capacity.
    InvalidViaPoints,
    /// A positive network takes a shift constraint only with `Bound::AtLeast`, whose shift is
    /// never negative: any other shift could make f < 0. Use a scale constraint.
    ShiftBreaksPositivity,
    /// The constraint constants are not ones the declared constraint can produce: the reason
    /// says which rule they break.
    InconsistentConstants(ConstantsProblem),
    /// The model is not a probability density (a positive network with the scale constraint
    /// "integral over the support = 1"), or its support does not lie in the domain of the map
    /// it is placed on (the unit box of [`DomainMap`](crate::DomainMap)).
    NotADensity,
    /// A bounded-deviation model whose magnitude is not a positive network with an
    /// `AtMost` (or `Equal`) integral constraint of eps > 0, whose direction is not usable
    /// (softness <= 0 or not finite), or whose base is of the wrong size.
    NotADeviation,
    /// A model placed on a [`DomainMap`](crate::DomainMap) must live on the map's unit box
    /// [0, 1]^N (its domain inside it), where the map is defined.
    NotOnUnitBox,
    /// The components do not make a mixture density: the problem says which rule they break
    /// ([`DensityMixture`](crate::density_mixture::DensityMixture)).
    NotAMixture(crate::density_mixture::MixtureProblem),
    /// A soft-Q model's setting is unusable: the problem says which
    /// ([`SoftQ`](crate::softq::SoftQ)).
    NotASoftQ(crate::softq::SoftQProblem),
    /// An action lies outside the action box A, where Q is not defined.
    ActionOutsideBox {
        /// The first offending axis.
        axis: usize,
    },
}

/// Which rule a set of constraint constants breaks ([`Error::InconsistentConstants`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstantsProblem {
    /// Without a constraint the constants must be (scale 1, gap 0, gap_low 0).
    NotIdentity,
    /// A scale must be > 0.
    NonPositiveScale,
    /// A scale constraint adds no shift: gap and gap_low must be 0.
    ShiftInScale,
    /// A shift constraint does not scale: the scale must be 1.
    ScaleInShift,
    /// The constants move the integral the wrong way for the bound (a scale above 1 or a
    /// positive shift for `AtMost`, a scale below 1 or a negative shift for `AtLeast`).
    WrongDirection,
    /// `gap_low` is not the rounding error of `gap` (|gap_low| > ulp-sized part of |gap|).
    GapNotNormalised,
    /// The constrained integral recomputed from the parameters misses eps (or breaks the
    /// bound) by more than the documented tolerance (`constraint` module docs).
    IntegralMismatch,
}

impl fmt::Display for ConstantsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConstantsProblem::NotIdentity => "no constraint, but the constants are not (1, 0, 0)",
            ConstantsProblem::NonPositiveScale => "the scale is not > 0",
            ConstantsProblem::ShiftInScale => "a scale constraint with a non-zero shift",
            ConstantsProblem::ScaleInShift => "a shift constraint with a scale other than 1",
            ConstantsProblem::WrongDirection => "the constants move the integral against the bound",
            ConstantsProblem::GapNotNormalised => {
                "gap_low is larger than the rounding error of gap"
            }
            ConstantsProblem::IntegralMismatch => {
                "the integral recomputed from the parameters does not meet the declared constraint"
            }
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DimensionMismatch { expected, found } => {
                write!(f, "expected {expected} entries, found {found}")
            }
            Error::NonFiniteInput => f.write_str("input is NaN or infinite"),
            Error::NonFiniteParameter => f.write_str("a parameter is NaN or infinite"),
            Error::EmptyInterval { axis } => write!(f, "lower >= upper on axis {axis}"),
            Error::InvalidShape => f.write_str("network shape is empty or exceeds its capacity"),
            Error::NonPositiveEpsilon => f.write_str("a scale constraint needs eps > 0"),
            Error::ScaleNeedsPositiveNetwork => {
                f.write_str("a scale constraint needs a positive network; use shift")
            }
            Error::DegenerateIntegral => {
                f.write_str("the unconstrained integral is 0 or not finite")
            }
            Error::Overflow => f.write_str("result is not finite in this precision"),
            Error::OrderTooHigh => f.write_str("derivative order too high"),
            Error::OutsideInterval => f.write_str("time outside [t0, T]"),
            Error::InvalidViaPoints => {
                f.write_str("via-points must be inside (t0, T), increasing, within capacity")
            }
            Error::ShiftBreaksPositivity => f.write_str(
                "a positive network takes a shift constraint only with bound at-least; use scale",
            ),
            Error::InconsistentConstants(p) => write!(f, "inconsistent constraint constants: {p}"),
            Error::NotOnUnitBox => f.write_str(
                "a model on a domain map must have its domain inside the unit box [0, 1]^n",
            ),
            Error::NotADensity => f.write_str(
                "not a density: needs a positive network scaled to integral 1 over its support",
            ),
            Error::NotADeviation => f.write_str(
                "not a bounded deviation: needs a positive magnitude network with an integral \
                 at most eps > 0, a direction with softness > 0, and a base of the right size",
            ),
            Error::NotAMixture(p) => write!(f, "not a mixture density: {p}"),
            Error::NotASoftQ(p) => write!(f, "not a soft-Q model: {p}"),
            Error::ActionOutsideBox { axis } => {
                write!(f, "action outside the action box on axis {axis}")
            }
        }
    }
}

impl core::error::Error for Error {}

/// `Ok(v)` when `v` is finite, `Err(Overflow)` otherwise: the last check of every evaluation.
#[inline]
pub(crate) fn finite<T: crate::Real>(v: T) -> Result<T, Error> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Overflow)
    }
}

//! What a blob holds: the payload tag that opens every body, and the reader of a blob of any
//! payload.

use core::fmt;

use super::framing::unframe;
use super::wire::{parse_body, Body};
use super::{DensityMixtureView, DeviationView, FormatError, ModelView, SoftQView, TrajectoryView};

/// What a blob contains: the first field of every body, which decides the fields after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// One network over a domain, with its constraint: a [`Finn`](crate::Finn) ([`decode`](super::decode)).
    Model,
    /// D one-input networks with their interval, endpoints and via-points: a
    /// [`Trajectory`](crate::trajectory::Trajectory) ([`decode_trajectory`](super::decode_trajectory)).
    Trajectory,
    /// A probability density: the model body, with a positive network whose integral over its
    /// domain (the support) is fixed to 1 by scale: a [`Density`](crate::Density)
    /// ([`decode_density`](super::decode_density)).
    Density,
    /// A bounded-deviation model phi = psi + f d: a positive magnitude network with its
    /// "at most eps" scale constraint, a polynomial base and M signed direction networks: a
    /// [`BoundedDeviation`](crate::deviation::BoundedDeviation)
    /// ([`decode_deviation`](super::decode_deviation)).
    Deviation,
    /// A mixture of reflected densities on one u-box, on a box or on R^N: a
    /// [`DensityMixture`](crate::DensityMixture)
    /// ([`decode_density_mixture`](super::decode_density_mixture)).
    DensityMixture,
    /// A soft Q-function: a hypernetwork over the state features and a positive network over
    /// an action box, with beta and the log-scale unit: a [`SoftQ`](crate::softq::SoftQ)
    /// ([`decode_softq`](super::decode_softq)).
    SoftQ,
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Payload::Model => "model",
            Payload::Trajectory => "trajectory",
            Payload::Density => "density",
            Payload::Deviation => "deviation",
            Payload::DensityMixture => "density mixture",
            Payload::SoftQ => "soft-Q",
        })
    }
}

/// A checked blob of either payload. (The views hold their bounded headers by value, and
/// without an allocator there is no boxing the larger one.)
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum Blob<'a> {
    /// A single model.
    Model(ModelView<'a>),
    /// A trajectory.
    Trajectory(TrajectoryView<'a>),
    /// A density (its view's [`payload`](ModelView::payload) is [`Payload::Density`]).
    Density(ModelView<'a>),
    /// A bounded-deviation model.
    Deviation(DeviationView<'a>),
    /// A density mixture.
    DensityMixture(DensityMixtureView<'a>),
    /// A soft-Q model.
    SoftQ(SoftQView<'a>),
}

/// Checks a blob of any payload completely and returns its view.
///
/// ```
/// use finn_core::format::{decode_any, Blob, FormatError};
/// assert_eq!(decode_any(b"FINN").unwrap_err(), FormatError::Truncated { len: 4 });
/// # let _ = |b: Blob<'_>| match b { Blob::Model(_) | Blob::Trajectory(_) | Blob::Density(_) | Blob::Deviation(_) => (), _ => () };
/// ```
pub fn decode_any(bytes: &[u8]) -> Result<Blob<'_>, FormatError> {
    Ok(match parse_body(unframe(bytes)?)? {
        Body::Model(body) => Blob::Model(ModelView::from_body(body, Payload::Model)?),
        Body::Trajectory(body) => Blob::Trajectory(TrajectoryView::from_body(body)?),
        Body::Density(body) => Blob::Density(ModelView::from_body(body, Payload::Density)?),
        Body::Deviation(body) => Blob::Deviation(DeviationView::from_body(body)?),
        Body::DensityMixture(body) => Blob::DensityMixture(DensityMixtureView::from_body(body)?),
        Body::SoftQ(body) => Blob::SoftQ(SoftQView::from_body(body)?),
    })
}

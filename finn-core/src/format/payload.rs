//! What a blob holds: the payload tag that opens every body, the parsing of a body by its tag,
//! and the reader of a blob of either payload.

use core::fmt;

use serde::{Deserialize, Serialize};

use super::framing::unframe;
use super::scalar::ParamsIn;
use super::wire::{Body, TrajectoryBody};
use super::{FormatError, ModelView, TrajectoryView};

/// What a blob contains: the first field of every body, which decides the fields after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Payload {
    /// One network over a domain, with its constraint: a [`Finn`](crate::Finn) ([`decode`](super::decode)).
    Model,
    /// D one-input networks with their interval, endpoints and via-points: a
    /// [`Trajectory`](crate::trajectory::Trajectory) ([`decode_trajectory`](super::decode_trajectory)).
    Trajectory,
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Payload::Model => "model",
            Payload::Trajectory => "trajectory",
        })
    }
}

/// A body parsed by its payload tag, before the content checks. (Without an allocator there
/// is no boxing the larger variant; it lives on the stack for the length of a decode.)
#[allow(clippy::large_enum_variant)]
pub(super) enum ParsedBody<'a> {
    Model(Body<ParamsIn<'a>>),
    Trajectory(TrajectoryBody<ParamsIn<'a>>),
}

/// Parses the whole body by its payload: `Malformed` if it is not a valid encoding of that
/// payload's fields, `TrailingBytes` if bytes follow it.
pub(super) fn parse_body(body_bytes: &[u8]) -> Result<ParsedBody<'_>, FormatError> {
    fn whole<'a, B: Deserialize<'a>>(bytes: &'a [u8]) -> Result<B, FormatError> {
        let (body, rest) =
            postcard::take_from_bytes::<B>(bytes).map_err(|_| FormatError::Malformed)?;
        if !rest.is_empty() {
            return Err(FormatError::TrailingBytes { count: rest.len() });
        }
        Ok(body)
    }
    let (payload, _) =
        postcard::take_from_bytes::<Payload>(body_bytes).map_err(|_| FormatError::Malformed)?;
    Ok(match payload {
        Payload::Model => ParsedBody::Model(whole(body_bytes)?),
        Payload::Trajectory => ParsedBody::Trajectory(whole(body_bytes)?),
    })
}

/// A checked blob of either payload. (The views hold their fixed-size headers by value, and
/// without an allocator there is no boxing the larger one.)
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum Blob<'a> {
    /// A single model.
    Model(ModelView<'a>),
    /// A trajectory.
    Trajectory(TrajectoryView<'a>),
}

/// Checks a blob of any payload completely and returns its view.
///
/// ```
/// use finn_core::format::{decode_any, Blob, FormatError};
/// assert_eq!(decode_any(b"FINN").unwrap_err(), FormatError::Truncated { len: 4 });
/// # let _ = |b: Blob<'_>| match b { Blob::Model(_) | Blob::Trajectory(_) => (), _ => () };
/// ```
pub fn decode_any(bytes: &[u8]) -> Result<Blob<'_>, FormatError> {
    Ok(match parse_body(unframe(bytes)?)? {
        ParsedBody::Model(body) => Blob::Model(ModelView::from_body(body)?),
        ParsedBody::Trajectory(body) => Blob::Trajectory(TrajectoryView::from_body(body)?),
    })
}

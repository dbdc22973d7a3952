//! Why a blob, or a model or trajectory to encode, was refused: [`FormatError`], and the
//! [`Field`] it is about.

use core::fmt;

use super::{
    Payload, MAX_COORDS, MAX_DEGREE, MAX_LAYERS, MAX_OUTPUTS, MAX_VIA, MAX_WIDTH, MIN_LEN, VERSION,
};
use crate::activation::MAX_DIM;
use crate::{Error, Kind};

/// Which part of a model an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The input dimension n.
    Dimension,
    /// The number of hidden layers.
    Layers,
    /// A hidden width.
    Width,
    /// The lower corner of the domain.
    DomainLower,
    /// The upper corner of the domain.
    DomainUpper,
    /// The constraint's target eps.
    Epsilon,
    /// The resolved constants (scale, gap, gap_low).
    Constants,
    /// The parameters, counted as numbers.
    Parameters,
    /// The parameters, counted as stored bytes.
    ParameterBytes,
    /// A trajectory's number of coordinates D.
    Coordinates,
    /// A trajectory's start state x0.
    Start,
    /// A trajectory's end state xT.
    End,
    /// A trajectory's via-points (their number, times or positions).
    ViaPoints,
    /// A deviation model's output dimension m.
    Outputs,
    /// A deviation model's base monomials (per output), against the capacity K.
    Monomials,
    /// A deviation model's base coefficients.
    Coefficients,
    /// A deviation model's direction softness.
    Softness,
    /// A deviation model's direction networks: their parameter byte strings, or the networks'
    /// hidden widths against the capacity.
    DirectionParameters,
    /// A density mixture's number of components, against the capacity K.
    Components,
    /// A density mixture's component weights.
    Weights,
    /// A density mixture component's reflection mask (a bit set beyond the dimension).
    Reflection,
    /// A density mixture's real-space map centre.
    MapCentre,
    /// A density mixture's real-space map scale.
    MapScale,
    /// A soft-Q model's number of state features S, against the capacity.
    StateFeatures,
    /// A soft-Q model's hypernetwork hidden widths, against the capacity H.
    StateWidths,
    /// A soft-Q model's head outputs (the action network's parameters + 1), against the
    /// capacity P.
    HeadOutputs,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Dimension => "input dimension",
            Field::Layers => "hidden layers",
            Field::Width => "hidden width",
            Field::DomainLower => "domain lower corner",
            Field::DomainUpper => "domain upper corner",
            Field::Epsilon => "constraint target eps",
            Field::Constants => "constraint constants",
            Field::Parameters => "parameters",
            Field::ParameterBytes => "parameter bytes",
            Field::Coordinates => "trajectory coordinates",
            Field::Start => "trajectory start state",
            Field::End => "trajectory end state",
            Field::ViaPoints => "trajectory via-points",
            Field::Outputs => "deviation outputs",
            Field::Monomials => "deviation base monomials",
            Field::Coefficients => "deviation base coefficients",
            Field::Softness => "deviation direction softness",
            Field::DirectionParameters => "deviation direction parameters",
            Field::Components => "mixture components",
            Field::Weights => "mixture weights",
            Field::Reflection => "mixture reflection mask",
            Field::MapCentre => "mixture map centre",
            Field::MapScale => "mixture map scale",
            Field::StateFeatures => "soft-Q state features",
            Field::StateWidths => "soft-Q hypernetwork widths",
            Field::HeadOutputs => "soft-Q head outputs",
        })
    }
}

/// Why a blob (or a model to encode) was refused.
///
/// ```
/// use finn_core::format::{decode, FormatError};
/// assert_eq!(decode(b"FINN").unwrap_err(), FormatError::Truncated { len: 4 });
/// assert_eq!(decode(b"PNG\0\0\0\0\0\0\0\0").unwrap_err(), FormatError::BadMagic);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The input is shorter than magic, version and CRC ([`MIN_LEN`] bytes).
    Truncated {
        /// Its length.
        len: usize,
    },
    /// The first four bytes are not [`MAGIC`](super::MAGIC).
    BadMagic,
    /// The version field is not [`VERSION`].
    UnsupportedVersion {
        /// The version the blob claims.
        found: u16,
    },
    /// The CRC trailer does not match the bytes before it: the blob is corrupt or was cut.
    CrcMismatch {
        /// The CRC in the trailer.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The body is not a postcard encoding of a model (bad varint, unknown enum variant,
    /// body cut short, ...).
    Malformed,
    /// Bytes follow the body before the CRC.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The input dimension is 0 or above [`MAX_DIM`].
    BadDimension {
        /// The dimension given.
        n: usize,
    },
    /// There are no hidden layers or more than [`MAX_LAYERS`].
    BadLayers {
        /// The number of layers given.
        layers: usize,
    },
    /// A hidden width is 0 or above [`MAX_WIDTH`].
    BadWidth {
        /// The layer, 0 first.
        layer: usize,
        /// Its width.
        width: usize,
    },
    /// A length does not fit the rest of the model (domain corners of the wrong length, a
    /// parameter vector of the wrong size).
    ShapeMismatch {
        /// What has the wrong length.
        field: Field,
        /// The length the model needs.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The parameter count of the shape does not fit in `usize`.
    TooLarge,
    /// A value that must be finite is NaN or infinite (or overflows `f32` when writing it as
    /// [`Scalar::F32`](super::Scalar::F32)).
    NonFinite {
        /// Which value.
        field: Field,
    },
    /// The model does not fit the compile-time capacity asked for (or the scratch buffer).
    CapacityMismatch {
        /// What does not fit.
        field: Field,
        /// The capacity (for [`Field::Dimension`], the exact `N` required).
        capacity: usize,
        /// What the model has.
        found: usize,
    },
    /// The output buffer of [`encode`](super::encode) is too small.
    BufferTooSmall {
        /// Bytes the blob needs.
        needed: usize,
        /// Bytes available.
        capacity: usize,
    },
    /// The blob holds another payload than the one asked for (a trajectory given to
    /// [`decode`](super::decode), a model given to [`decode_trajectory`](super::decode_trajectory),
    /// or a [`ModelHeader`](super::ModelHeader) whose payload
    /// is not [`Payload::Model`]).
    WrongPayload {
        /// The payload the reader or encoder handles.
        expected: Payload,
        /// The payload found.
        found: Payload,
    },
    /// A trajectory's coordinate networks are not signed one-input networks.
    BadCoordinateNetwork {
        /// The kind the blob gives.
        kind: Kind,
        /// The input dimension the blob gives.
        n: usize,
    },
    /// A trajectory's number of coordinates D is 0 or above [`MAX_COORDS`].
    BadCoordinates {
        /// The number given.
        d: usize,
    },
    /// A trajectory has more than [`MAX_VIA`] via-points.
    TooManyViaPoints {
        /// The number given.
        count: usize,
    },
    /// A deviation model's output dimension m is 0 or above [`MAX_OUTPUTS`].
    BadOutputs {
        /// The number given.
        m: usize,
    },
    /// A deviation model's base degree is above [`MAX_DEGREE`].
    BadDegree {
        /// The degree given.
        degree: usize,
    },
    /// The model is inconsistent in a way `finn-core` itself refuses (empty or non-finite
    /// domain box, a positive network without sigma_n, a scale constraint on a signed network,
    /// scale <= 0, via-points not increasing inside the interval, ...), or fails to build in
    /// the target scalar type.
    Core(Error),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated { len } => write!(
                f,
                "blob of {len} bytes is shorter than magic, version and CRC ({MIN_LEN} bytes)"
            ),
            FormatError::BadMagic => f.write_str("not a finn model blob (bad magic)"),
            FormatError::UnsupportedVersion { found } => write!(
                f,
                "format version {found} is not supported (this build reads version {VERSION})"
            ),
            FormatError::CrcMismatch { stored, computed } => write!(
                f,
                "CRC mismatch: stored {stored:#010x}, computed {computed:#010x} \
                 (corrupt or truncated blob)"
            ),
            FormatError::Malformed => f.write_str("the body is not a valid encoding of a model"),
            FormatError::TrailingBytes { count } => {
                write!(f, "{count} unexpected bytes after the body")
            }
            FormatError::BadDimension { n } => {
                write!(f, "input dimension {n} is not in 1..={MAX_DIM}")
            }
            FormatError::BadLayers { layers } => {
                write!(f, "{layers} hidden layers is not in 1..={MAX_LAYERS}")
            }
            FormatError::BadWidth { layer, width } => write!(
                f,
                "hidden layer {layer} has width {width}, not in 1..={MAX_WIDTH}"
            ),
            FormatError::ShapeMismatch {
                field,
                expected,
                found,
            } => write!(f, "{field}: expected {expected} entries, found {found}"),
            FormatError::TooLarge => f.write_str("the parameter count overflows usize"),
            FormatError::NonFinite { field } => write!(f, "{field}: a value is NaN or infinite"),
            FormatError::CapacityMismatch {
                field,
                capacity,
                found,
            } => write!(
                f,
                "{field}: the model has {found}, the capacity asked for is {capacity}"
            ),
            FormatError::BufferTooSmall { needed, capacity } => write!(
                f,
                "the blob needs {needed} bytes, the buffer holds {capacity}"
            ),
            FormatError::WrongPayload { expected, found } => {
                write!(f, "the blob holds a {found}, not a {expected}")
            }
            FormatError::BadCoordinateNetwork { kind, n } => write!(
                f,
                "trajectory coordinates need signed one-input networks, \
                 the blob has {kind:?} networks with {n} inputs"
            ),
            FormatError::BadCoordinates { d } => {
                write!(f, "{d} trajectory coordinates is not in 1..={MAX_COORDS}")
            }
            FormatError::TooManyViaPoints { count } => {
                write!(f, "{count} via-points is more than {MAX_VIA}")
            }
            FormatError::BadOutputs { m } => {
                write!(f, "{m} deviation outputs is not in 1..={MAX_OUTPUTS}")
            }
            FormatError::BadDegree { degree } => {
                write!(f, "base degree {degree} is above {MAX_DEGREE}")
            }
            FormatError::Core(e) => write!(f, "invalid model: {e}"),
        }
    }
}

impl core::error::Error for FormatError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            FormatError::Core(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for FormatError {
    fn from(e: Error) -> Self {
        FormatError::Core(e)
    }
}

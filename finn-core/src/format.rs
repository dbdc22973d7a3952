//! The model file format: a checked `postcard` blob that loads into the fixed-size types of
//! this crate without allocation.
//!
//! A blob holds one of two payloads ([`Payload`]):
//!
//! * a **model**: its architecture, its domain, its integral constraint with the constants
//!   resolved on the host, and its parameters. [`encode`] writes it into a caller's buffer;
//!   [`decode`] checks it completely and returns a [`ModelView`] that borrows the parameter
//!   bytes (zero copy); [`ModelView::to_finn`] builds a [`Finn`] of any capacity and either
//!   scalar type from it;
//! * a **trajectory**: D one-input coordinate networks of one architecture, the interval, the
//!   start and end states, the via-points and the outside-interval policy.
//!   [`encode_trajectory`] writes it; [`decode_trajectory`] checks it and returns a
//!   [`TrajectoryView`]; [`TrajectoryView::to_trajectory`] builds a [`Trajectory`].
//!
//! [`decode_any`] reads either. Every corrupt, truncated, wrong-version, wrong-payload or
//! wrong-shape blob is a [`FormatError`], never a panic.
//!
//! # Byte layout (format version 1)
//!
//! | offset  | length | content                                                        |
//! |---------|--------|----------------------------------------------------------------|
//! | 0       | 4      | magic, the ASCII bytes `FINN` ([`MAGIC`])                      |
//! | 4       | 2      | format version, `u16` little-endian ([`VERSION`] = 1)          |
//! | 6       | m      | body: the `postcard` encoding of the fields below              |
//! | 6 + m   | 4      | CRC-32/ISO-HDLC of bytes `0 .. 6 + m`, `u32` little-endian     |
//!
//! The body's fields, in order. Postcard writes an unsigned integer wider than a byte as a
//! *varint* (LEB128: 7 bits per byte, least significant group first, high bit set on every
//! byte but the last), a `u8` as one byte, an `f64` as its 8 bytes little-endian, an enum as
//! the varint of its variant index, an `Option` as one byte 0 (none) or 1 (some) followed by
//! the value, and a sequence or byte string as the varint of its length followed by the items.
//!
//! ## Model body (payload 0)
//!
//! | # | field        | encoding                                                             |
//! |---|--------------|----------------------------------------------------------------------|
//! | 1 | payload      | enum [`Payload`]: 0 = `Model`, 1 = `Trajectory` (below)               |
//! | 2 | kind         | enum [`Kind`]: 0 = `Positive`, 1 = `Signed`                           |
//! | 3 | activation   | enum [`Activation`]: 0 = `Sigma`, 1 = `Tanh`                          |
//! | 4 | n            | `u8`, the input dimension, 1..=[`MAX_DIM`]                            |
//! | 5 | widths       | sequence of `u16` varints, 1..=[`MAX_LAYERS`] hidden widths, each >= 1 |
//! | 6 | domain lower | sequence of n `f64`                                                   |
//! | 7 | domain upper | sequence of n `f64`, each > the lower one, all finite                 |
//! | 8 | constraint   | `Option` of: bound (enum [`Bound`](crate::Bound): 0 `Equal`, 1 `AtMost`, 2 `AtLeast`), method (enum [`Method`]: 0 `Scale`, 1 `Shift`), eps `f64` |
//! | 9 | constants    | [`Resolved`]: scale `f64`, gap `f64`, gap_low `f64`                   |
//! | 10 | scalar      | enum [`Scalar`]: 0 = `F32`, 1 = `F64`                                 |
//! | 11 | parameters  | byte string: [`parameter_count`](crate::parameter_count)`(n, widths)` floats of the scalar type, little-endian (4 or 8 bytes each) |
//!
//! The parameters are in the flat layout of [`Network::new`]: for each hidden layer its
//! weights row-major (`[unit][input]`) then its biases, finally the output weights. A positive
//! network stores its raw parameters; the loader applies |w| to the weights as
//! [`Network::new`] always does. The domain, eps and the constants are always `f64`: the
//! constants are resolved on the host in `f64` (see [`Finn::with_constants`]), whatever the
//! scalar type of the parameters.
//!
//! ## Trajectory body (payload 1)
//!
//! | #  | field       | encoding                                                              |
//! |----|-------------|-----------------------------------------------------------------------|
//! | 1  | payload     | enum [`Payload`]: 1 = `Trajectory`                                     |
//! | 2  | kind        | enum [`Kind`]: must be 1 = `Signed`                                    |
//! | 3  | activation  | enum [`Activation`]: 0 = `Sigma`, 1 = `Tanh`                           |
//! | 4  | n           | `u8`: must be 1 (each coordinate is a function of time)               |
//! | 5  | widths      | sequence of `u16` varints, 1..=[`MAX_LAYERS`] hidden widths, each >= 1 |
//! | 6  | coordinates | `u8`: D, 1..=[`MAX_COORDS`]                                            |
//! | 7  | t0          | `f64`                                                                  |
//! | 8  | T           | `f64`, > t0, both finite                                               |
//! | 9  | x0          | sequence of D `f64`: the start state                                   |
//! | 10 | xT          | sequence of D `f64`: the end state                                     |
//! | 11 | via-points  | sequence of at most [`MAX_VIA`] via-points, each: time `f64`, then its position, a sequence of D `f64`; times increasing strictly inside (t0, T) |
//! | 12 | policy      | enum [`OutsidePolicy`]: 0 = `Hold`, 1 = `Reject`                       |
//! | 13 | scalar      | enum [`Scalar`]: 0 = `F32`, 1 = `F64`                                  |
//! | 14 | parameters  | byte string: D * [`parameter_count`](crate::parameter_count)`(1, widths)` floats of the scalar type: the D coordinate networks' vectors back to back, coordinate 0 first, each in the flat layout of [`Network::new`] |
//!
//! The times, states and via-points are always `f64`; [`TrajectoryView::to_trajectory`]
//! converts them and the parameters to the target type (an `F64` blob plays back in `f32`).
//!
//! **Payload and version.** Field 1 says which body follows. The trajectory payload was
//! added *within* version 1 rather than as a version 2: the model body did not change, so
//! every model blob reads exactly as before, and a reader that predates the trajectory payload
//! refuses a trajectory blob as [`FormatError::Malformed`] (an unknown enum index) instead of
//! misreading it. This reader refuses any other version with
//! [`FormatError::UnsupportedVersion`].
//!
//! # Checks, in order
//!
//! Every reader reports the first failing check: length ([`FormatError::Truncated`], shorter
//! than the 10 bytes of magic, version and CRC; a blob cut anywhere later fails the CRC), magic
//! ([`FormatError::BadMagic`]), version ([`FormatError::UnsupportedVersion`]), CRC
//! ([`FormatError::CrcMismatch`]), the postcard body of the payload that field 1 names
//! ([`FormatError::Malformed`]), bytes after the body ([`FormatError::TrailingBytes`]), the
//! payload against the reader ([`FormatError::WrongPayload`]: a trajectory given to [`decode`],
//! a model given to [`decode_trajectory`]); then the content.
//!
//! For a model: the shape (dimension, layers, widths, domain lengths, kind and activation, the
//! domain box, the parameter byte length), the finiteness of eps, the constants and every
//! parameter ([`FormatError::NonFinite`]), and last the consistency of the constraint with the
//! network ([`FormatError::Core`]).
//!
//! For a trajectory: kind and n ([`FormatError::BadCoordinateNetwork`]), layers and widths
//! ([`FormatError::BadLayers`], [`FormatError::BadWidth`]), D ([`FormatError::BadCoordinates`]),
//! the lengths of x0 and xT ([`FormatError::ShapeMismatch`] with [`Field::Start`],
//! [`Field::End`]), the number of via-points ([`FormatError::TooManyViaPoints`]) and the length
//! of each position ([`Field::ViaPoints`]), the interval (`Core(NonFiniteInput)`,
//! `Core(EmptyInterval)`), the parameter byte length ([`Field::ParameterBytes`]), the
//! finiteness of x0, xT, the via-points and every parameter ([`FormatError::NonFinite`]), and
//! last the via-point times (`Core(InvalidViaPoints)` unless increasing strictly inside
//! (t0, T)).
//!
//! [`encode`] and [`encode_trajectory`] run the same checks on their input, so they never
//! write a blob that the readers refuse. Building the value ([`ModelView::to_finn`],
//! [`TrajectoryView::to_trajectory`]) adds the capacity checks
//! ([`FormatError::CapacityMismatch`]) and whatever finn-core refuses in the target type.
//!
//! # Example
//!
//! ```
//! use finn_core::format::{decode, encode, ModelHeader, Payload, Scalar};
//! use finn_core::{Activation, Antiderivative, Bound, Constraint, Kind, Method, Resolved};
//!
//! // A positive network on [0, 2] with one hidden layer of 2 units: 2 + 2 + 2 parameters.
//! let params = [1.0, -0.5, 0.2, 0.3, 1.0, 2.0];
//! let header = ModelHeader {
//!     payload: Payload::Model,
//!     kind: Kind::Positive,
//!     activation: Activation::Sigma,
//!     n: 1,
//!     widths: &[2],
//!     domain_lower: &[0.0],
//!     domain_upper: &[2.0],
//!     constraint: Some(Constraint::new(Bound::Equal, Method::Scale, 1.0)),
//!     constants: Resolved::scaled(0.37),
//! };
//! let mut buf = [0u8; 256];
//! let len = encode(&header, &params, Scalar::F64, &mut buf).unwrap();
//! let view = decode(&buf[..len]).unwrap();
//! assert_eq!(view.widths(), &[2]);
//! assert_eq!(view.parameters().collect::<Vec<f64>>(), params);
//! // Load into a model of capacity 1 input, 4 units, 2 layers, in f32 on the device.
//! let model = view.to_finn::<f32, 1, 4, 2>().unwrap();
//! assert!(model.integrand(&[0.5]).unwrap() > 0.0);
//! // Any damage is a typed error.
//! let mut bad = buf;
//! bad[20] ^= 0x40;
//! assert!(decode(&bad[..len]).is_err());
//! ```

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::activation::MAX_DIM;
use crate::domain::check_box;
use crate::jet::{Dim, JetDim};
use crate::trajectory::{OutsidePolicy, Trajectory, Via};
use crate::{Activation, Constraint, Domain, Error, Finn, Kind, Method, Network, Real, Resolved};

/// The first four bytes of every blob: `b"FINN"`.
pub const MAGIC: [u8; 4] = *b"FINN";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Most hidden layers a blob may describe.
pub const MAX_LAYERS: usize = 8;
/// Widest hidden layer a blob may describe (widths are stored as `u16`).
pub const MAX_WIDTH: usize = u16::MAX as usize;
/// Most coordinates a trajectory blob may describe (D in 1..=6).
pub const MAX_COORDS: usize = 6;
/// Most via-points a trajectory blob may describe. The correction basis s(1 - s)(2s - 1)^m
/// grows ill-conditioned with its size; eight interior points is far more than a trained
/// trajectory needs.
pub const MAX_VIA: usize = 8;
/// Bytes before the body: magic and version.
pub const PREFIX_LEN: usize = 6;
/// Bytes of the CRC trailer.
pub const CRC_LEN: usize = 4;
/// The shortest byte string that can hold magic, version and CRC.
pub const MIN_LEN: usize = PREFIX_LEN + CRC_LEN;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The CRC-32/ISO-HDLC checksum the blob's trailer holds (the CRC of zip, PNG and Ethernet).
///
/// ```
/// assert_eq!(finn_core::format::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// What a blob contains: the first field of every body, which decides the fields after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Payload {
    /// One network over a domain, with its constraint: a [`Finn`] ([`decode`]).
    Model,
    /// D one-input networks with their interval, endpoints and via-points: a
    /// [`Trajectory`] ([`decode_trajectory`]).
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

/// The floating-point type the parameters are stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scalar {
    /// IEEE 754 single precision, 4 bytes little-endian.
    F32,
    /// IEEE 754 double precision, 8 bytes little-endian.
    F64,
}

impl Scalar {
    /// Bytes per stored parameter: 4 or 8.
    pub const fn size(self) -> usize {
        match self {
            Scalar::F32 => 4,
            Scalar::F64 => 8,
        }
    }
}

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
    /// The first four bytes are not [`MAGIC`].
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
    /// [`Scalar::F32`]).
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
    /// The output buffer of [`encode`] is too small.
    BufferTooSmall {
        /// Bytes the blob needs.
        needed: usize,
        /// Bytes available.
        capacity: usize,
    },
    /// The blob holds another payload than the one asked for (a trajectory given to
    /// [`decode`], a model given to [`decode_trajectory`], or a [`ModelHeader`] whose payload
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

/// Everything about a model except its parameters, with sizes known at run time.
///
/// [`encode`] writes it; [`ModelView::header`] gives it back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelHeader<'a> {
    /// What the blob contains ([`Payload::Model`]).
    pub payload: Payload,
    /// Positive or signed network.
    pub kind: Kind,
    /// Hidden-unit activation (a positive network needs [`Activation::Sigma`]).
    pub activation: Activation,
    /// Input dimension n, 1..=[`MAX_DIM`].
    pub n: usize,
    /// Hidden widths, first layer first: 1..=[`MAX_LAYERS`] of them, each in 1..=[`MAX_WIDTH`].
    pub widths: &'a [usize],
    /// Lower corner of the domain (n entries).
    pub domain_lower: &'a [f64],
    /// Upper corner of the domain (n entries, each above the lower one).
    pub domain_upper: &'a [f64],
    /// The integral constraint, if any.
    pub constraint: Option<Constraint<f64>>,
    /// The constants that impose it, resolved in `f64` (`Resolved::scaled(1.0)` without one).
    pub constants: Resolved<f64>,
}

impl ModelHeader<'_> {
    /// Number of parameters of this shape, with the shape checks of [`decode`].
    ///
    /// Errors: `WrongPayload` (a payload other than [`Payload::Model`]), `BadDimension`,
    /// `BadLayers`, `BadWidth`, `ShapeMismatch` (domain lengths), `Core` (a positive network
    /// without sigma_n, an empty or non-finite domain), `TooLarge`.
    pub fn parameter_count(&self) -> Result<usize, FormatError> {
        if self.payload != Payload::Model {
            return Err(FormatError::WrongPayload {
                expected: Payload::Model,
                found: self.payload,
            });
        }
        if self.n == 0 || self.n > MAX_DIM {
            return Err(FormatError::BadDimension { n: self.n });
        }
        if self.widths.is_empty() || self.widths.len() > MAX_LAYERS {
            return Err(FormatError::BadLayers {
                layers: self.widths.len(),
            });
        }
        for (layer, &width) in self.widths.iter().enumerate() {
            if width == 0 || width > MAX_WIDTH {
                return Err(FormatError::BadWidth { layer, width });
            }
        }
        for (field, corner) in [
            (Field::DomainLower, self.domain_lower),
            (Field::DomainUpper, self.domain_upper),
        ] {
            if corner.len() != self.n {
                return Err(FormatError::ShapeMismatch {
                    field,
                    expected: self.n,
                    found: corner.len(),
                });
            }
        }
        if self.kind == Kind::Positive && self.activation != Activation::Sigma {
            return Err(FormatError::Core(Error::InvalidShape));
        }
        check_box(self.domain_lower, self.domain_upper)?;
        checked_parameter_count(self.n, self.widths).ok_or(FormatError::TooLarge)
    }

    /// Checks eps, the constants and the parameters: all finite (`NonFinite`), then the
    /// constraint against the network (`Core`).
    fn check_values(&self, params: impl Iterator<Item = f64>) -> Result<(), FormatError> {
        if let Some(c) = &self.constraint {
            if !c.eps.is_finite() {
                return Err(FormatError::NonFinite {
                    field: Field::Epsilon,
                });
            }
        }
        let Resolved {
            scale,
            gap,
            gap_low,
        } = self.constants;
        if !(scale.is_finite() && gap.is_finite() && gap_low.is_finite()) {
            return Err(FormatError::NonFinite {
                field: Field::Constants,
            });
        }
        for p in params {
            if !p.is_finite() {
                return Err(FormatError::NonFinite {
                    field: Field::Parameters,
                });
            }
        }
        if let Some(c) = &self.constraint {
            if c.method == Method::Scale {
                if self.kind != Kind::Positive {
                    return Err(FormatError::Core(Error::ScaleNeedsPositiveNetwork));
                }
                if c.eps <= 0.0 {
                    return Err(FormatError::Core(Error::NonPositiveEpsilon));
                }
            }
        }
        if scale <= 0.0 {
            return Err(FormatError::Core(Error::DegenerateIntegral));
        }
        if self.kind == Kind::Signed && scale != 1.0 {
            return Err(FormatError::Core(Error::ScaleNeedsPositiveNetwork));
        }
        Ok(())
    }
}

/// [`crate::parameter_count`] without overflow: `None` when it does not fit in `usize`.
fn checked_parameter_count(n: usize, widths: &[usize]) -> Option<usize> {
    let mut count = 0usize;
    let mut fan_in = n;
    for &w in widths {
        count = count.checked_add(w.checked_mul(fan_in)?.checked_add(w)?)?;
        fan_in = w;
    }
    count.checked_add(fan_in)
}

/// Checks a model as [`decode`] checks a blob: shape, parameter count, finiteness, and the
/// constraint against the network. Returns the parameter count.
///
/// ```
/// use finn_core::format::{validate, FormatError, ModelHeader, Payload};
/// use finn_core::{Activation, Kind, Resolved};
/// let header = ModelHeader {
///     payload: Payload::Model,
///     kind: Kind::Signed,
///     activation: Activation::Tanh,
///     n: 1,
///     widths: &[1],
///     domain_lower: &[0.0],
///     domain_upper: &[1.0],
///     constraint: None,
///     constants: Resolved::scaled(1.0),
/// };
/// assert_eq!(validate(&header, &[1.0, 0.0, 1.0]), Ok(3));
/// assert_eq!(
///     validate(&header, &[1.0, f64::NAN, 1.0]),
///     Err(FormatError::NonFinite { field: finn_core::format::Field::Parameters })
/// );
/// ```
pub fn validate(header: &ModelHeader<'_>, params: &[f64]) -> Result<usize, FormatError> {
    let count = header.parameter_count()?;
    if params.len() != count {
        return Err(FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: count,
            found: params.len(),
        });
    }
    header.check_values(params.iter().copied())?;
    Ok(count)
}

/// A sequence of at most `C` items on the wire; decoding counts every item, keeps the first
/// `C`, and leaves the length check to the shape checks.
#[derive(Clone, Copy, Debug)]
struct Seq<T, const C: usize> {
    items: [T; C],
    len: usize,
}

impl<T: Copy + Default, const C: usize> Default for Seq<T, C> {
    fn default() -> Self {
        Seq {
            items: [T::default(); C],
            len: 0,
        }
    }
}

impl<T: Copy + Default, const C: usize> Seq<T, C> {
    fn from_slice(values: &[T]) -> Self {
        let mut s = Seq {
            items: [T::default(); C],
            len: 0,
        };
        for v in values {
            s.push(*v);
        }
        s
    }

    fn push(&mut self, v: T) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = v;
        }
        self.len = self.len.saturating_add(1);
    }

    fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&self.items)
    }
}

impl<T: Copy + Default + Serialize, const C: usize> Serialize for Seq<T, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self.as_slice();
        let mut seq = serializer.serialize_seq(Some(items.len()))?;
        for v in items {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

impl<'de, T: Copy + Default + Deserialize<'de>, const C: usize> Deserialize<'de> for Seq<T, C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor<T, const C: usize>(PhantomData<T>);
        impl<'de, T: Copy + Default + Deserialize<'de>, const C: usize> Visitor<'de> for SeqVisitor<T, C> {
            type Value = Seq<T, C>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Seq {
                    items: [T::default(); C],
                    len: 0,
                };
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(SeqVisitor::<T, C>(PhantomData))
    }
}

/// The parameters on their way out, as a byte string of `count` little-endian floats.
///
/// Postcard writes a sequence of `u8` exactly as a byte string: the varint of the length, then
/// the bytes. That lets the floats be converted on the fly, without a buffer. [`encoded_len`]
/// passes no values, so only the length prefix is measured.
struct ParamsOut<'a> {
    values: &'a [f64],
    count: usize,
    scalar: Scalar,
}

impl Serialize for ParamsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = self.count.saturating_mul(self.scalar.size());
        let mut seq = serializer.serialize_seq(Some(len))?;
        for &v in self.values {
            match self.scalar {
                Scalar::F32 => {
                    for b in (v as f32).to_le_bytes() {
                        seq.serialize_element(&b)?;
                    }
                }
                Scalar::F64 => {
                    for b in v.to_le_bytes() {
                        seq.serialize_element(&b)?;
                    }
                }
            }
        }
        seq.end()
    }
}

/// The parameters on their way in: borrowed from the blob.
struct ParamsIn<'a>(&'a [u8]);

impl<'de: 'a, 'a> Deserialize<'de> for ParamsIn<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = &'de [u8];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a borrowed byte string")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(v)
            }
        }
        deserializer.deserialize_bytes(BytesVisitor).map(ParamsIn)
    }
}

/// The body of a blob, fields in wire order; `P` is how the parameters travel.
#[derive(Serialize, Deserialize)]
struct Body<P> {
    payload: Payload,
    kind: Kind,
    activation: Activation,
    n: u8,
    widths: Seq<u16, MAX_LAYERS>,
    domain_lower: Seq<f64, MAX_DIM>,
    domain_upper: Seq<f64, MAX_DIM>,
    constraint: Option<Constraint<f64>>,
    constants: Resolved<f64>,
    scalar: Scalar,
    params: P,
}

/// The body of a checked header (n <= MAX_DIM, widths <= MAX_WIDTH).
fn body<'a>(
    header: &ModelHeader<'_>,
    values: &'a [f64],
    count: usize,
    scalar: Scalar,
) -> Body<ParamsOut<'a>> {
    let mut widths = Seq::<u16, MAX_LAYERS>::from_slice(&[]);
    for &w in header.widths {
        widths.push(u16::try_from(w).unwrap_or(u16::MAX));
    }
    Body {
        payload: header.payload,
        kind: header.kind,
        activation: header.activation,
        n: u8::try_from(header.n).unwrap_or(u8::MAX),
        widths,
        domain_lower: Seq::from_slice(header.domain_lower),
        domain_upper: Seq::from_slice(header.domain_upper),
        constraint: header.constraint,
        constants: header.constants,
        scalar,
        params: ParamsOut {
            values,
            count,
            scalar,
        },
    }
}

/// The exact length of the blob [`encode`] writes for this header and scalar type.
///
/// Errors: the shape errors of [`ModelHeader::parameter_count`].
///
/// ```
/// use finn_core::format::{encoded_len, ModelHeader, Payload, Scalar};
/// use finn_core::{Activation, Kind, Resolved};
/// let header = ModelHeader {
///     payload: Payload::Model,
///     kind: Kind::Signed,
///     activation: Activation::Tanh,
///     n: 1,
///     widths: &[1],
///     domain_lower: &[0.0],
///     domain_upper: &[1.0],
///     constraint: None,
///     constants: Resolved::scaled(1.0),
/// };
/// // Magic and version, 50 bytes of header fields, the parameters (their byte length 12 as a
/// // one-byte varint, then 3 f32), the CRC.
/// assert_eq!(encoded_len(&header, Scalar::F32), Ok(6 + 50 + 13 + 4));
/// ```
pub fn encoded_len(header: &ModelHeader<'_>, scalar: Scalar) -> Result<usize, FormatError> {
    let count = header.parameter_count()?;
    let param_bytes = count
        .checked_mul(scalar.size())
        .ok_or(FormatError::TooLarge)?;
    // Everything but the parameter bytes themselves (a few dozen bytes to measure).
    blob_len(&body(header, &[], count, scalar), param_bytes)
}

/// Writes the blob of a model into `out` and returns its length; never allocates.
///
/// `params` are in the flat layout of [`Network::new`] (raw, before |w| for a positive
/// network). With [`Scalar::F32`] they are rounded to `f32`.
///
/// Errors: every check of [`validate`]; `NonFinite` if a parameter overflows `f32`;
/// `BufferTooSmall` (see [`encoded_len`]).
pub fn encode(
    header: &ModelHeader<'_>,
    params: &[f64],
    scalar: Scalar,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let count = validate(header, params)?;
    if scalar == Scalar::F32 {
        header.check_values(params.iter().map(|&v| f64::from(v as f32)))?;
    }
    let needed = encoded_len(header, scalar)?;
    write_blob(&body(header, params, count, scalar), needed, out)
}

/// Writes magic, version, `body` and the CRC into `out[..needed]`; `needed` is the exact
/// length of the blob (from the matching `*encoded_len`).
fn write_blob<B: Serialize>(body: &B, needed: usize, out: &mut [u8]) -> Result<usize, FormatError> {
    let capacity = out.len();
    let too_small = FormatError::BufferTooSmall { needed, capacity };
    let body_end = needed.checked_sub(CRC_LEN).ok_or(too_small)?;
    let framed = out.get_mut(..body_end).ok_or(too_small)?;
    if framed.len() < PREFIX_LEN {
        return Err(too_small);
    }
    let (prefix, body_out) = framed.split_at_mut(PREFIX_LEN);
    let [m0, m1, m2, m3] = MAGIC;
    let [v0, v1] = VERSION.to_le_bytes();
    for (o, b) in prefix.iter_mut().zip([m0, m1, m2, m3, v0, v1]) {
        *o = b;
    }
    postcard::to_slice(body, body_out).map_err(|_| too_small)?;
    let crc = crc32(out.get(..body_end).ok_or(too_small)?);
    let trailer = out.get_mut(body_end..needed).ok_or(too_small)?;
    for (o, b) in trailer.iter_mut().zip(crc.to_le_bytes()) {
        *o = b;
    }
    Ok(needed)
}

/// The length of a blob whose body, without the parameter values, is `fields` (measured) and
/// whose parameters take `param_bytes` bytes.
fn blob_len<B: Serialize>(fields: &B, param_bytes: usize) -> Result<usize, FormatError> {
    let fields = postcard::serialize_with_flavor(fields, postcard::ser_flavors::Size::default())
        .map_err(|_| FormatError::TooLarge)?;
    fields
        .checked_add(param_bytes)
        .and_then(|len| len.checked_add(MIN_LEN))
        .ok_or(FormatError::TooLarge)
}

/// Checks length, magic, version and CRC, and returns the body bytes.
fn unframe(bytes: &[u8]) -> Result<&[u8], FormatError> {
    let len = bytes.len();
    let (framed, trailer) = match len.checked_sub(CRC_LEN) {
        Some(cut) if len >= MIN_LEN => bytes.split_at(cut),
        _ => return Err(FormatError::Truncated { len }),
    };
    let (m0, m1, m2, m3, v0, v1, body_bytes) = match framed {
        [m0, m1, m2, m3, v0, v1, body @ ..] => (*m0, *m1, *m2, *m3, *v0, *v1, body),
        _ => return Err(FormatError::Truncated { len }),
    };
    if [m0, m1, m2, m3] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = u16::from_le_bytes([v0, v1]);
    if version != VERSION {
        return Err(FormatError::UnsupportedVersion { found: version });
    }
    let stored = match trailer {
        [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => return Err(FormatError::Truncated { len }),
    };
    let computed = crc32(framed);
    if stored != computed {
        return Err(FormatError::CrcMismatch { stored, computed });
    }
    Ok(body_bytes)
}

/// A body parsed by its payload tag, before the content checks. (Without an allocator there
/// is no boxing the larger variant; it lives on the stack for the length of a decode.)
#[allow(clippy::large_enum_variant)]
enum ParsedBody<'a> {
    Model(Body<ParamsIn<'a>>),
    Trajectory(TrajectoryBody<ParamsIn<'a>>),
}

/// Parses the whole body by its payload: `Malformed` if it is not a valid encoding of that
/// payload's fields, `TrailingBytes` if bytes follow it.
fn parse_body(body_bytes: &[u8]) -> Result<ParsedBody<'_>, FormatError> {
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

/// Checks a model blob completely (see the module documentation for the order of the checks)
/// and returns a view of it that borrows the parameter bytes. A trajectory blob is
/// `WrongPayload` ([`decode_trajectory`] reads it). Never allocates, never panics.
pub fn decode(bytes: &[u8]) -> Result<ModelView<'_>, FormatError> {
    match parse_body(unframe(bytes)?)? {
        ParsedBody::Model(body) => ModelView::from_body(body),
        ParsedBody::Trajectory(_) => Err(FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Trajectory,
        }),
    }
}

/// A checked blob: the architecture, domain, constraint and constants copied out, the
/// parameters borrowed from the blob.
///
/// ```
/// # use finn_core::format::{decode, encode, ModelHeader, Payload, Scalar};
/// # use finn_core::{Activation, Kind, Resolved};
/// # let header = ModelHeader { payload: Payload::Model, kind: Kind::Signed,
/// #     activation: Activation::Tanh, n: 1, widths: &[1], domain_lower: &[0.0],
/// #     domain_upper: &[1.0], constraint: None, constants: Resolved::scaled(1.0) };
/// # let mut buf = [0u8; 128];
/// # let len = encode(&header, &[2.0, 0.5, -1.0], Scalar::F32, &mut buf).unwrap();
/// let view = decode(&buf[..len]).unwrap();
/// assert_eq!(view.scalar(), Scalar::F32);
/// assert_eq!(view.parameter(2), Some(-1.0));
/// assert_eq!(view.header(), header);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelView<'a> {
    payload: Payload,
    kind: Kind,
    activation: Activation,
    n: usize,
    depth: usize,
    widths: [usize; MAX_LAYERS],
    domain_lower: [f64; MAX_DIM],
    domain_upper: [f64; MAX_DIM],
    constraint: Option<Constraint<f64>>,
    constants: Resolved<f64>,
    scalar: Scalar,
    count: usize,
    params: &'a [u8],
}

impl<'a> ModelView<'a> {
    /// Runs the shape and value checks on a decoded body.
    fn from_body(body: Body<ParamsIn<'a>>) -> Result<Self, FormatError> {
        let n = usize::from(body.n);
        if n == 0 || n > MAX_DIM {
            return Err(FormatError::BadDimension { n });
        }
        if body.widths.len == 0 || body.widths.len > MAX_LAYERS {
            return Err(FormatError::BadLayers {
                layers: body.widths.len,
            });
        }
        for (field, corner) in [
            (Field::DomainLower, &body.domain_lower),
            (Field::DomainUpper, &body.domain_upper),
        ] {
            if corner.len != n {
                return Err(FormatError::ShapeMismatch {
                    field,
                    expected: n,
                    found: corner.len,
                });
            }
        }
        let mut view = ModelView {
            payload: body.payload,
            kind: body.kind,
            activation: body.activation,
            n,
            depth: body.widths.len,
            widths: [0; MAX_LAYERS],
            domain_lower: body.domain_lower.items,
            domain_upper: body.domain_upper.items,
            constraint: body.constraint,
            constants: body.constants,
            scalar: body.scalar,
            count: 0,
            params: body.params.0,
        };
        for (o, w) in view.widths.iter_mut().zip(body.widths.as_slice()) {
            *o = usize::from(*w);
        }
        let count = view.header().parameter_count()?;
        let expected = count
            .checked_mul(view.scalar.size())
            .ok_or(FormatError::TooLarge)?;
        if view.params.len() != expected {
            return Err(FormatError::ShapeMismatch {
                field: Field::ParameterBytes,
                expected,
                found: view.params.len(),
            });
        }
        view.count = count;
        view.header().check_values(view.parameters())?;
        Ok(view)
    }

    /// Everything but the parameters, borrowing from this view.
    pub fn header(&self) -> ModelHeader<'_> {
        ModelHeader {
            payload: self.payload,
            kind: self.kind,
            activation: self.activation,
            n: self.n,
            widths: self.widths(),
            domain_lower: self.domain_lower(),
            domain_upper: self.domain_upper(),
            constraint: self.constraint,
            constants: self.constants,
        }
    }

    /// What the blob contains.
    pub fn payload(&self) -> Payload {
        self.payload
    }

    /// Positive or signed network.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Hidden-unit activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Input dimension n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Hidden widths, first layer first.
    pub fn widths(&self) -> &[usize] {
        self.widths.get(..self.depth).unwrap_or(&[])
    }

    /// Lower corner of the domain.
    pub fn domain_lower(&self) -> &[f64] {
        self.domain_lower.get(..self.n).unwrap_or(&[])
    }

    /// Upper corner of the domain.
    pub fn domain_upper(&self) -> &[f64] {
        self.domain_upper.get(..self.n).unwrap_or(&[])
    }

    /// The integral constraint, if any.
    pub fn constraint(&self) -> Option<Constraint<f64>> {
        self.constraint
    }

    /// The resolved constants, in `f64`.
    pub fn constants(&self) -> Resolved<f64> {
        self.constants
    }

    /// The scalar type the parameters are stored in.
    pub fn scalar(&self) -> Scalar {
        self.scalar
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.count
    }

    /// The stored parameter bytes, borrowed from the blob.
    pub fn parameter_bytes(&self) -> &'a [u8] {
        self.params
    }

    /// Parameter `i` (widened to `f64`, which is exact), or `None` past the end.
    pub fn parameter(&self, i: usize) -> Option<f64> {
        let size = self.scalar.size();
        let start = i.checked_mul(size)?;
        let chunk = self.params.get(start..start.checked_add(size)?)?;
        Some(read_float(chunk, self.scalar))
    }

    /// The parameters in order, widened to `f64`.
    pub fn parameters(&self) -> Parameters<'a> {
        Parameters {
            chunks: self.params.chunks_exact(self.scalar.size()),
            scalar: self.scalar,
        }
    }

    /// Builds the model in scalar type `T` with capacity `N` inputs, `W` units and `L` layers,
    /// converting the parameters, domain and constants from the stored types. The parameters
    /// stream from the blob into the network: no buffer, whatever the model's size.
    ///
    /// Errors: `CapacityMismatch` (N differs from n, more layers than L, a width above W);
    /// `Core` when a value does not fit `T` (for example a parameter beyond `f32::MAX`, or
    /// domain corners that round to the same `f32`).
    pub fn to_finn<T: Real, const N: usize, const W: usize, const L: usize>(
        &self,
    ) -> Result<Finn<T, N, W, L>, FormatError>
    where
        Dim<N>: JetDim,
    {
        if N != self.n {
            return Err(FormatError::CapacityMismatch {
                field: Field::Dimension,
                capacity: N,
                found: self.n,
            });
        }
        let widths = self.widths();
        if widths.len() > L {
            return Err(FormatError::CapacityMismatch {
                field: Field::Layers,
                capacity: L,
                found: widths.len(),
            });
        }
        if let Some(&width) = widths.iter().find(|&&w| w > W) {
            return Err(FormatError::CapacityMismatch {
                field: Field::Width,
                capacity: W,
                found: width,
            });
        }
        let network = Network::<T, N, W, L>::from_parameters(
            self.kind,
            self.activation,
            widths,
            self.parameters().map(T::from_f64),
        )?;
        let convert = |corner: &[f64]| {
            let mut c = [T::ZERO; N];
            for (o, v) in c.iter_mut().zip(corner) {
                *o = T::from_f64(*v);
            }
            c
        };
        let domain = Domain::new(convert(self.domain_lower()), convert(self.domain_upper()))?;
        let constraint = self.constraint.map(|c| Constraint {
            bound: c.bound,
            method: c.method,
            eps: T::from_f64(c.eps),
        });
        let constants = Resolved {
            scale: T::from_f64(self.constants.scale),
            gap: T::from_f64(self.constants.gap),
            gap_low: T::from_f64(self.constants.gap_low),
        };
        Ok(Finn::with_constants(
            network, domain, constraint, constants,
        )?)
    }
}

/// The parameters of a [`ModelView`], widened to `f64`.
#[derive(Clone, Debug)]
pub struct Parameters<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
    scalar: Scalar,
}

impl Iterator for Parameters<'_> {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        self.chunks.next().map(|c| read_float(c, self.scalar))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for Parameters<'_> {}

/// One little-endian float of the given type (missing bytes read as 0).
fn read_float(chunk: &[u8], scalar: Scalar) -> f64 {
    match scalar {
        Scalar::F32 => {
            let mut b = [0u8; 4];
            for (o, v) in b.iter_mut().zip(chunk) {
                *o = *v;
            }
            f64::from(f32::from_le_bytes(b))
        }
        Scalar::F64 => {
            let mut b = [0u8; 8];
            for (o, v) in b.iter_mut().zip(chunk) {
                *o = *v;
            }
            f64::from_le_bytes(b)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Trajectory payload.

/// Everything about a trajectory except its parameters, with sizes known at run time.
///
/// D, the number of coordinates, is `x0.len()`. Every coordinate is a signed one-input network
/// of the same `activation` and `widths` (finn-core's [`Trajectory`]); [`encode_trajectory`]
/// writes it, [`TrajectoryView::header`] gives it back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrajectoryHeader<'a> {
    /// Hidden-unit activation of every coordinate network.
    pub activation: Activation,
    /// Hidden widths of every coordinate network, first layer first.
    pub widths: &'a [usize],
    /// Start time t0.
    pub t0: f64,
    /// End time T (> t0).
    pub t1: f64,
    /// Start state x0 (D entries, 1..=[`MAX_COORDS`]).
    pub x0: &'a [f64],
    /// End state xT (D entries).
    pub x1: &'a [f64],
    /// Via-point times, increasing, strictly inside (t0, T); at most [`MAX_VIA`].
    pub via_times: &'a [f64],
    /// Via-point positions, row-major: point k's D coordinates are entries `k*D .. k*D + D`.
    pub via_positions: &'a [f64],
    /// What sampling does outside [t0, T].
    pub policy: OutsidePolicy,
}

impl TrajectoryHeader<'_> {
    /// The number of coordinates D (`x0.len()`).
    pub fn coordinates(&self) -> usize {
        self.x0.len()
    }

    /// Parameters of one coordinate network, with the shape checks of [`decode_trajectory`].
    ///
    /// Errors: `BadLayers`, `BadWidth`, `BadCoordinates`, `ShapeMismatch` (`End`, `ViaPoints`),
    /// `TooManyViaPoints`, `Core` (an empty or non-finite interval), `TooLarge`.
    pub fn coordinate_parameter_count(&self) -> Result<usize, FormatError> {
        check_widths(self.widths)?;
        let d = self.coordinates();
        if d == 0 || d > MAX_COORDS {
            return Err(FormatError::BadCoordinates { d });
        }
        if self.x1.len() != d {
            return Err(FormatError::ShapeMismatch {
                field: Field::End,
                expected: d,
                found: self.x1.len(),
            });
        }
        let count = self.via_times.len();
        if count > MAX_VIA {
            return Err(FormatError::TooManyViaPoints { count });
        }
        if self.via_positions.len() != count * d {
            return Err(FormatError::ShapeMismatch {
                field: Field::ViaPoints,
                expected: count * d,
                found: self.via_positions.len(),
            });
        }
        check_box(&[self.t0], &[self.t1])?;
        checked_parameter_count(1, self.widths).ok_or(FormatError::TooLarge)
    }

    /// Parameters of all D coordinate networks together (D times
    /// [`TrajectoryHeader::coordinate_parameter_count`]), with the same checks.
    pub fn parameter_count(&self) -> Result<usize, FormatError> {
        self.coordinate_parameter_count()?
            .checked_mul(self.coordinates())
            .ok_or(FormatError::TooLarge)
    }

    /// Checks the states, the via-points and the parameters: all finite (`NonFinite`), then
    /// the via-point times increasing strictly inside (t0, T) (`Core(InvalidViaPoints)`).
    fn check_values(&self, params: impl Iterator<Item = f64>) -> Result<(), FormatError> {
        for (field, values) in [
            (Field::Start, self.x0),
            (Field::End, self.x1),
            (Field::ViaPoints, self.via_times),
            (Field::ViaPoints, self.via_positions),
        ] {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(FormatError::NonFinite { field });
            }
        }
        for p in params {
            if !p.is_finite() {
                return Err(FormatError::NonFinite {
                    field: Field::Parameters,
                });
            }
        }
        let mut last = self.t0;
        for &t in self.via_times {
            if t <= last || t >= self.t1 {
                return Err(FormatError::Core(Error::InvalidViaPoints));
            }
            last = t;
        }
        Ok(())
    }
}

/// 1..=[`MAX_LAYERS`] widths, each in 1..=[`MAX_WIDTH`].
fn check_widths(widths: &[usize]) -> Result<(), FormatError> {
    if widths.is_empty() || widths.len() > MAX_LAYERS {
        return Err(FormatError::BadLayers {
            layers: widths.len(),
        });
    }
    for (layer, &width) in widths.iter().enumerate() {
        if width == 0 || width > MAX_WIDTH {
            return Err(FormatError::BadWidth { layer, width });
        }
    }
    Ok(())
}

/// Checks a trajectory as [`decode_trajectory`] checks a blob: shape, parameter count,
/// finiteness, via-point order. `params` holds the D parameter vectors back to back, each in
/// finn-core's flat layout. Returns the total parameter count.
///
/// ```
/// use finn_core::format::{validate_trajectory, TrajectoryHeader};
/// use finn_core::trajectory::OutsidePolicy;
/// use finn_core::Activation;
/// let header = TrajectoryHeader {
///     activation: Activation::Tanh,
///     widths: &[1],
///     t0: 0.0,
///     t1: 1.0,
///     x0: &[0.0, 0.0],
///     x1: &[1.0, 2.0],
///     via_times: &[],
///     via_positions: &[],
///     policy: OutsidePolicy::Hold,
/// };
/// // Two coordinates of 3 parameters each.
/// assert_eq!(validate_trajectory(&header, &[1.0, 0.0, 1.0, 2.0, 0.5, -1.0]), Ok(6));
/// ```
pub fn validate_trajectory(
    header: &TrajectoryHeader<'_>,
    params: &[f64],
) -> Result<usize, FormatError> {
    let total = header.parameter_count()?;
    if params.len() != total {
        return Err(FormatError::ShapeMismatch {
            field: Field::Parameters,
            expected: total,
            found: params.len(),
        });
    }
    header.check_values(params.iter().copied())?;
    Ok(total)
}

/// The outside-interval policy on the wire.
#[derive(Clone, Copy, Serialize, Deserialize)]
enum PolicyWire {
    Hold,
    Reject,
}

impl From<OutsidePolicy> for PolicyWire {
    fn from(p: OutsidePolicy) -> Self {
        match p {
            OutsidePolicy::Hold => PolicyWire::Hold,
            OutsidePolicy::Reject => PolicyWire::Reject,
        }
    }
}

impl From<PolicyWire> for OutsidePolicy {
    fn from(p: PolicyWire) -> Self {
        match p {
            PolicyWire::Hold => OutsidePolicy::Hold,
            PolicyWire::Reject => OutsidePolicy::Reject,
        }
    }
}

/// One via-point on the wire.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct ViaWire {
    time: f64,
    position: Seq<f64, MAX_COORDS>,
}

/// The body of a trajectory blob, fields in wire order.
#[derive(Serialize, Deserialize)]
struct TrajectoryBody<P> {
    payload: Payload,
    kind: Kind,
    activation: Activation,
    n: u8,
    widths: Seq<u16, MAX_LAYERS>,
    coordinates: u8,
    t0: f64,
    t1: f64,
    x0: Seq<f64, MAX_COORDS>,
    x1: Seq<f64, MAX_COORDS>,
    via: Seq<ViaWire, MAX_VIA>,
    policy: PolicyWire,
    scalar: Scalar,
    params: P,
}

/// The body of a checked trajectory header (`total` parameters in all).
fn trajectory_body<'a>(
    header: &TrajectoryHeader<'_>,
    values: &'a [f64],
    total: usize,
    scalar: Scalar,
) -> TrajectoryBody<ParamsOut<'a>> {
    let d = header.coordinates();
    let mut widths = Seq::<u16, MAX_LAYERS>::default();
    for &w in header.widths {
        widths.push(u16::try_from(w).unwrap_or(u16::MAX));
    }
    let mut via = Seq::<ViaWire, MAX_VIA>::default();
    for (k, &time) in header.via_times.iter().enumerate() {
        let start = k.saturating_mul(d);
        let position = header
            .via_positions
            .get(start..start.saturating_add(d))
            .unwrap_or(&[]);
        via.push(ViaWire {
            time,
            position: Seq::from_slice(position),
        });
    }
    TrajectoryBody {
        payload: Payload::Trajectory,
        kind: Kind::Signed,
        activation: header.activation,
        n: 1,
        widths,
        coordinates: u8::try_from(d).unwrap_or(u8::MAX),
        t0: header.t0,
        t1: header.t1,
        x0: Seq::from_slice(header.x0),
        x1: Seq::from_slice(header.x1),
        via,
        policy: header.policy.into(),
        scalar,
        params: ParamsOut {
            values,
            count: total,
            scalar,
        },
    }
}

/// The exact length of the blob [`encode_trajectory`] writes for this header and scalar type.
///
/// Errors: the shape errors of [`TrajectoryHeader::parameter_count`].
pub fn trajectory_encoded_len(
    header: &TrajectoryHeader<'_>,
    scalar: Scalar,
) -> Result<usize, FormatError> {
    let total = header.parameter_count()?;
    let param_bytes = total
        .checked_mul(scalar.size())
        .ok_or(FormatError::TooLarge)?;
    blob_len(&trajectory_body(header, &[], total, scalar), param_bytes)
}

/// Writes the blob of a trajectory into `out` and returns its length; never allocates.
///
/// `params` holds the D coordinate networks' parameter vectors back to back, each in the flat
/// layout of [`Network::new`]. With [`Scalar::F32`] they are rounded to `f32`; the times, states
/// and via-points always stay `f64`.
///
/// Errors: every check of [`validate_trajectory`]; `NonFinite` if a parameter overflows `f32`;
/// `BufferTooSmall` (see [`trajectory_encoded_len`]).
///
/// ```
/// use finn_core::format::{decode_trajectory, encode_trajectory, Scalar, TrajectoryHeader};
/// use finn_core::trajectory::OutsidePolicy;
/// use finn_core::Activation;
/// let header = TrajectoryHeader {
///     activation: Activation::Tanh,
///     widths: &[2],
///     t0: 0.0,
///     t1: 2.0,
///     x0: &[0.0, 1.0],
///     x1: &[1.0, -1.0],
///     via_times: &[1.0],
///     via_positions: &[0.7, 0.2],
///     policy: OutsidePolicy::Reject,
/// };
/// // Two coordinates, 2 + 2 + 2 parameters each (first-layer weights, biases, output weights).
/// let params = [0.9, -1.2, 0.1, 0.3, 1.5, 0.4, 0.2, 0.8, -0.5, 0.0, -0.7, 1.1];
/// let mut buf = [0u8; 256];
/// let len = encode_trajectory(&header, &params, Scalar::F32, &mut buf).unwrap();
/// let view = decode_trajectory(&buf[..len]).unwrap();
/// let traj = view.to_trajectory::<f32, 2, 4, 2, 1>().unwrap();
/// assert_eq!(traj.sample(0.0).unwrap().position, [0.0, 1.0]);
/// assert_eq!(traj.sample(2.0).unwrap().position, [1.0, -1.0]);
/// let via = traj.sample(1.0).unwrap().position;
/// assert!((via[0] - 0.7).abs() < 1e-6 && (via[1] - 0.2).abs() < 1e-6);
/// ```
pub fn encode_trajectory(
    header: &TrajectoryHeader<'_>,
    params: &[f64],
    scalar: Scalar,
    out: &mut [u8],
) -> Result<usize, FormatError> {
    let total = validate_trajectory(header, params)?;
    if scalar == Scalar::F32 && params.iter().any(|&v| !(v as f32).is_finite()) {
        return Err(FormatError::NonFinite {
            field: Field::Parameters,
        });
    }
    let needed = trajectory_encoded_len(header, scalar)?;
    write_blob(&trajectory_body(header, params, total, scalar), needed, out)
}

/// Checks a trajectory blob completely (see the module documentation for the order of the
/// checks) and returns a view of it that borrows the parameter bytes. A model blob is
/// `WrongPayload`. Never allocates, never panics.
// Not inlined: its postcard temporaries then live in a frame that is gone before loading
// starts, instead of adding to the loader's frame (the device's stack high-water mark).
#[inline(never)]
pub fn decode_trajectory(bytes: &[u8]) -> Result<TrajectoryView<'_>, FormatError> {
    match parse_body(unframe(bytes)?)? {
        ParsedBody::Trajectory(body) => TrajectoryView::from_body(body),
        ParsedBody::Model(_) => Err(FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::Model,
        }),
    }
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

/// A checked trajectory blob: the architecture, interval, states and via-points copied out,
/// the parameters borrowed from the blob.
///
/// ```
/// # use finn_core::format::{decode_trajectory, encode_trajectory, Scalar, TrajectoryHeader};
/// # use finn_core::trajectory::OutsidePolicy;
/// # use finn_core::Activation;
/// # let header = TrajectoryHeader { activation: Activation::Tanh, widths: &[1], t0: 0.0,
/// #     t1: 1.0, x0: &[0.0], x1: &[1.0], via_times: &[], via_positions: &[],
/// #     policy: OutsidePolicy::Hold };
/// # let mut buf = [0u8; 128];
/// # let len = encode_trajectory(&header, &[2.0, 0.5, -1.0], Scalar::F64, &mut buf).unwrap();
/// let view = decode_trajectory(&buf[..len]).unwrap();
/// assert_eq!(view.coordinates(), 1);
/// assert_eq!(view.interval(), (0.0, 1.0));
/// assert_eq!(view.coordinate_parameters(0).unwrap().collect::<Vec<_>>(), [2.0, 0.5, -1.0]);
/// assert_eq!(view.header(), header);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrajectoryView<'a> {
    activation: Activation,
    depth: usize,
    widths: [usize; MAX_LAYERS],
    d: usize,
    t0: f64,
    t1: f64,
    x0: [f64; MAX_COORDS],
    x1: [f64; MAX_COORDS],
    via_count: usize,
    via_times: [f64; MAX_VIA],
    /// Row-major with stride `d`.
    via_positions: [f64; MAX_VIA * MAX_COORDS],
    policy: OutsidePolicy,
    scalar: Scalar,
    /// Parameters per coordinate.
    count: usize,
    params: &'a [u8],
}

impl<'a> TrajectoryView<'a> {
    /// Runs the shape and value checks on a decoded body.
    fn from_body(body: TrajectoryBody<ParamsIn<'a>>) -> Result<Self, FormatError> {
        let n = usize::from(body.n);
        if body.kind != Kind::Signed || n != 1 {
            return Err(FormatError::BadCoordinateNetwork { kind: body.kind, n });
        }
        if body.widths.len == 0 || body.widths.len > MAX_LAYERS {
            return Err(FormatError::BadLayers {
                layers: body.widths.len,
            });
        }
        let mut widths = [0; MAX_LAYERS];
        for (o, w) in widths.iter_mut().zip(body.widths.as_slice()) {
            *o = usize::from(*w);
        }
        check_widths(widths.get(..body.widths.len).unwrap_or(&[]))?;
        let d = usize::from(body.coordinates);
        if d == 0 || d > MAX_COORDS {
            return Err(FormatError::BadCoordinates { d });
        }
        for (field, state) in [(Field::Start, &body.x0), (Field::End, &body.x1)] {
            if state.len != d {
                return Err(FormatError::ShapeMismatch {
                    field,
                    expected: d,
                    found: state.len,
                });
            }
        }
        if body.via.len > MAX_VIA {
            return Err(FormatError::TooManyViaPoints {
                count: body.via.len,
            });
        }
        let mut view = TrajectoryView {
            activation: body.activation,
            depth: body.widths.len,
            widths,
            d,
            t0: body.t0,
            t1: body.t1,
            x0: body.x0.items,
            x1: body.x1.items,
            via_count: body.via.len,
            via_times: [0.0; MAX_VIA],
            via_positions: [0.0; MAX_VIA * MAX_COORDS],
            policy: body.policy.into(),
            scalar: body.scalar,
            count: 0,
            params: body.params.0,
        };
        for (k, via) in body.via.as_slice().iter().enumerate() {
            if via.position.len != d {
                return Err(FormatError::ShapeMismatch {
                    field: Field::ViaPoints,
                    expected: d,
                    found: via.position.len,
                });
            }
            if let Some(t) = view.via_times.get_mut(k) {
                *t = via.time;
            }
            let row = view
                .via_positions
                .iter_mut()
                .skip(k.saturating_mul(d))
                .take(d);
            for (o, p) in row.zip(via.position.as_slice()) {
                *o = *p;
            }
        }
        let count = view.header().coordinate_parameter_count()?;
        let expected = count
            .checked_mul(d)
            .and_then(|total| total.checked_mul(view.scalar.size()))
            .ok_or(FormatError::TooLarge)?;
        if view.params.len() != expected {
            return Err(FormatError::ShapeMismatch {
                field: Field::ParameterBytes,
                expected,
                found: view.params.len(),
            });
        }
        view.count = count;
        view.header().check_values(view.parameters())?;
        Ok(view)
    }

    /// Everything but the parameters, borrowing from this view.
    pub fn header(&self) -> TrajectoryHeader<'_> {
        TrajectoryHeader {
            activation: self.activation,
            widths: self.widths(),
            t0: self.t0,
            t1: self.t1,
            x0: self.start(),
            x1: self.end(),
            via_times: self.via_times(),
            via_positions: self.via_positions(),
            policy: self.policy,
        }
    }

    /// Hidden-unit activation of the coordinate networks.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Hidden widths of the coordinate networks, first layer first.
    pub fn widths(&self) -> &[usize] {
        self.widths.get(..self.depth).unwrap_or(&[])
    }

    /// The number of coordinates D.
    pub fn coordinates(&self) -> usize {
        self.d
    }

    /// The interval (t0, T).
    pub fn interval(&self) -> (f64, f64) {
        (self.t0, self.t1)
    }

    /// The start state x0.
    pub fn start(&self) -> &[f64] {
        self.x0.get(..self.d).unwrap_or(&[])
    }

    /// The end state xT.
    pub fn end(&self) -> &[f64] {
        self.x1.get(..self.d).unwrap_or(&[])
    }

    /// The via-point times.
    pub fn via_times(&self) -> &[f64] {
        self.via_times.get(..self.via_count).unwrap_or(&[])
    }

    /// The via-point positions, row-major (point k's coordinates at `k*D .. k*D + D`).
    pub fn via_positions(&self) -> &[f64] {
        self.via_positions
            .get(..self.via_count.saturating_mul(self.d))
            .unwrap_or(&[])
    }

    /// Via-point `k`: its time and position, or `None` past the end.
    pub fn via_point(&self, k: usize) -> Option<(f64, &[f64])> {
        let time = *self.via_times().get(k)?;
        let start = k.checked_mul(self.d)?;
        let position = self
            .via_positions()
            .get(start..start.checked_add(self.d)?)?;
        Some((time, position))
    }

    /// What sampling does outside [t0, T].
    pub fn policy(&self) -> OutsidePolicy {
        self.policy
    }

    /// The scalar type the parameters are stored in.
    pub fn scalar(&self) -> Scalar {
        self.scalar
    }

    /// Parameters of one coordinate network.
    pub fn coordinate_parameter_count(&self) -> usize {
        self.count
    }

    /// Parameters of all coordinate networks together.
    pub fn parameter_count(&self) -> usize {
        self.count.saturating_mul(self.d)
    }

    /// The stored parameter bytes of all coordinates, borrowed from the blob.
    pub fn parameter_bytes(&self) -> &'a [u8] {
        self.params
    }

    /// Every parameter in order (coordinate 0's vector first), widened to `f64`.
    pub fn parameters(&self) -> Parameters<'a> {
        Parameters {
            chunks: self.params.chunks_exact(self.scalar.size()),
            scalar: self.scalar,
        }
    }

    /// The parameters of coordinate `i`'s network, widened to `f64`; `None` for i >= D.
    pub fn coordinate_parameters(&self, i: usize) -> Option<Parameters<'a>> {
        if i >= self.d {
            return None;
        }
        let size = self.count.checked_mul(self.scalar.size())?;
        let start = i.checked_mul(size)?;
        let bytes = self.params.get(start..start.checked_add(size)?)?;
        Some(Parameters {
            chunks: bytes.chunks_exact(self.scalar.size()),
            scalar: self.scalar,
        })
    }

    /// Coordinate `i`'s network in `T`, streamed from the blob.
    /// Whether the blob fits a trajectory of capacity D, W, L, V.
    fn check_capacity<const D: usize, const W: usize, const L: usize, const V: usize>(
        &self,
    ) -> Result<(), FormatError> {
        if D != self.d {
            return Err(FormatError::CapacityMismatch {
                field: Field::Coordinates,
                capacity: D,
                found: self.d,
            });
        }
        let widths = self.widths();
        if widths.len() > L {
            return Err(FormatError::CapacityMismatch {
                field: Field::Layers,
                capacity: L,
                found: widths.len(),
            });
        }
        if let Some(&width) = widths.iter().find(|&&w| w > W) {
            return Err(FormatError::CapacityMismatch {
                field: Field::Width,
                capacity: W,
                found: width,
            });
        }
        if self.via_count > V {
            return Err(FormatError::CapacityMismatch {
                field: Field::ViaPoints,
                capacity: V,
                found: self.via_count,
            });
        }
        Ok(())
    }

    /// Streams coordinate `i`'s parameters into `net`, in place.
    fn load_network<T: Real, const W: usize, const L: usize>(
        &self,
        i: usize,
        net: &mut Network<T, 1, W, L>,
    ) -> Result<(), FormatError> {
        let params = self
            .coordinate_parameters(i)
            .ok_or(FormatError::CapacityMismatch {
                field: Field::Coordinates,
                capacity: self.d,
                found: i,
            })?;
        Ok(net.load_parameters(
            Kind::Signed,
            self.activation,
            self.widths(),
            params.map(T::from_f64),
        )?)
    }

    /// Builds the trajectory in scalar type `T` with exactly `D` coordinates and capacity `W`
    /// units, `L` layers and `V` via-points, converting every stored value to `T`. The
    /// parameters stream from the blob into the networks ([`Network::from_parameters`]);
    /// [`Trajectory::new`] then solves the via-point correction once, in `T`.
    ///
    /// Errors: `CapacityMismatch` (D differs from the blob's, more layers than L, a width above
    /// W, more via-points than V); `Core` when the trajectory does not build in `T` (a value
    /// beyond `f32::MAX`, an interval or via-point times that collapse when rounded to `f32`,
    /// a singular via-point system, a network that overflows at t0 or T).
    pub fn to_trajectory<
        T: Real,
        const D: usize,
        const W: usize,
        const L: usize,
        const V: usize,
    >(
        &self,
    ) -> Result<Trajectory<T, D, W, L, V>, FormatError> {
        let mut trajectory = Trajectory::unloaded();
        self.load_trajectory_into(&mut trajectory)?;
        Ok(trajectory)
    }

    /// As [`TrajectoryView::to_trajectory`], loading into an existing trajectory in place (for
    /// example one in a `static`), so that no copy of it is built on the stack. On an error
    /// the target is left unloaded (sampling it is an error).
    ///
    /// Errors as for [`TrajectoryView::to_trajectory`].
    #[inline(never)]
    pub fn load_trajectory_into<
        T: Real,
        const D: usize,
        const W: usize,
        const L: usize,
        const V: usize,
    >(
        &self,
        target: &mut Trajectory<T, D, W, L, V>,
    ) -> Result<(), FormatError> {
        self.check_capacity::<D, W, L, V>()?;
        for (i, net) in target.coordinates_mut().iter_mut().enumerate() {
            self.load_network(i, net)?;
        }
        let state = |values: &[f64]| {
            let mut x = [T::ZERO; D];
            for (o, v) in x.iter_mut().zip(values) {
                *o = T::from_f64(*v);
            }
            x
        };
        let mut via = [Via {
            time: T::ZERO,
            position: [T::ZERO; D],
        }; V];
        for (k, v) in via.iter_mut().enumerate() {
            if let Some((time, position)) = self.via_point(k) {
                v.time = T::from_f64(time);
                v.position = state(position);
            }
        }
        Ok(target.reload(
            T::from_f64(self.t0),
            T::from_f64(self.t1),
            state(self.start()),
            state(self.end()),
            via.get(..self.via_count).unwrap_or(&[]),
            self.policy,
        )?)
    }
}

//! The model file format: a checked `postcard` blob that loads into the fixed-size types of
//! this crate without allocation.
//!
//! A blob holds one trained model: its architecture, its domain, its integral constraint with
//! the constants resolved on the host, and its parameters. [`encode`] writes it into a caller's
//! buffer; [`decode`] checks it completely and returns a [`ModelView`] that borrows the
//! parameter bytes (zero copy); [`ModelView::to_finn`] builds a [`Finn`] of any capacity and
//! either scalar type from it. Every corrupt, truncated, wrong-version or wrong-shape blob is a
//! [`FormatError`], never a panic.
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
//! | # | field        | encoding                                                             |
//! |---|--------------|----------------------------------------------------------------------|
//! | 1 | payload      | enum [`Payload`]: 0 = `Model` (the only payload of version 1)         |
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
//! **Payload.** Field 1 reserves room for other contents: a later format version may add a
//! trajectory payload (several networks plus their endpoints) as a new variant. The body of a
//! `Model` payload stays as above, so a later reader still reads version-1 blobs; this reader
//! refuses any other version with [`FormatError::UnsupportedVersion`].
//!
//! # Checks, in order
//!
//! [`decode`] reports the first failing check: length ([`FormatError::Truncated`], shorter than
//! the 10 bytes of magic, version and CRC; a blob cut anywhere later fails the CRC), magic
//! ([`FormatError::BadMagic`]), version ([`FormatError::UnsupportedVersion`]), CRC
//! ([`FormatError::CrcMismatch`]), the postcard body ([`FormatError::Malformed`]), bytes after
//! the body ([`FormatError::TrailingBytes`]), the shape (dimension, layers, widths, domain
//! lengths, kind and activation, the domain box, the parameter byte length), the finiteness of
//! eps, the constants and every parameter ([`FormatError::NonFinite`]), and last the consistency
//! of the constraint with the network ([`FormatError::Core`]). [`encode`] runs the same checks
//! on its input, so it never writes a blob that [`decode`] refuses.
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
use crate::{Activation, Constraint, Domain, Error, Finn, Kind, Method, Network, Real, Resolved};

/// The first four bytes of every blob: `b"FINN"`.
pub const MAGIC: [u8; 4] = *b"FINN";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Most hidden layers a blob may describe.
pub const MAX_LAYERS: usize = 8;
/// Widest hidden layer a blob may describe (widths are stored as `u16`).
pub const MAX_WIDTH: usize = u16::MAX as usize;
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

/// What a blob contains. Version 1 knows only single models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Payload {
    /// One network over a domain, with its constraint: a [`Finn`].
    Model,
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
    /// The model is inconsistent in a way `finn-core` itself refuses (empty or non-finite
    /// domain box, a positive network without sigma_n, a scale constraint on a signed network,
    /// scale <= 0, ...), or fails to build in the target scalar type.
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
    /// Errors: `BadDimension`, `BadLayers`, `BadWidth`, `ShapeMismatch` (domain lengths),
    /// `Core` (a positive network without sigma_n, an empty or non-finite domain), `TooLarge`.
    pub fn parameter_count(&self) -> Result<usize, FormatError> {
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
    let fields = postcard::serialize_with_flavor(
        &body(header, &[], count, scalar),
        postcard::ser_flavors::Size::default(),
    )
    .map_err(|_| FormatError::TooLarge)?;
    fields
        .checked_add(param_bytes)
        .and_then(|len| len.checked_add(MIN_LEN))
        .ok_or(FormatError::TooLarge)
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
    let capacity = out.len();
    let too_small = FormatError::BufferTooSmall { needed, capacity };
    let framed = out.get_mut(..needed - CRC_LEN).ok_or(too_small)?;
    let (prefix, body_out) = framed.split_at_mut(PREFIX_LEN);
    let [m0, m1, m2, m3] = MAGIC;
    let [v0, v1] = VERSION.to_le_bytes();
    for (o, b) in prefix.iter_mut().zip([m0, m1, m2, m3, v0, v1]) {
        *o = b;
    }
    postcard::to_slice(&body(header, params, count, scalar), body_out).map_err(|_| too_small)?;
    let crc = crc32(out.get(..needed - CRC_LEN).ok_or(too_small)?);
    let trailer = out.get_mut(needed - CRC_LEN..needed).ok_or(too_small)?;
    for (o, b) in trailer.iter_mut().zip(crc.to_le_bytes()) {
        *o = b;
    }
    Ok(needed)
}

/// Checks a blob completely (see the module documentation for the order of the checks) and
/// returns a view of it that borrows the parameter bytes. Never allocates, never panics.
pub fn decode(bytes: &[u8]) -> Result<ModelView<'_>, FormatError> {
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
    let (body, rest) = postcard::take_from_bytes::<Body<ParamsIn<'_>>>(body_bytes)
        .map_err(|_| FormatError::Malformed)?;
    if !rest.is_empty() {
        return Err(FormatError::TrailingBytes { count: rest.len() });
    }
    ModelView::from_body(body)
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

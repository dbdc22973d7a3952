//! The model file format: a checked `postcard` blob that loads into the fixed-size types of
//! this crate without allocation.
//!
//! A blob holds one of six payloads ([`Payload`]):
//!
//! * a **model**: its architecture, its domain, its integral constraint with the constants
//!   resolved on the host, and its parameters. [`encode`] writes it into a caller's buffer;
//!   [`decode`] checks it completely and returns a [`ModelView`] that borrows the parameter
//!   bytes (zero copy); [`ModelView::to_finn`] builds a [`Finn`] of any capacity and either
//!   scalar type from it;
//! * a **trajectory**: D one-input coordinate networks of one architecture, the interval, the
//!   start and end states, the via-points and the outside-interval policy.
//!   [`encode_trajectory`] writes it; [`decode_trajectory`] checks it and returns a
//!   [`TrajectoryView`]; [`TrajectoryView::to_trajectory`] builds a [`Trajectory`];
//! * a **density** (payload 2): the model body under its own tag, for a positive network whose
//!   integral is fixed to 1 ([`decode_density`], [`ModelView::to_density`]);
//! * a **bounded-deviation model** (payload 3): a magnitude model, a polynomial base and M
//!   direction networks ([`encode_deviation`], [`decode_deviation`],
//!   [`DeviationView::to_deviation`]; the body is below);
//! * a **density mixture** (payload 4): a support map (a box, or R^n by
//!   [`RealSpace`](crate::RealSpace)) and weighted, reflected density networks on one u-box
//!   ([`encode_density_mixture`], [`decode_density_mixture`],
//!   [`DensityMixtureView::load_density_mixture_into`]; the body is below);
//! * a **soft-Q model** (payload 5): a hypernetwork over S state features and a positive
//!   network over an action box, with beta and the log-scale unit
//!   ([`encode_softq`], [`decode_softq`], [`SoftQView::load_softq_into`]; the body is
//!   below).
//!
//! [`decode_any`] reads any of them. Every corrupt, truncated, wrong-version, wrong-payload or
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
//! This crate reads and writes that encoding by hand, without serde or postcard (so a device
//! build links neither): the reader checks each primitive as it goes, keeps the sequences and
//! the parameters as slices of the blob, and accepts exactly what postcard 1 accepts (a varint
//! of a `B`-bit type has at most ceil(B / 7) bytes, and a length is a `usize` of the target's
//! width); anything else is [`FormatError::Malformed`].
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
//! ## Deviation body (payload 3)
//!
//! | #  | field                | encoding                                                     |
//! |----|----------------------|--------------------------------------------------------------|
//! | 1-11 | magnitude          | the model body's fields 1-11 with payload 3: kind `Positive`, constraint `AtMost`, `Scale`, eps > 0 (else `Core(NotADeviation)`); its scalar field applies to every parameter of the blob |
//! | 12 | outputs              | `u8`: m, 1..=[`MAX_OUTPUTS`]                                  |
//! | 13 | degree               | `u8`: the base's total degree, 0..=[`MAX_DEGREE`]             |
//! | 14 | coefficients         | sequence of m * [`monomial_count`](crate::deviation::monomial_count)`(n, degree)` `f64`, output-major, in the monomial order of [`Polynomial`](crate::deviation::Polynomial) |
//! | 15 | softness             | `f64`, finite and > 0                                          |
//! | 16 | direction kind       | enum [`Kind`]: must be 1 = `Signed`                            |
//! | 17 | direction activation | enum [`Activation`]                                            |
//! | 18 | direction widths     | sequence of `u16` varints, 1..=[`MAX_LAYERS`] hidden widths, shared by the m networks |
//! | 19 | direction parameters | sequence of m byte strings, each [`parameter_count`](crate::parameter_count)`(n, widths)` floats of the scalar type |
//!
//! [`decode_deviation`] documents its checks in order.
//!
//! ## Density mixture body (payload 4)
//!
//! | #  | field      | encoding                                                              |
//! |----|------------|-----------------------------------------------------------------------|
//! | 1  | payload    | enum [`Payload`]: 4 = `DensityMixture`                                 |
//! | 2  | map        | enum: 0 = box (the u-box is the support), 1 = real space (all of R^n) |
//! | 3  | centre     | sequence of `f64`: n for real space, 0 for a box                      |
//! | 4  | scale      | sequence of `f64`: n (each > 0) for real space, 0 for a box           |
//! | 5  | components | sequence of 1..=[`MAX_COMPONENTS`] items, each: weight `f64` (>= 0; the weights sum to 1 within 1e-9), reflection mask `u8` (bit i: axis i is reflected about the centre of the u-box; bits below n only), then a whole density body (payload 2's fields 1-11, its own tag included), all on the same box of the same n |
//!
//! The weights and the map are always `f64`; each component's scalar field applies to its
//! own parameters. [`decode_density_mixture`] documents its checks in order.
//!
//! ## Soft-Q body (payload 5)
//!
//! | #  | field         | encoding                                                           |
//! |----|---------------|--------------------------------------------------------------------|
//! | 1  | payload       | enum [`Payload`]: 5 = `SoftQ`                                       |
//! | 2  | features      | `u8`: S, the number of state features, >= 1                        |
//! | 3  | state widths  | sequence of `u16` varints: the hypernetwork's 1 or 2 hidden widths  |
//! | 4  | actions       | `u8`: M, the action dimension, 1..=[`MAX_DIM`]                      |
//! | 5  | action widths | sequence of `u16` varints, 1..=[`MAX_LAYERS`] hidden widths         |
//! | 6  | action lower  | sequence of M `f64`                                                 |
//! | 7  | action upper  | sequence of M `f64`, each > the lower one, all finite               |
//! | 8  | beta          | `f64`, finite and > 0                                               |
//! | 9  | log-scale     | `f64`, finite and > 0                                               |
//! | 10 | scalar        | enum [`Scalar`]: 0 = `F32`, 1 = `F64`                               |
//! | 11 | parameters    | byte string: the flat parameters of [`SoftQ::new`](crate::softq::SoftQ::new) in the scalar type |
//!
//! The action network is positive with sigma units (as [`SoftQ`](crate::softq::SoftQ) builds
//! it), so its kind and activation are not stored. [`decode_softq`] documents its checks.
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
//! use finn_core::{Activation, Antiderivative, Bound, Constraint, Domain, Finn, Kind, Method, Network};
//!
//! // A positive network on [0, 2] with one hidden layer of 2 units: 2 + 2 + 2 parameters,
//! // its integral fixed to 1; the constants are resolved in f64 on the host.
//! let params = [1.0, -0.5, 0.2, 0.3, 1.0, 2.0];
//! let constraint = Constraint::new(Bound::Equal, Method::Scale, 1.0);
//! let net = Network::<f64, 1, 2, 1>::positive(&[2], &params).unwrap();
//! let domain = Domain::new([0.0], [2.0]).unwrap();
//! let host = Finn::new(net, domain, Some(constraint)).unwrap();
//! let header = ModelHeader {
//!     payload: Payload::Model,
//!     kind: Kind::Positive,
//!     activation: Activation::Sigma,
//!     n: 1,
//!     widths: &[2],
//!     domain_lower: &[0.0],
//!     domain_upper: &[2.0],
//!     constraint: Some(constraint),
//!     constants: host.constants(),
//! };
//! let mut buf = [0u8; 256];
//! let len = encode(&header, &params, Scalar::F64, &mut buf).unwrap();
//! let view = decode(&buf[..len]).unwrap();
//! assert_eq!(view.widths(), &[2]);
//! assert_eq!(view.parameters().collect::<Vec<f64>>(), params);
//! // Load into a model of capacity 1 input, 4 units, 2 layers, in f32 on the device.
//! let model = view.to_finn::<f32, 1, 4, 2>().unwrap();
//! assert!(model.integrand(&[0.5]).unwrap() > 0.0);
//! assert!((model.integral().unwrap() - 1.0).abs() < 1e-6);
//! // Any damage is a typed error.
//! let mut bad = buf;
//! bad[20] ^= 0x40;
//! assert!(decode(&bad[..len]).is_err());
//! ```
//!
//! [`Activation`]: crate::Activation
//! [`Finn`]: crate::Finn
//! [`Finn::with_constants`]: crate::Finn::with_constants
//! [`Kind`]: crate::Kind
//! [`MAX_DIM`]: crate::activation::MAX_DIM
//! [`Method`]: crate::Method
//! [`Network::new`]: crate::Network::new
//! [`OutsidePolicy`]: crate::trajectory::OutsidePolicy
//! [`Resolved`]: crate::Resolved
//! [`Trajectory`]: crate::trajectory::Trajectory

// One file per concern, every public item re-exported here, so that its path is
// `finn_core::format::Item` whichever file defines it:
// - `framing`: magic, version and CRC; writing and checking the envelope;
// - `payload`: the payload tag and `decode_any`;
// - `wire`: the bodies in wire order, read (checked, borrowing from the blob) and written by
//   hand: the postcard encoding, without serde;
// - `scalar`: the scalar type and the parameter byte string;
// - `shape`: the layer, width and parameter-count checks common to both payloads;
// - `model`, `trajectory`, `deviation`: the payloads (header, checks, encode, decode, view,
//   load; the density payload lives with the model, whose body it shares);
// - `error`: `FormatError` and `Field`.
mod density_mixture;
mod deviation;
mod error;
mod framing;
mod model;
mod payload;
mod scalar;
mod shape;
mod softq;
mod trajectory;
mod wire;

pub use density_mixture::{
    decode_density_mixture, density_mixture_encoded_len, encode_density_mixture,
    validate_density_mixture, DensityMixtureHeader, DensityMixtureView, MixtureComponentHeader,
    MixtureMapHeader, MAX_COMPONENTS,
};
pub use deviation::{
    decode_deviation, deviation_encoded_len, encode_deviation, validate_deviation, DeviationHeader,
    DeviationModel, DeviationView, MAX_DEGREE, MAX_OUTPUTS,
};
pub use error::{Field, FormatError};
pub use framing::crc32;
pub use model::{decode, decode_density, encode, encoded_len, validate, ModelHeader, ModelView};
pub use payload::{decode_any, Blob, Payload};
pub use scalar::{Parameters, Scalar};
pub use softq::{
    decode_softq, encode_softq, softq_encoded_len, validate_softq, SoftQHeader, SoftQView,
};
pub use trajectory::{
    decode_trajectory, encode_trajectory, trajectory_encoded_len, validate_trajectory,
    TrajectoryHeader, TrajectoryView,
};

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

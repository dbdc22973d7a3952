//! The bodies on the wire, read and written by hand: the postcard encoding of the byte layout
//! in the module documentation, field for field, without serde.
//!
//! [`Reader`] walks the borrowed body bytes and checks every primitive as it goes (a varint's
//! length and range, an option tag, an enum index, a length against the bytes left); what it
//! parses keeps slices into the blob ([`F64s`], [`Widths`], [`ViaPoints`], the parameter
//! bytes) rather than copies, so a decode holds a few dozen bytes of parsed body whatever the
//! capacity.
//! [`Sink`] and the `write_*` functions write the same encoding, or measure its length.
//!
//! The reader accepts exactly what postcard 1's deserializer accepts, which is what the
//! readers accepted before this module replaced it; any other body is
//! [`FormatError::Malformed`]:
//!
//! * a varint of an unsigned type of `B` bits has at most ceil(B / 7) bytes, and when it
//!   takes all of them the last holds only the B mod 7 bits that are left (so a `u16` is at
//!   most 3 bytes, the last at most 3); a longer one, or one that sets bits beyond B, is
//!   malformed. Non-minimal encodings within that length (`0x80 0x00` for 0) are accepted, as
//!   postcard accepts them. A length (`usize`) is read with the target's pointer width, as
//!   postcard reads it: 10 bytes on a 64-bit host, 5 on the 32-bit device;
//! * an enum is the `u32` varint of its variant index (an unknown index is malformed), an
//!   option one byte 0 or 1 (any other byte is malformed), a `u8` one byte, an `f64` its 8
//!   bytes little-endian (any bits, NaN included: the finiteness checks come later);
//! * a sequence's length counts items; a sequence or byte string longer than the bytes left
//!   is malformed.

use heapless::Vec;

use super::softq::SoftQBody;
use super::{
    DensityMixtureHeader, DeviationHeader, FormatError, MixtureMapHeader, ModelHeader, Payload,
    Scalar, TrajectoryHeader, MAX_LAYERS,
};
use crate::trajectory::OutsidePolicy;
use crate::{Activation, Bound, Constraint, Kind, Method, Resolved};

/// Bytes of an `f64` on the wire.
const F64_BYTES: usize = 8;

// ---------------------------------------------------------------------------------------------
// Enum indices: the wire's numbering, independent of the Rust declarations.

/// The variant index of `payload`.
fn payload_index(payload: Payload) -> u32 {
    match payload {
        Payload::Model => 0,
        Payload::Trajectory => 1,
        Payload::Density => 2,
        Payload::Deviation => 3,
        Payload::DensityMixture => 4,
        Payload::SoftQ => 5,
    }
}

fn kind_index(kind: Kind) -> u32 {
    match kind {
        Kind::Positive => 0,
        Kind::Signed => 1,
    }
}

fn activation_index(activation: Activation) -> u32 {
    match activation {
        Activation::Sigma => 0,
        Activation::Tanh => 1,
    }
}

fn bound_index(bound: Bound) -> u32 {
    match bound {
        Bound::Equal => 0,
        Bound::AtMost => 1,
        Bound::AtLeast => 2,
    }
}

fn method_index(method: Method) -> u32 {
    match method {
        Method::Scale => 0,
        Method::Shift => 1,
    }
}

fn scalar_index(scalar: Scalar) -> u32 {
    match scalar {
        Scalar::F32 => 0,
        Scalar::F64 => 1,
    }
}

fn policy_index(policy: OutsidePolicy) -> u32 {
    match policy {
        OutsidePolicy::Hold => 0,
        OutsidePolicy::Reject => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// A cursor over borrowed body bytes. Every read either returns the value and moves past it,
/// or fails with [`FormatError::Malformed`]; nothing is copied but the scalars themselves.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes, borrowed.
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or(FormatError::Malformed)?;
        self.rest = tail;
        Ok(head)
    }

    /// A `u8`: one byte.
    pub(super) fn byte(&mut self) -> Result<u8, FormatError> {
        let (&b, tail) = self.rest.split_first().ok_or(FormatError::Malformed)?;
        self.rest = tail;
        Ok(b)
    }

    /// An unsigned varint of a type of `bits` bits (16, 32 or 64), with postcard's limits
    /// (see the module documentation).
    fn varint(&mut self, bits: u32) -> Result<u64, FormatError> {
        let max_bytes = bits.div_ceil(7);
        // The bits the last allowed byte may still carry (postcard's `max_of_last_byte`).
        let last_max = (1u32 << (bits % 7)) - 1;
        let mut value = 0u64;
        for i in 0..max_bytes {
            let b = self.byte()?;
            value |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i + 1 == max_bytes && u32::from(b) > last_max {
                    return Err(FormatError::Malformed);
                }
                return Ok(value);
            }
        }
        Err(FormatError::Malformed)
    }

    /// A `u16` varint (a hidden width).
    pub(super) fn u16(&mut self) -> Result<u16, FormatError> {
        u16::try_from(self.varint(u16::BITS)?).map_err(|_| FormatError::Malformed)
    }

    /// A `u32` varint (an enum's variant index).
    pub(super) fn u32(&mut self) -> Result<u32, FormatError> {
        u32::try_from(self.varint(u32::BITS)?).map_err(|_| FormatError::Malformed)
    }

    /// A `usize` varint (a length), of the target's pointer width.
    pub(super) fn usize(&mut self) -> Result<usize, FormatError> {
        usize::try_from(self.varint(usize::BITS)?).map_err(|_| FormatError::Malformed)
    }

    /// An `f64`: 8 bytes little-endian, any bits.
    pub(super) fn f64(&mut self) -> Result<f64, FormatError> {
        let mut b = [0u8; F64_BYTES];
        b.copy_from_slice(self.take(F64_BYTES)?);
        Ok(f64::from_le_bytes(b))
    }

    /// An option's tag: `false` for none (0), `true` for some (1).
    pub(super) fn option(&mut self) -> Result<bool, FormatError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(FormatError::Malformed),
        }
    }

    /// An enum's variant index, mapped by `variant` (`None` for an unknown index).
    fn variant<E>(&mut self, variant: impl Fn(u32) -> Option<E>) -> Result<E, FormatError> {
        variant(self.u32()?).ok_or(FormatError::Malformed)
    }

    pub(super) fn payload(&mut self) -> Result<Payload, FormatError> {
        self.variant(|i| match i {
            0 => Some(Payload::Model),
            1 => Some(Payload::Trajectory),
            2 => Some(Payload::Density),
            3 => Some(Payload::Deviation),
            4 => Some(Payload::DensityMixture),
            5 => Some(Payload::SoftQ),
            _ => None,
        })
    }

    pub(super) fn kind(&mut self) -> Result<Kind, FormatError> {
        self.variant(|i| match i {
            0 => Some(Kind::Positive),
            1 => Some(Kind::Signed),
            _ => None,
        })
    }

    pub(super) fn activation(&mut self) -> Result<Activation, FormatError> {
        self.variant(|i| match i {
            0 => Some(Activation::Sigma),
            1 => Some(Activation::Tanh),
            _ => None,
        })
    }

    fn constraint(&mut self) -> Result<Option<Constraint<f64>>, FormatError> {
        if !self.option()? {
            return Ok(None);
        }
        let bound = self.variant(|i| match i {
            0 => Some(Bound::Equal),
            1 => Some(Bound::AtMost),
            2 => Some(Bound::AtLeast),
            _ => None,
        })?;
        let method = self.variant(|i| match i {
            0 => Some(Method::Scale),
            1 => Some(Method::Shift),
            _ => None,
        })?;
        let eps = self.f64()?;
        Ok(Some(Constraint { bound, method, eps }))
    }

    fn constants(&mut self) -> Result<Resolved<f64>, FormatError> {
        let scale = self.f64()?;
        let gap = self.f64()?;
        let gap_low = self.f64()?;
        Ok(Resolved {
            scale,
            gap,
            gap_low,
        })
    }

    pub(super) fn scalar(&mut self) -> Result<Scalar, FormatError> {
        self.variant(|i| match i {
            0 => Some(Scalar::F32),
            1 => Some(Scalar::F64),
            _ => None,
        })
    }

    fn policy(&mut self) -> Result<OutsidePolicy, FormatError> {
        self.variant(|i| match i {
            0 => Some(OutsidePolicy::Hold),
            1 => Some(OutsidePolicy::Reject),
            _ => None,
        })
    }

    /// A byte string: its length, then the bytes, borrowed.
    pub(super) fn byte_string(&mut self) -> Result<&'a [u8], FormatError> {
        let len = self.usize()?;
        self.take(len)
    }

    /// A sequence of `f64`, borrowed.
    pub(super) fn f64s(&mut self) -> Result<F64s<'a>, FormatError> {
        let len = self.usize()?;
        let bytes = len.checked_mul(F64_BYTES).ok_or(FormatError::Malformed)?;
        Ok(F64s {
            bytes: self.take(bytes)?,
        })
    }

    /// The sequence of hidden widths: every item read and checked, kept as the bytes they
    /// span.
    pub(super) fn widths(&mut self) -> Result<Widths<'a>, FormatError> {
        let len = self.usize()?;
        let start = self.rest;
        // Each width takes at least one byte, so a length beyond the bytes left fails here
        // after at most that many reads.
        for _ in 0..len {
            self.u16()?;
        }
        let spanned = start.len() - self.rest.len();
        Ok(Widths {
            bytes: start.get(..spanned).unwrap_or(&[]),
            len,
        })
    }

    /// The sequence of via-points: every item read and checked, kept as the bytes they span.
    fn via_points(&mut self) -> Result<ViaPoints<'a>, FormatError> {
        let count = self.usize()?;
        let start = self.rest;
        // Each via-point takes at least 9 bytes (its time and its position's length), so a
        // count beyond the bytes left fails here after a bounded number of reads.
        for _ in 0..count {
            self.f64()?;
            self.f64s()?;
        }
        let spanned = start.len() - self.rest.len();
        Ok(ViaPoints {
            bytes: start.get(..spanned).unwrap_or(&[]),
            count,
        })
    }

    /// A sequence of byte strings: every item read, kept as the bytes they span.
    fn byte_strings(&mut self) -> Result<ByteStrings<'a>, FormatError> {
        let count = self.usize()?;
        let start = self.rest;
        // Each byte string takes at least one byte (its length), so a count beyond the bytes
        // left fails here after a bounded number of reads.
        for _ in 0..count {
            self.byte_string()?;
        }
        let spanned = start.len() - self.rest.len();
        Ok(ByteStrings {
            bytes: start.get(..spanned).unwrap_or(&[]),
            count,
        })
    }

    /// The sequence of mixture components: every item read (weight, mask, a tagged model
    /// body), kept as the bytes they span.
    fn mixture_components(&mut self) -> Result<MixtureComponents<'a>, FormatError> {
        let count = self.usize()?;
        let start = self.rest;
        // Each component takes dozens of bytes, so a count beyond the bytes left fails here
        // after a bounded number of reads.
        for _ in 0..count {
            MixtureComponentBody::read(self)?;
        }
        let spanned = start.len() - self.rest.len();
        Ok(MixtureComponents {
            bytes: start.get(..spanned).unwrap_or(&[]),
            count,
        })
    }

    /// `Ok` if every byte was read, `TrailingBytes` otherwise.
    pub(super) fn finish(&self) -> Result<(), FormatError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(FormatError::TrailingBytes { count }),
        }
    }
}

/// A sequence of `f64` borrowed from the body: its items' bytes, 8 each, little-endian.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct F64s<'a> {
    bytes: &'a [u8],
}

impl<'a> F64s<'a> {
    /// The number of items.
    pub(super) fn len(&self) -> usize {
        self.bytes.len() / F64_BYTES
    }

    /// The items in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = f64> + 'a {
        self.bytes.chunks_exact(F64_BYTES).map(|c| {
            let mut b = [0u8; F64_BYTES];
            b.copy_from_slice(c);
            f64::from_le_bytes(b)
        })
    }

    /// Appends the items to `out`: `Err` if they do not all fit its capacity `C`.
    pub(super) fn push_to<const C: usize>(&self, out: &mut Vec<f64, C>) -> Result<(), ()> {
        // The loop is shared by every capacity: only the push is generic.
        if self.each(&mut |v| out.push(v).is_ok()) {
            Ok(())
        } else {
            Err(())
        }
    }

    /// Passes the items to `push` in order while it accepts them; whether it took all.
    #[inline(never)]
    fn each(&self, push: &mut dyn FnMut(f64) -> bool) -> bool {
        self.iter().all(push)
    }
}

/// A sequence of byte strings borrowed from the body, already checked by [`Reader`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct ByteStrings<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> ByteStrings<'a> {
    /// The number of byte strings.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// The byte strings in order. (They were read once already, so every read succeeds; a
    /// failure would end the iteration.)
    pub(super) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut reader = Reader::new(self.bytes);
        (0..self.count).map_while(move |_| reader.byte_string().ok())
    }
}

/// The hidden widths of a body, borrowed: `len` `u16` varints, already checked by [`Reader`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Widths<'a> {
    bytes: &'a [u8],
    len: usize,
}

impl Widths<'_> {
    /// The number of widths in the sequence.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The widths, or `None` if there are more than [`MAX_LAYERS`] of them. (They were read
    /// once already, so every read succeeds; a failure would be `None` too.)
    pub(super) fn to_vec(self) -> Option<Vec<usize, MAX_LAYERS>> {
        let mut reader = Reader::new(self.bytes);
        let mut out = Vec::new();
        for _ in 0..self.len {
            let w = reader.u16().ok()?;
            out.push(usize::from(w)).ok()?;
        }
        Some(out)
    }
}

/// The via-points of a trajectory body, borrowed: `count` items of a time and a position,
/// already checked by [`Reader`].
#[derive(Clone, Copy, Debug)]
pub(super) struct ViaPoints<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> ViaPoints<'a> {
    /// The number of via-points.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// The via-points in order: time and position. (They were read once already, so every
    /// read succeeds; a failure would end the iteration.)
    pub(super) fn iter(&self) -> impl Iterator<Item = (f64, F64s<'a>)> + 'a {
        let mut reader = Reader::new(self.bytes);
        (0..self.count).map_while(move |_| Some((reader.f64().ok()?, reader.f64s().ok()?)))
    }
}

/// A model body (payload 0, and the density payload 2, whose body is the same), fields in wire
/// order after the payload; what is not a scalar is borrowed from the blob.
#[derive(Clone, Copy, Debug)]
pub(super) struct ModelBody<'a> {
    pub(super) kind: Kind,
    pub(super) activation: Activation,
    pub(super) n: u8,
    pub(super) widths: Widths<'a>,
    pub(super) domain_lower: F64s<'a>,
    pub(super) domain_upper: F64s<'a>,
    pub(super) constraint: Option<Constraint<f64>>,
    pub(super) constants: Resolved<f64>,
    pub(super) scalar: Scalar,
    pub(super) params: &'a [u8],
}

impl<'a> ModelBody<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, FormatError> {
        Ok(ModelBody {
            kind: r.kind()?,
            activation: r.activation()?,
            n: r.byte()?,
            widths: r.widths()?,
            domain_lower: r.f64s()?,
            domain_upper: r.f64s()?,
            constraint: r.constraint()?,
            constants: r.constants()?,
            scalar: r.scalar()?,
            params: r.byte_string()?,
        })
    }
}

/// A trajectory body (payload 1), fields in wire order after the payload; what is not a
/// scalar is borrowed from the blob.
#[derive(Clone, Copy, Debug)]
pub(super) struct TrajectoryBody<'a> {
    pub(super) kind: Kind,
    pub(super) activation: Activation,
    pub(super) n: u8,
    pub(super) widths: Widths<'a>,
    pub(super) coordinates: u8,
    pub(super) t0: f64,
    pub(super) t1: f64,
    pub(super) x0: F64s<'a>,
    pub(super) x1: F64s<'a>,
    pub(super) via: ViaPoints<'a>,
    pub(super) policy: OutsidePolicy,
    pub(super) scalar: Scalar,
    pub(super) params: &'a [u8],
}

impl<'a> TrajectoryBody<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, FormatError> {
        Ok(TrajectoryBody {
            kind: r.kind()?,
            activation: r.activation()?,
            n: r.byte()?,
            widths: r.widths()?,
            coordinates: r.byte()?,
            t0: r.f64()?,
            t1: r.f64()?,
            x0: r.f64s()?,
            x1: r.f64s()?,
            via: r.via_points()?,
            policy: r.policy()?,
            scalar: r.scalar()?,
            params: r.byte_string()?,
        })
    }
}

/// A deviation body (payload 3): the magnitude as a model body, then the base, the softness
/// and the direction networks, in wire order; what is not a scalar is borrowed from the blob.
#[derive(Clone, Copy, Debug)]
pub(super) struct DeviationBody<'a> {
    pub(super) magnitude: ModelBody<'a>,
    pub(super) outputs: u8,
    pub(super) degree: u8,
    pub(super) coefficients: F64s<'a>,
    pub(super) softness: f64,
    pub(super) direction_kind: Kind,
    pub(super) direction_activation: Activation,
    pub(super) direction_widths: Widths<'a>,
    pub(super) direction_params: ByteStrings<'a>,
}

impl<'a> DeviationBody<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, FormatError> {
        Ok(DeviationBody {
            magnitude: ModelBody::read(r)?,
            outputs: r.byte()?,
            degree: r.byte()?,
            coefficients: r.f64s()?,
            softness: r.f64()?,
            direction_kind: r.kind()?,
            direction_activation: r.activation()?,
            direction_widths: r.widths()?,
            direction_params: r.byte_strings()?,
        })
    }
}

/// One mixture component on the wire: weight, reflection mask, then a whole model body with
/// its own payload tag (a density's, payload 2).
#[derive(Clone, Copy, Debug)]
pub(super) struct MixtureComponentBody<'a> {
    pub(super) weight: f64,
    pub(super) reflect: u8,
    pub(super) payload: Payload,
    pub(super) model: ModelBody<'a>,
}

impl<'a> MixtureComponentBody<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, FormatError> {
        let weight = r.f64()?;
        let reflect = r.byte()?;
        // Any tag reads here, as postcard reads the enum; a model body follows whatever it
        // says, and a tag other than the density's is refused later, as a content check.
        let payload = r.payload()?;
        Ok(MixtureComponentBody {
            weight,
            reflect,
            payload,
            model: ModelBody::read(r)?,
        })
    }
}

/// The components of a mixture body, borrowed, already checked by [`Reader`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct MixtureComponents<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> MixtureComponents<'a> {
    /// The number of components.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// The components in order. (They were read once already, so every read succeeds; a
    /// failure would end the iteration.)
    pub(super) fn iter(&self) -> impl Iterator<Item = MixtureComponentBody<'a>> + 'a {
        let mut reader = Reader::new(self.bytes);
        (0..self.count).map_while(move |_| MixtureComponentBody::read(&mut reader).ok())
    }
}

/// A density mixture body (payload 4): the map (0 = box, 1 = real space), its centre and
/// scale (empty for a box), then the components.
#[derive(Clone, Copy, Debug)]
pub(super) struct MixtureBody<'a> {
    pub(super) real_space: bool,
    pub(super) centre: F64s<'a>,
    pub(super) scale: F64s<'a>,
    pub(super) components: MixtureComponents<'a>,
}

impl<'a> MixtureBody<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, FormatError> {
        Ok(MixtureBody {
            real_space: r.variant(|i| match i {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            })?,
            centre: r.f64s()?,
            scale: r.f64s()?,
            components: r.mixture_components()?,
        })
    }
}

/// A body parsed by its payload tag, before the content checks.
#[derive(Clone, Copy, Debug)]
pub(super) enum Body<'a> {
    Model(ModelBody<'a>),
    Trajectory(TrajectoryBody<'a>),
    /// A density: a model body under the density payload tag.
    Density(ModelBody<'a>),
    /// A bounded-deviation model.
    Deviation(DeviationBody<'a>),
    /// A density mixture.
    DensityMixture(MixtureBody<'a>),
    /// A soft-Q model.
    SoftQ(SoftQBody<'a>),
}

/// Parses the whole body by its payload: `Malformed` if it is not a valid encoding of that
/// payload's fields, `TrailingBytes` if bytes follow it.
pub(super) fn parse_body(bytes: &[u8]) -> Result<Body<'_>, FormatError> {
    let mut r = Reader::new(bytes);
    let body = match r.payload()? {
        Payload::Model => Body::Model(ModelBody::read(&mut r)?),
        Payload::Trajectory => Body::Trajectory(TrajectoryBody::read(&mut r)?),
        Payload::Density => Body::Density(ModelBody::read(&mut r)?),
        Payload::Deviation => Body::Deviation(DeviationBody::read(&mut r)?),
        Payload::DensityMixture => Body::DensityMixture(MixtureBody::read(&mut r)?),
        Payload::SoftQ => Body::SoftQ(SoftQBody::read(&mut r)?),
    };
    r.finish()?;
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// Where an encoding goes: a buffer ([`SliceSink`]) or nowhere, counting ([`Counter`]).
pub(super) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn byte(&mut self, b: u8) {
        self.put(&[b]);
    }

    /// An unsigned varint, in the fewest bytes (as postcard writes it).
    fn varint(&mut self, mut value: u64) {
        loop {
            let low = (value & 0x7F) as u8;
            value >>= 7;
            if value == 0 {
                self.byte(low);
                return;
            }
            self.byte(low | 0x80);
        }
    }

    fn length(&mut self, len: usize) {
        self.varint(u64::try_from(len).unwrap_or(u64::MAX));
    }

    fn f64(&mut self, v: f64) {
        self.put(&v.to_le_bytes());
    }

    fn f64s(&mut self, values: &[f64]) {
        self.length(values.len());
        for &v in values {
            self.f64(v);
        }
    }

    /// The hidden widths, each as a `u16` varint (checked headers have widths <= `u16::MAX`).
    fn widths(&mut self, widths: &[usize]) {
        self.length(widths.len());
        for &w in widths {
            self.varint(u64::from(u16::try_from(w).unwrap_or(u16::MAX)));
        }
    }

    /// The parameters as a byte string of `count` floats of `scalar` (its length), then the
    /// floats of `values` (none when only measuring the fields).
    fn params(&mut self, values: &[f64], count: usize, scalar: Scalar) {
        self.length(count.saturating_mul(scalar.size()));
        for &v in values {
            match scalar {
                Scalar::F32 => self.put(&(v as f32).to_le_bytes()),
                Scalar::F64 => self.put(&v.to_le_bytes()),
            }
        }
    }
}

/// Counts the bytes an encoding takes.
#[derive(Default)]
pub(super) struct Counter {
    pub(super) len: usize,
}

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.len = self.len.saturating_add(bytes.len());
    }
}

/// Writes into a buffer; what does not fit is dropped and marks the sink as overflowed.
pub(super) struct SliceSink<'o> {
    out: &'o mut [u8],
    pub(super) len: usize,
    pub(super) overflow: bool,
}

impl<'o> SliceSink<'o> {
    pub(super) fn new(out: &'o mut [u8]) -> Self {
        SliceSink {
            out,
            len: 0,
            overflow: false,
        }
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        match self.out.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            None => self.overflow = true,
        }
    }
}

/// Writes the body of a checked model header (n <= MAX_DIM, widths <= MAX_WIDTH).
pub(super) fn write_model_body<S: Sink>(
    s: &mut S,
    header: &ModelHeader<'_>,
    values: &[f64],
    count: usize,
    scalar: Scalar,
) {
    s.varint(u64::from(payload_index(header.payload)));
    s.varint(u64::from(kind_index(header.kind)));
    s.varint(u64::from(activation_index(header.activation)));
    s.byte(u8::try_from(header.n).unwrap_or(u8::MAX));
    s.widths(header.widths);
    s.f64s(header.domain_lower);
    s.f64s(header.domain_upper);
    match header.constraint {
        None => s.byte(0),
        Some(c) => {
            s.byte(1);
            s.varint(u64::from(bound_index(c.bound)));
            s.varint(u64::from(method_index(c.method)));
            s.f64(c.eps);
        }
    }
    let Resolved {
        scale,
        gap,
        gap_low,
    } = header.constants;
    s.f64(scale);
    s.f64(gap);
    s.f64(gap_low);
    s.varint(u64::from(scalar_index(scalar)));
    s.params(values, count, scalar);
}

/// Writes the body of a checked deviation header: the magnitude's model body under the
/// deviation tag, then the base, the softness and the direction networks (`direction` holds
/// the M vectors of `per_network` parameters back to back; empty when only measuring).
#[allow(clippy::too_many_arguments)]
pub(super) fn write_deviation_body<S: Sink>(
    s: &mut S,
    header: &DeviationHeader<'_>,
    magnitude: &[f64],
    magnitude_count: usize,
    direction: &[f64],
    per_network: usize,
    scalar: Scalar,
) {
    let mut model = header.magnitude;
    model.payload = Payload::Deviation;
    write_model_body(s, &model, magnitude, magnitude_count, scalar);
    s.byte(u8::try_from(header.outputs).unwrap_or(u8::MAX));
    s.byte(u8::try_from(header.degree).unwrap_or(u8::MAX));
    s.f64s(header.coefficients);
    s.f64(header.softness);
    s.varint(u64::from(kind_index(Kind::Signed)));
    s.varint(u64::from(activation_index(header.direction_activation)));
    s.widths(header.direction_widths);
    s.length(header.outputs);
    for k in 0..header.outputs {
        let start = k.saturating_mul(per_network);
        let values = direction
            .get(start..start.saturating_add(per_network))
            .unwrap_or(&[]);
        s.params(values, per_network, scalar);
    }
}

/// Writes the body of a checked density mixture header: the map, then each component's
/// weight, mask and density body (`values[k]` its parameters, empty when only measuring).
pub(super) fn write_mixture_body<S: Sink>(
    s: &mut S,
    header: &DensityMixtureHeader<'_>,
    measuring: bool,
    counts: impl Fn(usize) -> usize,
    scalar: Scalar,
) {
    s.varint(u64::from(payload_index(Payload::DensityMixture)));
    match header.map {
        MixtureMapHeader::Box => {
            s.varint(0);
            s.f64s(&[]);
            s.f64s(&[]);
        }
        MixtureMapHeader::RealSpace { centre, scale } => {
            s.varint(1);
            s.f64s(centre);
            s.f64s(scale);
        }
    }
    s.length(header.components.len());
    for (k, c) in header.components.iter().enumerate() {
        s.f64(c.weight);
        s.byte(c.reflect);
        let values = if measuring { &[][..] } else { c.params };
        write_model_body(s, &c.model, values, counts(k), scalar);
    }
}

/// Writes the body of a checked trajectory header (`total` parameters in all).
pub(super) fn write_trajectory_body<S: Sink>(
    s: &mut S,
    header: &TrajectoryHeader<'_>,
    values: &[f64],
    total: usize,
    scalar: Scalar,
) {
    let d = header.coordinates();
    s.varint(u64::from(payload_index(Payload::Trajectory)));
    s.varint(u64::from(kind_index(Kind::Signed)));
    s.varint(u64::from(activation_index(header.activation)));
    s.byte(1);
    s.widths(header.widths);
    s.byte(u8::try_from(d).unwrap_or(u8::MAX));
    s.f64(header.t0);
    s.f64(header.t1);
    s.f64s(header.x0);
    s.f64s(header.x1);
    s.length(header.via_times.len());
    for (k, &time) in header.via_times.iter().enumerate() {
        let start = k.saturating_mul(d);
        let position = header
            .via_positions
            .get(start..start.saturating_add(d))
            .unwrap_or(&[]);
        s.f64(time);
        s.f64s(position);
    }
    s.varint(u64::from(policy_index(header.policy)));
    s.varint(u64::from(scalar_index(scalar)));
    s.params(values, total, scalar);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(bytes: &[u8], bits: u32) -> Result<(u64, usize), FormatError> {
        let mut r = Reader::new(bytes);
        let v = r.varint(bits)?;
        Ok((v, r.remaining()))
    }

    /// The limits of every width, including 32 bits, which is how the 32-bit device reads a
    /// length (a `usize`): the host tests can only reach it through enum indices.
    #[test]
    fn varint_limits_by_width() {
        // Largest values, in the most bytes allowed.
        assert_eq!(varint(&[0xff, 0xff, 0x03], 16), Ok((0xffff, 0)));
        assert_eq!(
            varint(&[0xff, 0xff, 0xff, 0xff, 0x0f], 32),
            Ok((0xffff_ffff, 0))
        );
        let mut max64 = [0xff; 10];
        max64[9] = 0x01;
        assert_eq!(varint(&max64, 64), Ok((u64::MAX, 0)));
        // One more bit in the last byte, or one more byte: malformed.
        assert_eq!(varint(&[0xff, 0xff, 0x04], 16), Err(FormatError::Malformed));
        assert_eq!(
            varint(&[0xff, 0xff, 0xff, 0xff, 0x10], 32),
            Err(FormatError::Malformed)
        );
        assert_eq!(
            varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 32),
            Err(FormatError::Malformed)
        );
        let mut over64 = [0xff; 10];
        over64[9] = 0x02;
        assert_eq!(varint(&over64, 64), Err(FormatError::Malformed));
        // Non-minimal but within the limit: accepted, as postcard accepts it.
        assert_eq!(varint(&[0x80, 0x80, 0x80, 0x80, 0x00], 32), Ok((0, 0)));
        // The varint stops at the first byte without the continuation bit.
        assert_eq!(varint(&[0x05, 0xff], 32), Ok((5, 1)));
        // Cut short.
        assert_eq!(varint(&[], 32), Err(FormatError::Malformed));
        assert_eq!(varint(&[0x80], 32), Err(FormatError::Malformed));
    }

    #[test]
    fn lengths_use_the_pointer_width() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(r.usize(), Ok(0xffff_ffff));
        // Past u32 only where usize is 64 bits wide.
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        let read = Reader::new(&six).usize();
        if usize::BITS == 64 {
            assert_eq!(read, Ok(1 << 35));
        } else {
            assert_eq!(read, Err(FormatError::Malformed));
        }
    }

    #[test]
    fn writing_and_reading_agree() {
        let mut buf = [0u8; 64];
        let mut sink = SliceSink::new(&mut buf);
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            0xffff,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            sink.varint(v);
        }
        sink.f64s(&[1.5, -0.0]);
        assert!(!sink.overflow);
        let len = sink.len;
        let mut counter = Counter::default();
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            0xffff,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            counter.varint(v);
        }
        counter.f64s(&[1.5, -0.0]);
        assert_eq!(counter.len, len);
        let mut r = Reader::new(&buf[..len]);
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            0xffff,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            assert_eq!(r.varint(64), Ok(v));
        }
        let seq = r.f64s().unwrap();
        assert_eq!(seq.len(), 2);
        let items: [f64; 2] = [seq.iter().next().unwrap(), seq.iter().nth(1).unwrap()];
        assert_eq!(items[0], 1.5);
        assert!(items[1] == 0.0 && items[1].is_sign_negative());
        assert_eq!(r.finish(), Ok(()));
        // A full buffer drops what does not fit and says so.
        let mut small = [0u8; 3];
        let mut sink = SliceSink::new(&mut small);
        sink.f64(1.0);
        assert!(sink.overflow);
    }
}

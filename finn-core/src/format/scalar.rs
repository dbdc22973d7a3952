//! How the parameters are stored: their scalar type, and the byte string of little-endian floats
//! that is written on the way out, borrowed from the blob on the way in and read back as `f64`.

use core::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

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

/// The parameters on their way out, as a byte string of `count` little-endian floats.
///
/// Postcard writes a sequence of `u8` exactly as a byte string: the varint of the length, then
/// the bytes. That lets the floats be converted on the fly, without a buffer. [`encoded_len`](super::encoded_len)
/// passes no values, so only the length prefix is measured.
pub(super) struct ParamsOut<'a> {
    pub(super) values: &'a [f64],
    pub(super) count: usize,
    pub(super) scalar: Scalar,
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
pub(super) struct ParamsIn<'a>(pub(super) &'a [u8]);

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

/// The parameters of a [`ModelView`](super::ModelView) or a
/// [`TrajectoryView`](super::TrajectoryView), widened to `f64`.
#[derive(Clone, Debug)]
pub struct Parameters<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
    scalar: Scalar,
}

impl<'a> Parameters<'a> {
    /// The floats stored in `bytes` (a trailing partial float is not read).
    pub(super) fn new(bytes: &'a [u8], scalar: Scalar) -> Self {
        Parameters {
            chunks: bytes.chunks_exact(scalar.size()),
            scalar,
        }
    }
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
pub(super) fn read_float(chunk: &[u8], scalar: Scalar) -> f64 {
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

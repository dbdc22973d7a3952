//! How the parameters are stored: their scalar type, and the byte string of little-endian floats
//! that is borrowed from the blob and read back as `f64`.

/// The floating-point type the parameters are stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

    /// The same floats, each chunk read whole: for the value checks at decoding. (A chunk of
    /// unknown length copied byte by byte can be a `memcpy` call per parameter where
    /// [`read_float`] is not inlined into a loop that knows the scalar type.)
    pub(super) fn whole(self) -> impl Iterator<Item = f64> + 'a {
        let scalar = self.scalar;
        // `chunks_exact` gives whole chunks only: the fallbacks are never taken.
        self.chunks.map(move |c| match scalar {
            Scalar::F32 => c
                .first_chunk::<4>()
                .map_or(0.0, |b| f64::from(f32::from_le_bytes(*b))),
            Scalar::F64 => c.first_chunk::<8>().map_or(0.0, |b| f64::from_le_bytes(*b)),
        })
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

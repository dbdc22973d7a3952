//! The fit application: a regression model f on a box D in n dimensions, with an integral
//! constraint on it (its integral over D equal to, at most or at least a target), played back
//! in `f32`.
//!
//! A [`FitPlayer`] loads a model blob (payload 0 of [`finn_core::format`]: one network, its
//! domain, its constraint with the constants resolved on the host in `f64`, its parameters)
//! into finn-core's [`Finn`], and evaluates the learned function f, its antiderivative F and
//! exact integrals of f over boxes. The constraint holds by construction: a blob trained to
//! integrate to 1 over its domain integrates to 1 in `f32` up to the rounding of `f32`.
//!
//! ```
//! use finn_embedded::fit::FitPlayer;
//! # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
//! // A model of 2 inputs whose network has at most 8 units in at most 2 layers. In firmware:
//! // `static BLOB: &[u8] = include_bytes!("fit.postcard");`
//! let model = FitPlayer::<2, 8, 2>::load(blob).unwrap();
//! // The blob's model is positive and constrained to integrate to 1 over its domain.
//! assert!((model.integral().unwrap() - 1.0).abs() < 1e-5);
//! assert!(model.integrand(&[0.5, 1.0]).unwrap() >= 0.0);
//! // The mass of the left half of the domain, exactly F's signed vertex sum over it.
//! let (lower, upper) = model.domain();
//! let half = model.integral_over(lower, &[0.5 * (lower[0] + upper[0]), upper[1]]).unwrap();
//! assert!(half > 0.0 && half < 1.0);
//! ```

use core::num::NonZeroU32;

use finn_core::format::decode;
use finn_core::jet::{Dim, JetDim};
use finn_core::{Antiderivative, Depth, Error, Finn, HiddenBlocks};

use crate::LoadError;

/// A fitted model loaded from a blob, evaluated in `f32`.
///
/// `N` is the input dimension (exactly the blob's), `W` and `L` the largest width and depth of
/// the network it accepts. The player holds the network's weights in fixed arrays, about
/// `4 * ((L - 1) * W * W + (N + L + 1) * W)` bytes: in firmware, put it in a `static` from
/// [`FitPlayer::unloaded`] and load it in place with [`FitPlayer::reload`] (see the crate
/// documentation), rather than building it on a small stack with [`FitPlayer::load`].
///
/// Every evaluation is a `Result`: a point or box with a NaN or infinite coordinate is
/// `Error::NonFiniteInput`, an empty box `Error::EmptyInterval`, a value that is not finite in
/// `f32` `Error::Overflow`. Points outside the domain are evaluated like any other (f and F are
/// defined everywhere); the constraint is about the domain only.
///
/// ```
/// use finn_embedded::{Error, FitPlayer};
/// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
/// let model = FitPlayer::<2, 8, 2>::load(blob).unwrap();
/// assert_eq!(model.domain(), (&[0.0, 0.0], &[1.0, 2.0]));
/// assert_eq!(model.integrand(&[f32::NAN, 0.0]).unwrap_err(), Error::NonFiniteInput);
/// ```
#[derive(Clone, Debug)]
pub struct FitPlayer<const N: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<f32, W>,
{
    model: Finn<f32, N, W, L>,
}

impl<const N: usize, const W: usize, const L: usize> FitPlayer<N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    /// Loads a blob from flash: checks it completely and builds the `f32` model (an `f64`
    /// blob's parameters, domain and constants are rounded to `f32`). Never allocates, never
    /// panics.
    ///
    /// A density blob (payload 2) loads too: a density is a model (its f, F and integrals);
    /// [`DensityPlayer`](crate::DensityPlayer) adds its pdf, CDF and samples.
    ///
    /// Errors: [`LoadError::Corrupt`] (framing, CRC), [`LoadError::Invalid`] (a trajectory
    /// blob, or content that finn-core refuses), [`LoadError::Capacity`] (another input
    /// dimension than `N`, more layers than `L`, a width above `W`), [`LoadError::Core`] (a
    /// value that does not fit `f32`: a parameter beyond `f32::MAX`, domain corners that round
    /// to the same `f32`).
    ///
    /// ```
    /// use finn_embedded::{FitPlayer, FormatError, LoadError};
    /// use finn_embedded::finn_core::format::Field;
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// assert!(FitPlayer::<2, 8, 2>::load(blob).is_ok());
    /// // The blob's network has 4 hidden units; a player of width 2 refuses it.
    /// assert_eq!(
    ///     FitPlayer::<2, 2, 2>::load(blob).unwrap_err(),
    ///     LoadError::Capacity(FormatError::CapacityMismatch {
    ///         field: Field::Width,
    ///         capacity: 2,
    ///         found: 4
    ///     })
    /// );
    /// ```
    pub fn load(blob: &'static [u8]) -> Result<Self, LoadError> {
        Self::from_bytes(blob)
    }

    /// As [`FitPlayer::load`], from bytes of any lifetime (the player copies what it needs and
    /// does not borrow the blob).
    ///
    /// ```
    /// use finn_embedded::finn_core::format::Payload;
    /// use finn_embedded::{FitPlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// # let trajectory_blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// let mut copy = blob.to_vec();
    /// copy[20] ^= 1; // one flipped bit
    /// assert!(matches!(
    ///     FitPlayer::<2, 8, 2>::from_bytes(&copy),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// // An intact blob of another application.
    /// assert_eq!(
    ///     FitPlayer::<2, 8, 2>::from_bytes(trajectory_blob).unwrap_err(),
    ///     LoadError::Invalid(FormatError::WrongPayload {
    ///         expected: Payload::Model,
    ///         found: Payload::Trajectory
    ///     })
    /// );
    /// ```
    pub fn from_bytes(blob: &[u8]) -> Result<Self, LoadError> {
        let mut player = Self::unloaded();
        player.reload(blob)?;
        Ok(player)
    }

    /// A player with nothing loaded, for a `static`: every field is zero, so it lives in
    /// `.bss` (nothing stored in flash, nothing built on the stack), and
    /// [`FitPlayer::reload`] loads into it in place. Evaluating it before a successful load
    /// is an error.
    ///
    /// ```
    /// use finn_embedded::{Error, FitPlayer};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// // In firmware: static mut PLAYER: FitPlayer<2, 8, 2> = FitPlayer::unloaded();
    /// let mut player = FitPlayer::<2, 8, 2>::unloaded();
    /// assert_eq!(player.integrand(&[0.5, 1.0]).unwrap_err(), Error::InvalidShape);
    /// player.reload(blob).unwrap();
    /// assert!(player.integrand(&[0.5, 1.0]).is_ok());
    /// ```
    pub const fn unloaded() -> Self {
        FitPlayer {
            model: Finn::unloaded(),
        }
    }

    /// Checks `blob` and loads it into this player in place. On an error the player is left
    /// unloaded (evaluating it returns an error) and the error says why, as for
    /// [`FitPlayer::load`].
    ///
    /// ```
    /// use finn_embedded::{FitPlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// let mut player = FitPlayer::<2, 8, 2>::unloaded();
    /// player.reload(blob).unwrap();
    /// assert!(matches!(
    ///     player.reload(&blob[..blob.len() - 1]),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// assert!(player.integral().is_err()); // unloaded by the failed reload
    /// ```
    // Not inlined: decoding's and loading's temporaries live in this frame and the ones it
    // calls, gone once it returns, rather than in the caller's.
    #[inline(never)]
    pub fn reload(&mut self, blob: &[u8]) -> Result<(), LoadError> {
        // The view is used where it lies in the decoder's result: moving it out first would
        // keep a second copy of it (some hundred bytes) in this frame.
        match &decode(blob) {
            Ok(view) => view
                .load_finn_into(&mut self.model)
                .map_err(LoadError::from_build),
            Err(e) => {
                // In place: a fresh unloaded value would reserve its size on this frame.
                self.model.unload();
                Err(LoadError::from_decode(*e))
            }
        }
    }

    /// f(x): the learned function, the exact mixed partial d_1...d_n F, with the constraint
    /// applied.
    ///
    /// Errors: `NonFiniteInput`, `Overflow`.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// let model = finn_embedded::FitPlayer::<2, 8, 2>::load(blob).unwrap();
    /// // A positive model: f >= 0 everywhere, also outside the domain.
    /// for x in [[0.0, 0.0], [0.3, 1.7], [5.0, -3.0]] {
    ///     assert!(model.integrand(&x).unwrap() >= 0.0);
    /// }
    /// ```
    pub fn integrand(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.model.integrand(x)
    }

    /// F(x): the antiderivative whose mixed partial is f, with the constraint applied. Its
    /// signed sum over the corners of a box is the integral of f over the box.
    ///
    /// Errors: `NonFiniteInput`, `Overflow`.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// let model = finn_embedded::FitPlayer::<2, 8, 2>::load(blob).unwrap();
    /// let f = |x: [f32; 2]| model.antiderivative(&x).unwrap();
    /// let by_corners = f([1.0, 2.0]) - f([0.0, 2.0]) - f([1.0, 0.0]) + f([0.0, 0.0]);
    /// assert!((by_corners - model.integral().unwrap()).abs() < 1e-5);
    /// ```
    pub fn antiderivative(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.model.antiderivative(x)
    }

    /// The exact integral of f over the box [lower, upper] (any box, inside the domain or
    /// not), from F at its 2^n corners.
    ///
    /// Errors: `NonFiniteInput`, `EmptyInterval` (lower >= upper on an axis), `Overflow`.
    ///
    /// ```
    /// use finn_embedded::Error;
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// let model = finn_embedded::FitPlayer::<2, 8, 2>::load(blob).unwrap();
    /// let left = model.integral_over(&[0.0, 0.0], &[0.5, 2.0]).unwrap();
    /// let right = model.integral_over(&[0.5, 0.0], &[1.0, 2.0]).unwrap();
    /// assert!((left + right - 1.0).abs() < 1e-5);
    /// assert_eq!(
    ///     model.integral_over(&[0.5, 0.0], &[0.5, 2.0]).unwrap_err(),
    ///     Error::EmptyInterval { axis: 0 }
    /// );
    /// ```
    pub fn integral_over(&self, lower: &[f32; N], upper: &[f32; N]) -> Result<f32, Error> {
        self.model.integral_over(lower, upper)
    }

    /// The exact integral of f over the model's domain: what the blob's constraint fixes (or
    /// bounds), up to the rounding of `f32`.
    ///
    /// Errors: `Overflow`.
    ///
    /// ```
    /// use finn_embedded::finn_core::Bound;
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// let model = finn_embedded::FitPlayer::<2, 8, 2>::load(blob).unwrap();
    /// let c = model.model().constraint().unwrap();
    /// assert_eq!((c.bound, c.eps), (Bound::Equal, 1.0));
    /// assert!((model.integral().unwrap() - c.eps).abs() < 1e-5);
    /// ```
    pub fn integral(&self) -> Result<f32, Error> {
        self.model.integral()
    }

    /// The domain D, as its lower and upper corners, in `f32`.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// let model = finn_embedded::FitPlayer::<2, 8, 2>::load(blob).unwrap();
    /// assert_eq!(model.domain(), (&[0.0, 0.0], &[1.0, 2.0]));
    /// ```
    pub fn domain(&self) -> (&[f32; N], &[f32; N]) {
        let domain = self.model.domain();
        (domain.lower(), domain.upper())
    }

    /// The k-th point of the Halton sequence over the domain: a deterministic, evenly spread
    /// set of test points (low discrepancy: every prefix covers the box well), the same bits
    /// on every IEEE `f32` machine, so a device and its host can evaluate the same points.
    ///
    /// Coordinate i is lo_i + (hi_i - lo_i) * r_i(k), with r_i(k) the radical inverse of k in
    /// the i-th prime base (2, 3, 5, 7, 11, 13, 17, 19): k's base-p digits mirrored behind
    /// the point, an exact fraction num / p^digits of integers, rounded as
    /// `num as f32 / den as f32`. k = 0 is the lower corner; no point reaches the upper
    /// corner except by rounding. (A domain whose width overflows `f32` gives points that
    /// are not finite, which the evaluations then refuse.)
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// let model = finn_embedded::FitPlayer::<2, 8, 2>::load(blob).unwrap();
    /// // The domain is [0, 1] x [0, 2]; bases 2 and 3.
    /// assert_eq!(model.halton_point(0), [0.0, 0.0]);
    /// assert_eq!(model.halton_point(1), [0.5, 2.0 / 3.0]);
    /// assert_eq!(model.halton_point(2), [0.25, 4.0 / 3.0]);
    /// assert_eq!(model.halton_point(3), [0.75, 2.0 / 9.0]);
    /// ```
    pub fn halton_point(&self, k: u32) -> [f32; N] {
        let (lower, upper) = self.domain();
        let mut x = *lower;
        for ((x, (&lo, &hi)), &base) in x
            .iter_mut()
            .zip(lower.iter().zip(upper))
            .zip(HALTON_BASES.iter().cycle())
        {
            *x = lo + (hi - lo) * radical_inverse(k, base);
        }
        x
    }

    /// The underlying `finn-core` model: its network, constraint and resolved constants.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// let model = finn_embedded::FitPlayer::<2, 8, 2>::load(blob).unwrap();
    /// assert_eq!(model.model().network().widths(), &[4]);
    /// ```
    pub fn model(&self) -> &Finn<f32, N, W, L> {
        &self.model
    }
}

/// The bases of [`FitPlayer::halton_point`], one per input (finn-core's networks take at most
/// 8 inputs): the first primes.
///
/// `NonZeroU32`, so that the divisions by a base have no division-by-zero path.
pub(crate) const HALTON_BASES: [NonZeroU32; 8] = [
    base(2),
    base(3),
    base(5),
    base(7),
    base(11),
    base(13),
    base(17),
    base(19),
];

/// `p` as a base (evaluated at compile time; every prime above is non-zero).
const fn base(p: u32) -> NonZeroU32 {
    match NonZeroU32::new(p) {
        Some(p) => p,
        None => NonZeroU32::MIN,
    }
}

/// The radical inverse of `k` in `base` (one of [`HALTON_BASES`]): its digits mirrored behind
/// the point. The fraction is exact in integers (k < 2^32 has at most 32 digits in base 2 and
/// 8 in base 19, so the denominator stays below 2^36) and is rounded to `f32` by one division.
pub(crate) fn radical_inverse(mut k: u32, base: NonZeroU32) -> f32 {
    let (mut numerator, mut denominator) = (0u64, 1u64);
    let wide = u64::from(base.get());
    while k > 0 {
        numerator = numerator * wide + u64::from(k % base);
        denominator *= wide;
        k /= base;
    }
    numerator as f32 / denominator as f32
}

//! The density application: a probability density p on a box, its support, played back in
//! `f32`: pdf, log-pdf, CDF, exact box probabilities and samples from uniforms.
//!
//! A [`DensityPlayer`] loads a density blob (payload 2 of [`finn_core::format`]: a positive
//! network whose integral over its domain, the support, is fixed to 1 by scale) into
//! finn-core's [`Density`], and evaluates it there. Outside the support the density is 0;
//! probabilities are corner sums of F, exact up to the rounding of `f32`; a sample is the
//! sequential inversion of the conditional CDFs from n uniforms, deterministic, always inside
//! the support, never NaN ([`Density::sample`] documents the solver and its tolerance).
//!
//! ```
//! use finn_embedded::DensityPlayer;
//! # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
//! // A density of 2 inputs whose network has at most 8 units in at most 2 layers. In
//! // firmware: `static BLOB: &[u8] = include_bytes!("density.postcard");`
//! let p = DensityPlayer::<2, 8, 2>::load(blob).unwrap();
//! let (lower, upper) = p.support();
//! assert!((p.box_probability(lower, upper).unwrap() - 1.0).abs() < 1e-5);
//! assert!(p.pdf(&[0.0, 1.0]).unwrap() > 0.0);
//! assert_eq!(p.pdf(&[5.0, 1.0]).unwrap(), 0.0); // outside the support
//! let x = p.sample(&[0.25, 0.75]).unwrap();
//! assert!((0..2).all(|i| x[i] >= lower[i] && x[i] <= upper[i]));
//! ```

use finn_core::format::decode_density;
use finn_core::jet::{Dim, JetDim};
use finn_core::{Density, Depth, Error, HiddenBlocks};

use crate::fit::{radical_inverse, HALTON_BASES};
use crate::LoadError;

/// A probability density loaded from a density blob, evaluated in `f32`.
///
/// `N` is the input dimension (exactly the blob's), `W` and `L` the largest width and depth of
/// the network it accepts. The player holds the network's weights in fixed arrays, the same
/// size as a [`FitPlayer`](crate::FitPlayer) of that capacity: in firmware, put it in a
/// `static` from [`DensityPlayer::unloaded`] and load it in place with
/// [`DensityPlayer::reload`] (see the crate documentation).
///
/// Every evaluation is a `Result`: a NaN coordinate is `Error::NonFiniteInput`, a value that
/// is not finite in `f32` `Error::Overflow`, an unloaded player `Error::InvalidShape`.
/// Infinite coordinates are allowed where they mean something (outside the support, a box
/// bound).
///
/// ```
/// use finn_embedded::{DensityPlayer, Error};
/// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
/// let p = DensityPlayer::<2, 8, 2>::load(blob).unwrap();
/// assert_eq!(p.support(), (&[-1.0, 0.0], &[1.0, 2.0]));
/// assert_eq!(p.pdf(&[f32::NAN, 0.0]).unwrap_err(), Error::NonFiniteInput);
/// ```
#[derive(Clone, Debug)]
pub struct DensityPlayer<const N: usize, const W: usize, const L: usize>
where
    Depth<L>: HiddenBlocks<f32, W>,
{
    density: Density<f32, N, W, L>,
}

impl<const N: usize, const W: usize, const L: usize> DensityPlayer<N, W, L>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    /// Loads a density blob from flash: checks it completely and builds the `f32` density.
    /// Never allocates, never panics.
    ///
    /// Errors: [`LoadError::Corrupt`] (framing, CRC), [`LoadError::Invalid`] (a model or
    /// trajectory blob, as `WrongPayload`; content that finn-core refuses, such as a density
    /// blob whose model is not a density, `Core(NotADensity)`), [`LoadError::Capacity`]
    /// (another input dimension than `N`, more layers than `L`, a width above `W`),
    /// [`LoadError::Core`] (a value that does not fit `f32`).
    ///
    /// ```
    /// use finn_embedded::finn_core::format::{Field, Payload};
    /// use finn_embedded::{DensityPlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// # let fit_blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// assert!(DensityPlayer::<2, 8, 2>::load(blob).is_ok());
    /// // The blob's network has 4 hidden units; a player of width 2 refuses it.
    /// assert_eq!(
    ///     DensityPlayer::<2, 2, 2>::load(blob).unwrap_err(),
    ///     LoadError::Capacity(FormatError::CapacityMismatch {
    ///         field: Field::Width,
    ///         capacity: 2,
    ///         found: 4
    ///     })
    /// );
    /// // A model blob (payload 0) is not a density blob, even one that integrates to 1.
    /// assert_eq!(
    ///     DensityPlayer::<2, 8, 2>::load(fit_blob).unwrap_err(),
    ///     LoadError::Invalid(FormatError::WrongPayload {
    ///         expected: Payload::Density,
    ///         found: Payload::Model
    ///     })
    /// );
    /// ```
    pub fn load(blob: &'static [u8]) -> Result<Self, LoadError> {
        Self::from_bytes(blob)
    }

    /// As [`DensityPlayer::load`], from bytes of any lifetime (the player copies what it
    /// needs and does not borrow the blob).
    ///
    /// ```
    /// use finn_embedded::{DensityPlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let mut copy = blob.to_vec();
    /// copy[30] ^= 1; // one flipped bit
    /// assert!(matches!(
    ///     DensityPlayer::<2, 8, 2>::from_bytes(&copy),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// ```
    pub fn from_bytes(blob: &[u8]) -> Result<Self, LoadError> {
        let mut player = Self::unloaded();
        player.reload(blob)?;
        Ok(player)
    }

    /// A player with nothing loaded, for a `static`: every field is zero, so it lives in
    /// `.bss`, and [`DensityPlayer::reload`] loads into it in place. Evaluating it before a
    /// successful load is an error.
    ///
    /// ```
    /// use finn_embedded::{DensityPlayer, Error};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// // In firmware: static mut PLAYER: DensityPlayer<2, 8, 2> = DensityPlayer::unloaded();
    /// let mut player = DensityPlayer::<2, 8, 2>::unloaded();
    /// assert_eq!(player.pdf(&[0.0, 1.0]).unwrap_err(), Error::InvalidShape);
    /// player.reload(blob).unwrap();
    /// assert!(player.pdf(&[0.0, 1.0]).is_ok());
    /// ```
    pub const fn unloaded() -> Self {
        DensityPlayer {
            density: Density::unloaded(),
        }
    }

    /// Checks `blob` and loads it into this player in place. On an error the player is left
    /// unloaded (evaluating it returns an error) and the error says why, as for
    /// [`DensityPlayer::load`].
    ///
    /// ```
    /// use finn_embedded::{DensityPlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let mut player = DensityPlayer::<2, 8, 2>::unloaded();
    /// player.reload(blob).unwrap();
    /// assert!(matches!(
    ///     player.reload(&blob[..blob.len() - 1]),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// assert!(player.cdf(&[0.0, 1.0]).is_err()); // unloaded by the failed reload
    /// ```
    // Not inlined: decoding's and loading's temporaries live in this frame and the ones it
    // calls, gone once it returns, rather than in the caller's.
    #[inline(never)]
    pub fn reload(&mut self, blob: &[u8]) -> Result<(), LoadError> {
        // The view is used where it lies in the decoder's result (no second copy of it here).
        match &decode_density(blob) {
            Ok(view) => view
                .load_density_into(&mut self.density)
                .map_err(LoadError::from_build),
            Err(e) => {
                self.density.unload();
                Err(LoadError::from_decode(*e))
            }
        }
    }

    /// The density at `x`: 0 outside the support (infinite coordinates are outside), never
    /// negative ([`Density::pdf`]).
    ///
    /// Errors: `NonFiniteInput` (NaN), `Overflow`, `InvalidShape` (unloaded).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let p = finn_embedded::DensityPlayer::<2, 8, 2>::load(blob).unwrap();
    /// assert!(p.pdf(&[0.5, 0.5]).unwrap() > 0.0);
    /// assert_eq!(p.pdf(&[0.5, -0.5]).unwrap(), 0.0);
    /// ```
    pub fn pdf(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.density.pdf(x)
    }

    /// ln pdf(x): `-inf` outside the support; for a network of one hidden layer computed
    /// without forming the pdf, so it stays finite where the pdf underflows
    /// ([`Density::log_pdf`]).
    ///
    /// Errors: as for [`DensityPlayer::pdf`].
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let p = finn_embedded::DensityPlayer::<2, 8, 2>::load(blob).unwrap();
    /// let x = [0.5, 0.5];
    /// assert!((p.log_pdf(&x).unwrap() - p.pdf(&x).unwrap().ln()).abs() < 1e-5);
    /// assert_eq!(p.log_pdf(&[3.0, 0.5]).unwrap(), f32::NEG_INFINITY);
    /// ```
    pub fn log_pdf(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.density.log_pdf(x)
    }

    /// P(X <= x): the probability of the box from the support's lower corner to `x`, clipped
    /// to the support ([`Density::cdf`]).
    ///
    /// Errors: as for [`DensityPlayer::pdf`].
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let p = finn_embedded::DensityPlayer::<2, 8, 2>::load(blob).unwrap();
    /// assert_eq!(p.cdf(&[-2.0, 1.0]).unwrap(), 0.0);
    /// assert!((p.cdf(&[9.0, 9.0]).unwrap() - 1.0).abs() < 1e-5);
    /// ```
    pub fn cdf(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.density.cdf(x)
    }

    /// P(X in [lo, hi]) for any box: clipped to the support, 0 when the clipped box is empty,
    /// clamped to [0, 1]; infinite bounds are allowed ([`Density::box_probability`]). Exact up
    /// to the rounding of F's corner sum in `f32`.
    ///
    /// Errors: as for [`DensityPlayer::pdf`].
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let p = finn_embedded::DensityPlayer::<2, 8, 2>::load(blob).unwrap();
    /// let inf = f32::INFINITY;
    /// let left = p.box_probability(&[-inf, -inf], &[0.0, inf]).unwrap();
    /// let right = p.box_probability(&[0.0, -inf], &[inf, inf]).unwrap();
    /// assert!((left + right - 1.0).abs() < 1e-5);
    /// ```
    pub fn box_probability(&self, lo: &[f32; N], hi: &[f32; N]) -> Result<f32, Error> {
        self.density.box_probability(lo, hi)
    }

    /// A sample from `N` uniforms in [0, 1] (clamped to it) by sequential inversion of the
    /// conditional CDFs: deterministic, inside the support, never NaN ([`Density::sample`]:
    /// bracketed Newton with bisection, at most 54 CDF evaluations per axis in `f32`).
    ///
    /// Errors: `NonFiniteInput` (a NaN or infinite uniform), `Overflow`, `InvalidShape`
    /// (unloaded).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let p = finn_embedded::DensityPlayer::<2, 8, 2>::load(blob).unwrap();
    /// let x = p.sample(&[0.5, 0.5]).unwrap();
    /// // The first coordinate is the median of the first marginal.
    /// let (_, upper) = p.support();
    /// assert!((p.cdf(&[x[0], upper[1]]).unwrap() - 0.5).abs() < 1e-3);
    /// ```
    pub fn sample(&self, uniforms: &[f32; N]) -> Result<[f32; N], Error> {
        self.density.sample(uniforms)
    }

    /// The support, as its lower and upper corners, in `f32`.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let p = finn_embedded::DensityPlayer::<2, 8, 2>::load(blob).unwrap();
    /// assert_eq!(p.support(), (&[-1.0, 0.0], &[1.0, 2.0]));
    /// ```
    pub fn support(&self) -> (&[f32; N], &[f32; N]) {
        let support = self.density.support();
        (support.lower(), support.upper())
    }

    /// The k-th point of the Halton sequence over the support, as
    /// [`FitPlayer::halton_point`](crate::FitPlayer::halton_point) gives it over a model's
    /// domain: the same bits on every IEEE `f32` machine.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let p = finn_embedded::DensityPlayer::<2, 8, 2>::load(blob).unwrap();
    /// // The support is [-1, 1] x [0, 2]; bases 2 and 3.
    /// assert_eq!(p.halton_point(0), [-1.0, 0.0]);
    /// assert_eq!(p.halton_point(1), [0.0, 2.0 / 3.0]);
    /// ```
    pub fn halton_point(&self, k: u32) -> [f32; N] {
        let (lower, upper) = self.support();
        let mut x = *lower;
        for (i, u) in halton_uniforms::<N>(k).iter().enumerate() {
            x[i] = lower[i] + (upper[i] - lower[i]) * u;
        }
        x
    }

    /// The underlying `finn-core` density (marginals, conditional CDFs, error bounds).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// let p = finn_embedded::DensityPlayer::<2, 8, 2>::load(blob).unwrap();
    /// // The marginal density of x_0 integrates to 1 over its axis.
    /// let m = p.density().marginal_pdf(0b01, &[0.0, 0.0]).unwrap();
    /// assert!(m > 0.0);
    /// ```
    pub fn density(&self) -> &Density<f32, N, W, L> {
        &self.density
    }
}

/// The k-th point of the Halton sequence in the unit cube [0, 1)^N: coordinate i is the
/// radical inverse of k in the i-th prime base (2, 3, 5, ...), an exact fraction rounded once
/// to `f32`. Uniforms for [`DensityPlayer::sample`] that a device and its host both compute
/// bit for bit; k = 0 is the origin.
///
/// ```
/// use finn_embedded::density::halton_uniforms;
/// assert_eq!(halton_uniforms::<2>(0), [0.0, 0.0]);
/// assert_eq!(halton_uniforms::<2>(1), [0.5, 1.0 / 3.0]);
/// assert_eq!(halton_uniforms::<3>(5), [0.625, 7.0 / 9.0, 0.04]);
/// ```
pub fn halton_uniforms<const N: usize>(k: u32) -> [f32; N] {
    let mut u = [0.0; N];
    for (u, &base) in u.iter_mut().zip(HALTON_BASES.iter().cycle()) {
        *u = radical_inverse(k, base);
    }
    u
}

//! The trained density as the density application writes it: a mixture of weighted,
//! reflected density networks on one u-box, on a box support or on all of R^n, played back in
//! `f32`: pdf, log-pdf, CDF, exact box probabilities and samples from uniforms.
//!
//! A [`DensityMixturePlayer`] loads a density mixture blob (payload 4 of
//! [`finn_core::format`], `<output>.postcard` of a `density` run with reflections or a
//! real-space map) into finn-core's [`DensityMixture`] in place, and evaluates it there. The
//! player is the mixture's networks in fixed arrays, `K` times the size of a
//! [`DensityPlayer`](crate::DensityPlayer) of the same `N`, `W`, `L`: in firmware, put it in a
//! `static` from [`DensityMixturePlayer::unloaded`] and load it with
//! [`DensityMixturePlayer::reload`].
//!
//! ```
//! use finn_embedded::DensityMixturePlayer;
//! use finn_embedded::finn_core::density_mixture::MixtureSupport;
//! # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
//! // Two components of 2 inputs, one hidden layer of 4 units each, on [-1, 1] x [0, 2]. In
//! // firmware: `static BLOB: &[u8] = include_bytes!("density.postcard");`
//! let p = DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
//! assert!(matches!(p.support().unwrap(), MixtureSupport::Box(_)));
//! let inf = f32::INFINITY;
//! assert!((p.box_probability(&[-inf; 2], &[inf; 2]).unwrap() - 1.0).abs() < 1e-5);
//! assert_eq!(p.pdf(&[5.0, 1.0]).unwrap(), 0.0); // outside the box
//! let x = p.sample(&[0.25, 0.75]).unwrap();
//! assert!(x[0] >= -1.0 && x[0] <= 1.0 && x[1] >= 0.0 && x[1] <= 2.0);
//! ```

use finn_core::density_mixture::{DensityMixture, MixtureSupport};
use finn_core::format::decode_density_mixture;
use finn_core::jet::{Dim, JetDim};
use finn_core::{Depth, Error, HiddenBlocks};

use crate::LoadError;

/// A density mixture loaded from a density mixture blob, evaluated in `f32`.
///
/// `N` is the input dimension (exactly the blob's), `W` and `L` the largest width and depth of
/// a component's network, `K` the most components it accepts.
///
/// Every evaluation is a `Result`: a NaN coordinate is `Error::NonFiniteInput`, a value that
/// is not finite in `f32` `Error::Overflow`, an unloaded player `Error::InvalidShape`.
///
/// ```
/// use finn_embedded::{DensityMixturePlayer, Error};
/// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture_real.postcard");
/// // On all of R^2: positive far from the data, never outside a support.
/// let p = DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
/// assert!(p.pdf(&[3.0, -4.0]).unwrap() > 0.0);
/// assert_eq!(p.pdf(&[f32::NAN, 0.0]).unwrap_err(), Error::NonFiniteInput);
/// ```
#[derive(Clone, Debug)]
pub struct DensityMixturePlayer<const N: usize, const W: usize, const L: usize, const K: usize>
where
    Depth<L>: HiddenBlocks<f32, W>,
{
    mixture: DensityMixture<f32, N, W, L, K>,
}

impl<const N: usize, const W: usize, const L: usize, const K: usize>
    DensityMixturePlayer<N, W, L, K>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    /// Loads a density mixture blob from flash: checks it completely and builds the `f32`
    /// mixture. Never allocates, never panics.
    ///
    /// Errors: [`LoadError::Corrupt`] (framing, CRC), [`LoadError::Invalid`] (another
    /// payload, as `WrongPayload`; content the format refuses), [`LoadError::Capacity`]
    /// (another input dimension than `N`, more components than `K`, a network beyond `W` or
    /// `L`), [`LoadError::Core`] (a value that does not fit `f32`, or content finn-core
    /// refuses, such as weights not summing to 1).
    ///
    /// ```
    /// use finn_embedded::finn_core::format::{Field, Payload};
    /// use finn_embedded::{DensityMixturePlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
    /// # let density_blob: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// // The blob has 2 components; a player of 1 refuses it.
    /// assert_eq!(
    ///     DensityMixturePlayer::<2, 4, 1, 1>::load(blob).unwrap_err(),
    ///     LoadError::Capacity(FormatError::CapacityMismatch {
    ///         field: Field::Components,
    ///         capacity: 1,
    ///         found: 2
    ///     })
    /// );
    /// // A single-network density blob (payload 2) is not a mixture blob.
    /// assert_eq!(
    ///     DensityMixturePlayer::<2, 4, 1, 2>::load(density_blob).unwrap_err(),
    ///     LoadError::Invalid(FormatError::WrongPayload {
    ///         expected: Payload::DensityMixture,
    ///         found: Payload::Density
    ///     })
    /// );
    /// ```
    pub fn load(blob: &'static [u8]) -> Result<Self, LoadError> {
        Self::from_bytes(blob)
    }

    /// As [`DensityMixturePlayer::load`], from bytes of any lifetime (the player copies what
    /// it needs and does not borrow the blob).
    ///
    /// ```
    /// use finn_embedded::{DensityMixturePlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
    /// let mut copy = blob.to_vec();
    /// copy[40] ^= 1; // one flipped bit
    /// assert!(matches!(
    ///     DensityMixturePlayer::<2, 4, 1, 2>::from_bytes(&copy),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// ```
    pub fn from_bytes(blob: &[u8]) -> Result<Self, LoadError> {
        let mut player = Self::unloaded();
        player.reload(blob)?;
        Ok(player)
    }

    /// A player with nothing loaded, for a `static`: every field is zero, so it lives in
    /// `.bss`, and [`DensityMixturePlayer::reload`] loads into it in place. Evaluating it
    /// before a successful load is an error.
    ///
    /// ```
    /// use finn_embedded::{DensityMixturePlayer, Error};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
    /// // In firmware: static mut PLAYER: DensityMixturePlayer<2, 4, 1, 2> = DensityMixturePlayer::unloaded();
    /// let mut player = DensityMixturePlayer::<2, 4, 1, 2>::unloaded();
    /// assert_eq!(player.pdf(&[0.0, 1.0]).unwrap_err(), Error::InvalidShape);
    /// player.reload(blob).unwrap();
    /// assert!(player.pdf(&[0.0, 1.0]).is_ok());
    /// ```
    pub const fn unloaded() -> Self {
        DensityMixturePlayer {
            mixture: DensityMixture::unloaded(),
        }
    }

    /// Checks `blob` and loads it into this player in place. On an error the player is left
    /// unloaded (evaluating it returns an error) and the error says why, as for
    /// [`DensityMixturePlayer::load`].
    ///
    /// ```
    /// use finn_embedded::{DensityMixturePlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
    /// let mut player = DensityMixturePlayer::<2, 4, 1, 2>::unloaded();
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
        match &decode_density_mixture(blob) {
            Ok(view) => view
                .load_density_mixture_into(&mut self.mixture)
                .map_err(LoadError::from_build),
            Err(e) => {
                self.mixture.unload();
                Err(LoadError::from_decode(*e))
            }
        }
    }

    /// The density at `x`: 0 outside a box support (infinite coordinates are outside), never
    /// negative; on R^n it underflows to 0 far in the tails ([`DensityMixture::pdf`]).
    ///
    /// Errors: `NonFiniteInput` (NaN), `Overflow`, `InvalidShape` (unloaded).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
    /// let p = finn_embedded::DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
    /// assert!(p.pdf(&[0.5, 0.5]).unwrap() > 0.0);
    /// assert_eq!(p.pdf(&[0.5, -0.5]).unwrap(), 0.0);
    /// ```
    pub fn pdf(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.mixture.pdf(x)
    }

    /// ln pdf(x): `-inf` outside a box support; a log-sum-exp of the components' log-pdfs, so
    /// it stays finite where the pdf underflows ([`DensityMixture::log_pdf`]).
    ///
    /// Errors: as for [`DensityMixturePlayer::pdf`].
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture_real.postcard");
    /// let p = finn_embedded::DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
    /// let x = [0.2, 1.5];
    /// assert!((p.log_pdf(&x).unwrap() - p.pdf(&x).unwrap().ln()).abs() < 1e-5);
    /// assert!(p.log_pdf(&[-200.0, 1.0]).unwrap().is_finite()); // the pdf underflows there
    /// ```
    pub fn log_pdf(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.mixture.log_pdf(x)
    }

    /// P(X <= x) ([`DensityMixture::cdf`]).
    ///
    /// Errors: as for [`DensityMixturePlayer::pdf`].
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
    /// let p = finn_embedded::DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
    /// assert_eq!(p.cdf(&[-2.0, 1.0]).unwrap(), 0.0);
    /// assert!((p.cdf(&[9.0, 9.0]).unwrap() - 1.0).abs() < 1e-5);
    /// ```
    pub fn cdf(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.mixture.cdf(x)
    }

    /// P(X in [lo, hi]) for any box, infinite bounds allowed: a weighted sum of the
    /// components' exact corner sums over the box mapped to u and reflected, clamped to
    /// [0, 1] ([`DensityMixture::box_probability`]).
    ///
    /// Errors: as for [`DensityMixturePlayer::pdf`].
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture_real.postcard");
    /// let p = finn_embedded::DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
    /// let inf = f32::INFINITY;
    /// let left = p.box_probability(&[-inf, -inf], &[0.0, inf]).unwrap();
    /// let right = p.box_probability(&[0.0, -inf], &[inf, inf]).unwrap();
    /// assert!((left + right - 1.0).abs() < 1e-5);
    /// ```
    pub fn box_probability(&self, lo: &[f32; N], hi: &[f32; N]) -> Result<f32, Error> {
        self.mixture.box_probability(lo, hi)
    }

    /// A sample from `N` uniforms in [0, 1]: the first picks a component by the cumulative
    /// weights and is rescaled within its weight to a fresh uniform; that component's
    /// sequential inversion then gives the point, reflected back and mapped to x
    /// ([`DensityMixture::sample`]). Deterministic, in the support, never NaN.
    ///
    /// Errors: `NonFiniteInput` (a NaN uniform), `Overflow`, `InvalidShape` (unloaded).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture_real.postcard");
    /// let p = finn_embedded::DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
    /// for u in [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]] {
    ///     assert!(p.sample(&u).unwrap().iter().all(|v| v.is_finite()));
    /// }
    /// ```
    pub fn sample(&self, uniforms: &[f32; N]) -> Result<[f32; N], Error> {
        self.mixture.sample(uniforms)
    }

    /// Where the density lives: the box (0 outside it), or R^n by its map.
    ///
    /// Errors: `InvalidShape` (unloaded).
    ///
    /// ```
    /// use finn_embedded::finn_core::density_mixture::MixtureSupport;
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
    /// let p = finn_embedded::DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
    /// let MixtureSupport::Box(b) = p.support().unwrap() else { panic!("a box") };
    /// assert_eq!((b.lower(), b.upper()), (&[-1.0, 0.0], &[1.0, 2.0]));
    /// ```
    pub fn support(&self) -> Result<MixtureSupport<f32, N>, Error> {
        self.mixture.support()
    }

    /// The underlying `finn-core` mixture (its components, weights and reflections).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/density_mixture.postcard");
    /// let p = finn_embedded::DensityMixturePlayer::<2, 4, 1, 2>::load(blob).unwrap();
    /// let c = p.mixture().components();
    /// assert_eq!((c.len(), c[1].reflect()), (2, &[true, false]));
    /// ```
    pub fn mixture(&self) -> &DensityMixture<f32, N, W, L, K> {
        &self.mixture
    }
}

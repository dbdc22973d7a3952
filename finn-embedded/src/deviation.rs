//! The deviation application: a bounded-deviation model phi(x) = psi(x) + f(x) d(x) played
//! back in `f32`: a polynomial base psi corrected by a positive magnitude f times a direction
//! with |d| <= 1, so that the integral of |phi - psi| over the domain is at most eps by
//! construction (finn-core's [`finn_core::deviation`]).
//!
//! A [`DeviationPlayer`] loads a deviation blob (payload 3 of [`finn_core::format`]) into
//! finn-core's [`BoundedDeviation`](finn_core::deviation::BoundedDeviation) with a
//! [`Polynomial`](finn_core::deviation::Polynomial) base and a
//! [`NetworkDirection`](finn_core::deviation::NetworkDirection), and evaluates it there.
//! Outside the domain phi is the base.
//!
//! ```
//! use finn_embedded::DeviationPlayer;
//! # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
//! // 1 input, 1 output, networks of at most 8 units in at most 2 layers, a base of at most 2
//! // monomials (affine). In firmware: `static BLOB: &[u8] = include_bytes!("deviation.postcard");`
//! let p = DeviationPlayer::<1, 1, 8, 2, 2>::load(blob).unwrap();
//! let x = [0.3];
//! let (phi, f) = (p.value(&x).unwrap(), p.magnitude(&x).unwrap());
//! let psi = phi[0] - p.correction(&x).unwrap()[0];
//! assert!((phi[0] - psi).abs() <= f);
//! let j = p.deviation_bound().unwrap();
//! assert!(j.value <= p.eps() + j.error);
//! ```

use finn_core::format::{decode_deviation, DeviationModel};
use finn_core::jet::{Dim, JetDim};
use finn_core::{Bounded, Depth, Error, HiddenBlocks};

use crate::LoadError;

/// A bounded-deviation model loaded from a deviation blob, evaluated in `f32`.
///
/// `N` inputs and `M` outputs (exactly the blob's), `W` and `L` the largest width and depth of
/// the magnitude network and of each direction network, `K` the most monomials per output of
/// the base (`monomial_count(N, degree)`: `N + 1` for an affine base). The player holds the
/// weights in fixed arrays: in firmware, put it in a `static` from
/// [`DeviationPlayer::unloaded`] and load it in place with [`DeviationPlayer::reload`].
///
/// Every evaluation is a `Result`: a NaN or infinite coordinate is `Error::NonFiniteInput`, a
/// value that is not finite in `f32` `Error::Overflow`, an unloaded player
/// `Error::InvalidShape`.
///
/// ```
/// use finn_embedded::{DeviationPlayer, Error};
/// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
/// let p = DeviationPlayer::<1, 1, 8, 2, 2>::load(blob).unwrap();
/// assert_eq!(p.value(&[f32::NAN]).unwrap_err(), Error::NonFiniteInput);
/// ```
#[derive(Clone, Debug)]
pub struct DeviationPlayer<
    const N: usize,
    const M: usize,
    const W: usize,
    const L: usize,
    const K: usize,
> where
    Depth<L>: HiddenBlocks<f32, W>,
{
    model: DeviationModel<f32, N, M, W, L, K>,
}

impl<const N: usize, const M: usize, const W: usize, const L: usize, const K: usize>
    DeviationPlayer<N, M, W, L, K>
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    /// Loads a deviation blob from flash: checks it completely and builds the `f32` model.
    /// Never allocates, never panics.
    ///
    /// Errors: [`LoadError::Corrupt`] (framing, CRC), [`LoadError::Invalid`] (another payload,
    /// as `WrongPayload`; content that finn-core refuses), [`LoadError::Capacity`] (another
    /// input or output dimension than `N` or `M`, more layers than `L`, a width above `W`, a
    /// base of more than `K` monomials), [`LoadError::Core`] (a value that does not fit `f32`,
    /// a magnitude whose integral does not meet eps in `f32`).
    ///
    /// ```
    /// use finn_embedded::finn_core::format::{Field, Payload};
    /// use finn_embedded::{DeviationPlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
    /// # let fit_blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
    /// // An affine base in one input has 2 monomials; room for 1 is too little.
    /// assert_eq!(
    ///     DeviationPlayer::<1, 1, 8, 2, 1>::load(blob).unwrap_err(),
    ///     LoadError::Capacity(FormatError::CapacityMismatch {
    ///         field: Field::Monomials,
    ///         capacity: 1,
    ///         found: 2
    ///     })
    /// );
    /// assert_eq!(
    ///     DeviationPlayer::<2, 1, 8, 2, 3>::load(fit_blob).unwrap_err(),
    ///     LoadError::Invalid(FormatError::WrongPayload {
    ///         expected: Payload::Deviation,
    ///         found: Payload::Model
    ///     })
    /// );
    /// ```
    pub fn load(blob: &'static [u8]) -> Result<Self, LoadError> {
        Self::from_bytes(blob)
    }

    /// As [`DeviationPlayer::load`], from bytes of any lifetime (the player copies what it
    /// needs and does not borrow the blob).
    pub fn from_bytes(blob: &[u8]) -> Result<Self, LoadError> {
        let mut player = Self::unloaded();
        player.reload(blob)?;
        Ok(player)
    }

    /// A player with nothing loaded, for a `static`: every field is zero, so it lives in
    /// `.bss`, and [`DeviationPlayer::reload`] loads into it in place. Evaluating it before a
    /// successful load is an error.
    ///
    /// ```
    /// use finn_embedded::{DeviationPlayer, Error};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
    /// // In firmware: static mut PLAYER: DeviationPlayer<1, 1, 8, 2, 2> = DeviationPlayer::unloaded();
    /// let mut player = DeviationPlayer::<1, 1, 8, 2, 2>::unloaded();
    /// assert_eq!(player.value(&[0.5]).unwrap_err(), Error::InvalidShape);
    /// player.reload(blob).unwrap();
    /// assert!(player.value(&[0.5]).is_ok());
    /// ```
    pub const fn unloaded() -> Self {
        DeviationPlayer {
            model: DeviationModel::unloaded(),
        }
    }

    /// Checks `blob` and loads it into this player in place. On an error the player is left
    /// unloaded (evaluating it returns an error) and the error says why, as for
    /// [`DeviationPlayer::load`].
    ///
    /// ```
    /// use finn_embedded::{DeviationPlayer, FormatError, LoadError};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
    /// let mut player = DeviationPlayer::<1, 1, 8, 2, 2>::unloaded();
    /// player.reload(blob).unwrap();
    /// assert!(matches!(
    ///     player.reload(&blob[..blob.len() - 1]),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// assert!(player.value(&[0.5]).is_err()); // unloaded by the failed reload
    /// ```
    #[inline(never)]
    pub fn reload(&mut self, blob: &[u8]) -> Result<(), LoadError> {
        match &decode_deviation(blob) {
            Ok(view) => view
                .load_deviation_into(&mut self.model)
                .map_err(LoadError::from_build),
            Err(e) => {
                self.model.unload();
                Err(LoadError::from_decode(*e))
            }
        }
    }

    /// phi(x) = psi(x) + f(x) d(x); the base psi(x) outside the domain.
    ///
    /// Errors: `NonFiniteInput`, `Overflow`, `InvalidShape` (unloaded).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
    /// let p = finn_embedded::DeviationPlayer::<1, 1, 8, 2, 2>::load(blob).unwrap();
    /// // Outside the domain the correction is 0.
    /// assert_eq!(p.correction(&[5.0]).unwrap(), [0.0]);
    /// assert!(p.value(&[5.0]).unwrap()[0].is_finite());
    /// ```
    pub fn value(&self, x: &[f32; N]) -> Result<[f32; M], Error> {
        self.model.value(x)
    }

    /// The magnitude f(x) >= 0, the size of the correction |phi(x) - psi(x)| / |d(x)|; 0
    /// outside the domain.
    ///
    /// Errors: as for [`DeviationPlayer::value`].
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
    /// let p = finn_embedded::DeviationPlayer::<1, 1, 8, 2, 2>::load(blob).unwrap();
    /// assert!(p.magnitude(&[0.5]).unwrap() >= 0.0);
    /// assert_eq!(p.magnitude(&[-1.0]).unwrap(), 0.0);
    /// ```
    pub fn magnitude(&self, x: &[f32; N]) -> Result<f32, Error> {
        self.model.magnitude(x)
    }

    /// The correction phi(x) - psi(x) = f(x) d(x), of norm at most f(x); 0 outside the domain.
    ///
    /// Errors: as for [`DeviationPlayer::value`].
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
    /// let p = finn_embedded::DeviationPlayer::<1, 1, 8, 2, 2>::load(blob).unwrap();
    /// let c = p.correction(&[0.5]).unwrap();
    /// assert!(c[0].abs() <= p.magnitude(&[0.5]).unwrap());
    /// ```
    pub fn correction(&self, x: &[f32; N]) -> Result<[f32; M], Error> {
        self.model.correction(x)
    }

    /// The deviation budget eps: the integral of |phi - psi| over the domain is at most it
    /// (0 for an unloaded player).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
    /// let p = finn_embedded::DeviationPlayer::<1, 1, 8, 2, 2>::load(blob).unwrap();
    /// assert!(p.eps() > 0.0);
    /// ```
    pub fn eps(&self) -> f32 {
        self.model.eps()
    }

    /// The integral of the magnitude over the domain, recomputed in `f32` from the network's
    /// antiderivative at the domain's corners, with a rigorous bound on its rounding error:
    /// J(psi, phi) <= `value + error`, and the exact integral is at most eps.
    ///
    /// Errors: `InvalidShape` (unloaded), `Overflow`.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/deviation.postcard");
    /// let p = finn_embedded::DeviationPlayer::<1, 1, 8, 2, 2>::load(blob).unwrap();
    /// let j = p.deviation_bound().unwrap();
    /// assert!(j.value <= p.eps() + j.error);
    /// ```
    pub fn deviation_bound(&self) -> Result<Bounded<f32>, Error> {
        self.model.deviation_bound()
    }

    /// The finn-core model the player evaluates.
    pub fn model(&self) -> &DeviationModel<f32, N, M, W, L, K> {
        &self.model
    }
}

//! A soft-Q policy as the softq application writes it, played back in `f32`: the exact soft
//! value V(s), Q(s, a), and actions sampled exactly from the Boltzmann policy
//! pi(a | s) = exp(beta (Q(s, a) - V(s))) given uniforms.
//!
//! A [`SoftQPlayer`] loads a soft-Q blob (payload 5 of [`finn_core::format`]; the firmware
//! flashes `firmware/blobs/softq-pendulum.postcard`) into finn-core's [`SoftQ`] in place and
//! evaluates it there: fixed arrays, no allocation, no panics. In firmware, put it in a
//! `static` from [`SoftQPlayer::unloaded`] and load it with [`SoftQPlayer::reload`].
//!
//! ```
//! use finn_embedded::SoftQPlayer;
//! # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
//! // 3 state features, a hypernetwork layer of 4, a positive network of 2 bumps over the
//! // action box [-2, 2]. In firmware: `static BLOB: &[u8] = include_bytes!("softq.postcard");`
//! let p = SoftQPlayer::<3, 4, 8, 1, 2, 1>::load(blob).unwrap();
//! let s = [1.0, 0.0, 0.25];
//! let v = p.v(&s).unwrap();
//! // V is a soft maximum over A = [-2, 2]: at most max Q + ln 4 / beta.
//! assert!(p.q(&s, &[0.5]).unwrap() <= v + 4f32.ln() / 2.0);
//! let a = p.sample_action(&s, &[0.3]).unwrap();
//! assert!(a[0] >= -2.0 && a[0] <= 2.0);
//! ```

use finn_core::format::decode_softq;
use finn_core::jet::{Dim, JetDim};
use finn_core::softq::SoftQ;
use finn_core::{Depth, Error, HiddenBlocks};

use crate::LoadError;

/// A soft-Q model loaded from a soft-Q blob, evaluated in `f32`.
///
/// `S` is the number of state features and `M` the action dimension (exactly the blob's),
/// `H` the widest hypernetwork layer, `P` the most head outputs (the action network's
/// parameters + 1), `W` and `L` the action network's widest layer and depth.
///
/// Every evaluation is a `Result`: a NaN input is `Error::NonFiniteInput`, a value that is
/// not finite in `f32` `Error::Overflow`, an unloaded player an error too.
///
/// ```
/// use finn_embedded::SoftQPlayer;
/// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
/// let p = SoftQPlayer::<3, 4, 8, 1, 2, 1>::load(blob).unwrap();
/// assert!(p.v(&[f32::NAN, 0.0, 0.0]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct SoftQPlayer<
    const S: usize,
    const H: usize,
    const P: usize,
    const M: usize,
    const W: usize,
    const L: usize,
> {
    model: SoftQ<f32, S, H, P, M, W, L>,
}

impl<
        const S: usize,
        const H: usize,
        const P: usize,
        const M: usize,
        const W: usize,
        const L: usize,
    > SoftQPlayer<S, H, P, M, W, L>
where
    Dim<M>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    /// Loads a soft-Q blob from flash: checks it completely and builds the `f32` model.
    /// Never allocates, never panics.
    ///
    /// Errors: [`LoadError::Corrupt`] (framing, CRC), [`LoadError::Invalid`] (another
    /// payload, as `WrongPayload`; content the format refuses), [`LoadError::Capacity`]
    /// (another S or M, a layer beyond `H`, `W` or `L`, more head outputs than `P`),
    /// [`LoadError::Core`] (a value that does not fit `f32`).
    ///
    /// ```
    /// use finn_embedded::finn_core::format::{Field, Payload};
    /// use finn_embedded::{FormatError, LoadError, SoftQPlayer};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
    /// # let density: &'static [u8] = include_bytes!("../tests/data/density.postcard");
    /// assert_eq!(
    ///     SoftQPlayer::<3, 4, 6, 1, 2, 1>::load(blob).unwrap_err(),
    ///     LoadError::Capacity(FormatError::CapacityMismatch {
    ///         field: Field::HeadOutputs,
    ///         capacity: 6,
    ///         found: 7
    ///     })
    /// );
    /// assert_eq!(
    ///     SoftQPlayer::<3, 4, 8, 1, 2, 1>::load(density).unwrap_err(),
    ///     LoadError::Invalid(FormatError::WrongPayload {
    ///         expected: Payload::SoftQ,
    ///         found: Payload::Density
    ///     })
    /// );
    /// ```
    pub fn load(blob: &'static [u8]) -> Result<Self, LoadError> {
        Self::from_bytes(blob)
    }

    /// As [`SoftQPlayer::load`], from bytes of any lifetime (the player copies what it needs).
    ///
    /// ```
    /// use finn_embedded::{FormatError, LoadError, SoftQPlayer};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
    /// let mut copy = blob.to_vec();
    /// copy[60] ^= 1; // one flipped bit
    /// assert!(matches!(
    ///     SoftQPlayer::<3, 4, 8, 1, 2, 1>::from_bytes(&copy),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// ```
    pub fn from_bytes(blob: &[u8]) -> Result<Self, LoadError> {
        let mut player = Self::unloaded();
        player.reload(blob)?;
        Ok(player)
    }

    /// A player with nothing loaded, for a `static`; [`SoftQPlayer::reload`] loads into it in
    /// place. Evaluating it before a successful load is an error.
    ///
    /// ```
    /// use finn_embedded::SoftQPlayer;
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
    /// // In firmware: static mut PLAYER: SoftQPlayer<3, 4, 8, 1, 2, 1> = SoftQPlayer::unloaded();
    /// let mut player = SoftQPlayer::<3, 4, 8, 1, 2, 1>::unloaded();
    /// assert!(player.v(&[1.0, 0.0, 0.0]).is_err());
    /// player.reload(blob).unwrap();
    /// assert!(player.v(&[1.0, 0.0, 0.0]).is_ok());
    /// ```
    pub const fn unloaded() -> Self {
        SoftQPlayer {
            model: SoftQ::unloaded(),
        }
    }

    /// Checks `blob` and loads it into this player in place. On an error the player is left
    /// unloaded and the error says why, as for [`SoftQPlayer::load`].
    ///
    /// ```
    /// use finn_embedded::{FormatError, LoadError, SoftQPlayer};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
    /// let mut player = SoftQPlayer::<3, 4, 8, 1, 2, 1>::unloaded();
    /// player.reload(blob).unwrap();
    /// assert!(matches!(
    ///     player.reload(&blob[..blob.len() - 1]),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// assert!(player.v(&[1.0, 0.0, 0.0]).is_err()); // unloaded by the failed reload
    /// ```
    #[inline(never)]
    pub fn reload(&mut self, blob: &[u8]) -> Result<(), LoadError> {
        match &decode_softq(blob) {
            Ok(view) => view
                .load_softq_into(&mut self.model)
                .map_err(LoadError::from_build),
            Err(e) => {
                self.model.unload();
                Err(LoadError::from_decode(*e))
            }
        }
    }

    /// The exact soft value V(s) = (1/beta) ln of the integral of exp(beta Q(s, a)) over the
    /// action box ([`SoftQ::v`]).
    ///
    /// Errors: `NonFiniteInput`, `Overflow`, `DimensionMismatch` (not S features), or the
    /// error of an unloaded player.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
    /// let p = finn_embedded::SoftQPlayer::<3, 4, 8, 1, 2, 1>::load(blob).unwrap();
    /// assert!(p.v(&[0.0, 1.0, -0.5]).unwrap().is_finite());
    /// ```
    pub fn v(&self, s: &[f32]) -> Result<f32, Error> {
        self.model.v(s)
    }

    /// Q(s, a) ([`SoftQ::q`]).
    ///
    /// Errors: as for [`SoftQPlayer::v`], and for an action outside the box.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
    /// let p = finn_embedded::SoftQPlayer::<3, 4, 8, 1, 2, 1>::load(blob).unwrap();
    /// assert!(p.q(&[0.0, 1.0, -0.5], &[1.0]).unwrap().is_finite());
    /// ```
    pub fn q(&self, s: &[f32], a: &[f32]) -> Result<f32, Error> {
        self.model.q(s, a)
    }

    /// An action drawn exactly from pi(. | s) by inverting its conditional CDFs at `uniforms`
    /// in [0, 1] ([`SoftQ::sample_action`]): deterministic, in the action box.
    ///
    /// Errors: as for [`SoftQPlayer::v`], and `NonFiniteInput` for a NaN uniform.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
    /// let p = finn_embedded::SoftQPlayer::<3, 4, 8, 1, 2, 1>::load(blob).unwrap();
    /// let s = [0.0, 1.0, -0.5];
    /// let (lo, hi) = (p.sample_action(&s, &[0.1]).unwrap(), p.sample_action(&s, &[0.9]).unwrap());
    /// assert!(lo[0] <= hi[0]); // the inverse CDF is monotone
    /// ```
    pub fn sample_action(&self, s: &[f32], uniforms: &[f32; M]) -> Result<[f32; M], Error> {
        self.model.sample_action(s, uniforms)
    }

    /// The underlying finn-core model (its action box, beta, the policy at a state).
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/softq.postcard");
    /// let p = finn_embedded::SoftQPlayer::<3, 4, 8, 1, 2, 1>::load(blob).unwrap();
    /// assert_eq!((p.model().beta(), p.model().actions().upper()), (2.0, &[2.0]));
    /// ```
    pub fn model(&self) -> &SoftQ<f32, S, H, P, M, W, L> {
        &self.model
    }
}

//! The trajectory application: D coordinates of one time variable, trained with fixed start and
//! end states and via-points, played back in `f32`.
//!
//! A [`TrajectoryPlayer`] loads a trajectory blob (payload 1 of [`finn_core::format`]) and
//! samples position, velocity, acceleration and jerk at any time, in fixed-size arrays. The
//! start and end states are met **bit for bit** in `f32`, whatever the parameters: that is the
//! fixed-integral form of [`finn_core::trajectory`]. Via-points are met up to the rounding of a
//! small linear solve done once, at load time.

pub use finn_core::trajectory::{Kinematics, OutsidePolicy, Sample};

use finn_core::format::decode_trajectory;
use finn_core::trajectory::Trajectory;
use finn_core::{Depth, Error, HiddenBlocks};

use crate::LoadError;

/// A trajectory loaded from a blob, played back in `f32`.
///
/// `D` is the number of coordinates (exactly the blob's), `W` and `L` the largest width and
/// depth of the coordinate networks it accepts, `V` the most via-points. The player holds the
/// networks' weights in fixed arrays, about `D * 4 * ((L - 1) * W * W + 4 * W)` bytes: in
/// firmware, put it in a `static` from [`TrajectoryPlayer::unloaded`] and load it in place with
/// [`TrajectoryPlayer::reload`] (see the crate documentation), rather than building it on a
/// small stack with [`TrajectoryPlayer::load`].
///
/// ```
/// use finn_embedded::{Error, TrajectoryPlayer};
/// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
/// let player = TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
/// assert_eq!(player.interval(), (0.0, 2.0));
/// assert_eq!(player.sample(f32::NAN).unwrap_err(), Error::NonFiniteInput);
/// ```
#[derive(Clone, Debug)]
pub struct TrajectoryPlayer<const D: usize, const W: usize, const L: usize, const V: usize>
where
    Depth<L>: HiddenBlocks<f32, W>,
{
    trajectory: Trajectory<f32, D, W, L, V>,
}

impl<const D: usize, const W: usize, const L: usize, const V: usize> TrajectoryPlayer<D, W, L, V>
where
    Depth<L>: HiddenBlocks<f32, W>,
{
    /// Loads a blob from flash: checks it completely and builds the `f32` trajectory, solving
    /// its via-point correction once. Never allocates, never panics.
    ///
    /// ```
    /// use finn_embedded::{LoadError, TrajectoryPlayer};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// // In firmware: static BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/blob"));
    /// assert!(TrajectoryPlayer::<2, 8, 2, 1>::load(blob).is_ok());
    /// // The blob has 2 coordinates; a 3-D player refuses it.
    /// assert!(matches!(
    ///     TrajectoryPlayer::<3, 8, 2, 1>::load(blob),
    ///     Err(LoadError::Capacity(_))
    /// ));
    /// ```
    pub fn load(blob: &'static [u8]) -> Result<Self, LoadError> {
        Self::from_bytes(blob)
    }

    /// As [`TrajectoryPlayer::load`], from bytes of any lifetime (the player copies what it
    /// needs and does not borrow the blob).
    ///
    /// ```
    /// use finn_embedded::{FormatError, LoadError, TrajectoryPlayer};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// let mut copy = blob.to_vec();
    /// assert!(TrajectoryPlayer::<2, 8, 2, 1>::from_bytes(&copy).is_ok());
    /// copy[20] ^= 1; // one flipped bit
    /// assert!(matches!(
    ///     TrajectoryPlayer::<2, 8, 2, 1>::from_bytes(&copy),
    ///     Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    /// ));
    /// ```
    pub fn from_bytes(blob: &[u8]) -> Result<Self, LoadError> {
        let mut player = Self::unloaded();
        player.reload(blob)?;
        Ok(player)
    }

    /// A player with nothing loaded, for a `static`: every field is zero, so it lives in
    /// `.bss` (nothing stored in flash, nothing built on the stack), and
    /// [`TrajectoryPlayer::reload`] loads into it in place, so the weights (a few KiB) never
    /// pass through the stack. Sampling it before a successful load is an error.
    ///
    /// ```
    /// use finn_embedded::{Error, TrajectoryPlayer};
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// // In firmware: static mut PLAYER: TrajectoryPlayer<2, 8, 2, 1> = TrajectoryPlayer::unloaded();
    /// let mut player = TrajectoryPlayer::<2, 8, 2, 1>::unloaded();
    /// assert_eq!(player.sample(0.5).unwrap_err(), Error::InvalidShape);
    /// player.reload(blob).unwrap();
    /// assert!(player.sample(0.5).is_ok());
    /// ```
    pub const fn unloaded() -> Self {
        TrajectoryPlayer {
            trajectory: Trajectory::unloaded(),
        }
    }

    /// Checks `blob` and loads it into this player in place. On an error the player is left
    /// unloaded (sampling returns an error) and the error says why, as for
    /// [`TrajectoryPlayer::load`].
    // Not inlined: decoding's and loading's temporaries live in this frame and the ones it
    // calls, gone once it returns, rather than in the caller's.
    #[inline(never)]
    pub fn reload(&mut self, blob: &[u8]) -> Result<(), LoadError> {
        // The view is used where it lies in the decoder's result: moving it out first would
        // keep a second copy of it (some hundred bytes) in this frame.
        match &decode_trajectory(blob) {
            Ok(view) => view
                .load_trajectory_into(&mut self.trajectory)
                .map_err(LoadError::from_build),
            Err(e) => {
                // In place: a fresh unloaded value would reserve its size on this frame.
                self.trajectory.unload();
                Err(LoadError::from_decode(*e))
            }
        }
    }

    /// Position, velocity, acceleration and jerk at time `t`.
    ///
    /// Outside [t0, T] the blob's policy decides: `Hold` gives the nearer end state with zero
    /// derivatives, `Reject` gives `Error::OutsideInterval`.
    ///
    /// Errors: `NonFiniteInput` (NaN or infinite `t`), `OutsideInterval`, `Overflow` (a value
    /// that is not finite in `f32`).
    ///
    /// ```
    /// use finn_embedded::TrajectoryPlayer;
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// let player = TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
    /// let s = player.sample(0.5).unwrap();
    /// assert!(s.position.iter().chain(&s.velocity).all(|v| v.is_finite()));
    /// // The blob holds (policy Hold): past T, the end state at rest.
    /// let after = player.sample(5.0).unwrap();
    /// assert_eq!(&after.position, player.endpoints().1);
    /// assert_eq!(after.velocity, [0.0; 2]);
    /// ```
    pub fn sample(&self, t: f32) -> Result<Sample<f32, D>, Error> {
        self.trajectory.sample(t)
    }

    /// Position, velocity and acceleration at time `t` (no jerk): what a controller usually
    /// needs, for about a quarter less work than [`TrajectoryPlayer::sample`], and bit for bit
    /// its first three values. Errors as for [`TrajectoryPlayer::sample`].
    ///
    /// ```
    /// use finn_embedded::TrajectoryPlayer;
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// let player = TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
    /// let (k, s) = (player.kinematics(0.7).unwrap(), player.sample(0.7).unwrap());
    /// assert_eq!(k.acceleration, s.acceleration);
    /// ```
    pub fn kinematics(&self, t: f32) -> Result<Kinematics<f32, D>, Error> {
        self.trajectory.kinematics(t)
    }

    /// The k-th of `n` times evenly spaced over [t0, T]: t0 + (T - t0) k / (n - 1), with
    /// k = 0 giving t0 and k >= n - 1 giving T exactly (so the end samples hit the exact end
    /// states). `n <= 1` gives t0.
    ///
    /// ```
    /// use finn_embedded::TrajectoryPlayer;
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// let player = TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
    /// assert_eq!(player.grid_time(0, 5), 0.0);
    /// assert_eq!(player.grid_time(2, 5), 1.0);
    /// assert_eq!(player.grid_time(4, 5), 2.0);
    /// ```
    pub fn grid_time(&self, k: usize, n: usize) -> f32 {
        let (t0, t1) = self.interval();
        if n <= 1 || k == 0 {
            return t0;
        }
        if k >= n - 1 {
            return t1;
        }
        t0 + (t1 - t0) * (k as f32 / (n - 1) as f32)
    }

    /// The interval (t0, T), in `f32`.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// let player = finn_embedded::TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
    /// assert_eq!(player.interval(), (0.0, 2.0));
    /// ```
    pub fn interval(&self) -> (f32, f32) {
        self.trajectory.interval()
    }

    /// The start and end states x0 and xT, in `f32`: what [`TrajectoryPlayer::sample`] returns
    /// at t0 and T, bit for bit.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// let player = finn_embedded::TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
    /// assert_eq!(player.endpoints(), (&[0.0, 1.0], &[1.0, -1.0]));
    /// ```
    pub fn endpoints(&self) -> (&[f32; D], &[f32; D]) {
        self.trajectory.endpoints()
    }

    /// The underlying `finn-core` trajectory.
    ///
    /// ```
    /// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
    /// let player = finn_embedded::TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
    /// assert_eq!(player.trajectory().coordinates()[0].widths(), &[2]);
    /// ```
    pub fn trajectory(&self) -> &Trajectory<f32, D, W, L, V> {
        &self.trajectory
    }
}

//! # finn-embedded: play back trained finn trajectories on a microcontroller
//!
//! What firmware links. A [`TrajectoryPlayer`] is built from a weights blob in flash (a
//! `&'static [u8]`, typically `include_bytes!`): it checks the blob completely (magic, format
//! version, CRC, payload, shape and values, through [`finn_core::format`]), converts it to
//! `f32` (an `f64`-trained blob converts on load), and then samples the trajectory's position,
//! velocity, acceleration and jerk at any time, in fixed-size arrays.
//!
//! The crate is `#![no_std]`, never allocates, contains no `unsafe` code, and never panics:
//! every bad blob is a typed [`LoadError`], every bad time a [`finn_core::Error`].
//!
//! The start and end states are met **bit for bit** in `f32`, whatever the parameters: that is
//! the fixed-integral form of [`finn_core::trajectory`]. Via-points are met up to the rounding
//! of a small linear solve done once, at load time.
//!
//! ```
//! use finn_embedded::TrajectoryPlayer;
//! # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
//! // A 2-D trajectory whose networks have at most 8 units in at most 2 layers, and at most
//! // 1 via-point. In firmware: `static BLOB: &[u8] = include_bytes!("trajectory.postcard");`
//! let player = TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
//! let (t0, t1) = player.interval();
//! let start = player.sample(t0).unwrap();
//! assert_eq!(&start.position, player.endpoints().0); // exact, not approximately
//! let end = player.sample(t1).unwrap();
//! assert_eq!(&end.position, player.endpoints().1);
//! // Play N = 5 samples evenly over [t0, T], ends included exactly.
//! for k in 0..5 {
//!     let s = player.sample(player.grid_time(k, 5)).unwrap();
//!     let _ = (s.position, s.velocity, s.acceleration, s.jerk);
//! }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::fmt;

pub use finn_core;
pub use finn_core::format::FormatError;
pub use finn_core::trajectory::{Kinematics, OutsidePolicy, Sample};
pub use finn_core::Error;

use finn_core::format::decode_trajectory;
use finn_core::trajectory::Trajectory;

/// Why a blob could not be loaded into a player.
///
/// Each variant carries the underlying error of `finn-core`; `Display` says which stage
/// refused the blob, then why.
///
/// ```
/// use finn_embedded::{FormatError, LoadError, TrajectoryPlayer};
/// let err = TrajectoryPlayer::<3, 16, 2, 4>::from_bytes(b"not a blob").unwrap_err();
/// assert_eq!(err, LoadError::Corrupt(FormatError::BadMagic));
/// assert_eq!(err.to_string(), "corrupt blob: not a finn model blob (bad magic)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// Not an intact blob: too short, wrong magic, unsupported format version, or a CRC
    /// mismatch (a flipped bit, a truncated or padded image).
    Corrupt(FormatError),
    /// An intact blob whose content is not a valid trajectory: another payload (a single
    /// model), a malformed body, a bad shape, non-finite values, via-points out of order.
    Invalid(FormatError),
    /// A valid trajectory that does not fit this player's compile-time capacity: another
    /// number of coordinates than `D`, more layers than `L`, a width above `W`, more
    /// via-points than `V`.
    Capacity(FormatError),
    /// A valid trajectory that does not build in `f32`: a value beyond `f32::MAX`, an
    /// interval or via-point times that collapse when rounded, a singular via-point system, a
    /// network that overflows at t0 or T.
    Core(Error),
}

impl LoadError {
    /// Classifies an error of [`decode_trajectory`] (the blob itself).
    fn from_decode(e: FormatError) -> Self {
        match e {
            FormatError::Truncated { .. }
            | FormatError::BadMagic
            | FormatError::UnsupportedVersion { .. }
            | FormatError::CrcMismatch { .. } => LoadError::Corrupt(e),
            _ => LoadError::Invalid(e),
        }
    }

    /// Classifies an error of building the `f32` trajectory from a checked blob.
    fn from_build(e: FormatError) -> Self {
        match e {
            FormatError::CapacityMismatch { .. } => LoadError::Capacity(e),
            FormatError::Core(core) => LoadError::Core(core),
            _ => LoadError::Invalid(e),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Corrupt(e) => write!(f, "corrupt blob: {e}"),
            LoadError::Invalid(e) => write!(f, "invalid trajectory blob: {e}"),
            LoadError::Capacity(e) => write!(f, "the trajectory does not fit this player: {e}"),
            LoadError::Core(e) => write!(f, "the trajectory does not build in f32: {e}"),
        }
    }
}

impl core::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            LoadError::Corrupt(e) | LoadError::Invalid(e) | LoadError::Capacity(e) => Some(e),
            LoadError::Core(e) => Some(e),
        }
    }
}

/// A trajectory loaded from a blob, played back in `f32`.
///
/// `D` is the number of coordinates (exactly the blob's), `W` and `L` the largest width and
/// depth of the coordinate networks it accepts, `V` the most via-points. The player holds the
/// networks' weights in fixed arrays, about `D * 4 * (L * W * W + 4 * W)` bytes: put it in a
/// `static` (for instance with `cortex_m::singleton!`) rather than on a small stack.
///
/// ```
/// use finn_embedded::{Error, TrajectoryPlayer};
/// # let blob: &'static [u8] = include_bytes!("../tests/data/doc.postcard");
/// let player = TrajectoryPlayer::<2, 8, 2, 1>::load(blob).unwrap();
/// assert_eq!(player.interval(), (0.0, 2.0));
/// assert_eq!(player.sample(f32::NAN).unwrap_err(), Error::NonFiniteInput);
/// ```
#[derive(Clone, Debug)]
pub struct TrajectoryPlayer<const D: usize, const W: usize, const L: usize, const V: usize> {
    trajectory: Trajectory<f32, D, W, L, V>,
}

impl<const D: usize, const W: usize, const L: usize, const V: usize> TrajectoryPlayer<D, W, L, V> {
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

    /// A player with nothing loaded, for a `static`: it lives in `.bss`, and
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
    pub fn reload(&mut self, blob: &[u8]) -> Result<(), LoadError> {
        let view = match decode_trajectory(blob) {
            Ok(view) => view,
            Err(e) => {
                // In place: a fresh unloaded value would reserve its size on this frame.
                self.trajectory.unload();
                return Err(LoadError::from_decode(e));
            }
        };
        view.load_trajectory_into(&mut self.trajectory)
            .map_err(LoadError::from_build)
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

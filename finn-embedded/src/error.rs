//! [`LoadError`]: why a blob could not be loaded into a player, whichever the application.

use core::fmt;

use finn_core::format::FormatError;
use finn_core::Error;

/// Why a blob could not be loaded into a player ([`TrajectoryPlayer`](crate::TrajectoryPlayer),
/// [`FitPlayer`](crate::FitPlayer), [`DensityPlayer`](crate::DensityPlayer)).
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
    /// An intact blob whose content is not valid for this player: another payload (a model
    /// given to a trajectory player, a trajectory to a fit player, a model to a density
    /// player, as [`FormatError::WrongPayload`]), a malformed body, a bad shape, non-finite
    /// values, an inconsistent constraint, a density blob whose model is not a density,
    /// via-points out of order.
    Invalid(FormatError),
    /// A valid blob that does not fit this player's compile-time capacity: for a trajectory,
    /// another number of coordinates than `D`, more layers than `L`, a width above `W`, more
    /// via-points than `V`; for a fitted model or a density, another input dimension than `N`,
    /// more layers than `L`, a width above `W`.
    Capacity(FormatError),
    /// A valid blob that does not build in `f32`: a value beyond `f32::MAX`, an interval,
    /// domain corners or via-point times that collapse when rounded, a singular via-point
    /// system, a network that overflows at t0 or T.
    Core(Error),
}

impl LoadError {
    /// Classifies an error of reading the blob itself (`decode`, `decode_trajectory`).
    pub(crate) fn from_decode(e: FormatError) -> Self {
        match e {
            FormatError::Truncated { .. }
            | FormatError::BadMagic
            | FormatError::UnsupportedVersion { .. }
            | FormatError::CrcMismatch { .. } => LoadError::Corrupt(e),
            _ => LoadError::Invalid(e),
        }
    }

    /// Classifies an error of building the `f32` value from a checked blob.
    pub(crate) fn from_build(e: FormatError) -> Self {
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
            LoadError::Invalid(e) => write!(f, "invalid blob: {e}"),
            LoadError::Capacity(e) => write!(f, "the blob does not fit this player: {e}"),
            LoadError::Core(e) => write!(f, "the blob does not build in f32: {e}"),
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

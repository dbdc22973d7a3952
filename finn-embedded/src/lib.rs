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

// One module per application, named as on every other layer of the project.
mod error;
pub mod trajectory;

pub use finn_core;
pub use finn_core::format::FormatError;
pub use finn_core::Error;

pub use error::LoadError;
pub use trajectory::{Kinematics, OutsidePolicy, Sample, TrajectoryPlayer};

//! # finn-embedded: play back trained finn models on a microcontroller
//!
//! What firmware links: one module, and one player, per application, named as on every other
//! layer of the project.
//!
//! | module | player | blob (payload of [`finn_core::format`]) | what it evaluates |
//! |---|---|---|---|
//! | [`fit`] | [`FitPlayer`] | a model (0) | f, F and exact box integrals of a regression model with an integral constraint |
//! | [`trajectory`] | [`TrajectoryPlayer`] | a trajectory (1) | position, velocity, acceleration and jerk at any time |
//! | [`density`] | [`DensityPlayer`] | a density (2) | pdf, log-pdf, CDF, exact box probabilities and samples from uniforms of a probability density |
//! | [`density_mixture`] | [`DensityMixturePlayer`] | a density mixture (4) | the same for what a `density` run with reflections or a real-space map writes: weighted, reflected density networks on a box or on R^n |
//! | [`deviation`] | [`DeviationPlayer`] | a bounded-deviation model (3) | phi = psi + f d, the magnitude f and the correction of a base psi whose total deviation is at most eps |
//!
//! A player is built from a weights blob in flash (a `&'static [u8]`, typically
//! `include_bytes!`): it checks the blob completely (magic, format version, CRC, payload, shape
//! and values, through [`finn_core::format`]), converts it to `f32` (an `f64`-trained blob
//! converts on load), and then evaluates it in fixed-size arrays.
//!
//! The crate is `#![no_std]`, never allocates, contains no `unsafe` code, and never panics:
//! every bad blob is a typed [`LoadError`], every bad input a [`finn_core::Error`].
//!
//! A trajectory meets its start and end states **bit for bit** in `f32`, whatever the
//! parameters: that is the fixed-integral form of [`finn_core::trajectory`]. Via-points are met
//! up to the rounding of a small linear solve done once, at load time.
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
//!
//! A fitted model keeps its integral constraint in `f32`:
//!
//! ```
//! use finn_embedded::FitPlayer;
//! # let blob: &'static [u8] = include_bytes!("../tests/data/fit.postcard");
//! // A model of 2 inputs whose network has at most 8 units in at most 2 layers.
//! let model = FitPlayer::<2, 8, 2>::load(blob).unwrap();
//! assert!((model.integral().unwrap() - 1.0).abs() < 1e-5); // trained as a density
//! let mass = model.integral_over(&[0.0, 0.0], &[0.5, 0.5]).unwrap();
//! assert!(mass > 0.0 && mass < 1.0);
//! ```
//!
//! # In firmware: the player in a static, in `.bss`, loaded in place
//!
//! A player holds its weights in fixed arrays: a few KiB (7 KiB for a 3-D trajectory of two
//! layers of 16), which belong in static memory, not on a small stack. Two ways of getting it
//! there cost what the player weighs, and more:
//!
//! * `let player = TrajectoryPlayer::load(BLOB)?` (or `FitPlayer::load`) returns the player by
//!   value: it is built in the caller's frame, and moving it into a `static` afterwards keeps
//!   that frame's size;
//! * `cortex_m::singleton!(: Player = Player::load(BLOB).unwrap())` evaluates the value in the
//!   calling function's frame before moving it into its hidden `static` (a user who followed
//!   that advice got a 5.4 KB `main` frame), and that static is an `Option<Player>` whose
//!   `None` is not all zeros, so the whole player goes to `.data`: its initial image is kept in
//!   flash and copied to RAM at start-up.
//!
//! Instead, initialise a `static` with the player's `const fn unloaded()` and load it in place
//! with `reload`. Every byte of an unloaded player is zero (or an unused, uninitialised slot of
//! one of its `heapless` vectors), so the static lands in `.bss` (RAM zeroed at start-up,
//! nothing in flash), and `reload` checks the blob and writes the weights straight into the
//! static: no copy of the player ever passes through the stack. Hand out the one
//! `&'static mut` once, for example behind a flag:
//!
//! ```
//! use core::sync::atomic::{AtomicBool, Ordering};
//! use finn_embedded::{LoadError, TrajectoryPlayer};
//! # static BLOB: &[u8] = include_bytes!("../tests/data/doc.postcard");
//! // In firmware: static BLOB: &[u8] = include_bytes!("trajectory.postcard");
//! type Player = TrajectoryPlayer<2, 8, 2, 1>;
//!
//! /// The player, loaded in place from `BLOB`; `None` on a second call.
//! fn take_player() -> Option<Result<&'static Player, LoadError>> {
//!     // Const-initialised and all zeros: in .bss, nothing built on the stack.
//!     static mut PLAYER: Player = Player::unloaded();
//!     static TAKEN: AtomicBool = AtomicBool::new(false);
//!     if TAKEN.swap(true, Ordering::AcqRel) {
//!         return None;
//!     }
//!     // SAFETY: the flag hands out this one reference at most once.
//!     let player: &'static mut Player = unsafe { &mut *core::ptr::addr_of_mut!(PLAYER) };
//!     Some(player.reload(BLOB).map(|()| &*player))
//! }
//!
//! let player = take_player().unwrap().unwrap();
//! assert!(player.sample(0.5).is_ok());
//! assert!(take_player().is_none()); // handed out once
//! ```
//!
//! [`FitPlayer::unloaded`] and [`FitPlayer::reload`] work the same way, and so do
//! [`DensityPlayer::unloaded`] and [`DensityPlayer::reload`]. The firmware in this repository
//! does exactly this (`firmware/src/trajectory.rs`, `firmware/src/fit.rs`,
//! `firmware/src/density.rs`), and
//! `cargo xtask device` reports which section its player landed in (`results/device.md`).
//!
//! # In firmware: the capacity from the blob
//!
//! Rather than choosing the const generics by hand, let the firmware's `build.rs` read them
//! from the blob: `finn_embedded::build::embed` (feature `build`, in `[build-dependencies]`)
//! checks the blob at compile time and writes the exactly sized `Player` type and the
//! embedded `BLOB`, so the capacity cannot be wrong. `examples/cortex-m4f-player` in the
//! repository is a complete firmware built that way.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The build-script helper and the blob inspection use `std`; only with the host-side feature
// `build`, never in a device build.
#[cfg(feature = "build")]
extern crate std;

#[cfg(feature = "build")]
pub mod build;
// One module per application, named as on every other layer of the project.
pub mod density;
pub mod density_mixture;
pub mod deviation;
mod error;
pub mod fit;
pub mod softq;
pub mod trajectory;

pub use finn_core;
pub use finn_core::format::FormatError;
pub use finn_core::Error;

pub use density::DensityPlayer;
pub use density_mixture::DensityMixturePlayer;
pub use deviation::DeviationPlayer;
pub use error::LoadError;
pub use fit::FitPlayer;
pub use softq::SoftQPlayer;
pub use trajectory::{Kinematics, OutsidePolicy, Sample, TrajectoryPlayer};

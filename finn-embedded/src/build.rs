//! For a firmware's `build.rs`: embed a blob and size its player **from the blob**, so the
//! player's capacity is exact by construction (feature `build`, host only).
//!
//! A player's const generics (`TrajectoryPlayer<D, W, L, V>`, `FitPlayer<N, W, L>`,
//! `DensityPlayer<N, W, L>`) must hold
//! the blob it loads; picked by hand, a wrong guess is a run-time [`LoadError::Capacity`]
//! (too small) or wasted RAM (too large). [`embed`] reads the blob at compile time, decodes it
//! completely (magic, version, CRC, payload, shape and values: a corrupt blob fails the
//! *build*, with the file and the problem named), copies it to `OUT_DIR` and writes
//! `OUT_DIR/finn_player.rs`, a module with:
//!
//! - `BLOB`: the blob, `include_bytes!` of the checked copy;
//! - `KIND`: `"trajectory"`, `"fit"`, `"density"`, `"deviation"` or `"density_mixture"`;
//! - the capacity as consts: `D`, `W`, `L`, `V` for a trajectory, `N`, `W`, `L` for a model or
//!   a density;
//! - `Player`: the player type of exactly that capacity, for example
//!   `finn_embedded::TrajectoryPlayer<3, 16, 2, 1>`;
//! - `PLAYER_BYTES`: the RAM that player takes on a 32-bit target such as a Cortex-M
//!   ([`Capacity::player_bytes`]).
//!
//! A `build.rs` (with `finn-embedded = { version = "...", features = ["build"] }` under
//! `[build-dependencies]`):
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("finn-build-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # std::env::set_var("OUT_DIR", &dir);
//! # let _ = std::env::set_current_dir(env!("CARGO_MANIFEST_DIR"));
//! // build.rs
//! fn main() {
//!     // Fails the build, naming the file and the problem, unless the blob is intact.
//!     let blob = finn_embedded::build::embed("tests/data/doc.postcard")
//!         .unwrap_or_else(|e| panic!("{e}"));
//!     // Optional: what it is, in the build's output (`cargo build -vv`).
//!     println!("embedded a {}", blob.capacity());
//! #   assert_eq!(blob.capacity().to_string(), "trajectory player finn_embedded::TrajectoryPlayer<2, 2, 1, 1>");
//! }
//! # main();
//! # let module = std::fs::read_to_string(dir.join("finn_player.rs")).unwrap();
//! # assert!(module.contains("pub type Player = ::finn_embedded::TrajectoryPlayer<D, W, L, V>;"));
//! # assert!(module.contains("pub const D: usize = 2;"));
//! ```
//!
//! and the firmware, which needs no capacity of its own:
//!
//! ```ignore
//! mod player {
//!     include!(concat!(env!("OUT_DIR"), "/finn_player.rs"));
//! }
//! static mut PLAYER: player::Player = player::Player::unloaded();
//! // ... PLAYER.reload(player::BLOB) (see the crate documentation for the static pattern).
//! ```
//!
//! A blob that does not fit the player is now impossible: the player is built from the very
//! bytes it will load. What is left to run time is what only the `f32` build of the blob can
//! refuse ([`LoadError::Core`], for example a value beyond `f32::MAX`).
//!
//! [`inspect`] describes any blob (kind, shape, interval, endpoints, via-points, constraint,
//! scalar type, CRC, capacity and RAM): it is what `cargo xtask inspect FILE` prints.
//!
//! [`LoadError::Capacity`]: crate::LoadError::Capacity
//! [`LoadError::Core`]: crate::LoadError::Core

mod inspect;

pub use inspect::{inspect, Inspection};

use core::fmt;
use finn_core::format::{decode_any, Blob, FormatError};
use std::format;
use std::io;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

/// The name of the module [`Embedded::write`] writes, in the directory it is given.
pub const MODULE_FILE: &str = "finn_player.rs";
/// The name of the blob's copy that the module embeds, next to it.
pub const BLOB_FILE: &str = "finn_blob.postcard";

/// The player a blob needs, with its exact capacity.
///
/// ```
/// use finn_embedded::build::Capacity;
/// let c = Capacity::Trajectory { d: 3, w: 16, l: 2, v: 1 };
/// assert_eq!(c.player_type(), "finn_embedded::TrajectoryPlayer<3, 16, 2, 1>");
/// assert_eq!(c.player_bytes(), 3964); // on a Cortex-M (32-bit)
/// assert_eq!(Capacity::Fit { n: 2, w: 16, l: 2 }.kind(), "fit");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Capacity {
    /// A [`TrajectoryPlayer<D, W, L, V>`](crate::TrajectoryPlayer).
    Trajectory {
        /// Coordinates D.
        d: usize,
        /// Widest hidden layer W.
        w: usize,
        /// Hidden layers L.
        l: usize,
        /// Via-points V.
        v: usize,
    },
    /// A [`FitPlayer<N, W, L>`](crate::FitPlayer), for a model blob (the fit application).
    Fit {
        /// Inputs N.
        n: usize,
        /// Widest hidden layer W.
        w: usize,
        /// Hidden layers L.
        l: usize,
    },
    /// A [`DensityPlayer<N, W, L>`](crate::DensityPlayer), for a density blob (payload 2).
    Density {
        /// Inputs N.
        n: usize,
        /// Widest hidden layer W.
        w: usize,
        /// Hidden layers L.
        l: usize,
    },
    /// A [`DeviationPlayer<N, M, W, L, K>`](crate::DeviationPlayer), for a deviation blob
    /// (payload 3).
    Deviation {
        /// Inputs N.
        n: usize,
        /// Outputs M.
        m: usize,
        /// Widest hidden layer W (of the magnitude and the direction networks).
        w: usize,
        /// Hidden layers L (the deeper of the magnitude and the direction networks).
        l: usize,
        /// Monomials per output of the base, K.
        k: usize,
    },
    /// A [`DensityMixturePlayer<N, W, L, K>`](crate::DensityMixturePlayer), for a density
    /// mixture blob (payload 4).
    DensityMixture {
        /// Inputs N.
        n: usize,
        /// Widest hidden layer W (over the components).
        w: usize,
        /// Hidden layers L (the deepest component).
        l: usize,
        /// Components K.
        k: usize,
    },
    /// A [`SoftQPlayer<S, H, P, M, W, L>`](crate::SoftQPlayer), for a soft-Q blob (payload
    /// 5).
    SoftQ {
        /// State features S.
        s: usize,
        /// Widest hypernetwork layer H.
        h: usize,
        /// Head outputs P (the action network's parameters + 1).
        p: usize,
        /// Action dimension M.
        m: usize,
        /// Widest action-network layer W.
        w: usize,
        /// Action-network layers L.
        l: usize,
    },
}

impl Capacity {
    /// The exact capacity of a decoded blob; `None` for a payload without a player.
    ///
    /// ```
    /// use finn_embedded::build::Capacity;
    /// use finn_embedded::finn_core::format::decode_any;
    /// # let blob: &[u8] = include_bytes!("../tests/data/fit.postcard");
    /// let capacity = Capacity::of(&decode_any(blob).unwrap()).unwrap();
    /// assert_eq!(capacity, Capacity::Fit { n: 2, w: 4, l: 1 });
    /// ```
    pub fn of(blob: &Blob<'_>) -> Option<Self> {
        let widest = |widths: &[usize]| widths.iter().copied().max().unwrap_or(1);
        match blob {
            Blob::Trajectory(view) => Some(Capacity::Trajectory {
                d: view.coordinates(),
                w: widest(view.widths()),
                l: view.widths().len(),
                v: view.via_times().len(),
            }),
            Blob::Model(view) => Some(Capacity::Fit {
                n: view.n(),
                w: widest(view.widths()),
                l: view.widths().len(),
            }),
            Blob::Density(view) => Some(Capacity::Density {
                n: view.n(),
                w: widest(view.widths()),
                l: view.widths().len(),
            }),
            Blob::Deviation(view) => {
                let (f, d) = (view.magnitude().widths(), view.direction_widths());
                Some(Capacity::Deviation {
                    n: view.n(),
                    m: view.outputs(),
                    w: widest(f).max(widest(d)),
                    l: f.len().max(d.len()),
                    k: view.terms(),
                })
            }
            Blob::DensityMixture(view) => {
                let (mut w, mut l) = (0, 0);
                for c in 0..view.len() {
                    let (_, _, model) = view.component(c)?;
                    w = widest(model.widths()).max(w);
                    l = model.widths().len().max(l);
                }
                Some(Capacity::DensityMixture {
                    n: view.n(),
                    w,
                    l,
                    k: view.len(),
                })
            }
            Blob::SoftQ(view) => Some(Capacity::SoftQ {
                s: view.state_features(),
                h: widest(view.state_widths()),
                p: view.head_outputs(),
                m: view.actions().0.len(),
                w: widest(view.action_widths()),
                l: view.action_widths().len(),
            }),
            _ => None,
        }
    }

    /// `"trajectory"`, `"fit"`, `"density"`, `"deviation"` or `"density_mixture"`: the
    /// application, as the generated module's `KIND`.
    ///
    /// ```
    /// use finn_embedded::build::Capacity;
    /// assert_eq!(Capacity::Density { n: 2, w: 16, l: 2 }.kind(), "density");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Capacity::Trajectory { .. } => "trajectory",
            Capacity::Fit { .. } => "fit",
            Capacity::Density { .. } => "density",
            Capacity::Deviation { .. } => "deviation",
            Capacity::DensityMixture { .. } => "density_mixture",
            Capacity::SoftQ { .. } => "softq",
        }
    }

    /// The player's type with the capacity filled in, as a path from the crate root:
    /// `finn_embedded::TrajectoryPlayer<D, W, L, V>`, `finn_embedded::FitPlayer<N, W, L>` or
    /// `finn_embedded::DensityPlayer<N, W, L>`.
    ///
    /// ```
    /// use finn_embedded::build::Capacity;
    /// let c = Capacity::Fit { n: 2, w: 16, l: 2 };
    /// assert_eq!(c.player_type(), "finn_embedded::FitPlayer<2, 16, 2>");
    /// let c = Capacity::Density { n: 2, w: 16, l: 2 };
    /// assert_eq!(c.player_type(), "finn_embedded::DensityPlayer<2, 16, 2>");
    /// ```
    pub fn player_type(&self) -> String {
        match *self {
            Capacity::Trajectory { d, w, l, v } => {
                format!("finn_embedded::TrajectoryPlayer<{d}, {w}, {l}, {v}>")
            }
            Capacity::Fit { n, w, l } => format!("finn_embedded::FitPlayer<{n}, {w}, {l}>"),
            Capacity::Deviation { n, m, w, l, k } => {
                format!("finn_embedded::DeviationPlayer<{n}, {m}, {w}, {l}, {k}>")
            }
            Capacity::Density { n, w, l } => {
                format!("finn_embedded::DensityPlayer<{n}, {w}, {l}>")
            }
            Capacity::DensityMixture { n, w, l, k } => {
                format!("finn_embedded::DensityMixturePlayer<{n}, {w}, {l}, {k}>")
            }
            Capacity::SoftQ { s, h, p, m, w, l } => {
                format!("finn_embedded::SoftQPlayer<{s}, {h}, {p}, {m}, {w}, {l}>")
            }
        }
    }

    /// Bytes of RAM the player takes on a 32-bit target (a Cortex-M): `size_of` of the
    /// player type there. A player is `f32` arrays and a few flags, so this is
    /// [`Capacity::player_bytes_for`] with 4-byte pointers.
    ///
    /// ```
    /// use finn_embedded::build::Capacity;
    /// assert_eq!(Capacity::Fit { n: 2, w: 16, l: 2 }.player_bytes(), 1404);
    /// // A density player holds the same model: the same size.
    /// assert_eq!(Capacity::Density { n: 2, w: 16, l: 2 }.player_bytes(), 1404);
    /// ```
    pub fn player_bytes(&self) -> usize {
        self.player_bytes_for(4)
    }

    /// `size_of` of the player type on a target whose `usize` has `pointer_bytes` bytes (4 or
    /// 8). Computed from the player's fields, which the compiler lays out without padding
    /// between them (they are ordered by alignment, or, in a `repr(C)` network, declared
    /// with the one-byte fields last) and rounds up to the largest alignment;
    /// a test compares it with `size_of` on the host, and the example firmware with
    /// `size_of` on the Cortex-M4F. Saturates rather than overflowing.
    ///
    /// ```
    /// use finn_embedded::build::Capacity;
    /// use finn_embedded::TrajectoryPlayer;
    /// let c = Capacity::Trajectory { d: 2, w: 8, l: 2, v: 1 };
    /// let host = core::mem::size_of::<usize>();
    /// assert_eq!(c.player_bytes_for(host), core::mem::size_of::<TrajectoryPlayer<2, 8, 2, 1>>());
    /// ```
    pub fn player_bytes_for(&self, pointer_bytes: usize) -> usize {
        // Every f32 is 4 bytes; `usize` fields take `pointer_bytes`; enums and flags 1 byte.
        const F32: usize = 4;
        let align = pointer_bytes.max(F32);
        let round = |bytes: usize| bytes.div_ceil(align).saturating_mul(align);
        let sum = |terms: &[usize]| terms.iter().fold(0usize, |a, &t| a.saturating_add(t));
        // finn_core::Network<f32, inputs, w, l> (repr(C)): the widths (a heapless::Vec: its
        // length and l slots), first-layer weights, biases, output weights, the l - 1 blocks
        // of weights between hidden layers, kind and activation.
        let network = |inputs: usize, w: usize, l: usize| {
            round(sum(&[
                pointer_bytes,
                pointer_bytes.saturating_mul(l),
                F32.saturating_mul(inputs).saturating_mul(w),
                F32.saturating_mul(l).saturating_mul(w),
                F32.saturating_mul(w),
                F32.saturating_mul(l.saturating_sub(1))
                    .saturating_mul(w)
                    .saturating_mul(w),
                2,
            ]))
        };
        // finn_core::Finn<f32, n, w, l>: the network, the domain, the constraint (bound,
        // method, eps: 8 bytes), its flag, the three constants, the volume, the loaded flag.
        let finn = |n: usize, w: usize, l: usize| {
            round(sum(&[
                network(n, w, l),
                2usize.saturating_mul(F32).saturating_mul(n),
                2 * F32,
                1,
                3 * F32,
                F32,
                1,
            ]))
        };
        match *self {
            // finn_core::deviation::BoundedDeviation: the base (degree, terms, M x K
            // coefficients), the direction (M networks, the softness), the magnitude, eps.
            Capacity::Deviation { n, m, w, l, k } => round(sum(&[
                round(sum(&[
                    2usize.saturating_mul(pointer_bytes),
                    F32.saturating_mul(k).saturating_mul(m),
                ])),
                round(sum(&[network(n, w, l).saturating_mul(m), F32])),
                finn(n, w, l),
                F32,
            ])),
            // finn_core::trajectory::Trajectory<f32, d, w, l, v>: the coordinate networks,
            // t0 and T, x0, xT, base and delta, the correction coefficients (a heapless::Vec
            // of v rows of d: its length and the rows, padded to a pointer's alignment as a
            // field of its own), the policy and the loaded flag.
            Capacity::Trajectory { d, w, l, v } => round(sum(&[
                network(1, w, l).saturating_mul(d),
                2 * F32,
                4usize.saturating_mul(F32).saturating_mul(d),
                // The correction coefficients are a heapless::Vec: its length and V entries,
                // a struct of its own, rounded to its alignment.
                round(pointer_bytes.saturating_add(F32.saturating_mul(d).saturating_mul(v))),
                2,
            ])),
            // finn_core::Finn<f32, n, w, l>: the network, the domain, the constraint (bound,
            // method, eps: 8 bytes), its flag, the three constants, the volume, the loaded flag.
            // A density player is a finn_core::Density, which is that model and nothing else.
            Capacity::Fit { n, w, l } | Capacity::Density { n, w, l } => finn(n, w, l),
            // finn_core::DensityMixture<f32, n, w, l, k>: K component slots (the weight, the
            // n reflection flags and the density, padded to the alignment), the count, and
            // the map (a tag, then the real-space centre and scale: 2n f32).
            Capacity::DensityMixture { n, w, l, k } => round(sum(&[
                round(sum(&[finn(n, w, l), F32, n])).saturating_mul(k),
                pointer_bytes,
                F32,
                2usize.saturating_mul(F32).saturating_mul(n),
            ])),
            // finn_core::softq::SoftQ<f32, s, h, p, m, w, l>: the two width lists
            // (heapless::Vecs: a length and 2 or l slots), the output count, the hypernetwork's
            // two layers, the head, the action box (2m f32), beta and the log-scale unit.
            Capacity::SoftQ {
                s,
                h,
                p,
                m,
                w: _,
                l,
            } => round(sum(&[
                pointer_bytes.saturating_mul(3),
                pointer_bytes.saturating_mul(l.saturating_add(1)),
                pointer_bytes,
                F32.saturating_mul(s).saturating_mul(h),
                F32.saturating_mul(h),
                F32.saturating_mul(h).saturating_mul(h),
                F32.saturating_mul(h),
                F32.saturating_mul(p).saturating_mul(h),
                F32.saturating_mul(p),
                2usize.saturating_mul(F32).saturating_mul(m),
                2 * F32,
            ])),
        }
    }

    /// The consts of the capacity, one per line with its doc comment, as the generated module
    /// declares them.
    fn consts(&self) -> String {
        let line = |doc: &str, name: &str, value: usize| {
            format!("/// {doc}\n#[allow(dead_code)]\npub const {name}: usize = {value};\n")
        };
        match *self {
            Capacity::Trajectory { d, w, l, v } => [
                line("Coordinates D.", "D", d),
                line("Widest hidden layer W.", "W", w),
                line("Hidden layers L.", "L", l),
                line("Via-points V.", "V", v),
            ]
            .concat(),
            Capacity::Fit { n, w, l } | Capacity::Density { n, w, l } => [
                line("Inputs N.", "N", n),
                line("Widest hidden layer W.", "W", w),
                line("Hidden layers L.", "L", l),
            ]
            .concat(),
            Capacity::DensityMixture { n, w, l, k } => [
                line("Inputs N.", "N", n),
                line("Widest hidden layer W.", "W", w),
                line("Hidden layers L.", "L", l),
                line("Components K.", "K", k),
            ]
            .concat(),
            Capacity::Deviation { n, m, w, l, k } => [
                line("Inputs N.", "N", n),
                line("Outputs M.", "M", m),
                line("Widest hidden layer W.", "W", w),
                line("Hidden layers L.", "L", l),
                line("Monomials per output K.", "K", k),
            ]
            .concat(),
            Capacity::SoftQ { s, h, p, m, w, l } => [
                line("State features S.", "S", s),
                line("Widest hypernetwork layer H.", "H", h),
                line("Head outputs P.", "P", p),
                line("Action dimension M.", "M", m),
                line("Widest action-network layer W.", "W", w),
                line("Action-network layers L.", "L", l),
            ]
            .concat(),
        }
    }

    /// The generic arguments by the consts' names: `<D, W, L, V>` or `<N, W, L>`.
    fn generic_names(&self) -> &'static str {
        match self {
            Capacity::Trajectory { .. } => "TrajectoryPlayer<D, W, L, V>",
            Capacity::Fit { .. } => "FitPlayer<N, W, L>",
            Capacity::Density { .. } => "DensityPlayer<N, W, L>",
            Capacity::Deviation { .. } => "DeviationPlayer<N, M, W, L, K>",
            Capacity::DensityMixture { .. } => "DensityMixturePlayer<N, W, L, K>",
            Capacity::SoftQ { .. } => "SoftQPlayer<S, H, P, M, W, L>",
        }
    }
}

impl fmt::Display for Capacity {
    /// `trajectory player finn_embedded::TrajectoryPlayer<3, 16, 2, 1>`, say.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} player {}", self.kind(), self.player_type())
    }
}

/// Why a blob could not be embedded: every message names the file.
///
/// ```
/// use finn_embedded::build::{BuildError, Embedded};
/// let err = Embedded::check("bad.postcard", b"FINN".to_vec()).unwrap_err();
/// assert!(matches!(err, BuildError::Invalid { .. }));
/// assert_eq!(
///     err.to_string(),
///     "the blob bad.postcard is not a valid finn blob: blob of 4 bytes is shorter than \
///      magic, version and CRC (10 bytes)"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The blob could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The blob does not decode: corrupt, truncated, another format version, or content the
    /// format refuses.
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why, as the device would say it.
        error: FormatError,
    },
    /// The blob decodes, but holds a payload this crate has no player for.
    NoPlayer {
        /// The file.
        path: PathBuf,
    },
    /// The module or the blob's copy could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// `OUT_DIR` is not set: [`embed`] runs in a build script, where cargo sets it.
    NoOutDir,
    /// A path the generated module would embed is not valid UTF-8.
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Read { path, error } => {
                write!(f, "reading the blob {}: {error}", path.display())
            }
            BuildError::Invalid { path, error } => write!(
                f,
                "the blob {} is not a valid finn blob: {error}",
                path.display()
            ),
            BuildError::NoPlayer { path } => write!(
                f,
                "the blob {} holds a payload that no finn_embedded player plays",
                path.display()
            ),
            BuildError::Write { path, error } => write!(f, "writing {}: {error}", path.display()),
            BuildError::NoOutDir => f.write_str(
                "OUT_DIR is not set: call finn_embedded::build::embed from a build script",
            ),
            BuildError::NonUtf8Path { path } => {
                write!(f, "the path {} is not valid UTF-8", path.display())
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Read { error, .. } | BuildError::Write { error, .. } => Some(error),
            BuildError::Invalid { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A blob to embed, and the player that plays it.
///
/// [`Embedded::read`] and [`Embedded::check`] decode the blob completely and take the capacity
/// from it; [`Embedded::write`] writes the module. [`Embedded::unchecked`] and
/// [`Embedded::with_capacity`] set a capacity by hand: they exist to build firmware that
/// exercises the run-time errors (a corrupt blob, a player too small), and the module says so.
///
/// ```
/// use finn_embedded::build::{Capacity, Embedded};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fit.postcard");
/// let blob = Embedded::read(path).unwrap();
/// assert_eq!(blob.capacity(), Capacity::Fit { n: 2, w: 4, l: 1 });
/// let module = blob.module_source("/out/finn_blob.postcard");
/// assert!(module.contains("pub type Player = ::finn_embedded::FitPlayer<N, W, L>;"));
/// assert!(module.contains("pub const N: usize = 2;"));
/// assert!(module.contains("pub static BLOB: &[u8] = include_bytes!(\"/out/finn_blob.postcard\");"));
/// ```
#[derive(Clone, Debug)]
pub struct Embedded {
    source: PathBuf,
    bytes: Vec<u8>,
    capacity: Capacity,
    /// The capacity is the blob's own (it decoded).
    exact: bool,
}

impl Embedded {
    /// Reads the blob at `path` and checks it ([`Embedded::check`]).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, BuildError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| BuildError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::check(path, bytes)
    }

    /// Decodes `bytes` completely (as a player's load does, up to the `f32` build) and takes
    /// the player's exact capacity from them; `source` names the blob in errors and in the
    /// module.
    ///
    /// ```
    /// use finn_embedded::build::{BuildError, Embedded};
    /// use finn_embedded::FormatError;
    /// let mut bytes = include_bytes!("../tests/data/doc.postcard").to_vec();
    /// assert!(Embedded::check("doc.postcard", bytes.clone()).is_ok());
    /// bytes[20] ^= 1;
    /// let err = Embedded::check("doc.postcard", bytes).unwrap_err();
    /// assert!(matches!(err, BuildError::Invalid { error: FormatError::CrcMismatch { .. }, .. }));
    /// assert!(err.to_string().starts_with("the blob doc.postcard is not a valid finn blob: CRC mismatch"));
    /// ```
    pub fn check(source: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Self, BuildError> {
        let source = source.as_ref().to_path_buf();
        let capacity = match decode_any(&bytes) {
            Ok(blob) => Capacity::of(&blob),
            Err(error) => {
                return Err(BuildError::Invalid {
                    path: source,
                    error,
                })
            }
        };
        match capacity {
            Some(capacity) => Ok(Embedded {
                source,
                bytes,
                capacity,
                exact: true,
            }),
            None => Err(BuildError::NoPlayer { path: source }),
        }
    }

    /// Embeds `bytes` as they are, without checking them, in a player of `capacity`: for a
    /// firmware that must show how a corrupt blob is refused at run time.
    ///
    /// ```
    /// use finn_embedded::build::{Capacity, Embedded};
    /// let c = Capacity::Trajectory { d: 2, w: 8, l: 2, v: 1 };
    /// let blob = Embedded::unchecked("corrupt.postcard", b"not a blob".to_vec(), c);
    /// assert!(blob.module_source("/b").contains("set by hand"));
    /// ```
    pub fn unchecked(source: impl AsRef<Path>, bytes: Vec<u8>, capacity: Capacity) -> Self {
        Embedded {
            source: source.as_ref().to_path_buf(),
            bytes,
            capacity,
            exact: false,
        }
    }

    /// The same blob in a player of another capacity: for a firmware that must show the
    /// run-time [`LoadError::Capacity`](crate::LoadError::Capacity). The blob's own capacity
    /// is kept as exact.
    ///
    /// ```
    /// use finn_embedded::build::{Capacity, Embedded};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fit.postcard");
    /// let narrow = Capacity::Fit { n: 2, w: 2, l: 1 };
    /// let blob = Embedded::read(path).unwrap().with_capacity(narrow);
    /// assert_eq!(blob.capacity(), narrow);
    /// assert!(!blob.is_exact());
    /// ```
    pub fn with_capacity(self, capacity: Capacity) -> Self {
        Embedded {
            exact: self.exact && capacity == self.capacity,
            capacity,
            ..self
        }
    }

    /// The player's capacity.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// Whether the capacity is the checked blob's own.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The blob's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where the blob came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The generated module, embedding the blob from the absolute path `blob_file` (where
    /// [`Embedded::write`] puts its copy).
    pub fn module_source(&self, blob_file: &str) -> String {
        let c = self.capacity;
        let origin = if self.exact {
            "its capacity is the blob's own"
        } else {
            "its capacity was set by hand, not taken from the blob (a test of run-time errors)"
        };
        format!(
            "// Written by finn_embedded::build from {source} ({len} bytes, a {kind} blob): \
             {origin}. Do not edit.\n\
             // Every item allows dead code: a firmware uses what it needs.\n\
             /// The blob, embedded in flash.\n\
             #[allow(dead_code)]\n\
             pub static BLOB: &[u8] = include_bytes!({blob_file:?});\n\
             /// The application: \"trajectory\", \"fit\", \"density\" or \"deviation\".\n\
             #[allow(dead_code)]\n\
             pub const KIND: &str = {kind:?};\n\
             {consts}\
             /// The player for [`BLOB`]: `{player}`.\n\
             #[allow(dead_code)]\n\
             pub type Player = ::finn_embedded::{generics};\n\
             /// Bytes of RAM the player takes on a 32-bit target.\n\
             #[allow(dead_code)]\n\
             pub const PLAYER_BYTES: usize = {bytes};\n",
            source = self.source.display(),
            len = self.bytes.len(),
            kind = c.kind(),
            consts = c.consts(),
            player = c.player_type(),
            generics = c.generic_names(),
            bytes = c.player_bytes(),
        )
    }

    /// Writes the blob's copy ([`BLOB_FILE`]) and the module ([`MODULE_FILE`]) into `dir`
    /// (a build script's `OUT_DIR`); returns the module's path. The module embeds the copy,
    /// so the firmware holds exactly the bytes that were checked.
    ///
    /// ```
    /// use finn_embedded::build::{Embedded, MODULE_FILE};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.postcard");
    /// let dir = std::env::temp_dir().join(format!("finn-write-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let module = Embedded::read(path).unwrap().write(&dir).unwrap();
    /// assert_eq!(module, dir.join(MODULE_FILE));
    /// let text = std::fs::read_to_string(&module).unwrap();
    /// assert!(text.contains("pub const V: usize = 1;"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
        let dir = dir.as_ref();
        let write = |path: PathBuf, bytes: &[u8]| {
            std::fs::write(&path, bytes)
                .map(|()| path.clone())
                .map_err(|error| BuildError::Write { path, error })
        };
        let blob_file =
            std::path::absolute(dir.join(BLOB_FILE)).map_err(|error| BuildError::Write {
                path: dir.join(BLOB_FILE),
                error,
            })?;
        let blob_text = blob_file
            .to_str()
            .ok_or_else(|| BuildError::NonUtf8Path {
                path: blob_file.clone(),
            })?
            .to_string();
        write(blob_file, &self.bytes)?;
        write(
            dir.join(MODULE_FILE),
            self.module_source(&blob_text).as_bytes(),
        )
    }
}

/// What a `build.rs` calls: reads and checks the blob at `path` ([`Embedded::read`]), writes
/// the module and the blob's copy into `OUT_DIR` ([`Embedded::write`]), and tells cargo to
/// rebuild when the blob changes. See the [module documentation](self).
pub fn embed(path: impl AsRef<Path>) -> Result<Embedded, BuildError> {
    let path = path.as_ref();
    std::println!("cargo:rerun-if-changed={}", path.display());
    let out_dir = std::env::var_os("OUT_DIR").ok_or(BuildError::NoOutDir)?;
    let embedded = Embedded::read(path)?;
    embedded.write(out_dir)?;
    Ok(embedded)
}

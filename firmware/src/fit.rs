//! The workload of the fit application, which the firmware runs and measures: evaluating the
//! embedded model blob (payload 0), a regression model f with an exact integral constraint.
//!
//! [`Workload::load`] checks the blob, builds the `f32` player and computes the points
//! x_k = `FitPlayer::halton_point(k)`, k = 0..N (the Halton sequence over the model's domain,
//! from its corners in `f32`; not measured); [`Workload::run`] evaluates f at every point,
//! [`CALLS_PER_RUN`] = N evaluations of f (the measured part, which must not print);
//! [`Workload::report`] prints what the host compares with its own player bit for bit, every
//! `f32` as its bit pattern in `0x`-prefixed 8-digit hex:
//!
//! - `blob_bytes <n>`, `fit_capacity <N> <W> <L>` (the player's inputs, widest layer and
//!   depth), `player_bytes <n>` (the player's size, in static memory);
//! - `domain <lo_1..lo_n> <hi_1..hi_n>`: the domain's corners;
//! - `point <k> <x_1..x_n> <F> <f>`: F and f at x_k (`antiderivative`, `integrand`), one line
//!   per point, k = 0..N;
//! - `point_error <k> <x_1..x_n> <message>` instead when either refuses (F is evaluated first,
//!   and its error wins);
//! - `integral <I>`, or `integral_error <message>`: the exact integral of f over the domain
//!   (`integral`);
//! - `box <j> <lo_1..lo_n> <hi_1..hi_n> <I>`, or `box_error <j> <lo..> <hi..> <message>`: the
//!   exact integral of f over sub-box j (`integral_over`), j = 0..=n. With the domain's
//!   width w_i = hi_i - lo_i on every axis i, computed in `f32`: box j < n is the lower half
//!   along axis j (its upper corner on that axis lo_j + w_j * 0.5, the domain's elsewhere);
//!   box n is the centre box [lo_i + w_i * 0.25, lo_i + w_i * 0.75] on every axis.

use crate::host::Out;
use capacity::{Player, BLOB};
use core::fmt::Write;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, Ordering};
use finn_embedded::LoadError;

/// The blob, the player sized exactly for it and its capacity (`finn_embedded::build`, called
/// by `build.rs`: `BLOB`, `Player`, the consts of the capacity), and the sample count.
mod capacity {
    include!(concat!(env!("OUT_DIR"), "/finn_player.rs"));
    include!(concat!(env!("OUT_DIR"), "/samples.rs"));
}

/// The name reported in the `workload` line.
pub const NAME: &str = "fit";

/// How many evaluations of f one [`Workload::run`] makes (N).
pub const CALLS_PER_RUN: usize = capacity::SAMPLES;

/// A point of the model's domain.
type Point = [f32; capacity::N];

/// The loaded player and the points, in static memory.
pub struct Workload {
    player: &'static Player,
    points: &'static [Point; CALLS_PER_RUN],
}

impl Workload {
    /// Checks the blob and loads the player in place into a static, and computes the points
    /// into another: nothing the size of the player passes through the stack. Can be called
    /// once; a second call fails the run. Never inlined, so that loading's temporaries live in
    /// this frame, gone once it returns, and not in `main`'s.
    #[inline(never)]
    pub fn load() -> Result<Self, LoadError> {
        // The player starts unloaded in .bss (a const initialiser whose bytes are all zero:
        // nothing in flash, nothing built on the stack) and loads in place; the points start
        // zeroed in .bss, whatever their number. Both are taken once, guarded by the flag: a
        // second call fails.
        static mut PLAYER: Player = Player::unloaded();
        static mut POINTS: [Point; CALLS_PER_RUN] = [[0.0; capacity::N]; CALLS_PER_RUN];
        static TAKEN: AtomicBool = AtomicBool::new(false);
        if TAKEN.swap(true, Ordering::AcqRel) {
            crate::host::exit_failure();
        }
        // SAFETY: the flag above hands out these references at most once.
        let (player, points) = unsafe {
            let player: &'static mut Player = &mut *core::ptr::addr_of_mut!(PLAYER);
            let points: &'static mut [Point; CALLS_PER_RUN] = &mut *core::ptr::addr_of_mut!(POINTS);
            (player, points)
        };
        player.reload(BLOB)?;
        let player: &'static Player = player;
        for (k, x) in points.iter_mut().enumerate() {
            // k < N <= usize::MAX = u32::MAX on this target.
            *x = player.halton_point(u32::try_from(k).unwrap_or(u32::MAX));
        }
        Ok(Workload { player, points })
    }

    /// Evaluates f at every point. `black_box` keeps the optimiser from reusing one run's
    /// results in the next, so every run does the full work.
    #[inline(never)]
    pub fn run(&self) {
        let player = black_box(self.player);
        for x in black_box(self.points) {
            let _ = black_box(player.integrand(black_box(x)));
        }
    }

    /// The header lines, one line per point, the integral over the domain and over the
    /// sub-boxes.
    pub fn report(&self, out: &mut Out) {
        let player = self.player;
        out.line(format_args!("blob_bytes {}", BLOB.len()));
        out.line(format_args!(
            "fit_capacity {} {} {}",
            capacity::N,
            capacity::W,
            capacity::L
        ));
        out.line(format_args!(
            "player_bytes {}",
            core::mem::size_of::<Player>()
        ));
        let (lower, upper) = player.domain();
        out.emit(|line| {
            line.write_str("domain")?;
            words(line, lower)?;
            words(line, upper)
        });
        for (k, x) in self.points.iter().enumerate() {
            match player
                .antiderivative(x)
                .and_then(|big_f| Ok((big_f, player.integrand(x)?)))
            {
                Ok((big_f, f)) => out.emit(|line| {
                    write!(line, "point {k}")?;
                    words(line, x)?;
                    words(line, &[big_f, f])
                }),
                Err(e) => out.emit(|line| {
                    write!(line, "point_error {k}")?;
                    words(line, x)?;
                    write!(line, " {e}")
                }),
            }
        }
        match player.integral() {
            Ok(total) => out.line(format_args!("integral {:#010x}", total.to_bits())),
            Err(e) => out.line(format_args!("integral_error {e}")),
        }
        for j in 0..=capacity::N {
            let (lo, hi) = sub_box(lower, upper, j);
            let result = player.integral_over(&lo, &hi);
            out.emit(|line| {
                line.write_str(if result.is_ok() { "box" } else { "box_error" })?;
                write!(line, " {j}")?;
                words(line, &lo)?;
                words(line, &hi)?;
                match result {
                    Ok(value) => words(line, &[value]),
                    Err(e) => write!(line, " {e}"),
                }
            });
        }
    }
}

/// Writes each value as ` 0x........`, its bit pattern.
fn words(line: &mut impl Write, values: &[f32]) -> core::fmt::Result {
    for v in values {
        write!(line, " {:#010x}", v.to_bits())?;
    }
    Ok(())
}

/// Sub-box j of the domain [lower, upper] (see the module documentation): j < n the lower
/// half along axis j, j = n the centre box.
fn sub_box(lower: &Point, upper: &Point, j: usize) -> (Point, Point) {
    let (mut lo, mut hi) = (*lower, *upper);
    for i in 0..capacity::N {
        let width = upper[i] - lower[i];
        if j == capacity::N {
            lo[i] = lower[i] + width * 0.25;
            hi[i] = lower[i] + width * 0.75;
        } else if i == j {
            hi[i] = lower[i] + width * 0.5;
        }
    }
    (lo, hi)
}

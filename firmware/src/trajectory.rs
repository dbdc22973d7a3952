//! The workload of the trajectory application, which the firmware runs and measures: playing
//! back the embedded trajectory blob.
//!
//! [`Workload::load`] checks the blob and builds the `f32` player in static memory (once, not
//! measured as playback); [`Workload::run`] evaluates [`CALLS_PER_RUN`] samples at the times
//! t_k = t0 + (T - t0) k / (N - 1), k = 0..N (the measured part, which must not print);
//! [`Workload::report`] prints one line per sample with the `f32` bit patterns as
//! `0x`-prefixed 8-digit hex, so the host can compare them with its own player bit for bit:
//!
//! - `sample <k> <t> <x_1..x_D> <v_1..v_D> <a_1..a_D>`: position, velocity and acceleration
//!   at t (the player's `kinematics`);
//! - `sample_error <k> <t> <message>` when sampling refuses (for instance an overflow in f32).
//!
//! Before the samples it prints `blob_bytes <n>`, `capacity <D> <W> <L> <V>` and
//! `interval <t0> <T>` (bit patterns).

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
pub const NAME: &str = "trajectory";

/// How many samples one [`Workload::run`] evaluates (N).
pub const CALLS_PER_RUN: usize = capacity::SAMPLES;

/// The loaded player, in static memory.
pub struct Workload {
    player: &'static Player,
}

impl Workload {
    /// Checks the blob and builds the player into a static (the player holds all weights, a
    /// few KiB, which do not belong on the stack). Can be called once; a second call fails
    /// the run. Never inlined, so that loading's temporaries live in this frame, gone once it
    /// returns, and not in `main`'s.
    #[inline(never)]
    pub fn load() -> Result<Self, LoadError> {
        // The player starts unloaded in .bss (a const initialiser: nothing is built on the
        // stack) and loads in place. Taken once, guarded by the flag: a second call fails.
        static mut PLAYER: Player = Player::unloaded();
        static TAKEN: AtomicBool = AtomicBool::new(false);
        if TAKEN.swap(true, Ordering::AcqRel) {
            crate::host::exit_failure();
        }
        // SAFETY: the flag above hands out this one reference at most once.
        let player: &'static mut Player = unsafe { &mut *core::ptr::addr_of_mut!(PLAYER) };
        player.reload(BLOB)?;
        Ok(Workload { player })
    }

    /// Evaluates every sample. `black_box` keeps the optimiser from reusing one run's results
    /// in the next, so every run does the full work.
    #[inline(never)]
    pub fn run(&self) {
        let player = black_box(self.player);
        for k in 0..CALLS_PER_RUN {
            let t = player.grid_time(k, CALLS_PER_RUN);
            black_box(player.kinematics(black_box(t)).is_ok());
        }
    }

    /// The header lines and one line per sample.
    pub fn report(&self, out: &mut Out) {
        let player = self.player;
        out.line(format_args!("blob_bytes {}", BLOB.len()));
        out.line(format_args!(
            "capacity {} {} {} {}",
            capacity::D,
            capacity::W,
            capacity::L,
            capacity::V
        ));
        let (t0, t1) = player.interval();
        out.line(format_args!(
            "interval {:#010x} {:#010x}",
            t0.to_bits(),
            t1.to_bits()
        ));
        for k in 0..CALLS_PER_RUN {
            let t = player.grid_time(k, CALLS_PER_RUN);
            match player.kinematics(t) {
                Ok(s) => out.emit(|line| {
                    write!(line, "sample {k} {:#010x}", t.to_bits())?;
                    for part in [&s.position, &s.velocity, &s.acceleration] {
                        for v in part {
                            write!(line, " {:#010x}", v.to_bits())?;
                        }
                    }
                    Ok(())
                }),
                Err(e) => out.line(format_args!("sample_error {k} {:#010x} {e}", t.to_bits())),
            }
        }
    }
}

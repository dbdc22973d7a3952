//! The workload of the deviation application, which the firmware runs and measures: evaluating
//! the embedded deviation blob (payload 3), a bounded-deviation model phi = psi + f d.
//!
//! [`Workload::load`] checks the blob, loads the `f32` player in place into a static, and
//! computes the points x_k, k = 0..N (not measured): on axis i, with the domain's corners lo
//! and hi in `f32`, x_k,i = lo_i + (hi_i - lo_i) * t, t = (j + 0.5) / N * 1.2 - 0.1 and
//! j = (k * (2 i + 1) * 37 + 13) mod N, so about a tenth of the points on each side lie outside
//! the domain (where phi is the base). [`Workload::run`] is the measured part, in two phases,
//! each timed on its own:
//!
//! - `value`: phi(x_k) at every point, [`CALLS_PER_RUN`] / 2 evaluations;
//! - `magnitude`: f(x_k) at every point.
//!
//! [`Workload::report`] prints what the host compares with its own player bit for bit, every
//! `f32` as its bit pattern in `0x`-prefixed 8-digit hex:
//!
//! - `blob_bytes <n>`, `deviation_capacity <N> <M> <W> <L> <K>`, `player_bytes <n>`;
//! - `domain <lo_1..lo_n> <hi_1..hi_n>` and `eps <eps>`;
//! - `deviation <k> <x_1..x_n> <phi_1..phi_m> <f>` at x_k, or `deviation_error <k>
//!   <x_1..x_n> <message>` when phi or f refuses (phi first);
//! - `phase <name> <calls> <ticks> <stack>`: what each phase of the measured run cost.

use crate::host::Out;
use capacity::{Player, BLOB};
use core::cell::Cell;
use core::fmt::Write;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, Ordering};
use finn_embedded::LoadError;

/// The blob, the player sized exactly for it and its capacity (`finn_embedded::build`, called
/// by `build.rs`: `BLOB`, `Player`, the consts of the capacity), and the point count.
mod capacity {
    include!(concat!(env!("OUT_DIR"), "/finn_player.rs"));
    include!(concat!(env!("OUT_DIR"), "/samples.rs"));
}

/// The name reported in the `workload` line.
pub const NAME: &str = "deviation";

/// Points per run, N.
const POINTS: usize = capacity::SAMPLES;

/// Evaluations in one [`Workload::run`]: phi and f at every point.
pub const CALLS_PER_RUN: usize = 2 * POINTS;

/// The phases of a run, in order, and their calls.
const PHASES: [(&str, usize); 2] = [("value", POINTS), ("magnitude", POINTS)];

/// A point of the input space.
type Point = [f32; capacity::N];

/// The loaded player, the points, and the ticks of each phase of the last run.
pub struct Workload {
    player: &'static Player,
    points: &'static [Point; POINTS],
    costs: Cell<[(u64, usize); 2]>,
}

impl Workload {
    /// Checks the blob and loads the player in place into a static. Can be called once; a
    /// second call fails the run. Never inlined, so that loading's temporaries live in this
    /// frame, gone once it returns.
    #[inline(never)]
    pub fn load() -> Result<Self, LoadError> {
        // All zeros (.bss), loaded in place; handed out once, guarded by the flag.
        static mut PLAYER: Player = Player::unloaded();
        static mut POINTS_STORE: [Point; POINTS] = [[0.0; capacity::N]; POINTS];
        static TAKEN: AtomicBool = AtomicBool::new(false);
        if TAKEN.swap(true, Ordering::AcqRel) {
            crate::host::exit_failure();
        }
        // SAFETY: the flag above hands out these references at most once.
        let (player, points) = unsafe {
            let player: &'static mut Player = &mut *core::ptr::addr_of_mut!(PLAYER);
            let points: &'static mut [Point; POINTS] = &mut *core::ptr::addr_of_mut!(POINTS_STORE);
            (player, points)
        };
        player.reload(BLOB)?;
        let player: &'static Player = player;
        let domain = player.model().magnitude_model().domain();
        let (lo, hi) = (*domain.lower(), *domain.upper());
        for (k, x) in points.iter_mut().enumerate() {
            for i in 0..capacity::N {
                let j = (k * (2 * i + 1) * 37 + 13) % POINTS;
                let t = (j as f32 + 0.5) / POINTS as f32 * 1.2 - 0.1;
                x[i] = lo[i] + (hi[i] - lo[i]) * t;
            }
        }
        Ok(Workload {
            player,
            points,
            costs: Cell::new([(0, 0); 2]),
        })
    }

    /// The two phases, each timed, and the stack each reaches. `black_box` keeps the
    /// optimiser from reusing results or dropping calls.
    #[inline(never)]
    pub fn run(&self) {
        let p = black_box(self.player);
        let points = black_box(self.points);
        let mut costs = [(0u64, 0usize); 2];
        costs[0] = phase(|| {
            for x in points {
                let _ = black_box(p.value(black_box(x)));
            }
        });
        costs[1] = phase(|| {
            for x in points {
                let _ = black_box(p.magnitude(black_box(x)));
            }
        });
        self.costs.set(costs);
    }

    /// The header lines, one line per point, and the phases' costs.
    pub fn report(&self, out: &mut Out) {
        let p = self.player;
        out.line(format_args!("blob_bytes {}", BLOB.len()));
        out.line(format_args!(
            "deviation_capacity {} {} {} {} {}",
            capacity::N,
            capacity::M,
            capacity::W,
            capacity::L,
            capacity::K
        ));
        out.line(format_args!(
            "player_bytes {}",
            core::mem::size_of::<Player>()
        ));
        let domain = p.model().magnitude_model().domain();
        out.emit(|line| {
            line.write_str("domain")?;
            words(line, domain.lower())?;
            words(line, domain.upper())
        });
        out.emit(|line| {
            line.write_str("eps")?;
            words(line, &[p.eps()])
        });
        for (k, x) in self.points.iter().enumerate() {
            let x = *x;
            let result = p.value(&x).and_then(|phi| Ok((phi, p.magnitude(&x)?)));
            out.emit(|line| {
                match &result {
                    Ok(_) => write!(line, "deviation {k}")?,
                    Err(_) => write!(line, "deviation_error {k}")?,
                }
                words(line, &x)?;
                match &result {
                    Ok((phi, f)) => {
                        words(line, phi)?;
                        words(line, &[*f])
                    }
                    Err(e) => write!(line, " {e}"),
                }
            });
        }
        for ((name, calls), (ticks, stack)) in PHASES.iter().zip(self.costs.get()) {
            out.line(format_args!("phase {name} {calls} {ticks} {stack}"));
        }
    }
}

/// Runs one phase: its ticks, and the stack high-water mark it reached (painted just before).
#[inline(always)]
fn phase(work: impl FnOnce()) -> (u64, usize) {
    crate::cost::repaint_stack();
    let start = crate::cost::now();
    work();
    let ticks = crate::cost::now() - start;
    (ticks, crate::cost::stack_high_water_bytes())
}

/// Writes each value as ` 0x........`, its bit pattern.
fn words(line: &mut impl Write, values: &[f32]) -> core::fmt::Result {
    for v in values {
        write!(line, " {:#010x}", v.to_bits())?;
    }
    Ok(())
}

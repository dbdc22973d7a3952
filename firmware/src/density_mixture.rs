//! The workload of a density mixture blob (payload 4: weighted, reflected density networks on
//! one u-box, on a box support or on all of R^n), which the firmware runs and measures; the
//! same phases and records as the single-network density workload (`src/density.rs`), so the
//! host parses both alike.
//!
//! [`Workload::load`] checks the blob, loads the `f32` player in place, and computes the
//! points, boxes and uniforms below into statics. The points lie in a **region**: the support
//! box, or for a real-space map the box centre_i -/+ 4 scale_i (f32, computed as
//! `c - 4 * s` and `c + 4 * s`). [`Workload::run`] is the measured part, in five phases:
//!
//! - `pdf`, `log_pdf`, `cdf` at x_k = lo + (hi - lo) * u_k per axis, u_k =
//!   `density::halton_uniforms(k + 1)`, k = 0..N (`point`);
//! - `box`: the probability of box j, j = 0..B: with a = point(2j + 1),
//!   b = point(2j + 2), the box [min(a, b), max(a, b)] per axis, and for odd j its lower
//!   bound on axis 0 replaced by minus infinity;
//! - `sample`: a sample from the uniforms `density::halton_uniforms(k)`, k = 0..N.
//!
//! [`Workload::report`] prints, every `f32` as its bit pattern in `0x`-prefixed 8-digit hex:
//! `blob_bytes <n>`, `mixture_capacity <N> <W> <L> <K>`, `player_bytes <n>`, `support <lo..>
//! <hi..>` (the region), `map box` or `map real_space`, then the `density`, `probability`,
//! `draw` and `phase` lines of the density workload.

use crate::host::Out;
use capacity::{Player, BLOB};
use core::cell::Cell;
use core::fmt::Write;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, Ordering};
use finn_embedded::density::halton_uniforms;
use finn_embedded::finn_core::density_mixture::MixtureSupport;
use finn_embedded::LoadError;

/// The blob, the player sized exactly for it and its capacity (`finn_embedded::build`, called
/// by `build.rs`: `BLOB`, `Player`, the consts of the capacity), and the sample count.
mod capacity {
    include!(concat!(env!("OUT_DIR"), "/finn_player.rs"));
    include!(concat!(env!("OUT_DIR"), "/samples.rs"));
}

/// The name reported in the `workload` line.
pub const NAME: &str = "density_mixture";

/// Points (pdf, log_pdf, cdf) and samples per run, N.
const POINTS: usize = capacity::SAMPLES;

/// Boxes per run, B.
pub const BOXES: usize = 16;

/// Evaluations in one [`Workload::run`]: three per point, one per box, one per sample.
pub const CALLS_PER_RUN: usize = 3 * POINTS + BOXES + POINTS;

/// The phases of a run, in order.
const PHASES: [&str; 5] = ["pdf", "log_pdf", "cdf", "box", "sample"];

/// Calls per phase.
const PHASE_CALLS: [usize; 5] = [POINTS, POINTS, POINTS, BOXES, POINTS];

/// A point of the support (or a vector of uniforms).
type Point = [f32; capacity::N];

/// The inputs of a run, computed at load time.
struct Inputs {
    points: [Point; POINTS],
    boxes: [(Point, Point); BOXES],
    uniforms: [Point; POINTS],
}

/// The loaded player, the inputs, and the ticks of each phase of the last run.
pub struct Workload {
    player: &'static Player,
    inputs: &'static Inputs,
    costs: Cell<[(u64, usize); 5]>,
}

impl Workload {
    /// Checks the blob and loads the player in place into a static: nothing the size of the
    /// player passes through the stack. Can be called once; a second call fails the run.
    /// Never inlined, so that loading's temporaries live in this frame, gone once it returns.
    #[inline(never)]
    pub fn load() -> Result<Self, LoadError> {
        // All zeros (.bss), loaded in place; handed out once, guarded by the flag.
        static mut PLAYER: Player = Player::unloaded();
        const ZERO: Point = [0.0; capacity::N];
        static mut INPUTS: Inputs = Inputs {
            points: [ZERO; POINTS],
            boxes: [(ZERO, ZERO); BOXES],
            uniforms: [ZERO; POINTS],
        };
        static TAKEN: AtomicBool = AtomicBool::new(false);
        if TAKEN.swap(true, Ordering::AcqRel) {
            crate::host::exit_failure();
        }
        // SAFETY: the flag above hands out these references at most once.
        let (player, inputs) = unsafe {
            let player: &'static mut Player = &mut *core::ptr::addr_of_mut!(PLAYER);
            let inputs: &'static mut Inputs = &mut *core::ptr::addr_of_mut!(INPUTS);
            (player, inputs)
        };
        player.reload(BLOB)?;
        let player: &'static Player = player;
        for (k, (x, u)) in inputs
            .points
            .iter_mut()
            .zip(inputs.uniforms.iter_mut())
            .enumerate()
        {
            *x = point(player, k);
            *u = uniforms(k);
        }
        for (j, b) in inputs.boxes.iter_mut().enumerate() {
            *b = probability_box(player, j);
        }
        Ok(Workload {
            player,
            inputs,
            costs: Cell::new([(0, 0); 5]),
        })
    }

    /// The five phases, each timed, and the stack each reaches (the stack is painted again
    /// before each phase and scanned after it, outside the timed part). `black_box` keeps the
    /// optimiser from reusing results or dropping calls.
    #[inline(never)]
    pub fn run(&self) {
        let p = black_box(self.player);
        let inputs = black_box(self.inputs);
        let mut costs = [(0u64, 0usize); 5];
        costs[0] = phase(|| {
            for x in &inputs.points {
                let _ = black_box(p.pdf(black_box(x)));
            }
        });
        costs[1] = phase(|| {
            for x in &inputs.points {
                let _ = black_box(p.log_pdf(black_box(x)));
            }
        });
        costs[2] = phase(|| {
            for x in &inputs.points {
                let _ = black_box(p.cdf(black_box(x)));
            }
        });
        costs[3] = phase(|| {
            for (lo, hi) in &inputs.boxes {
                let _ = black_box(p.box_probability(black_box(lo), black_box(hi)));
            }
        });
        costs[4] = phase(|| {
            for u in &inputs.uniforms {
                let _ = black_box(p.sample(black_box(u)));
            }
        });
        self.costs.set(costs);
    }

    /// The header lines, one line per point, box and sample, and the phases' costs.
    pub fn report(&self, out: &mut Out) {
        let p = self.player;
        out.line(format_args!("blob_bytes {}", BLOB.len()));
        out.line(format_args!(
            "mixture_capacity {} {} {} {}",
            capacity::N,
            capacity::W,
            capacity::L,
            capacity::K
        ));
        out.line(format_args!(
            "player_bytes {}",
            core::mem::size_of::<Player>()
        ));
        let (lower, upper) = region(p);
        out.emit(|line| {
            line.write_str("support")?;
            words(line, &lower)?;
            words(line, &upper)
        });
        out.line(format_args!(
            "map {}",
            match p.support() {
                Ok(MixtureSupport::RealSpace(_)) => "real_space",
                _ => "box",
            }
        ));
        let inputs = self.inputs;
        for (k, x) in inputs.points.iter().enumerate() {
            let x = *x;
            let values = p
                .pdf(&x)
                .and_then(|pdf| Ok([pdf, p.log_pdf(&x)?, p.cdf(&x)?]));
            out.emit(|line| {
                match &values {
                    Ok(_) => write!(line, "density {k}")?,
                    Err(_) => write!(line, "density_error {k}")?,
                }
                words(line, &x)?;
                match &values {
                    Ok(v) => words(line, v),
                    Err(e) => write!(line, " {e}"),
                }
            });
        }
        for (j, (lo, hi)) in inputs.boxes.iter().enumerate() {
            let (lo, hi) = (*lo, *hi);
            let result = p.box_probability(&lo, &hi);
            out.emit(|line| {
                match &result {
                    Ok(_) => write!(line, "probability {j}")?,
                    Err(_) => write!(line, "probability_error {j}")?,
                }
                words(line, &lo)?;
                words(line, &hi)?;
                match &result {
                    Ok(v) => words(line, &[*v]),
                    Err(e) => write!(line, " {e}"),
                }
            });
        }
        for (k, u) in inputs.uniforms.iter().enumerate() {
            let u = *u;
            let result = p.sample(&u);
            out.emit(|line| {
                match &result {
                    Ok(_) => write!(line, "draw {k}")?,
                    Err(_) => write!(line, "draw_error {k}")?,
                }
                words(line, &u)?;
                match &result {
                    Ok(x) => words(line, x),
                    Err(e) => write!(line, " {e}"),
                }
            });
        }
        for ((name, calls), (ticks, stack)) in PHASES.iter().zip(PHASE_CALLS).zip(self.costs.get())
        {
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

/// The region the points lie in: the support box, or centre -/+ 4 scale on R^n (all zero
/// before a load).
fn region(p: &Player) -> (Point, Point) {
    let zero = [0.0; capacity::N];
    match p.support() {
        Ok(MixtureSupport::Box(d)) => (*d.lower(), *d.upper()),
        Ok(MixtureSupport::RealSpace(r)) => {
            let (c, s) = (r.centre(), r.scale());
            let mut lo = zero;
            let mut hi = zero;
            for i in 0..capacity::N {
                lo[i] = c[i] - 4.0 * s[i];
                hi[i] = c[i] + 4.0 * s[i];
            }
            (lo, hi)
        }
        _ => (zero, zero),
    }
}

/// Point k of the region: lo + (hi - lo) * u per axis, u = halton_uniforms(k + 1) (k < N
/// fits a `u32` on this target).
fn point(p: &Player, k: usize) -> Point {
    let (lo, hi) = region(p);
    let u: Point = halton_uniforms(u32::try_from(k).unwrap_or(u32::MAX - 1) + 1);
    let mut x = lo;
    for i in 0..capacity::N {
        x[i] = lo[i] + (hi[i] - lo[i]) * u[i];
    }
    x
}

/// Uniforms k.
fn uniforms(k: usize) -> Point {
    halton_uniforms(u32::try_from(k).unwrap_or(u32::MAX))
}

/// Box j (see the module documentation).
fn probability_box(p: &Player, j: usize) -> (Point, Point) {
    let (a, b) = (point(p, 2 * j + 1), point(p, 2 * j + 2));
    let mut lo = a;
    let mut hi = b;
    for i in 0..capacity::N {
        lo[i] = a[i].min(b[i]);
        hi[i] = a[i].max(b[i]);
    }
    if j % 2 == 1 {
        lo[0] = f32::NEG_INFINITY;
    }
    (lo, hi)
}

/// Writes each value as ` 0x........`, its bit pattern.
fn words(line: &mut impl Write, values: &[f32]) -> core::fmt::Result {
    for v in values {
        write!(line, " {:#010x}", v.to_bits())?;
    }
    Ok(())
}

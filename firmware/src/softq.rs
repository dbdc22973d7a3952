//! The workload of a soft-Q blob (payload 5): the pendulum closed loop, which the firmware
//! runs and measures.
//!
//! [`Workload::load`] checks the blob and loads the `f32` player in place. [`Workload::run`]
//! is the measured part: one Pendulum-v1 episode of [`STEPS`] steps from the fixed start
//! [`START`] (theta, theta_dot), with finn-core's no_std dynamics
//! (`finn_core::softq::pendulum`, f32). At step k the state's features s_k (cos theta,
//! sin theta, theta_dot / 8) give the action a_k = `sample_action(s_k, [u_k])`, u_k =
//! `density::halton_uniforms::<1>(k + 1)`, and the pendulum steps with it. The episode stops
//! at the first error (none is expected), which is reported.
//!
//! [`Workload::report`] prints, every `f32` as its bit pattern in `0x`-prefixed 8-digit hex:
//! `blob_bytes <n>`, `softq_capacity <S> <H> <P> <M> <W> <L>`, `player_bytes <n>`,
//! `start <theta> <theta_dot>`, then per step `step <k> <u> <a> <theta'> <theta_dot'>` (or
//! `step_error <k> <message>` and no further steps), then `phase episode <steps> <ticks>
//! <stack>`.

use crate::host::Out;
use capacity::{Player, BLOB};
use core::cell::Cell;
use core::fmt::Write;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, Ordering};
use finn_embedded::density::halton_uniforms;
use finn_embedded::finn_core::softq::pendulum::Pendulum;
use finn_embedded::{Error, LoadError};

/// The blob, the player sized exactly for it and its capacity (`finn_embedded::build`, called
/// by `build.rs`; the episode has its own length, so `FINN_SAMPLES` does not apply).
mod capacity {
    include!(concat!(env!("OUT_DIR"), "/finn_player.rs"));
}

/// The name reported in the `workload` line.
pub const NAME: &str = "softq";

/// Steps of the episode (Pendulum-v1's time limit).
pub const STEPS: usize = 200;

/// Actions per run: one per step.
pub const CALLS_PER_RUN: usize = STEPS;

/// The fixed start: hanging down (theta = 3 rad from upright), at rest.
pub const START: (f32, f32) = (3.0, 0.0);

/// One step's record: its uniform, its action and the state after it.
#[derive(Clone, Copy)]
struct Step {
    u: f32,
    a: f32,
    theta: f32,
    theta_dot: f32,
}

/// The episode of the last run: its steps, how many were done, and the error that stopped
/// it.
struct Episode {
    steps: Cell<[Step; STEPS]>,
    done: Cell<usize>,
    error: Cell<Option<Error>>,
}

impl Episode {
    /// The steps, one cell each, to write and read in place.
    fn record(&self) -> &[Cell<Step>] {
        let all: &Cell<[Step]> = &self.steps;
        all.as_slice_of_cells()
    }
}

/// The loaded player, the episode and the ticks and stack of the last run.
pub struct Workload {
    player: &'static Player,
    episode: &'static Episode,
    cost: Cell<(u64, usize)>,
}

impl Workload {
    /// Checks the blob and loads the player in place into a static. Can be called once; a
    /// second call fails the run. Never inlined, so that loading's temporaries live in this
    /// frame, gone once it returns.
    #[inline(never)]
    pub fn load() -> Result<Self, LoadError> {
        static mut PLAYER: Player = Player::unloaded();
        const ZERO: Step = Step {
            u: 0.0,
            a: 0.0,
            theta: 0.0,
            theta_dot: 0.0,
        };
        static mut EPISODE: Episode = Episode {
            steps: Cell::new([ZERO; STEPS]),
            done: Cell::new(0),
            error: Cell::new(None),
        };
        static TAKEN: AtomicBool = AtomicBool::new(false);
        if TAKEN.swap(true, Ordering::AcqRel) {
            crate::host::exit_failure();
        }
        // SAFETY: the flag above hands out these references at most once.
        let (player, episode) = unsafe {
            let player: &'static mut Player = &mut *core::ptr::addr_of_mut!(PLAYER);
            let episode: &'static Episode = &*core::ptr::addr_of!(EPISODE);
            (player, episode)
        };
        player.reload(BLOB)?;
        Ok(Workload {
            player,
            episode,
            cost: Cell::new((0, 0)),
        })
    }

    /// The episode, timed, and the stack it reaches (painted just before).
    #[inline(never)]
    pub fn run(&self) {
        let p = black_box(self.player);
        crate::cost::repaint_stack();
        let start = crate::cost::now();
        let (done, error) = episode(p, self.episode.record());
        let ticks = crate::cost::now() - start;
        self.cost
            .set((ticks, crate::cost::stack_high_water_bytes()));
        self.episode.done.set(done);
        self.episode.error.set(error);
    }

    /// The header lines, one line per step, and the phase's cost.
    pub fn report(&self, out: &mut Out) {
        out.line(format_args!("blob_bytes {}", BLOB.len()));
        out.line(format_args!(
            "softq_capacity {} {} {} {} {} {}",
            capacity::S,
            capacity::H,
            capacity::P,
            capacity::M,
            capacity::W,
            capacity::L
        ));
        out.line(format_args!(
            "player_bytes {}",
            core::mem::size_of::<Player>()
        ));
        out.emit(|line| {
            line.write_str("start")?;
            words(line, &[START.0, START.1])
        });
        let done = self.episode.done.get();
        for (k, s) in self.episode.record().iter().take(done).enumerate() {
            let s = s.get();
            out.emit(|line| {
                write!(line, "step {k}")?;
                words(line, &[s.u, s.a, s.theta, s.theta_dot])
            });
        }
        if let Some(err) = self.episode.error.get() {
            out.line(format_args!("step_error {done} {err}"));
        }
        let (ticks, stack) = self.cost.get();
        out.line(format_args!("phase episode {done} {ticks} {stack}"));
    }
}

/// The closed loop, each step written straight into `record` (a static): the number of steps
/// done and the error that stopped it. Recording in place keeps the 200 steps off the stack,
/// so the phase's stack figure is the player's, not the bookkeeping's.
#[inline(never)]
fn episode(p: &Player, record: &[Cell<Step>]) -> (usize, Option<Error>) {
    let mut env = Pendulum {
        theta: START.0,
        theta_dot: START.1,
    };
    for (k, step) in record.iter().enumerate() {
        // k < STEPS fits a `u32`.
        let u = halton_uniforms::<1>(k as u32 + 1)[0];
        let a = match p.sample_action(black_box(&env.features()), &[u]) {
            Ok(a) => a[0],
            Err(e) => return (k, Some(e)),
        };
        let _ = env.step(a);
        step.set(Step {
            u,
            a,
            theta: env.theta,
            theta_dot: env.theta_dot,
        });
    }
    (record.len(), None)
}

/// Writes each value as ` 0x........`, its bit pattern.
fn words(line: &mut impl Write, values: &[f32]) -> core::fmt::Result {
    for v in values {
        write!(line, " {:#010x}", v.to_bits())?;
    }
    Ok(())
}

//! Firmware for the emulated Cortex-M4F (QEMU `mps2-an386`): plays back the embedded blob with
//! `finn-embedded` and reports what it computed and what that cost.
//!
//! The blob's payload selects the workload at build time (`build.rs`, the cfg `finn_workload`):
//! a trajectory blob is played by the trajectory workload (`src/trajectory.rs`), a model blob
//! by the fit workload (`src/fit.rs`), a density blob by the density workload
//! (`src/density.rs`), a deviation blob by the deviation workload (`src/deviation.rs`), a
//! density mixture blob by `src/density_mixture.rs`, a soft-Q blob by `src/softq.rs` (the
//! pendulum closed loop). Each is
//! compiled as the module [`workload`], so that `main` is the same
//! for all.
//!
//! It loads the blob (see `build.rs` for which one), then runs the workload and reports through
//! semihosting, one record per line (`<key> <field>...`, parsed on the host by `finn_lab::device`):
//!
//! - `load error: <message>` if the blob does not load: the typed error's text, after which
//!   the firmware exits QEMU with a failure status (no fault, no panic);
//! - the workload's own lines (see `src/trajectory.rs`, `src/fit.rs` and `src/density.rs`):
//!   the bit patterns of what it computed;
//! - `workload <name>`, `calls_per_run <n>`, `runs <n>`: what was measured;
//! - `load_ticks <n>`: SysTick ticks for checking and loading the blob;
//! - `ticks <n>`: SysTick ticks (core clock) for all `runs` runs together;
//! - `instructions <n>`: `ticks * 40`, the instruction count under QEMU's `-icount shift=0`;
//! - `stack_load_bytes <n>`: the stack high-water mark from reset through loading;
//! - `stack_bytes <n>`: the stack high-water mark of the measured runs (the stack is painted
//!   again after loading), counted from the top of the stack;
//! - `done`: the last line, after which the firmware exits QEMU with success.
//!
//! Any panic or fault exits QEMU with a failure status instead.
//!
//! The workload, the measurement ([`cost`]) and the output ([`host`]) are separate modules, so
//! a different workload only replaces `workload` (the `baseline` feature swaps in a stand-in
//! without the player, `src/baseline.rs`, to measure the code the player adds).

#![no_std]
#![no_main]

mod cost;
mod host;
// The workload the blob selects (build.rs), or the stand-in, under one module name, so that
// `main` is the same in every build.
#[cfg(all(not(feature = "baseline"), finn_workload = "trajectory"))]
#[path = "trajectory.rs"]
mod workload;
#[cfg(all(not(feature = "baseline"), finn_workload = "fit"))]
#[path = "fit.rs"]
mod workload;
#[cfg(all(not(feature = "baseline"), finn_workload = "density"))]
#[path = "density.rs"]
mod workload;
#[cfg(all(not(feature = "baseline"), finn_workload = "deviation"))]
#[path = "deviation.rs"]
mod workload;
#[cfg(all(not(feature = "baseline"), finn_workload = "density_mixture"))]
#[path = "density_mixture.rs"]
mod workload;
#[cfg(all(not(feature = "baseline"), finn_workload = "softq"))]
#[path = "softq.rs"]
mod workload;
#[cfg(feature = "baseline")]
#[path = "baseline.rs"]
mod workload;

use cortex_m_rt::entry;

/// How many times the workload runs inside the measured region.
const RUNS: u32 = 1;

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("core peripherals taken once");
    let clock = cost::Clock::start(peripherals.SYST);

    let load_start = clock.now();
    let loaded = workload::Workload::load();
    let load_ticks = clock.now() - load_start;
    // Start-up plus loading, scanned before any output.
    let stack_load_bytes = cost::stack_high_water_bytes();
    let mut out = host::Out::stdout();
    let work = match loaded {
        Ok(work) => work,
        Err(e) => {
            out.line(format_args!("load error: {e}"));
            host::exit_failure()
        }
    };

    cost::repaint_stack();
    let start = clock.now();
    for _ in 0..RUNS {
        work.run();
    }
    let ticks = clock.now() - start;
    // The measured runs only, scanned before any further output.
    let stack_bytes = cost::stack_high_water_bytes();

    work.report(&mut out);
    out.line(format_args!("workload {}", workload::NAME));
    out.line(format_args!("calls_per_run {}", workload::CALLS_PER_RUN));
    out.line(format_args!("runs {RUNS}"));
    out.line(format_args!("load_ticks {load_ticks}"));
    out.line(format_args!("ticks {ticks}"));
    out.line(format_args!(
        "instructions {}",
        ticks * u64::from(cost::INSTRUCTIONS_PER_TICK)
    ));
    out.line(format_args!("stack_load_bytes {stack_load_bytes}"));
    out.line(format_args!("stack_bytes {stack_bytes}"));
    out.line(format_args!("done"));
    host::exit_success()
}

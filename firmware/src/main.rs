//! Firmware for the emulated Cortex-M4F (QEMU `mps2-an386`): plays back the embedded trajectory
//! blob with `finn-embedded` and reports its samples and its cost.
//!
//! It loads the blob (see `build.rs` for which one), then runs the workload and reports through
//! semihosting, one record per line (`<key> <field>...`, parsed on the host by `finn_lab::device`):
//!
//! - `load error: <message>` if the blob does not load: the typed error's text, after which
//!   the firmware exits QEMU with a failure status (no fault, no panic);
//! - the workload's own lines (see [`trajectory`]): the samples' bit patterns;
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
//! a different workload only replaces [`trajectory`], the workload of the trajectory
//! application (the `baseline` feature swaps in a stand-in without the player under the same
//! module name, to measure the code the player adds).

#![no_std]
#![no_main]

mod cost;
mod host;
#[cfg(not(feature = "baseline"))]
mod trajectory;
// The stand-in takes the workload's module name, so that `main` is the same in both builds.
#[cfg(feature = "baseline")]
#[path = "baseline.rs"]
mod trajectory;

use cortex_m_rt::entry;

/// How many times the workload runs inside the measured region.
const RUNS: u32 = 1;

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("core peripherals taken once");
    let clock = cost::Clock::start(peripherals.SYST);

    let load_start = clock.now();
    let loaded = trajectory::Workload::load();
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
    out.line(format_args!("workload {}", trajectory::NAME));
    out.line(format_args!("calls_per_run {}", trajectory::CALLS_PER_RUN));
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

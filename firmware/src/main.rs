//! Firmware for the emulated Cortex-M4F (QEMU `mps2-an386`).
//!
//! It runs one workload, then reports through semihosting, one record per line
//! (`<key> <field>...`, parsed on the host by `xtask::qemu`):
//!
//! - the workload's own result lines (see [`workload`]);
//! - `workload <name>`, `calls_per_run <n>`, `runs <n>`: what was measured;
//! - `ticks <n>`: SysTick ticks (core clock) for all `runs` runs together;
//! - `instructions <n>`: `ticks * 40`, the instruction count under QEMU's `-icount shift=0`;
//! - `stack_bytes <n>`: the stack high-water mark since reset;
//! - `done`: the last line, after which the firmware exits QEMU with success.
//!
//! Any panic or fault exits QEMU with a failure status instead.
//!
//! The workload, the measurement ([`cost`]) and the output ([`host`]) are separate modules, so
//! a different workload only replaces [`workload`].

#![no_std]
#![no_main]

mod cost;
mod host;
mod workload;

use cortex_m_rt::entry;

/// How many times the workload runs inside the measured region.
const RUNS: u32 = 100;

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("core peripherals taken once");
    let clock = cost::Clock::start(peripherals.SYST);

    let mut work = workload::Workload::new();
    let start = clock.now();
    for _ in 0..RUNS {
        work.run();
    }
    let ticks = clock.now() - start;
    // Scanned before any output, so the figure is the start-up plus the workload.
    let stack_bytes = cost::stack_high_water_bytes();

    let mut out = host::Out::stdout();
    work.report(&mut out);
    out.line(format_args!("workload {}", workload::NAME));
    out.line(format_args!("calls_per_run {}", workload::CALLS_PER_RUN));
    out.line(format_args!("runs {RUNS}"));
    out.line(format_args!("ticks {ticks}"));
    out.line(format_args!(
        "instructions {}",
        ticks * u64::from(cost::INSTRUCTIONS_PER_TICK)
    ));
    out.line(format_args!("stack_bytes {stack_bytes}"));
    out.line(format_args!("done"));
    host::exit_success()
}

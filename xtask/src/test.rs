//! `cargo xtask test`: every test, host and device alike.

use anyhow::Result;
use finn_lab::setup::{self, run as run_cmd, DEVICE_TARGET};
use std::process::Command;

/// Seconds of the hostile-input campaign in every test run (`cargo xtask fuzz` for more).
const FUZZ_SECONDS: u64 = 60;
/// A fixed seed: the slice is the same sequence of cases on every run, so a finding
/// reproduces.
const FUZZ_SEED: u64 = 2026;

/// Installs missing tools, proves finn-core builds for the device, builds the example
/// firmware, runs a bounded slice of the fuzz campaign, then every host and device test.
pub fn run() -> Result<()> {
    setup::ensure_all()?;
    let cargo = finn_lab::cargo();
    // finn-core must stay no_std and allocation-free: building it for a target without `std`
    // or `alloc` proves both on every run.
    run_cmd(Command::new(&cargo).args([
        "build",
        "--package",
        "finn-core",
        "--target",
        DEVICE_TARGET,
    ]))?;
    // The example firmware a user copies to a board builds from this checkout, as its README
    // says.
    let example = finn_lab::device::build_example()?;
    println!(
        "xtask: examples/cortex-m4f-player builds for {DEVICE_TARGET}: .text {} bytes, .bss {} bytes",
        example.sizes.get(".text"),
        example.sizes.get(".bss")
    );
    // Before the tests, so their summary lines close the output.
    crate::fuzz::run(u64::MAX, FUZZ_SECONDS, FUZZ_SEED, false)?;
    run_cmd(Command::new(&cargo).args(["test", "--workspace", "--all-targets"]))?;
    run_cmd(Command::new(&cargo).args(["test", "--workspace", "--doc"]))?;
    Ok(())
}

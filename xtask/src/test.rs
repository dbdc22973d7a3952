//! `cargo xtask test`: every test, host and device alike.

use anyhow::Result;
use finn_lab::setup::{self, run as run_cmd, DEVICE_TARGET};
use std::process::Command;

/// Installs missing tools, proves finn-core builds for the device, runs host tests.
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
    run_cmd(Command::new(&cargo).args(["test", "--workspace", "--all-targets"]))?;
    run_cmd(Command::new(&cargo).args(["test", "--workspace", "--doc"]))?;
    Ok(())
}

//! Installs what the project needs on a fresh machine: the Cortex-M4F target and QEMU.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// The device target (Cortex-M4F with hardware f32).
pub const DEVICE_TARGET: &str = "thumbv7em-none-eabihf";

/// Installs everything the device builds and tests need.
pub fn ensure_all() -> Result<()> {
    ensure_device_target()?;
    ensure_qemu()?;
    Ok(())
}

/// `rustup target add thumbv7em-none-eabihf` when the target is missing.
pub fn ensure_device_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (is rustup on PATH?)")?;
    let installed = String::from_utf8_lossy(&out.stdout);
    if installed.lines().any(|l| l.trim() == DEVICE_TARGET) {
        return Ok(());
    }
    eprintln!("xtask: installing the {DEVICE_TARGET} target");
    run(Command::new("rustup").args(["target", "add", DEVICE_TARGET]))
}

/// `apt-get install -y qemu-system-arm` (after `apt-get update`) when QEMU is missing.
pub fn ensure_qemu() -> Result<()> {
    if which("qemu-system-arm") {
        return Ok(());
    }
    eprintln!("xtask: installing qemu-system-arm");
    let sudo = if is_root() { None } else { Some("sudo") };
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd = match sudo {
            Some(s) => {
                let mut c = Command::new(s);
                c.arg("apt-get");
                c
            }
            None => Command::new("apt-get"),
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    apt(&["update"])?;
    apt(&[
        "install",
        "-y",
        "--no-install-recommends",
        "qemu-system-arm",
    ])?;
    if !which("qemu-system-arm") {
        bail!("qemu-system-arm is still missing after apt-get install");
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True when `program` is found on PATH.
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Runs a command, failing with its command line when it does not succeed.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

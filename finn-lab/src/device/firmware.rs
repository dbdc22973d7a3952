//! Building the firmware for the device: the blob it embeds (a trajectory or a fit model: its
//! payload selects the workload), its capacity and sample count, and the `baseline` variant
//! without the player ([`FirmwareOptions`]).
//!
//! Every variant is built in release in [`firmware_target_dir`] and copied out under a label
//! of its own (`firmware/target/variants/<label>.elf`), so builds of other variants do not
//! replace it.

use super::{default_blob_path, firmware_dir, firmware_target_dir, DEVICE_TARGET, SETUP_HINT};
use anyhow::{bail, ensure, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The firmware's package name, which is also its executable's name.
const FIRMWARE_PACKAGE: &str = "finn-firmware";

/// Fails, naming `cargo xtask setup`, unless the device target's standard library is installed.
pub fn check_device_target() -> Result<()> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // Asked from the firmware's directory: that is where its build resolves the toolchain.
    let out = Command::new(rustc)
        .current_dir(firmware_dir())
        .args(["--print", "sysroot"])
        .output()
        .context("running `rustc --print sysroot`")?;
    ensure!(out.status.success(), "`rustc --print sysroot` failed");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let target_lib = sysroot.join("lib/rustlib").join(DEVICE_TARGET);
    if !target_lib.is_dir() {
        bail!(
            "the Rust target {DEVICE_TARGET} is not installed (no {}); {SETUP_HINT}",
            target_lib.display()
        );
    }
    Ok(())
}

/// What to build into the firmware (see `firmware/build.rs`).
///
/// The blob's payload selects the workload: a trajectory blob is played by the trajectory
/// workload, a model blob (the fit application, for example `results/figure1/eps2.postcard`)
/// by the fit workload. A blob that does not decode is played by the trajectory workload, or by
/// the fit workload when it still opens like a model blob, which then reports the load error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirmwareOptions {
    /// The blob to embed, a trajectory or a model blob; `None` for [`default_blob_path`].
    pub blob: Option<PathBuf>,
    /// The trajectory player's capacity `[D, W, L, V]`; `None` to size it from the blob.
    /// Refused by the build for a model blob.
    pub capacity: Option<[usize; 4]>,
    /// The fit player's capacity `[N, W, L]`; `None` to size it from the blob. Refused by the
    /// build for a trajectory blob.
    pub fit_capacity: Option<[usize; 3]>,
    /// Samples played, or points evaluated, N; `None` for the firmware's default, 64.
    pub samples: Option<usize>,
    /// Build the `baseline` variant: the same firmware without the player.
    pub baseline: bool,
}

/// Serialises firmware builds in this process: every variant is built in the same target
/// directory, then copied out under its own name before the next build starts.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Builds the default firmware (the default blob) in release; returns the path of its ELF
/// file. See [`build_firmware_with`].
pub fn build_firmware() -> Result<PathBuf> {
    build_firmware_with(&FirmwareOptions::default(), "default")
}

/// Builds the firmware in release for the device with `options` and returns the path of a
/// copy of its ELF file named after `label` (`firmware/target/variants/<label>.elf`), so that
/// builds of other variants do not replace it.
///
/// Fails with a message naming `cargo xtask setup` when the target is missing, and with
/// cargo's output when the build fails.
pub fn build_firmware_with(options: &FirmwareOptions, label: &str) -> Result<PathBuf> {
    check_device_target()?;
    ensure!(
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "firmware label {label:?}: use letters, digits, '-' and '_'"
    );
    let target_dir = firmware_target_dir();
    let mut cmd = Command::new(crate::cargo());
    cmd.current_dir(firmware_dir())
        .args([
            "build",
            "--release",
            "--target",
            DEVICE_TARGET,
            "--target-dir",
        ])
        .arg(&target_dir)
        // Flags meant for a host build (say `-C target-cpu=native`) must not reach this one;
        // the firmware's own flags come from its build script.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .stdin(Stdio::null());
    if options.baseline {
        cmd.args(["--features", "baseline"]);
    }
    // Every build variable is set or removed explicitly, so the caller's environment never
    // leaks into a build.
    let blob = match &options.blob {
        Some(path) => {
            std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?
        }
        None => default_blob_path(),
    };
    ensure!(blob.is_file(), "the blob {} does not exist", blob.display());
    cmd.env("FINN_BLOB", &blob);
    match options.capacity {
        Some([d, w, l, v]) => cmd.env("FINN_CAPACITY", format!("{d},{w},{l},{v}")),
        None => cmd.env_remove("FINN_CAPACITY"),
    };
    match options.fit_capacity {
        Some([n, w, l]) => cmd.env("FINN_FIT_CAPACITY", format!("{n},{w},{l}")),
        None => cmd.env_remove("FINN_FIT_CAPACITY"),
    };
    match options.samples {
        Some(n) => cmd.env("FINN_SAMPLES", n.to_string()),
        None => cmd.env_remove("FINN_SAMPLES"),
    };
    // A test that panicked while holding the lock leaves no half-done state behind: the lock
    // only orders builds.
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "building the firmware failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let elf = target_dir
        .join(DEVICE_TARGET)
        .join("release")
        .join(FIRMWARE_PACKAGE);
    ensure!(
        elf.is_file(),
        "the firmware build succeeded but {} is missing",
        elf.display()
    );
    let variants = target_dir.join("variants");
    std::fs::create_dir_all(&variants)
        .with_context(|| format!("creating {}", variants.display()))?;
    let copy = variants.join(format!("{label}.elf"));
    std::fs::copy(&elf, &copy)
        .with_context(|| format!("copying {} to {}", elf.display(), copy.display()))?;
    Ok(copy)
}

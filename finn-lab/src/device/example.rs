//! The example firmware a user copies to a Cortex-M4F board (`examples/cortex-m4f-player`):
//! building it as a user would, so that every test run proves it builds.

use super::{check_device_target, section_sizes, SectionSizes, DEVICE_TARGET};
use anyhow::{bail, ensure, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The example's package name, which is also its executable's name.
const EXAMPLE_PACKAGE: &str = "cortex-m4f-player";

/// The example firmware's directory.
pub fn example_dir() -> PathBuf {
    crate::workspace_root()
        .join("examples")
        .join(EXAMPLE_PACKAGE)
}

/// A release build of the example: its ELF file and section sizes.
#[derive(Clone, Debug)]
pub struct ExampleBuild {
    /// The ELF file.
    pub elf: PathBuf,
    /// Its allocated sections.
    pub sizes: SectionSizes,
}

/// Builds the example as its README says (`cargo build --release` in its directory, for
/// [`DEVICE_TARGET`], with its committed `Cargo.lock`: `--locked`) with the blob it ships.
/// Fails with cargo's output when the build fails, for example when the shipped blob stops
/// decoding (the build script refuses it) or when the RAM that `cargo xtask inspect` reports
/// is not the player's `size_of` on the device (a compile-time assertion in `src/main.rs`).
pub fn build_example() -> Result<ExampleBuild> {
    check_device_target()?;
    let dir = example_dir();
    let mut cmd = Command::new(crate::cargo());
    cmd.current_dir(&dir)
        .args(["build", "--release", "--locked", "--target", DEVICE_TARGET])
        // The example's own target directory, as in a user's copy, whatever the caller's
        // environment says; flags meant for the host must not reach it, nor another blob.
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("FINN_BLOB")
        .stdin(Stdio::null());
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "building the example firmware {} failed ({}):\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let elf = dir
        .join("target")
        .join(DEVICE_TARGET)
        .join("release")
        .join(EXAMPLE_PACKAGE);
    ensure!(
        elf.is_file(),
        "the example built but {} is missing",
        elf.display()
    );
    let sizes = section_sizes(&elf)?;
    Ok(ExampleBuild { elf, sizes })
}

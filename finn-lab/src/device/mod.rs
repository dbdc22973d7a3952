//! The emulated device: building the firmware, running it under QEMU, reading what it reports,
//! and measuring its cost and size.
//!
//! This is the one runner for the device. `cargo xtask device` uses it through [`measure`],
//! and the device tests in `finn-tests` call [`build_firmware_with`] and [`run()`] directly.
//!
//! The firmware plays back a blob embedded at build time ([`FirmwareOptions::blob`], by default
//! the trajectory `firmware/blobs/default.postcard`), with the workload its payload selects,
//! and prints the `f32` bit patterns of what it computed, or the typed load error
//! ([`Run::load_error`]) when the blob does not load:
//!
//! * a trajectory blob: every sample's position, velocity and acceleration
//!   ([`Run::samples`]), the cost per sample;
//! * a model blob (the fit application): f and F at Halton points of the domain
//!   ([`Run::fit_samples`]), the exact integral over the domain and over sub-boxes
//!   ([`Run::fit_integral`], [`Run::fit_boxes`]), the cost per evaluation of f;
//! * a density blob: pdf, log-pdf and CDF at Halton points of the support, box
//!   probabilities and samples from Halton uniforms ([`Run::density_points`],
//!   [`Run::density_boxes`], [`Run::density_draws`]), the cost of each ([`Run::phases`]);
//! * a density mixture blob: the same records over the mixture's region
//!   ([`density_mixture`]).
//!
//! The firmware (`firmware/`, a workspace of its own) is built in release for
//! [`DEVICE_TARGET`] and run on QEMU's `mps2-an386` machine with a Cortex-M4 and
//! `-icount shift=0`, so every guest instruction is 1 ns of virtual time and the tick counts the
//! firmware reports are deterministic. The firmware writes one record per line,
//! `<key> <field>...`, through semihosting, and ends QEMU through semihosting with a success
//! status (or a failure status on a panic or fault).
//!
//! * [`firmware`]: building the firmware with a blob and options;
//! * [`example`]: building the example firmware a user copies (`examples/cortex-m4f-player`);
//! * [`run`](mod@run): running QEMU and parsing the firmware's records, samples and cost;
//! * [`fit`]: the fit workload's records;
//! * [`density`]: the density workload's records, its blobs, and the bit-for-bit comparison
//!   with the host;
//! * [`density_mixture`]: the same for the density mixture workload;
//! * [`elf`]: section sizes and `.text` by crate;
//! * [`report`]: the `results/device.md` report, with its goals and verdicts.

pub mod density;
pub mod density_mixture;
pub mod deviation;
pub mod elf;
pub mod example;
pub mod firmware;
pub mod fit;
pub mod report;
pub mod run;
pub mod softq;

pub use crate::setup::DEVICE_TARGET;
pub use density::{
    check_density_run, density_blob, density_mixture_blob, doc_density_blob,
    doc_density_mixture_blob, doc_density_mixture_real_blob, reference_density_blob, DensityBox,
    DensityCheck, DensityDraw, DensityPoint, Phase,
};
pub use density_mixture::{check_density_mixture_run, MixtureCheck};
pub use deviation::{check_deviation_run, DeviationCheck, DeviationPoint};
pub use elf::{
    section_sizes, statics_named, text_by_crate, text_by_source_crate, SectionSizes, StaticObject,
};
pub use example::{build_example, example_dir, ExampleBuild};
pub use firmware::{build_firmware, build_firmware_with, check_device_target, FirmwareOptions};
pub use fit::{FitBits, FitBox, FitSample};
pub use report::{measure, REPORT};
pub use run::{
    check_qemu, parse_hex_u32, qemu_args, qemu_command_line, run, Cost, DeviceSample, Record, Run,
    SampleBits,
};
pub use softq::{check_softq_run, SoftQCheck};

use std::path::PathBuf;
use std::time::Duration;

/// The QEMU machine: ARM's MPS2 board with the AN386 (Cortex-M4) FPGA image.
pub const MACHINE: &str = "mps2-an386";

/// The QEMU CPU model.
pub const CPU: &str = "cortex-m4";

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-arm";

/// How long [`run()`] lets QEMU run by default before it kills it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Guest instructions per SysTick tick: `-icount shift=0` makes an instruction 1 ns, and SysTick
/// counts the 25 MHz core clock, 40 ns a tick.
pub const INSTRUCTIONS_PER_TICK: u64 = 40;

/// The command that installs what the device needs, named in errors when something is missing.
const SETUP_HINT: &str = "run `cargo xtask setup` to install it";

/// The firmware crate's directory.
pub fn firmware_dir() -> PathBuf {
    crate::workspace_root().join("firmware")
}

/// Where the firmware is built. It is always this directory, whatever `CARGO_TARGET_DIR` says,
/// so a build started from inside another cargo command never waits on that command's lock.
pub fn firmware_target_dir() -> PathBuf {
    firmware_dir().join("target")
}

/// The trajectory blob the firmware embeds by default.
pub fn default_blob_path() -> PathBuf {
    firmware_dir().join("blobs/default.postcard")
}

/// The deviation blob the firmware's deviation workload is measured on: the paper's Figure 2
/// model (`configs/figure2.toml`, trained with `blob_scalar = "f32"`), copied from
/// `results/figure2/bumps.postcard`.
pub fn deviation_blob_path() -> PathBuf {
    firmware_dir().join("blobs/deviation.postcard")
}

/// The density mixture blob the firmware's density mixture workload is measured on: the
/// trained moons mixture (`configs/density-moons.toml`, 8 components), copied from
/// `results/densities/moons.postcard` so that the report measures a real model.
pub fn density_mixture_blob_path() -> PathBuf {
    firmware_dir().join("blobs/density-mixture.postcard")
}

/// The soft-Q policy the firmware's soft-Q workload runs: the shipped pendulum model
/// (`results/softq/pendulum.json`) with f32 parameters
/// (`finn_train::softq::blob::device_blob`; finn-train's test
/// `firmware_softq_blob_is_the_shipped_model` checks it, `FINN_BLESS=1` rewrites it).
pub fn softq_blob_path() -> PathBuf {
    firmware_dir().join("blobs/softq-pendulum.postcard")
}

/// The density blob the firmware's density workload is measured on
/// ([`reference_density_blob`]).
pub fn density_blob_path() -> PathBuf {
    firmware_dir().join("blobs/density.postcard")
}

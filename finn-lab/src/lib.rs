//! The measurements and references behind finn's published numbers.
//!
//! * [`demo`]: the main job end to end (train, blob, firmware, QEMU, bit-exact comparison).
//! * [`setup`]: installs what the emulated device needs (the `thumbv7em-none-eabihf` target,
//!   `qemu-system-arm`) when it is missing.
//! * [`device`]: the emulated Cortex-M4: building the firmware, running it under QEMU,
//!   reading its output, measuring its cost and size, and the `results/device.md` report.
//!   The device tests in `finn-tests` use its runner.
//! * [`bench`](mod@bench): criterion benchmarks turned into `results/integrand-bench.md` and
//!   `results/gradient-bench.md`.
//! * [`fuzz`]: the hostile-input campaign against every blob reader and player.
//! * [`precision`]: where f32 loses digits against f64, and how exactly a stored model's
//!   integral meets its eps, `results/precision.md`.
//! * [`integral_reference`]: an independent big-integer integral of a stored model (the
//!   yardstick for its constants).
//! * [`sigma_reference`]: the independent big-integer reference table of sigma_n,
//!   `finn-core/tests/data/sigma_reference.csv`.
//! * [`supremum`]: certified suprema of the shipped densities and fit models (branch and
//!   bound on rigorous enclosures), `results/supremum.md`.
//! * [`training_speed`]: time to a given MSE of the Figure 1 fits per solver, in process CPU
//!   seconds, `results/training-speed.md`.
//!
//! Host-only (`std`). Every path is resolved against the workspace root
//! ([`workspace_root`]), so callers behave the same from any working directory. The `xtask`
//! commands (`cargo xtask device`, `bench`, ...) are thin wrappers over this crate: they call
//! it, print what it returns and write it with [`write_result`].

pub mod bench;
pub mod demo;
pub mod device;
pub mod fuzz;
pub mod integral_reference;
pub mod precision;
pub mod setup;
pub mod sigma_reference;
pub mod supremum;
pub mod tanh_fit;
pub mod training_speed;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The root of the repository (the host workspace): the parent of this crate's directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("finn-lab sits one level below the workspace root")
        .to_path_buf()
}

/// Writes `contents` to `relative` (a path relative to the workspace root, such as
/// `results/device.md`), creating its directory; returns the absolute path written.
pub fn write_result(relative: &str, contents: &str) -> Result<PathBuf> {
    let path = workspace_root().join(relative);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The cargo that invoked us (so toolchain overrides carry through), or `cargo` on PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

//! `cargo xtask fuzz`: the hostile-input campaign (`finn_lab::fuzz`) over every shipped blob.
//! Failing mutants are written to `target/fuzz-failures/` for a regression test.

use anyhow::{bail, Result};
use finn_lab::fuzz::{self, Campaign};
use std::time::Duration;

/// Runs `cases` cases (or for `seconds`), prints the report, fails on any broken promise.
pub fn run(cases: u64, seconds: u64, seed: u64) -> Result<()> {
    let root = finn_lab::workspace_root();
    let blobs = fuzz::shipped_blobs(&root)?;
    if blobs.is_empty() {
        bail!("no shipped blobs found under {}", root.display());
    }
    let campaign = Campaign {
        seed,
        cases,
        limit: Duration::from_secs(seconds),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let bar = indicatif::ProgressBar::new(cases);
    let summary = fuzz::run(&campaign, &blobs, &|done| bar.set_position(done));
    bar.finish_and_clear();
    print!("{}", summary.markdown(&campaign, &blobs));
    if !summary.failures.is_empty() {
        let dir = root.join("target/fuzz-failures");
        std::fs::create_dir_all(&dir)?;
        for (i, f) in summary.failures.iter().enumerate() {
            std::fs::write(dir.join(format!("{i}.postcard")), &f.bytes)?;
        }
        bail!(
            "{} broken promises; the mutants are in {}",
            summary.failures.len(),
            dir.display()
        );
    }
    Ok(())
}

//! `cargo xtask fuzz`: the hostile-input campaign (`finn_lab::fuzz`) over every shipped blob.
//! Failing mutants are written to `target/fuzz-failures/` for a regression test.

use anyhow::{bail, Result};
use finn_lab::fuzz::{self, Campaign};
use std::time::Duration;

/// Runs `cases` cases (or for `seconds`), prints the report (and, with `publish`, writes it to
/// results/fuzz.md with the command that made it), fails on any broken promise.
pub fn run(cases: u64, seconds: u64, seed: u64, publish: bool) -> Result<()> {
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
    let report = summary.markdown(&campaign, &blobs);
    if publish {
        let md = format!(
            "# Hostile-input campaign\n\nMade by `cargo xtask fuzz --cases {cases} --seconds {seconds} \
             --seed {seed}` on this 2-core machine. Every shipped blob mutated (bytes, and decoded \
             fields set to hostile values; three in four with the CRC recomputed), then decoded, \
             loaded in f64 and f32 and into the device players, and every accepted mutant \
             evaluated at grid points over its domain (f, F, integral; a density's pdf, log-pdf, CDF, support probability and 8 samples; 65 trajectory samples with jerk), which tests the load-time proofs that every evaluation is finite. \
             `cargo xtask test` runs a 60 s slice with seed 2026.\n\n{report}"
        );
        crate::report::publish("results/fuzz.md", &md)?;
    } else {
        print!("{report}");
    }
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

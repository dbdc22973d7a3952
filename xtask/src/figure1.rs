//! `cargo xtask figure1`: the paper's Figure 1 (`finn_train::fit::figure1`), three bars at a
//! time.

use crate::train::Bar;
use anyhow::Result;
use indicatif::MultiProgress;

/// Trains the three configs, writes results/figure1.md and results/figure1.png.
pub fn run() -> Result<()> {
    let bars = MultiProgress::new();
    let root = finn_lab::workspace_root();
    let done = finn_train::fit::figure1::run(&root, |eps| {
        Bar::new(&format!("eps = {eps}"), Some(bars.clone()))
    })?;
    println!(
        "wrote {} and {} in {:.1} s",
        done.report.display(),
        done.figure.display(),
        done.seconds
    );
    Ok(())
}

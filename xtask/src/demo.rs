//! `cargo xtask demo`: the main job end to end (`finn_lab::demo`), with a progress bar.

use crate::train::Bar;
use anyhow::{bail, Result};

/// Runs the demo, prints its report, fails when a device sample differs from the host's.
pub fn run() -> Result<()> {
    let mut step = |k: usize, what: &str| eprintln!("[{k}/{}] {what}", finn_lab::demo::STEPS);
    let demo = finn_lab::demo::run(&mut Bar::new("  BFGS", None), &mut step)?;
    println!("{}", demo.markdown);
    if demo.mismatches > 0 {
        bail!("{} device samples differ from the host's", demo.mismatches);
    }
    Ok(())
}

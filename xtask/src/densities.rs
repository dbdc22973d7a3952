//! `cargo xtask densities`: the density benchmark (`finn_train::density::benchmark`), one bar
//! per dataset.

use crate::train::Bar;
use anyhow::Result;

/// Writes the datasets, trains configs/density-*.toml, writes results/densities.md.
pub fn run() -> Result<()> {
    let root = finn_lab::workspace_root();
    let done = finn_train::density::benchmark::run(&root, |name| Bar::new(name, None))?;
    for line in &done.lines {
        println!("{line}");
    }
    println!("wrote {} in {:.1} s", done.report.display(), done.seconds);
    Ok(())
}

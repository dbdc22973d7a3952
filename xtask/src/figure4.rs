//! `cargo xtask figure4`: the paper's Figure 4 (`finn_train::density::figure4`).

use crate::train::Bar;
use anyhow::Result;

/// Trains configs/figure4.toml, samples it, writes results/figure4.md and results/figure4.png.
pub fn run() -> Result<()> {
    let root = finn_lab::workspace_root();
    let done = finn_train::density::figure4::run(&root, &mut Bar::new("figure 4", None))?;
    println!("{}", done.summary);
    println!(
        "wrote {} and {} in {:.1} s",
        done.report.display(),
        done.figure.display(),
        done.seconds
    );
    Ok(())
}

//! `cargo xtask figure2` (the paper's Figure 2) and `cargo xtask deviation-study` (does the
//! deviation budget curb overfitting?), both from `finn_train::deviation`.

use crate::train::Bar;
use anyhow::Result;

/// Trains configs/figure2.toml, writes results/figure2.md and results/figure2.png.
pub fn figure2() -> Result<()> {
    let root = finn_lab::workspace_root();
    let done = finn_train::deviation::figure2::run(&root, &mut Bar::new("figure 2", None))?;
    println!("{}", done.summary);
    println!(
        "wrote {} and {} in {:.1} s",
        done.report.display(),
        done.figure.display(),
        done.seconds
    );
    Ok(())
}

/// Runs the budget sweep, writes results/deviation.md and results/deviation.png.
pub fn study() -> Result<()> {
    let root = finn_lab::workspace_root();
    let done = finn_train::deviation::study::run(&root, &mut finn_train::observer::Silent)?;
    println!(
        "{} data sets; wrote {} and {} in {:.0} s",
        done.rows.len(),
        done.report.display(),
        done.figure.display(),
        done.seconds
    );
    Ok(())
}

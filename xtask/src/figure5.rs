//! `cargo xtask figure5`: the paper's Figure 5 (`finn_train::softq::figure5`).

use anyhow::Result;

/// Reads (or trains) the exact learner of configs/softq-pendulum.toml and writes
/// results/figure5.md and results/figure5.png.
pub fn run() -> Result<()> {
    let root = finn_lab::workspace_root();
    let done = finn_train::softq::figure5::run(&root)?;
    println!("{}", done.summary);
    println!(
        "wrote {} and {}",
        done.report.display(),
        done.figure.display()
    );
    Ok(())
}

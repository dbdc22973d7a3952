//! `cargo xtask inspect FILE`: what a blob holds and the player it needs
//! (`finn_embedded::build::inspect` does the work).

use anyhow::{Context, Result};
use finn_embedded::build::inspect;
use std::path::Path;

/// Prints the description of the blob at `path`; a file that is not a valid blob is an error
/// naming it and the problem.
pub fn command(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let info = inspect(&bytes)
        .with_context(|| format!("the blob {} is not a valid finn blob", path.display()))?;
    println!("file:        {}", path.display());
    print!("{info}");
    Ok(())
}

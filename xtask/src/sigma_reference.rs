//! `cargo xtask sigma-reference`: regenerates `finn-core/tests/data/sigma_reference.csv`
//! (`finn_lab::sigma_reference`).

use anyhow::Result;
use finn_lab::sigma_reference;
use std::time::Instant;

/// Generates the table, writes it and says how long it took.
pub fn run() -> Result<()> {
    let start = Instant::now();
    let table = sigma_reference::table()?;
    let path = finn_lab::write_result(sigma_reference::OUTPUT, &table)?;
    println!(
        "wrote {} ({} rows) in {:.1} s",
        path.display(),
        sigma_reference::row_count(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

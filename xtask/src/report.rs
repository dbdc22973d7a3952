//! Publishing a report that `finn_lab` measured: print it, and write it under the workspace
//! root.

use anyhow::Result;

/// Prints `report` and writes it to `relative` (to the workspace root, e.g.
/// `results/device.md`).
pub fn publish(relative: &str, report: &str) -> Result<()> {
    print!("{report}");
    let path = finn_lab::write_result(relative, report)?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

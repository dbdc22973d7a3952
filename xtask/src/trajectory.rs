//! `cargo xtask trajectory`: the trajectory examples (`configs/trajectory-*.toml`), each
//! solved with exact endpoints and certified constraints beside its baselines; their report
//! sections are gathered in results/trajectory.md. Exits non-zero when a constraint is not
//! proven (after writing everything).

use crate::train::Bar;
use anyhow::{bail, Result};
use finn_train::config::{Job, Outcome};
use std::fmt::Write as _;

/// The example configs, in report order.
const CONFIGS: [&str; 3] = [
    "configs/trajectory-robot.toml",
    "configs/trajectory-point-mass.toml",
    "configs/trajectory-arm.toml",
];

/// Runs the examples and writes results/trajectory.md.
pub fn run() -> Result<()> {
    let root = finn_lab::workspace_root();
    let mut out = String::from("# Trajectory optimisation (paper §4.2)\n\n");
    writeln!(
        out,
        "Produced by `cargo xtask trajectory` from {}. Per-run reports, blobs and plots are \
         under `results/trajectory/`.\n",
        CONFIGS.map(|c| format!("`{c}`")).join(", ")
    )?;
    let mut unproven = Vec::new();
    for config in CONFIGS {
        let job = Job::from_toml_file(root.join(config))?;
        let artefacts = job.run(&mut Bar::new(config, None))?;
        let Outcome::Trajectory(outcome) = &artefacts.outcome else {
            bail!("{config} is not a trajectory config");
        };
        out.push_str(&finn_train::trajectory::report_section(&job, outcome));
        unproven.extend(artefacts.unproven.iter().map(|u| format!("{config}: {u}")));
        for file in &artefacts.files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.ends_with(".png") && !name.ends_with("-loss.png") {
                writeln!(out, "\n![path](trajectory/{name})")?;
            }
        }
        out.push('\n');
    }
    let path = root.join("results/trajectory.md");
    std::fs::write(&path, &out)?;
    print!("{out}");
    println!("wrote {}", path.display());
    if !unproven.is_empty() {
        bail!("constraints not proven:\n{}", unproven.join("\n"));
    }
    Ok(())
}

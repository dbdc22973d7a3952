//! Criterion's side of the benchmark reports: running a benchmark with `CRITERION_HOME` set
//! ([`run_criterion`]) and reading the estimates it wrote, refusing stale ones.
//!
//! Criterion writes its estimates under `<target>/criterion`; the target directory comes from
//! `cargo metadata`, so `CARGO_TARGET_DIR` and cargo's configuration are honoured, and the
//! directory is handed to the benchmark as `CRITERION_HOME` so that both sides agree on it
//! (cargo runs benchmarks inside the package directory, where a relative path would differ).

use crate::{cargo, setup::run as run_cmd};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Runs `cargo <args>` with `CRITERION_HOME` set; returns that directory and the start time
/// (estimates older than it are stale).
pub fn run_criterion(args: &[&str]) -> Result<(PathBuf, SystemTime)> {
    let criterion_home = criterion_home()?;
    let started = SystemTime::now();
    run_cmd(
        Command::new(cargo())
            .args(args)
            .env("CRITERION_HOME", &criterion_home),
    )?;
    Ok((criterion_home, started))
}

/// `$CRITERION_HOME` if set, else `<cargo's target directory>/criterion`; always absolute.
pub fn criterion_home() -> Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Ok(cwd.join(home));
    }
    let out = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let target = meta["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    Ok(cwd.join(target).join("criterion"))
}

/// Criterion's median time of `group/function`, in nanoseconds, refusing an estimate written
/// before `since` (a stale earlier run).
pub fn estimate_ns(
    criterion_home: &Path,
    group: &str,
    function: &str,
    since: SystemTime,
) -> Result<f64> {
    let path = criterion_home
        .join(group)
        .join(function)
        .join("new/estimates.json");
    ensure_fresh(&path, since, &format!("{group}/{function}"))?;
    median_ns(&path)
}

/// Fails unless `path` exists and was written at or after `since` (not by a stale earlier run).
pub fn ensure_fresh(path: &Path, since: SystemTime, what: &str) -> Result<()> {
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        modified >= since,
        "{} predates this run (did the benchmark skip {what}?)",
        path.display()
    );
    Ok(())
}

/// `median_ratio` of the gradient benchmark's `<group>/paired.json`: the median over pairs of
/// back-to-back calls of (loss + gradient) / loss.
pub fn paired_ratio(criterion_home: &Path, group: &str, since: SystemTime) -> Result<f64> {
    let path = criterion_home.join(group).join("paired.json");
    ensure_fresh(&path, since, group)?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let ratio = v["median_ratio"]
        .as_f64()
        .with_context(|| format!("{} has no median_ratio", path.display()))?;
    if !(ratio.is_finite() && ratio > 0.0) {
        bail!("{}: implausible ratio {ratio}", path.display());
    }
    Ok(ratio)
}

/// `median.point_estimate` of a criterion `estimates.json`, in nanoseconds.
pub fn median_ns(path: &Path) -> Result<f64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let ns = v["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{} has no median.point_estimate", path.display()))?;
    if !(ns.is_finite() && ns > 0.0) {
        bail!("{}: implausible time {ns} ns", path.display());
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_estimates() {
        let dir = std::env::temp_dir().join(format!("finn-lab-bench-test-{}", std::process::id()));
        let file = dir.join("estimates.json");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &file,
            r#"{"mean":{"point_estimate":2470.0,"standard_error":28.4},
                "median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":2423.9,
                "upper_bound":2460.9},"point_estimate":2427.5,"standard_error":9.3}}"#,
        )
        .unwrap();
        assert_eq!(median_ns(&file).unwrap(), 2427.5);
        std::fs::write(&file, r#"{"mean":{"point_estimate":1.0}}"#).unwrap();
        assert!(median_ns(&file).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

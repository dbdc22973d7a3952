//! `cargo xtask bench`: times the exact integrand f against F and against nested dual numbers
//! (`finn-core/benches/integrand.rs`) and writes the table to `results/integrand-bench.md`.
//!
//! Criterion writes its estimates under `<target>/criterion`; the target directory comes from
//! `cargo metadata`, so `CARGO_TARGET_DIR` and cargo's configuration are honoured, and the
//! directory is handed to the benchmark as `CRITERION_HOME` so that both sides agree on it
//! (cargo runs benchmarks inside the package directory, where a relative path would differ).

use crate::test::cargo;
use anyhow::{bail, ensure, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;
use xtask::{qemu::workspace_root, setup::run as run_cmd};

/// The benchmark command, as it is run and as the report names it.
const BENCH_ARGS: [&str; 5] = ["bench", "-p", "finn-core", "--bench", "integrand"];
/// The report, relative to the workspace root.
const REPORT: &str = "results/integrand-bench.md";

/// The shapes the benchmark covers (must match `finn-core/benches/integrand.rs`).
const DIMS: [usize; 6] = [1, 2, 3, 4, 5, 6];
const WIDTHS: [usize; 3] = [8, 16, 32];
const DEPTHS: [usize; 3] = [1, 2, 3];
/// The criterion function ids of f, F and the nested-dual f.
const FUNCTIONS: [&str; 3] = ["integrand", "antiderivative", "nested_dual"];
/// The shape the issue sets a goal for, and the goal (nested duals / f).
const GOAL_SHAPE: (usize, usize, usize) = (4, 16, 2);
const GOAL_SPEEDUP: f64 = 2.0;

/// Runs the benchmark and writes the report.
pub fn run() -> Result<()> {
    let criterion_home = criterion_home()?;
    let started = SystemTime::now();
    run_cmd(
        Command::new(cargo())
            .args(BENCH_ARGS)
            .env("CRITERION_HOME", &criterion_home),
    )?;
    let rows = read_rows(&criterion_home, started)?;
    let machine = Machine::current();
    let report = render(&rows, &machine, &utc_now(SystemTime::now()));
    print!("{report}");
    let path = workspace_root().join(REPORT);
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// `$CRITERION_HOME` if set, else `<cargo's target directory>/criterion`; always absolute.
fn criterion_home() -> Result<PathBuf> {
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

/// Times of one shape, in nanoseconds per call (criterion's median).
#[derive(Clone, Debug, PartialEq)]
struct Row {
    n: usize,
    width: usize,
    depth: usize,
    f: f64,
    big_f: f64,
    nested: f64,
}

impl Row {
    /// f / F.
    fn f_over_big_f(&self) -> f64 {
        self.f / self.big_f
    }

    /// nested duals / f.
    fn speedup(&self) -> f64 {
        self.nested / self.f
    }
}

/// The criterion group of a shape.
fn group(n: usize, width: usize, depth: usize) -> String {
    format!("n{n}_w{width}_d{depth}")
}

/// Reads every shape's estimates, refusing any written before `since` (a stale earlier run).
fn read_rows(criterion_home: &Path, since: SystemTime) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for n in DIMS {
        for width in WIDTHS {
            for depth in DEPTHS {
                let g = group(n, width, depth);
                let mut t = [0.0; 3];
                for (ti, function) in t.iter_mut().zip(FUNCTIONS) {
                    let path = criterion_home
                        .join(&g)
                        .join(function)
                        .join("new/estimates.json");
                    let modified = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .with_context(|| format!("reading {}", path.display()))?;
                    ensure!(
                        modified >= since,
                        "{} predates this run (did the benchmark skip {g}/{function}?)",
                        path.display()
                    );
                    *ti = median_ns(&path)?;
                }
                rows.push(Row {
                    n,
                    width,
                    depth,
                    f: t[0],
                    big_f: t[1],
                    nested: t[2],
                });
            }
        }
    }
    Ok(rows)
}

/// `median.point_estimate` of a criterion `estimates.json`, in nanoseconds.
fn median_ns(path: &Path) -> Result<f64> {
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

/// Where the benchmark ran.
struct Machine {
    cpus: usize,
    cpu_model: String,
    rustc: String,
}

impl Machine {
    fn current() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "rustc (version unknown)".into());
        Machine {
            cpus,
            cpu_model,
            rustc,
        }
    }
}

/// A time in ns with a readable unit and three or four significant digits.
fn format_time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// The Markdown report.
fn render(rows: &[Row], machine: &Machine, date: &str) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut md, rows, machine, date);
    md
}

fn write_report(md: &mut String, rows: &[Row], machine: &Machine, date: &str) -> std::fmt::Result {
    writeln!(md, "# Cost of the exact integrand f\n")?;
    writeln!(
        md,
        "Produced by `cargo xtask bench`, which runs\n\n```sh\ncargo {}\n```\n",
        BENCH_ARGS.join(" ")
    )?;
    writeln!(
        md,
        "and reads criterion's per-call times (median of the samples; warm-up, measurement \
         time and sample count are set in `finn-core/benches/integrand.rs`).\n"
    )?;
    writeln!(md, "- Date: {date}")?;
    writeln!(
        md,
        "- Machine: nproc = {}, {}; shared, so single timings are noisy \
         and the ratios (measured in the same run) are the figures to trust",
        machine.cpus, machine.cpu_model
    )?;
    writeln!(md, "- Compiler: {}\n", machine.rustc)?;
    writeln!(
        md,
        "Positive networks (sigma_n), f64, n inputs, `depth` hidden layers of `width` units, \
         deterministic parameters scaled by 1/sqrt(fan-in), one fixed point. Each column \
         computes, per call:\n"
    )?;
    writeln!(
        md,
        "- **f**: `Network::integrand`, the exact mixed partial d_1...d_n F (closed form at \
         depth 1, multilinear jets deeper);"
    )?;
    writeln!(
        md,
        "- **F**: `Network::antiderivative`, the plain forward pass;"
    )?;
    writeln!(
        md,
        "- **nested duals**: the same f from the test suite's reference MLP over \
         `num_dual::Dual` nested n times, the obvious approach. It is written for clarity, not \
         speed: it allocates `Vec`s per layer and re-reads the flat parameters on every call, \
         which flatters the speed-up at small sizes.\n"
    )?;
    writeln!(md, "## Summary\n")?;
    let slower: Vec<&Row> = rows
        .iter()
        .filter(|r| r.n >= 2 && r.speedup() <= 1.0)
        .collect();
    if slower.is_empty() {
        write!(
            md,
            "- f is faster than nested duals at every n >= 2: **yes**"
        )?;
    } else {
        write!(
            md,
            "- f is faster than nested duals at every n >= 2: **no**, not at"
        )?;
        for (i, r) in slower.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(
                md,
                "{sep} {} ({:.2}x)",
                group(r.n, r.width, r.depth),
                r.speedup()
            )?;
        }
    }
    if let Some(min) = rows
        .iter()
        .filter(|r| r.n >= 2)
        .min_by(|a, b| a.speedup().total_cmp(&b.speedup()))
    {
        write!(
            md,
            " (smallest speed-up {:.2}x at n = {}, width {}, depth {})",
            min.speedup(),
            min.n,
            min.width,
            min.depth
        )?;
    }
    writeln!(md, ".")?;
    let (gn, gw, gd) = GOAL_SHAPE;
    if let Some(r) = rows.iter().find(|r| (r.n, r.width, r.depth) == GOAL_SHAPE) {
        let met = if r.speedup() >= GOAL_SPEEDUP {
            "met"
        } else {
            "**not met**"
        };
        writeln!(
            md,
            "- Speed-up of f over nested duals at n = {gn}, width {gw}, depth {gd}: **{:.2}x** \
             (goal >= {GOAL_SPEEDUP}x: {met}).",
            r.speedup()
        )?;
    }
    writeln!(md, "\n## Times per call\n")?;
    writeln!(
        md,
        "| n | width | depth | f | F | nested duals | f / F | nested / f |"
    )?;
    writeln!(
        md,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for r in rows {
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} |",
            r.n,
            r.width,
            r.depth,
            format_time(r.f),
            format_time(r.big_f),
            format_time(r.nested),
            r.f_over_big_f(),
            r.speedup()
        )?;
    }
    Ok(())
}

/// "YYYY-MM-DD HH:MM UTC".
fn utc_now(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift to eras of 400 years starting on 0000-03-01, so the leap day ends each year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400 + 3_723);
        assert_eq!(utc_now(t), "2000-02-29 01:02 UTC");
    }

    #[test]
    fn times_are_readable() {
        assert_eq!(format_time(12.34), "12.3 ns");
        assert_eq!(format_time(2_427.9), "2.43 µs");
        assert_eq!(format_time(1_234_567.0), "1.23 ms");
    }

    #[test]
    fn reads_criterion_estimates() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
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

    #[test]
    fn report_answers_both_questions() {
        let machine = Machine {
            cpus: 2,
            cpu_model: "Test CPU".into(),
            rustc: "rustc 1.0".into(),
        };
        let row = |n, width, depth, f, nested| Row {
            n,
            width,
            depth,
            f,
            big_f: 100.0,
            nested,
        };
        let rows = [
            row(1, 8, 1, 50.0, 10.0), // n = 1 does not count
            row(4, 16, 2, 1000.0, 3000.0),
            row(5, 8, 3, 900.0, 600.0),
        ];
        let md = render(&rows, &machine, "2000-02-29 01:02 UTC");
        assert!(md.contains("cargo bench -p finn-core --bench integrand"));
        assert!(md.contains("nproc = 2, Test CPU"));
        assert!(md.contains("**no**, not at n5_w8_d3 (0.67x)"));
        assert!(md.contains("**3.00x** (goal >= 2x: met)"));
        assert!(md.contains("| 4 | 16 | 2 | 1.00 µs | 100.0 ns | 3.00 µs | 10.00 | 3.00 |"));
        let fast = [row(4, 16, 2, 1000.0, 1500.0)];
        let md = render(&fast, &machine, "");
        assert!(md.contains("every n >= 2: **yes** (smallest speed-up 1.50x"));
        assert!(md.contains("(goal >= 2x: **not met**)"));
    }
}

//! Criterion benchmarks turned into Markdown reports:
//!
//! * `cargo xtask bench` times the exact integrand f against F and against nested dual numbers
//!   (`finn-core/benches/integrand.rs`) and writes `results/integrand-bench.md`;
//! * `cargo xtask bench-gradient` times a training loss against the loss with its exact
//!   gradient (`finn-train/benches/gradient.rs`) and writes `results/gradient-bench.md`.
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

/// Runs the integrand benchmark and writes its report.
pub fn run() -> Result<()> {
    let (criterion_home, started) = run_criterion(&BENCH_ARGS)?;
    let rows = read_rows(&criterion_home, started)?;
    let report = render(&rows, &Machine::current(), &utc_now(SystemTime::now()));
    publish(&report, REPORT)
}

/// Runs `cargo <args>` with `CRITERION_HOME` set; returns that directory and the start time
/// (estimates older than it are stale).
fn run_criterion(args: &[&str]) -> Result<(PathBuf, SystemTime)> {
    let criterion_home = criterion_home()?;
    let started = SystemTime::now();
    run_cmd(
        Command::new(cargo())
            .args(args)
            .env("CRITERION_HOME", &criterion_home),
    )?;
    Ok((criterion_home, started))
}

/// Prints the report and writes it to `relative` (to the workspace root).
fn publish(report: &str, relative: &str) -> Result<()> {
    print!("{report}");
    let path = workspace_root().join(relative);
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, report).with_context(|| format!("writing {}", path.display()))?;
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
                    *ti = estimate_ns(criterion_home, &g, function, since)?;
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

/// Criterion's median time of `group/function`, in nanoseconds, refusing an estimate written
/// before `since` (a stale earlier run).
fn estimate_ns(
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
fn ensure_fresh(path: &Path, since: SystemTime, what: &str) -> Result<()> {
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
fn paired_ratio(criterion_home: &Path, group: &str, since: SystemTime) -> Result<f64> {
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
    write_preamble(
        md,
        "Cost of the exact integrand f",
        "bench",
        &BENCH_ARGS,
        "finn-core/benches/integrand.rs",
        machine,
        date,
    )?;
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

/// The gradient benchmark command, as it is run and as the report names it.
const GRADIENT_ARGS: [&str; 5] = ["bench", "-p", "finn-train", "--bench", "gradient"];
/// Its report, relative to the workspace root.
const GRADIENT_REPORT: &str = "results/gradient-bench.md";
/// Hidden width and data set size of every gradient shape (must match
/// `finn-train/benches/gradient.rs`).
const GRADIENT_WIDTH: usize = 16;
const GRADIENT_POINTS: usize = 64;
/// Issue 3's bound on (loss + gradient) / loss.
const GRADIENT_GOAL: f64 = 4.0;

/// The two network families of the gradient benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// sigma_n, equality constraint over [-1, 1]^n imposed by scaling.
    Positive,
    /// tanh, no constraint.
    Signed,
}

impl Family {
    /// The word in the criterion group name.
    fn id(self) -> &'static str {
        match self {
            Family::Positive => "positive",
            Family::Signed => "signed",
        }
    }
}

/// The shapes of `finn-train/benches/gradient.rs`: positive n = 1..=6 at depths 1..=3, signed
/// n = 1..=4 at depth 2.
fn gradient_shapes() -> Vec<(Family, usize, usize)> {
    let positive = DIMS
        .into_iter()
        .flat_map(|n| DEPTHS.into_iter().map(move |d| (Family::Positive, n, d)));
    let signed = (1..=4).map(|n| (Family::Signed, n, 2));
    positive.chain(signed).collect()
}

/// The criterion group of a gradient shape.
fn gradient_group(family: Family, n: usize, depth: usize) -> String {
    format!("grad_{}_n{n}_d{depth}", family.id())
}

/// Times of one gradient shape, in nanoseconds per call (criterion's median), and the paired
/// ratio.
#[derive(Clone, Debug, PartialEq)]
struct GradientRow {
    family: Family,
    n: usize,
    depth: usize,
    loss: f64,
    both: f64,
    /// Median over back-to-back pairs of calls of (loss + gradient) / loss.
    paired: f64,
}

impl GradientRow {
    /// The ratio of criterion's medians, (loss + gradient) / loss.
    fn ratio_of_medians(&self) -> f64 {
        self.both / self.loss
    }

    /// The ratio the bound is judged by: the paired one.
    fn ratio(&self) -> f64 {
        self.paired
    }

    fn shape(&self) -> String {
        format!("{} n = {}, depth {}", self.family.id(), self.n, self.depth)
    }
}

/// Runs the gradient benchmark and writes its report.
pub fn run_gradient() -> Result<()> {
    let (criterion_home, started) = run_criterion(&GRADIENT_ARGS)?;
    let mut rows = Vec::new();
    for (family, n, depth) in gradient_shapes() {
        let g = gradient_group(family, n, depth);
        rows.push(GradientRow {
            family,
            n,
            depth,
            loss: estimate_ns(&criterion_home, &g, "loss", started)?,
            both: estimate_ns(&criterion_home, &g, "loss_and_gradient", started)?,
            paired: paired_ratio(&criterion_home, &g, started)?,
        });
    }
    let report = render_gradient(&rows, &Machine::current(), &utc_now(SystemTime::now()));
    publish(&report, GRADIENT_REPORT)
}

/// The gradient benchmark's Markdown report.
fn render_gradient(rows: &[GradientRow], machine: &Machine, date: &str) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail.
    let _ = write_gradient_report(&mut md, rows, machine, date);
    md
}

fn write_gradient_report(
    md: &mut String,
    rows: &[GradientRow],
    machine: &Machine,
    date: &str,
) -> std::fmt::Result {
    write_preamble(
        md,
        "Cost of the exact parameter gradient",
        "bench-gradient",
        &GRADIENT_ARGS,
        "finn-train/benches/gradient.rs",
        machine,
        date,
    )?;
    writeln!(
        md,
        "A regression on f (`Fit::Integrand`, mean squared error) over {GRADIENT_POINTS} \
         random points in [-1, 1]^n with targets exp(-|x|^2), f64, hidden layers of width \
         {GRADIENT_WIDTH}, parameters from `initial_parameters(.., 7)`. Two families:\n"
    )?;
    writeln!(
        md,
        "- **positive**: sigma_n networks with the equality constraint \"integral over \
         [-1, 1]^n = the target's integral\" imposed by scaling, so every call also evaluates \
         F at the 2^n vertices (and the gradient chains back through them once);"
    )?;
    writeln!(md, "- **signed**: tanh networks without constraint.\n")?;
    writeln!(
        md,
        "Columns: **loss** is `Objective::loss`, **loss + gradient** is \
         `Objective::loss_and_gradient` (exact reverse mode through the jets, \
         `finn-train/src/grad.rs`), each criterion's median time per call. The machine is \
         shared and its load drifts between criterion's measurement windows, so the ratio of \
         the two medians (**ratio of medians**) is noisy. Every iteration of the benchmark \
         therefore times one call of each, back to back, and **paired ratio** is the median \
         over those pairs of (loss + gradient) / loss: both calls of a pair see the same load. \
         The summary and the bound use the paired ratio.\n"
    )?;
    writeln!(md, "## Summary\n")?;
    if let Some(max) = rows.iter().max_by(|a, b| a.ratio().total_cmp(&b.ratio())) {
        writeln!(
            md,
            "- Largest paired ratio: **{:.2}x** ({}).",
            max.ratio(),
            max.shape()
        )?;
    }
    if let Some(max) = rows
        .iter()
        .max_by(|a, b| a.ratio_of_medians().total_cmp(&b.ratio_of_medians()))
    {
        writeln!(
            md,
            "- Largest ratio of medians: {:.2}x ({}).",
            max.ratio_of_medians(),
            max.shape()
        )?;
    }
    let over: Vec<&GradientRow> = rows.iter().filter(|r| r.ratio() > GRADIENT_GOAL).collect();
    if over.is_empty() {
        writeln!(
            md,
            "- Every paired ratio <= {GRADIENT_GOAL} (issue 3): **yes**."
        )?;
    } else {
        write!(
            md,
            "- Every paired ratio <= {GRADIENT_GOAL} (issue 3): **no**, not at"
        )?;
        for (i, r) in over.iter().enumerate() {
            let sep = if i == 0 { "" } else { ";" };
            write!(md, "{sep} {} ({:.2}x)", r.shape(), r.ratio())?;
        }
        writeln!(md, ".")?;
    }
    writeln!(md, "\n## Times per call\n")?;
    writeln!(
        md,
        "| network | n | depth | parameters | loss | loss + gradient | ratio of medians \
         | paired ratio |"
    )?;
    writeln!(
        md,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for r in rows {
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} |",
            r.family.id(),
            r.n,
            r.depth,
            finn_core::parameter_count(r.n, &vec![GRADIENT_WIDTH; r.depth]),
            format_time(r.loss),
            format_time(r.both),
            r.ratio_of_medians(),
            r.ratio()
        )?;
    }
    Ok(())
}

/// Title, the command that produced the report and the one it ran, date, machine, compiler.
fn write_preamble(
    md: &mut String,
    title: &str,
    xtask_command: &str,
    bench_args: &[&str],
    bench_source: &str,
    machine: &Machine,
    date: &str,
) -> std::fmt::Result {
    writeln!(md, "# {title}\n")?;
    writeln!(
        md,
        "Produced by `cargo xtask {xtask_command}`, which runs\n\n```sh\ncargo {}\n```\n",
        bench_args.join(" ")
    )?;
    writeln!(
        md,
        "and reads criterion's per-call times (median of the samples; warm-up, measurement \
         time and sample count are set in `{bench_source}`).\n"
    )?;
    writeln!(md, "- Date: {date}")?;
    writeln!(
        md,
        "- Machine: nproc = {}, {}; shared, so single timings are noisy \
         and the ratios (measured in the same run) are the figures to trust",
        machine.cpus, machine.cpu_model
    )?;
    writeln!(md, "- Compiler: {}\n", machine.rustc)
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

    #[test]
    fn gradient_shapes_and_groups() {
        let shapes = gradient_shapes();
        assert_eq!(shapes.len(), 18 + 4);
        assert_eq!(shapes[0], (Family::Positive, 1, 1));
        assert_eq!(shapes[17], (Family::Positive, 6, 3));
        assert_eq!(shapes[21], (Family::Signed, 4, 2));
        assert_eq!(
            gradient_group(Family::Positive, 6, 3),
            "grad_positive_n6_d3"
        );
        assert_eq!(gradient_group(Family::Signed, 1, 2), "grad_signed_n1_d2");
    }

    #[test]
    fn gradient_report_answers_the_bound() {
        let machine = Machine {
            cpus: 2,
            cpu_model: "Test CPU".into(),
            rustc: "rustc 1.0".into(),
        };
        let row = |family, n, depth, loss, both, paired| GradientRow {
            family,
            n,
            depth,
            loss,
            both,
            paired,
        };
        let rows = [
            row(Family::Positive, 1, 1, 1_000.0, 2_000.0, 1.9),
            row(Family::Positive, 6, 3, 2_000_000.0, 9_000_000.0, 4.5),
            row(Family::Signed, 2, 2, 300_000.0, 1_260_000.0, 4.2),
            row(Family::Signed, 3, 2, 100_000.0, 500_000.0, 3.0),
        ];
        let md = render_gradient(&rows, &machine, "2000-02-29 01:02 UTC");
        assert!(md.contains("cargo bench -p finn-train --bench gradient"));
        assert!(md.contains("`cargo xtask bench-gradient`"));
        assert!(md.contains("nproc = 2, Test CPU"));
        assert!(md.contains("Largest paired ratio: **4.50x** (positive n = 6, depth 3)"));
        assert!(md.contains("Largest ratio of medians: 5.00x (signed n = 3, depth 2)"));
        assert!(md.contains(
            "**no**, not at positive n = 6, depth 3 (4.50x); signed n = 2, depth 2 (4.20x)."
        ));
        assert!(md.contains("| positive | 1 | 1 | 48 | 1.00 µs | 2.00 µs | 2.00 | 1.90 |"));
        let md = render_gradient(&rows[..1], &machine, "");
        assert!(md.contains("Every paired ratio <= 4 (issue 3): **yes**."));
    }
}

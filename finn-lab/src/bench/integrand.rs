//! `cargo xtask bench`: the exact integrand f timed against F and against nested dual numbers
//! (`finn-core/benches/integrand.rs`), reported in `results/integrand-bench.md`.

use super::criterion::{estimate_ns, run_criterion};
use super::machine::{utc_now, Machine};
use super::{format_time, write_preamble, DEPTHS, DIMS};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

/// The benchmark command, as it is run and as the report names it.
pub const BENCH_ARGS: [&str; 5] = ["bench", "-p", "finn-core", "--bench", "integrand"];
/// The report, relative to the workspace root.
pub const REPORT: &str = "results/integrand-bench.md";

/// The widths the benchmark covers (must match `finn-core/benches/integrand.rs`).
const WIDTHS: [usize; 3] = [8, 16, 32];
/// The criterion function ids of f, F and the nested-dual f.
const FUNCTIONS: [&str; 3] = ["integrand", "antiderivative", "nested_dual"];
/// The shape the issue sets a goal for, and the goal (nested duals / f).
const GOAL_SHAPE: (usize, usize, usize) = (4, 16, 2);
const GOAL_SPEEDUP: f64 = 2.0;

/// Runs the integrand benchmark and returns its Markdown report (for [`REPORT`]).
pub fn measure() -> Result<String> {
    let (criterion_home, started) = run_criterion(&BENCH_ARGS)?;
    let rows = read_rows(&criterion_home, started)?;
    Ok(render(
        &rows,
        &Machine::current(),
        &utc_now(SystemTime::now()),
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! `cargo xtask bench-gradient`: a training loss timed against the loss with its exact
//! gradient (`finn-train/benches/gradient.rs`), reported in `results/gradient-bench.md`.

use super::criterion::{estimate_ns, paired_ratio, run_criterion};
use super::machine::{utc_now, Machine};
use super::{format_time, write_preamble, DEPTHS, DIMS};
use anyhow::Result;
use std::fmt::Write as _;
use std::time::SystemTime;

/// The gradient benchmark command, as it is run and as the report names it.
pub const BENCH_ARGS: [&str; 5] = ["bench", "-p", "finn-train", "--bench", "gradient"];
/// Its report, relative to the workspace root.
pub const REPORT: &str = "results/gradient-bench.md";
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

/// Runs the gradient benchmark and returns its Markdown report (for [`REPORT`]).
pub fn measure() -> Result<String> {
    let (criterion_home, started) = run_criterion(&BENCH_ARGS)?;
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
    let machine = Machine::current();
    Ok(render_gradient(
        &rows,
        &machine,
        &utc_now(SystemTime::now()),
    ))
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
        &BENCH_ARGS,
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Criterion benchmarks turned into Markdown reports:
//!
//! * [`integrand`] (`cargo xtask bench`) times the exact integrand f against F and against
//!   nested dual numbers (`finn-core/benches/integrand.rs`) for `results/integrand-bench.md`;
//! * [`gradient`] (`cargo xtask bench-gradient`) times a training loss against the loss with
//!   its exact gradient (`finn-train/benches/gradient.rs`) for `results/gradient-bench.md`;
//! * [`batch`] (`cargo xtask bench-batch`) times batched f against single-point f and the
//!   nested-dual baseline (`finn-train/benches/batch.rs`) for `results/batch-bench.md`.
//!
//! [`criterion`] runs the benchmarks and reads criterion's estimates; [`machine`] tells where
//! and when they ran. This module holds what both reports share: the shapes and the preamble.

pub mod batch;
pub mod criterion;
pub mod gradient;
pub mod integrand;
pub mod machine;

use machine::Machine;
use std::fmt::Write as _;

/// The input dimensions n the benchmarks cover (must match both benchmark sources).
const DIMS: [usize; 6] = [1, 2, 3, 4, 5, 6];
/// The hidden-layer counts the benchmarks cover.
const DEPTHS: [usize; 3] = [1, 2, 3];

/// A time in ns with a readable unit and three or four significant digits.
pub fn format_time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// Title, the command that produced the report and the one it ran, date, machine, compiler.
pub fn write_preamble(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_readable() {
        assert_eq!(format_time(12.34), "12.3 ns");
        assert_eq!(format_time(2_427.9), "2.43 µs");
        assert_eq!(format_time(1_234_567.0), "1.23 ms");
    }
}

//! Project automation as plain Rust (`cargo xtask <command>`).
//!
//! This file parses the command line. The measurements (`device`, `bench`, `bench-gradient`,
//! `precision`, `sigma-reference`, `training-speed`) and the tool setup are library code in `finn-lab`, called
//! here and published through [`report::publish`]; the other commands live in their own
//! modules.

mod bound;
mod demo;
mod densities;
mod deviation;
mod evaluate;
mod figure1;
mod figure4;
mod figure5;
mod fuzz;
mod inspect;
mod report;
mod sigma_reference;
mod test;
mod train;
mod trajectory;

use clap::{Parser, Subcommand};
use finn_lab::{bench, device, precision, setup, supremum, training_speed};
use report::publish;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "xtask", about = "finn project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: train a 2-D obstacle trajectory, flash its blob into the firmware, play it
    /// back on the emulated Cortex-M4 and compare with the host (results/demo.md, demo.png).
    Demo,
    /// Run every test, host and device alike (installs missing tools first).
    Test,
    /// Install the thumbv7em target and QEMU when they are missing.
    Setup,
    /// Regenerate finn-core/tests/data/sigma_reference.csv (exact series in big integers).
    SigmaReference,
    /// Derive the coefficients of finn-core's f32 tanh/sech^2 (`finn_core::tanh`) and print them.
    TanhFit,
    /// Measure finn-core's f32 tanh/sech^2 against f64 over every non-negative f32 input
    /// (tanh is odd and sech^2 even bit for bit), or every `--stride`th bit pattern of
    /// [--from, --to], and print the worst errors in ulp and where.
    TanhAccuracy {
        /// Check every stride-th bit pattern (1: all of them).
        #[arg(long, default_value_t = 1)]
        stride: u32,
        /// Lowest input (its magnitude is used).
        #[arg(long, default_value_t = 0.0)]
        from: f32,
        /// Highest input (its magnitude is used); the default is +infinity.
        #[arg(long, default_value_t = f32::INFINITY)]
        to: f32,
    },
    /// Run the firmware on the emulated device (QEMU) and report its cost in results/device.md.
    Device,
    /// Time f against F and nested duals; write the table to results/integrand-bench.md.
    Bench,
    /// Time a training loss against the loss with its exact gradient; write the table to
    /// results/gradient-bench.md.
    BenchGradient,
    /// Time f at 1,024 points batched against single-point f and the nested-dual baseline;
    /// write the table to results/batch-bench.md.
    BenchBatch,
    /// Time BFGS against Levenberg-Marquardt on the Figure 1 configs (process CPU seconds to
    /// MSE 1e-6 and 1e-7); write the table to results/training-speed.md.
    TrainingSpeed,
    /// Train what a TOML config describes: `application = "fit"`, `"trajectory"` or `"density"`. Writes
    /// `<output>.postcard` (the blob), plots and `<output>-report.md`. Every key, with its
    /// default: docs/config.md.
    Train {
        /// The config file, e.g. configs/figure1-eps2.toml or configs/trajectory-arm.toml.
        config: PathBuf,
    },
    /// Evaluate a model file: `x_1,..,x_n,F,f` CSV rows for --points, exact integrals for --box.
    Eval {
        /// The model: .json, or a postcard blob (any other extension).
        #[arg(long)]
        model: PathBuf,
        /// CSV of points, columns x_1..x_n (header, '#' comments and a target column allowed).
        #[arg(long)]
        points: Option<PathBuf>,
        /// A box LO1,..,LOn:HI1,..,HIn (repeatable), e.g. --box -3,-3:3,3.
        #[arg(long = "box", value_name = "LO:HI", allow_hyphen_values = true)]
        boxes: Vec<String>,
    },
    /// Certified pointwise bound of a model or density blob over its domain: prove
    /// f <= DELTA everywhere (--at-most; exits non-zero unless proven), or the supremum to a
    /// tolerance. Prints the bound, the boxes and the time.
    Bound {
        /// The blob, e.g. results/densities/moons-c0.postcard or results/figure1/eps2.postcard.
        file: PathBuf,
        /// The bound to prove; without it, the supremum is computed.
        #[arg(long, allow_hyphen_values = true)]
        at_most: Option<f64>,
        /// Relative resolution of the search.
        #[arg(long, default_value_t = 1e-6)]
        tolerance: f64,
        /// Boxes to enclose at most.
        #[arg(long, default_value_t = 2_000_000)]
        max_boxes: usize,
        /// Only the cheap (natural interval) enclosures, no centred forms: for comparison.
        #[arg(long)]
        natural: bool,
    },
    /// Describe a blob: its kind, shape, interval, endpoints, via-points or domain and
    /// constraint, scalar type, CRC, and the player (exact capacity, RAM, type line) it needs.
    Inspect {
        /// The blob, e.g. firmware/blobs/default.postcard or results/figure1/eps2.postcard.
        file: PathBuf,
    },
    /// Mutate every shipped blob (bytes and fields, CRC recomputed) and check decode, loading
    /// and every player: no panic, no NaN, and what loads works over its whole domain.
    Fuzz {
        /// Cases to run.
        #[arg(long, default_value_t = 1_000_000)]
        cases: u64,
        /// Stop after this many seconds even if cases remain.
        #[arg(long, default_value_t = 3600)]
        seconds: u64,
        /// The campaign's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Reproduce the paper's Figure 1: results/figure1.md and results/figure1.png.
    Figure1,
    /// Reproduce the paper's Figure 4 (a 1-D density from samples, its exact CDF, samples by
    /// bisection on the CDF): results/figure4.md and results/figure4.png.
    Figure4,
    /// Reproduce the paper's Figure 5 (the pendulum's soft Q-function: Q(s, .) for a few
    /// states, the exact V over the state space, actions sampled exactly from pi):
    /// results/figure5.md and results/figure5.png.
    Figure5,
    /// Reproduce the paper's Figure 2 (a learned correction of a base function whose total
    /// deviation is at most eps): results/figure2.md and results/figure2.png.
    Figure2,
    /// Does the deviation budget curb overfitting? A sweep of eps on small noisy data sets
    /// against the same model without a budget and with tuned weight decay:
    /// results/deviation.md and results/deviation.png.
    DeviationStudy,
    /// Densities from samples (two moons, ring, banana, iris): FINN against a Gaussian mixture
    /// and a KDE; writes results/densities.md and results/densities/.
    Densities,
    /// Measure where f32 loses digits against f64; write results/precision.md.
    Precision,
    /// Certified suprema of the shipped densities and positive fit models, against the
    /// magnitude bound and a dense grid; write results/supremum.md.
    Supremum,
    /// Train the trajectory examples (configs/trajectory-*.toml) against their soft-penalty
    /// baselines; write results/trajectory.md and results/trajectory/.
    Trajectory,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report::error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo => demo::run(),
        Command::Test => test::run(),
        Command::Setup => setup::ensure_all(),
        Command::SigmaReference => sigma_reference::run(),
        Command::TanhFit => {
            print!("{}", finn_lab::tanh_fit::fit_report());
            Ok(())
        }
        Command::TanhAccuracy { stride, from, to } => {
            print!(
                "{}",
                finn_lab::tanh_fit::sweep_report(from, to, stride.max(1))
            );
            Ok(())
        }
        Command::Device => publish(device::REPORT, &device::measure()?),
        Command::Bench => publish(bench::integrand::REPORT, &bench::integrand::measure()?),
        Command::BenchGradient => publish(bench::gradient::REPORT, &bench::gradient::measure()?),
        Command::BenchBatch => publish(bench::batch::REPORT, &bench::batch::measure()?),
        Command::TrainingSpeed => publish(training_speed::REPORT, &training_speed::measure()?),
        Command::Train { config } => train::command(&config),
        Command::Eval {
            model,
            points,
            boxes,
        } => evaluate::command(&model, points.as_deref(), &boxes),
        Command::Inspect { file } => inspect::command(&file),
        Command::Bound {
            file,
            at_most,
            tolerance,
            max_boxes,
            natural,
        } => bound::command(&file, at_most, tolerance, max_boxes, natural),
        Command::Figure1 => figure1::run(),
        Command::Figure4 => figure4::run(),
        Command::Figure5 => figure5::run(),
        Command::Figure2 => deviation::figure2(),
        Command::DeviationStudy => deviation::study(),
        Command::Densities => densities::run(),
        Command::Fuzz {
            cases,
            seconds,
            seed,
        } => fuzz::run(cases, seconds, seed, true),
        Command::Precision => publish(precision::REPORT, &precision::measure()),
        Command::Supremum => publish(supremum::REPORT, &supremum::measure()?),
        Command::Trajectory => trajectory::run(),
    }
}

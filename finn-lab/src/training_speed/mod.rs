//! `cargo xtask training-speed`: how fast each solver trains the paper's Figure 1 fits, in
//! process CPU seconds (every thread of the process, from `getrusage`) and wall seconds, for
//! `results/training-speed.md`.
//!
//! Each run loads a `fit` config, overrides its solver method and iteration cap, and records
//! the loss (the MSE on the training grid: the configs have no weight decay) after every
//! iteration with the CPU and wall time used so far. The runs go one after another, so each
//! has the machine's cores to itself (apart from whatever else runs on it).

pub mod application;

use crate::bench::machine::{utc_now, Machine};
use anyhow::{bail, Context, Result};
use finn_train::config::{Job, Spec};
use finn_train::solve::{self, Method, Step};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// The report, relative to the workspace root.
pub const REPORT: &str = "results/training-speed.md";
/// The configs timed (relative to the workspace root).
pub const CONFIGS: [&str; 3] = [
    "configs/figure1-eps1.toml",
    "configs/figure1-eps2.toml",
    "configs/figure1-eps3.toml",
];
/// The solvers timed and their iteration caps: BFGS with the cap the Figure 1 configs had
/// before Levenberg-Marquardt (the issue's anchor), and Levenberg-Marquardt with its own.
pub const RUNS: [(Method, u64); 2] = [(Method::Bfgs, 1500), (Method::LevenbergMarquardt, 300)];
/// The MSE levels whose first crossing is reported.
pub const LEVELS: [f64; 2] = [1e-6, 1e-7];
/// CPU times (s) at which the curve table reads the MSE reached so far.
const CURVE_AT: [f64; 7] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];
/// Issue 13's goal: Figure 1 eps = 2 at MSE <= 1e-7 within this many CPU seconds.
const GOAL_CPU: f64 = 20.0;
const GOAL_MSE: f64 = 1e-7;

/// The loss after one iteration and the time used to get there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Iteration number.
    pub iteration: u64,
    /// Best loss so far.
    pub loss: f64,
    /// Process CPU seconds since the solve started.
    pub cpu: f64,
    /// Wall seconds since the solve started.
    pub wall: f64,
}

/// One solve of one config.
#[derive(Clone, Debug)]
pub struct Run {
    /// The config, as given.
    pub config: String,
    /// The method's config name.
    pub method: &'static str,
    /// Iterations run.
    pub iterations: u64,
    /// Why it stopped.
    pub termination: String,
    /// Final loss (MSE).
    pub loss: f64,
    /// Process CPU seconds of the whole solve.
    pub cpu: f64,
    /// Wall seconds of the whole solve.
    pub wall: f64,
    /// Per iteration.
    pub samples: Vec<Sample>,
}

impl Run {
    /// The first sample whose loss is at most `level`.
    ///
    /// ```
    /// use finn_lab::training_speed::{Run, Sample};
    /// let s = |iteration, loss, cpu| Sample { iteration, loss, cpu, wall: cpu };
    /// let run = Run { config: "c".into(), method: "bfgs", iterations: 2, termination: String::new(),
    ///     loss: 1e-8, cpu: 2.0, wall: 2.0, samples: vec![s(1, 1e-5, 1.0), s(2, 1e-8, 2.0)] };
    /// assert_eq!(run.first_at(1e-6).map(|s| s.cpu), Some(2.0));
    /// assert!(run.first_at(1e-9).is_none());
    /// ```
    pub fn first_at(&self, level: f64) -> Option<&Sample> {
        self.samples.iter().find(|s| s.loss <= level)
    }

    /// The best loss reached within `cpu` CPU seconds (`None` before the first iteration).
    pub fn loss_by(&self, cpu: f64) -> Option<f64> {
        self.samples
            .iter()
            .take_while(|s| s.cpu <= cpu)
            .last()
            .map(|s| s.loss)
    }
}

/// CPU seconds used by this process so far, every thread counted (user + system).
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Solves the `fit` config at `config` (relative to the workspace root) with `method` and at
/// most `max_iters` iterations, timing every iteration.
pub fn time_run(config: &str, method: Method, max_iters: u64) -> Result<Run> {
    let path = crate::workspace_root().join(config);
    let job = Job::from_toml_file(&path).with_context(|| format!("reading {config}"))?;
    let Spec::Fit(fit) = &job.spec else {
        bail!("{config}: training-speed times `fit` configs only");
    };
    let (objective, init) = finn_train::fit::problem(&job, fit)?;
    let mut settings = fit.solver.settings();
    settings.method = method;
    settings.max_iters = max_iters;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&samples);
    let (cpu0, start) = (process_cpu_seconds(), Instant::now());
    let report = solve::fit_least_squares(objective, init, &settings, move |step: &Step| {
        let sample = Sample {
            iteration: step.iteration,
            loss: step.loss,
            cpu: process_cpu_seconds() - cpu0,
            wall: start.elapsed().as_secs_f64(),
        };
        if let Ok(mut v) = record.lock() {
            v.push(sample);
        }
    })?;
    let (cpu, wall) = (process_cpu_seconds() - cpu0, start.elapsed().as_secs_f64());
    let samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
    Ok(Run {
        config: config.to_string(),
        method: method.config_name(),
        iterations: report.iterations,
        termination: report.termination,
        loss: report.loss,
        cpu,
        wall,
        samples,
    })
}

/// Runs every config with every solver ([`CONFIGS`] x [`RUNS`]), then the application
/// configs ([`application::CONFIGS`] x [`application::METHODS`]), one at a time, printing a
/// line per run to stderr, and returns the Markdown report (for [`REPORT`]).
pub fn measure() -> Result<String> {
    let mut runs = Vec::new();
    for config in CONFIGS {
        for (method, max_iters) in RUNS {
            let run = time_run(config, method, max_iters)?;
            eprintln!(
                "training-speed: {config} {}: MSE {:.3e} after {} iterations, {:.1} CPU s, {:.1} s wall",
                run.method, run.loss, run.iterations, run.cpu, run.wall
            );
            runs.push(run);
        }
    }
    let scratch = std::env::temp_dir().join("finn-training-speed");
    let mut applications = Vec::new();
    for config in application::CONFIGS {
        for method in application::METHODS {
            let run = application::time_application(config, method, &scratch)?;
            eprintln!(
                "training-speed: {config} {}: {} solves, {:.1} CPU s, {}",
                run.method,
                run.solves.len(),
                run.cpu,
                run.result
            );
            applications.push(run);
        }
    }
    let mut md = render(&runs, &Machine::current(), &utc_now(SystemTime::now()));
    md.push('\n');
    md.push_str(&application::render(&applications));
    Ok(md)
}

fn seconds(s: Option<&Sample>) -> String {
    s.map_or("not reached".into(), |s| {
        format!("{:.1} (it. {})", s.cpu, s.iteration)
    })
}

/// The report for `runs`.
pub fn render(runs: &[Run], machine: &Machine, date: &str) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut md, runs, machine, date);
    md
}

fn write_report(md: &mut String, runs: &[Run], machine: &Machine, date: &str) -> std::fmt::Result {
    writeln!(md, "# Training speed: time to a given MSE\n")?;
    writeln!(
        md,
        "Produced by `cargo xtask training-speed` (`finn_lab::training_speed`): each config \
         below is loaded as `cargo xtask train` loads it, its solver method and iteration cap \
         are overridden, and the solve is timed after every iteration. CPU seconds are the \
         process's (`getrusage`, user + system, every thread: both cores count); the runs go \
         one after another.\n"
    )?;
    writeln!(md, "- Date: {date}")?;
    writeln!(
        md,
        "- Machine: nproc = {}, {}; shared with other work, so wall times are noisy",
        machine.cpus, machine.cpu_model
    )?;
    writeln!(md, "- Compiler: {}\n", machine.rustc)?;
    let goal = runs.iter().find(|r| {
        r.config.ends_with("figure1-eps2.toml")
            && r.method == Method::LevenbergMarquardt.config_name()
    });
    if let Some(r) = goal {
        let hit = r.first_at(GOAL_MSE);
        let met = hit.is_some_and(|s| s.cpu <= GOAL_CPU);
        writeln!(
            md,
            "Issue 13's goal, Figure 1 eps = 2 at MSE <= {GOAL_MSE:.0e} within {GOAL_CPU} CPU \
             seconds: **{}** (Levenberg-Marquardt: {} CPU s).\n",
            if met { "met" } else { "not met" },
            hit.map_or("never".into(), |s| format!("{:.1}", s.cpu))
        )?;
    }
    writeln!(
        md,
        "The MSE is the training loss: the mean of (f - g)^2 over the 41 x 41 grid (no weight \
         decay in these configs). \"To X\": CPU seconds (and iteration) when the MSE first \
         reached X; \"to BFGS's final\": when it reached the MSE BFGS ended with.\n"
    )?;
    writeln!(
        md,
        "| config | method | iterations | termination | CPU s | wall s | final MSE | to 1e-6 | to 1e-7 | to BFGS's final |"
    )?;
    writeln!(
        md,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )?;
    for r in runs {
        let bfgs_final = runs
            .iter()
            .find(|b| b.config == r.config && b.method == Method::Bfgs.config_name())
            .map(|b| b.loss);
        writeln!(
            md,
            "| `{}` | {} | {} | {} | {:.1} | {:.1} | {:.3e} | {} | {} | {} |",
            r.config,
            r.method,
            r.iterations,
            r.termination,
            r.cpu,
            r.wall,
            r.loss,
            seconds(r.first_at(LEVELS[0])),
            seconds(r.first_at(LEVELS[1])),
            bfgs_final.map_or("-".into(), |l| seconds(r.first_at(l))),
        )?;
    }
    writeln!(md, "\n## MSE reached by a given CPU time\n")?;
    let rows: Vec<_> = runs
        .iter()
        .map(|r| (r.config.as_str(), r.method, |t| r.loss_by(t)))
        .collect();
    curve_table(md, &CURVE_AT, &rows, |l| format!("{l:.2e}"))
}

/// A table of the loss each run had reached by each CPU time in `at` ("-" before its first
/// iteration), one row per (config, method, loss by CPU time).
fn curve_table<F: Fn(f64) -> Option<f64>>(
    md: &mut String,
    at: &[f64],
    rows: &[(&str, &str, F)],
    format: impl Fn(f64) -> String,
) -> std::fmt::Result {
    write!(md, "| config | method |")?;
    for t in at {
        write!(md, " {t} s |")?;
    }
    write!(md, "\n| --- | --- |")?;
    for _ in at {
        write!(md, " --- |")?;
    }
    writeln!(md)?;
    for (config, method, loss_by) in rows {
        write!(md, "| `{config}` | {method} |")?;
        for &t in at {
            match loss_by(t) {
                Some(l) => write!(md, " {} |", format(l))?,
                None => write!(md, " - |")?,
            }
        }
        writeln!(md)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: Method, losses: &[(f64, f64)]) -> Run {
        Run {
            config: "configs/figure1-eps2.toml".into(),
            method: method.config_name(),
            iterations: losses.len() as u64,
            termination: "done".into(),
            loss: losses.last().map_or(f64::NAN, |l| l.1),
            cpu: losses.last().map_or(0.0, |l| l.0),
            wall: 0.0,
            samples: losses
                .iter()
                .enumerate()
                .map(|(i, &(cpu, loss))| Sample {
                    iteration: i as u64 + 1,
                    loss,
                    cpu,
                    wall: cpu,
                })
                .collect(),
        }
    }

    #[test]
    fn report_states_the_goal_and_crossings() {
        let machine = Machine {
            cpus: 2,
            cpu_model: "test".into(),
            rustc: "rustc".into(),
        };
        let runs = [
            run(Method::Bfgs, &[(30.0, 1e-5), (95.0, 4.7e-7)]),
            run(Method::LevenbergMarquardt, &[(3.0, 5e-7), (8.0, 9e-8)]),
        ];
        let md = render(&runs, &machine, "today");
        assert!(
            md.contains("**met** (Levenberg-Marquardt: 8.0 CPU s)"),
            "{md}"
        );
        // LM: 1e-6 at its first sample, 1e-7 and BFGS's final MSE (4.7e-7) at its second.
        assert!(
            md.contains("| 3.0 (it. 1) | 8.0 (it. 2) | 8.0 (it. 2) |"),
            "{md}"
        );
        assert!(
            md.contains("| 95.0 (it. 2) | not reached | 95.0 (it. 2) |"),
            "{md}"
        );
        // The curve: nothing before the first iteration, then the best so far.
        assert!(
            md.contains("| - | - | 5.00e-7 | 9.00e-8 | 9.00e-8 |"),
            "{md}"
        );
        let slow = [run(Method::LevenbergMarquardt, &[(25.0, 9e-8)])];
        assert!(render(&slow, &machine, "today").contains("**not met**"));
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_seconds();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_seconds() > before);
    }
}

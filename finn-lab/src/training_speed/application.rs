//! Time-to-loss for whole applications: a density and a trajectory config run as
//! `cargo xtask train` runs them (every solve, with its rounds, restarts and checks), with the
//! configured solver and with the other quasi-Newton method, timing every iteration.
//!
//! The runs write their files to a scratch directory, not over the shipped results.

use super::{process_cpu_seconds, Sample};
use anyhow::{bail, Context, Result};
use finn_train::config::{Job, Outcome, SolverMethod, Spec};
use finn_train::observer::Observer;
use finn_train::solve::{Report, Step};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// The application configs timed (relative to the workspace root).
pub const CONFIGS: [&str; 2] = [
    "configs/density-moons.toml",
    "configs/trajectory-point-mass.toml",
];
/// The methods each is timed with.
pub const METHODS: [SolverMethod; 2] = [SolverMethod::Lbfgs, SolverMethod::Bfgs];
/// CPU times (s) at which the curve table reads the first solve's loss.
const CURVE_AT: [f64; 7] = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0];

/// One solve of a run: its label and the loss after each iteration.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The solve's label (a trajectory's round, a density's fit).
    pub label: String,
    /// Per iteration; CPU and wall seconds count from the start of the run.
    pub samples: Vec<Sample>,
    /// The final loss and termination, once the solve ended.
    pub end: Option<(f64, String)>,
}

/// One timed run of an application config.
#[derive(Clone, Debug)]
pub struct ApplicationRun {
    /// The config, as given.
    pub config: String,
    /// The method's config name.
    pub method: &'static str,
    /// Every solve, in order.
    pub solves: Vec<Trace>,
    /// Process CPU seconds of the whole run (data, solves, baselines, checks, files).
    pub cpu: f64,
    /// The application's own measure of the result, for the table.
    pub result: String,
}

impl ApplicationRun {
    /// The first solve's best loss within `cpu` CPU seconds of the run's start.
    ///
    /// ```
    /// use finn_lab::training_speed::{application::{ApplicationRun, Trace}, Sample};
    /// let s = |iteration, loss, cpu| Sample { iteration, loss, cpu, wall: cpu };
    /// let run = ApplicationRun { config: "c".into(), method: "lbfgs", cpu: 3.0, result: String::new(),
    ///     solves: vec![Trace { label: "fit".into(), end: None,
    ///         samples: vec![s(1, 2.0, 1.0), s(2, 1.0, 2.5)] }] };
    /// assert_eq!(run.loss_by(2.0), Some(2.0));
    /// assert_eq!(run.loss_by(0.5), None);
    /// ```
    pub fn loss_by(&self, cpu: f64) -> Option<f64> {
        self.solves.first().and_then(|t| {
            t.samples
                .iter()
                .take_while(|s| s.cpu <= cpu)
                .last()
                .map(|s| s.loss)
        })
    }
}

/// Records every solve's iterations with the process CPU time.
struct Timer {
    cpu0: f64,
    start: Instant,
    solves: Vec<Trace>,
}

impl Observer for Timer {
    fn start(&mut self, label: &str, _max_iters: u64) {
        self.solves.push(Trace {
            label: if label.is_empty() { "fit" } else { label }.to_string(),
            samples: Vec::new(),
            end: None,
        });
    }

    fn iteration(&mut self, step: &Step) {
        let sample = Sample {
            iteration: step.iteration,
            loss: step.loss,
            cpu: process_cpu_seconds() - self.cpu0,
            wall: self.start.elapsed().as_secs_f64(),
        };
        if let Some(t) = self.solves.last_mut() {
            t.samples.push(sample);
        }
    }

    fn finish(&mut self, _label: &str, report: &Report) {
        if let Some(t) = self.solves.last_mut() {
            t.end = Some((report.loss, report.termination.clone()));
        }
    }
}

/// Runs the density or trajectory config at `config` (relative to the workspace root) with
/// `method`, writing its files under `scratch`.
pub fn time_application(
    config: &str,
    method: SolverMethod,
    scratch: &Path,
) -> Result<ApplicationRun> {
    let path = crate::workspace_root().join(config);
    let mut job = Job::from_toml_file(&path).with_context(|| format!("reading {config}"))?;
    let name = Path::new(config)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let output = scratch.join(format!("{name}-{}", method_name(method)));
    match &mut job.spec {
        Spec::Density(c) => {
            c.solver.method = Some(method);
            c.output = output;
        }
        Spec::Trajectory(c) => {
            c.solver.method = Some(method);
            c.output = output;
        }
        _ => bail!("{config}: the application timings take density and trajectory configs"),
    }
    let mut timer = Timer {
        cpu0: process_cpu_seconds(),
        start: Instant::now(),
        solves: Vec::new(),
    };
    let artefacts = job.run(&mut timer)?;
    let cpu = process_cpu_seconds() - timer.cpu0;
    let result = match &artefacts.outcome {
        Outcome::Density(d) => format!(
            "test NLL {}, validation NLL {:.4}",
            d.finn.test.map_or("-".into(), |t| format!("{t:.4}")),
            d.finn.validation
        ),
        Outcome::Trajectory(t) => format!(
            "cost {:.4}, constraints {}",
            t.exact.terms.total,
            if t.certificate.proven() {
                "proven"
            } else {
                "not proven"
            }
        ),
        _ => String::new(),
    };
    Ok(ApplicationRun {
        config: config.to_string(),
        method: method_name(method),
        solves: timer.solves,
        cpu,
        result,
    })
}

/// The config name of a quasi-Newton method.
fn method_name(method: SolverMethod) -> &'static str {
    match method {
        SolverMethod::Lbfgs => "lbfgs",
        SolverMethod::Bfgs => "bfgs",
        SolverMethod::LevenbergMarquardt => "levenberg-marquardt",
    }
}

/// The report section for `runs`.
pub fn render(runs: &[ApplicationRun]) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail.
    let _ = write_section(&mut md, runs);
    md
}

fn write_section(md: &mut String, runs: &[ApplicationRun]) -> std::fmt::Result {
    writeln!(md, "## A density and a trajectory problem\n")?;
    writeln!(
        md,
        "Each config runs as `cargo xtask train` runs it (its files go to a scratch directory), \
         once with L-BFGS and once with BFGS (`solver.method` overridden; everything else as \
         shipped). The loss is each solve's training objective: the density's training NLL \
         plus weight decay (nats per point), the trajectory's cost with its constraint terms \
         (each augmented-Lagrangian round changes the objective, so rounds are listed \
         separately). CPU seconds count from the start of the run, which includes loading the \
         data; the whole-run figure also includes the baselines, checks and files.\n"
    )?;
    writeln!(
        md,
        "| config | method | solve | iterations | CPU s at its end | final loss | termination |"
    )?;
    writeln!(md, "| --- | --- | --- | --- | --- | --- | --- |")?;
    for r in runs {
        for t in &r.solves {
            let (loss, termination) = t
                .end
                .as_ref()
                .map_or(("-".into(), "-".into()), |(l, term)| {
                    (format!("{l:.6}"), term.clone())
                });
            writeln!(
                md,
                "| `{}` | {} | {} | {} | {} | {loss} | {termination} |",
                r.config,
                r.method,
                t.label,
                t.samples.last().map_or(0, |s| s.iteration),
                t.samples
                    .last()
                    .map_or("-".into(), |s| format!("{:.1}", s.cpu)),
            )?;
        }
    }
    writeln!(md, "\n| config | method | whole run CPU s | result |")?;
    writeln!(md, "| --- | --- | --- | --- |")?;
    for r in runs {
        writeln!(
            md,
            "| `{}` | {} | {:.1} | {} |",
            r.config, r.method, r.cpu, r.result
        )?;
    }
    writeln!(md, "\n### The first solve's loss by a given CPU time\n")?;
    let rows: Vec<_> = runs
        .iter()
        .map(|r| (r.config.as_str(), r.method, |t| r.loss_by(t)))
        .collect();
    super::curve_table(md, &CURVE_AT, &rows, |l| format!("{l:.5}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_lists_every_solve_and_reads_the_curve() {
        let s = |iteration, loss, cpu| Sample {
            iteration,
            loss,
            cpu,
            wall: cpu,
        };
        let run = ApplicationRun {
            config: "configs/trajectory-point-mass.toml".into(),
            method: "lbfgs",
            cpu: 9.0,
            result: "cost 1.0, constraints proven".into(),
            solves: vec![
                Trace {
                    label: "round 1".into(),
                    samples: vec![s(1, 5.0, 0.7), s(2, 4.0, 1.5)],
                    end: Some((4.0, "cap".into())),
                },
                Trace {
                    label: "round 2".into(),
                    samples: vec![s(1, 3.0, 2.5)],
                    end: Some((3.0, "cap".into())),
                },
            ],
        };
        let md = render(&[run]);
        assert!(
            md.contains("| round 1 | 2 | 1.5 | 4.000000 | cap |"),
            "{md}"
        );
        assert!(
            md.contains("| round 2 | 1 | 2.5 | 3.000000 | cap |"),
            "{md}"
        );
        // Only the first solve is read: 0.5 s is before it, 2 s and later its last loss.
        assert!(md.contains("| - | 5.00000 | 4.00000 | 4.00000 |"), "{md}");
        assert!(
            md.contains("| 9.0 | cost 1.0, constraints proven |"),
            "{md}"
        );
    }
}

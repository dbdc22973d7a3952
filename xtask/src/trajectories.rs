//! `cargo xtask trajectory`: the built-in trajectory examples (paper §4.2), each solved with
//! exact endpoints and, from the same start, with the endpoint as a soft penalty (baseline).
//! Writes results/trajectory.md and results/trajectory.png.

use crate::plot;
use crate::train::progress_bar;
use anyhow::{anyhow, Result};
use finn_core::trajectory::{OutsidePolicy, Trajectory};
use finn_core::{Activation, Kind, Network};
use finn_train::model::Architecture;
use finn_train::solve::{self, Settings, Step};
use finn_train::trajectory::{Endpoints, Obstacle, PointMass, TrajectoryProblem, TwoLinkArm};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// Per-coordinate network of every example: two hidden layers of 16 tanh units.
pub const WIDTHS: [usize; 2] = [16, 16];

fn architecture() -> Architecture {
    Architecture {
        n: 1,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        widths: WIDTHS.to_vec(),
    }
}

/// The 2-D point mass among circular obstacles.
pub fn point_mass(endpoints: Endpoints) -> TrajectoryProblem {
    TrajectoryProblem {
        architecture: architecture(),
        interval: (0.0, 2.0),
        start: vec![0.0, 0.0],
        end: vec![4.0, 3.0],
        via: vec![],
        obstacles: vec![
            Obstacle {
                center: vec![1.3, 1.0],
                radius: 0.5,
            },
            Obstacle {
                center: vec![2.8, 2.1],
                radius: 0.55,
            },
            Obstacle {
                center: vec![2.6, 0.6],
                radius: 0.4,
            },
        ],
        clearance: 0.15,
        obstacle_weight: 2e4,
        energy_weight: 1.0,
        velocity_limit: Some((4.0, 10.0)),
        acceleration_limit: None,
        dynamics: Some((Box::new(PointMass { mass: 1.0, dims: 2 }), 1e-3)),
        endpoints,
        nodes: 40,
    }
}

/// A planar two-link arm in joint space, with its inverse dynamics (control effort).
pub fn arm(endpoints: Endpoints) -> TrajectoryProblem {
    TrajectoryProblem {
        architecture: architecture(),
        interval: (0.0, 1.5),
        start: vec![-1.2, 0.3],
        end: vec![1.0, 1.4],
        via: vec![],
        obstacles: vec![],
        clearance: 0.0,
        obstacle_weight: 0.0,
        energy_weight: 0.1,
        velocity_limit: Some((3.0, 10.0)),
        acceleration_limit: Some((12.0, 1.0)),
        dynamics: Some((Box::new(TwoLinkArm::default()), 1e-2)),
        endpoints,
        nodes: 40,
    }
}

/// The outcome of one solve.
pub struct Solved {
    /// Parameters, D networks back to back.
    pub params: Vec<f64>,
    /// Iterations.
    pub iterations: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Solves a problem with L-BFGS, showing progress.
pub fn solve(problem: TrajectoryProblem, label: &str, iters: u64, seed: u64) -> Result<Solved> {
    let arch = problem.architecture.clone();
    let init: Vec<f64> = (0..problem.dims())
        .flat_map(|i| solve::initial_parameters(&arch, seed + i as u64))
        .map(|v| 0.3 * v)
        .collect();
    let bar = progress_bar(iters, label);
    let b = bar.clone();
    let settings = Settings {
        max_iters: iters,
        ..Settings::default()
    };
    let report = solve::fit_problem(problem, init, &settings, move |s: &Step| {
        b.set_position(s.iteration + 1);
        b.set_message(format!("cost {:.4e}  |grad| {:.2e}", s.loss, s.grad_norm));
    })
    .map_err(|e| anyhow!("{label}: {e}"))?;
    bar.finish();
    Ok(Solved {
        params: report.params,
        iterations: report.iterations,
        seconds: report.seconds,
    })
}

/// Endpoint errors of the trained parameters in f64 and f32 (finn-core's `Trajectory`).
pub fn endpoint_errors(problem: &TrajectoryProblem, params: &[f64]) -> Result<(f64, f64)> {
    let pc = problem.architecture.parameter_count();
    let (t0, t1) = problem.interval;
    let err64 = {
        let nets = [0, 1].map(|i| {
            Network::<f64, 1, 16, 2>::signed(
                Activation::Tanh,
                &WIDTHS,
                &params[i * pc..(i + 1) * pc],
            )
        });
        let [a, b] = nets;
        let traj = Trajectory::<f64, 2, 16, 2, 1>::new(
            [a?, b?],
            t0,
            t1,
            [problem.start[0], problem.start[1]],
            [problem.end[0], problem.end[1]],
            &[],
            OutsidePolicy::Hold,
        )?;
        let (s, e) = (traj.sample(t0)?, traj.sample(t1)?);
        (0..2)
            .map(|i| {
                (s.position[i] - problem.start[i])
                    .abs()
                    .max((e.position[i] - problem.end[i]).abs())
            })
            .fold(0.0, f64::max)
    };
    let err32 = {
        let nets = [0, 1].map(|i| {
            let p: Vec<f32> = params[i * pc..(i + 1) * pc]
                .iter()
                .map(|&v| v as f32)
                .collect();
            Network::<f32, 1, 16, 2>::signed(Activation::Tanh, &WIDTHS, &p)
        });
        let [a, b] = nets;
        let x0 = [problem.start[0] as f32, problem.start[1] as f32];
        let x1 = [problem.end[0] as f32, problem.end[1] as f32];
        let traj = Trajectory::<f32, 2, 16, 2, 1>::new(
            [a?, b?],
            t0 as f32,
            t1 as f32,
            x0,
            x1,
            &[],
            OutsidePolicy::Hold,
        )?;
        let (s, e) = (traj.sample(t0 as f32)?, traj.sample(t1 as f32)?);
        (0..2)
            .map(|i| {
                ((s.position[i] - x0[i])
                    .abs()
                    .max((e.position[i] - x1[i]).abs())) as f64
            })
            .fold(0.0, f64::max)
    };
    Ok((err64, err32))
}

/// Endpoint error of a baseline (penalty) solution: the plain network misses xT.
fn baseline_endpoint_error(problem: &TrajectoryProblem, params: &[f64]) -> Result<f64> {
    let (_, t1) = problem.interval;
    let st = problem.states(params, &[t1])?;
    Ok((0..problem.dims())
        .map(|i| (st[0].position[i] - problem.end[i]).abs())
        .fold(0.0, f64::max))
}

/// One example, exact and baseline, as a markdown section.
fn example(
    out: &mut String,
    name: &str,
    make: fn(Endpoints) -> TrajectoryProblem,
    iters: u64,
) -> Result<Solved> {
    let exact = solve(
        make(Endpoints::Exact),
        &format!("{name} (exact ends)"),
        iters,
        11,
    )?;
    let base = solve(
        make(Endpoints::Penalty(100.0)),
        &format!("{name} (penalty baseline)"),
        iters,
        11,
    )?;
    let pe = make(Endpoints::Exact);
    let pb = make(Endpoints::Penalty(100.0));
    let te = pe.terms(&exact.params)?;
    let tb = pb.terms(&base.params)?;
    let (e64, e32) = endpoint_errors(&pe, &exact.params)?;
    let be = baseline_endpoint_error(&pb, &base.params)?;
    let clearance = |c: f64| {
        if c.is_finite() {
            format!("{c:.4}")
        } else {
            "n/a".into()
        }
    };
    writeln!(out, "## {name}\n").ok();
    writeln!(
        out,
        "| | exact endpoints (FINN shift constraint) | baseline: endpoint penalty, weight 100 |"
    )
    .ok();
    writeln!(out, "|---|---|---|").ok();
    writeln!(out, "| endpoint error, f64 | {e64:.1e} | {be:.2e} |").ok();
    writeln!(
        out,
        "| endpoint error, f32 (finn-core `Trajectory<f32>`) | {e32:.1e} | n/a |"
    )
    .ok();
    writeln!(
        out,
        "| final cost (without the penalty term) | {:.5} | {:.5} |",
        te.total,
        tb.total - tb.endpoint_penalty
    )
    .ok();
    writeln!(
        out,
        "| minimum clearance to an obstacle surface (required {:.2}) | {} | {} |",
        pe.clearance,
        clearance(te.min_clearance),
        clearance(tb.min_clearance)
    )
    .ok();
    writeln!(
        out,
        "| energy, integral of abs(xdot)^2 | {:.4} | {:.4} |",
        te.energy, tb.energy
    )
    .ok();
    writeln!(
        out,
        "| control effort, integral of abs(u)^2 | {:.4} | {:.4} |",
        te.effort, tb.effort
    )
    .ok();
    writeln!(
        out,
        "| iterations / wall time | {} / {:.1} s | {} / {:.1} s |\n",
        exact.iterations, exact.seconds, base.iterations, base.seconds
    )
    .ok();
    Ok(exact)
}

/// The path, obstacles and optional device samples, with the speed profile, as a PNG.
pub fn plot_path(
    path: &Path,
    problem: &TrajectoryProblem,
    params: &[f64],
    device: Option<&[[f32; 2]]>,
) -> Result<()> {
    let text = plot::has_font();
    let (t0, t1) = problem.interval;
    let times: Vec<f64> = (0..=400)
        .map(|k| t0 + (t1 - t0) * k as f64 / 400.0)
        .collect();
    let states = problem.states(params, &times)?;
    let root = BitMapBackend::new(path, (1130, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    // A square left panel keeps circles round.
    let (left, right) = root.split_horizontally(570);
    let xs: Vec<f64> = states.iter().map(|s| s.position[0]).collect();
    let ys: Vec<f64> = states.iter().map(|s| s.position[1]).collect();
    let lo = xs.iter().chain(&ys).fold(f64::INFINITY, |a, b| a.min(*b)) - 0.5;
    let hi = xs
        .iter()
        .chain(&ys)
        .fold(f64::NEG_INFINITY, |a, b| a.max(*b))
        + 0.5;
    let mut b = ChartBuilder::on(&left);
    b.margin(15)
        .x_label_area_size(if text { 30 } else { 0 })
        .y_label_area_size(if text { 40 } else { 0 });
    if text {
        b.caption("path, obstacles and device samples", (plot::FONT, 20));
    }
    let mut chart = b.build_cartesian_2d(lo..hi, lo..hi)?;
    if text {
        chart.configure_mesh().x_desc("x").y_desc("y").draw()?;
    }
    for o in &problem.obstacles {
        let ring: Vec<(f64, f64)> = (0..=120)
            .map(|k| {
                let a = k as f64 * std::f64::consts::TAU / 120.0;
                (
                    o.center[0] + o.radius * a.cos(),
                    o.center[1] + o.radius * a.sin(),
                )
            })
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(
            ring.clone(),
            RGBColor(230, 120, 100).mix(0.5).filled(),
        )))?;
        let margin: Vec<(f64, f64)> = (0..=120)
            .map(|k| {
                let a = k as f64 * std::f64::consts::TAU / 120.0;
                let r = o.radius + problem.clearance;
                (o.center[0] + r * a.cos(), o.center[1] + r * a.sin())
            })
            .collect();
        chart.draw_series(LineSeries::new(
            margin,
            RGBColor(200, 80, 60).stroke_width(1),
        ))?;
    }
    chart.draw_series(LineSeries::new(
        xs.iter().copied().zip(ys.iter().copied()),
        BLUE.stroke_width(2),
    ))?;
    if let Some(samples) = device {
        chart.draw_series(
            samples
                .iter()
                .map(|p| Circle::new((p[0] as f64, p[1] as f64), 3, BLACK.filled())),
        )?;
    }
    chart.draw_series(
        [problem.start.clone(), problem.end.clone()]
            .iter()
            .map(|p| Cross::new((p[0], p[1]), 7, GREEN.stroke_width(3))),
    )?;
    let speed: Vec<(f64, f64)> = times
        .iter()
        .zip(&states)
        .map(|(t, s)| (*t, s.velocity.iter().map(|v| v * v).sum::<f64>().sqrt()))
        .collect();
    let vmax = speed.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1 + 1e-9;
    let mut b = ChartBuilder::on(&right);
    b.margin(15)
        .x_label_area_size(if text { 30 } else { 0 })
        .y_label_area_size(if text { 45 } else { 0 });
    if text {
        b.caption("speed |xdot(t)|", (plot::FONT, 20));
    }
    let mut chart = b.build_cartesian_2d(t0..t1, 0.0..vmax)?;
    if text {
        chart.configure_mesh().x_desc("t").y_desc("speed").draw()?;
    }
    chart.draw_series(LineSeries::new(speed, BLUE.stroke_width(2)))?;
    root.present()?;
    Ok(())
}

/// Runs both examples and writes the report and the plot.
pub fn run() -> Result<()> {
    let mut out = String::new();
    writeln!(out, "# Trajectory optimisation (paper §4.2)\n").ok();
    writeln!(out, "Produced by `cargo xtask trajectory` (xtask/src/trajectories.rs). Each coordinate is a signed FINN with two hidden layers of 16 tanh units; L-BFGS (argmin, More-Thuente line search) with exact gradients; both solves of an example start from the same parameters. Costs are Gauss-Legendre quadratures over 40 nodes.\n").ok();
    let pm = example(
        &mut out,
        "2-D point mass among circular obstacles",
        point_mass,
        300,
    )?;
    example(
        &mut out,
        "Planar two-link arm (joint space, inverse-dynamics effort)",
        arm,
        300,
    )?;
    std::fs::create_dir_all("results")?;
    plot_path(
        Path::new("results/trajectory.png"),
        &point_mass(Endpoints::Exact),
        &pm.params,
        None,
    )?;
    writeln!(out, "Plot of the point-mass path: results/trajectory.png.").ok();
    std::fs::write("results/trajectory.md", &out)?;
    print!("{out}");
    Ok(())
}

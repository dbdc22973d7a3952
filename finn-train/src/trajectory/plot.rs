//! The plot of a trajectory: the path (first two coordinates) among the obstacles with their
//! clearance margins, the quintic baseline and device samples when given; beside it the speed
//! and acceleration norms against their limits.

use super::constraints::{Constraint, Limit, Obstacle, Quantity};
use super::path::Path as TrajectoryPath;
use super::TrajectoryProblem;
use crate::plot;
use crate::TrainError;
use plotters::prelude::*;
use std::path::Path;

/// Draws `path` (the trained model), optionally a `baseline` path, against `problem`'s
/// obstacles and limits, with optional device samples, as a PNG.
///
/// Errors: those of the path's evaluation; `Plot` when drawing fails.
pub fn plot_trajectory(
    png: &Path,
    path: &dyn TrajectoryPath,
    problem: &TrajectoryProblem,
    baseline: Option<&dyn TrajectoryPath>,
    device: Option<&[[f32; 2]]>,
) -> Result<(), TrainError> {
    let (t0, t1) = problem.interval;
    let times: Vec<f64> = (0..=600)
        .map(|k| t0 + (t1 - t0) * k as f64 / 600.0)
        .collect();
    let sample = |p: &dyn TrajectoryPath| -> Result<Vec<Vec<[f64; 5]>>, TrainError> {
        times.iter().map(|t| p.jet(*t)).collect()
    };
    let main = sample(path)?;
    let base = baseline.map(sample).transpose()?;
    draw(png, problem, &times, &main, base.as_deref(), device)
        .map_err(|e| TrainError::Plot(format!("drawing {}: {e}", png.display())))
}

/// A closed outline of an obstacle grown by `grow`, in the first two coordinates.
fn outline(o: &Obstacle, grow: f64) -> Vec<(f64, f64)> {
    match o {
        Obstacle::Ball { center, radius } => (0..=120)
            .map(|k| {
                let a = k as f64 * std::f64::consts::TAU / 120.0;
                let r = radius + grow;
                (
                    center[0] + r * a.cos(),
                    center.get(1).copied().unwrap_or(0.0) + r * a.sin(),
                )
            })
            .collect(),
        Obstacle::Box { lower, upper } => {
            let (l1, u1) = (
                lower.get(1).copied().unwrap_or(-grow),
                upper.get(1).copied().unwrap_or(grow),
            );
            let (x0, x1, y0, y1) = (lower[0] - grow, upper[0] + grow, l1 - grow, u1 + grow);
            vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        }
    }
}

fn norm(jet: &[[f64; 5]], k: usize) -> f64 {
    jet.iter().map(|j| j[k] * j[k]).sum::<f64>().sqrt()
}

fn draw(
    png: &Path,
    problem: &TrajectoryProblem,
    times: &[f64],
    main: &[Vec<[f64; 5]>],
    base: Option<&[Vec<[f64; 5]>]>,
    device: Option<&[[f32; 2]]>,
) -> Result<(), Box<dyn std::error::Error>> {
    let text = plot::has_font();
    let (t0, t1) = problem.interval;
    let xy = |jets: &[Vec<[f64; 5]>]| -> Vec<(f64, f64)> {
        jets.iter()
            .map(|j| (j[0][0], j.get(1).map_or(0.0, |c| c[0])))
            .collect()
    };
    let path = xy(main);
    let root = BitMapBackend::new(png, (1130, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    // A square left panel keeps circles round.
    let (left, right) = root.split_horizontally(570);
    let mut points: Vec<(f64, f64)> = path.clone();
    for c in &problem.constraints {
        if let Constraint::Clearance { obstacle, .. } = c {
            points.extend(outline(obstacle, 0.0));
        }
    }
    let lo = points
        .iter()
        .flat_map(|p| [p.0, p.1])
        .fold(f64::INFINITY, f64::min)
        - 0.3;
    let hi = points
        .iter()
        .flat_map(|p| [p.0, p.1])
        .fold(f64::NEG_INFINITY, f64::max)
        + 0.3;
    let mut b = ChartBuilder::on(&left);
    b.margin(15)
        .x_label_area_size(if text { 30 } else { 0 })
        .y_label_area_size(if text { 40 } else { 0 });
    if text {
        b.caption(
            "path (blue), quintic (grey), obstacles, margins, device samples",
            (plot::FONT, 16),
        );
    }
    let mut chart = b.build_cartesian_2d(lo..hi, lo..hi)?;
    if text {
        chart.configure_mesh().x_desc("x1").y_desc("x2").draw()?;
    }
    for c in &problem.constraints {
        if let Constraint::Clearance {
            obstacle,
            clearance,
        } = c
        {
            chart.draw_series(std::iter::once(Polygon::new(
                outline(obstacle, 0.0),
                RGBColor(230, 120, 100).mix(0.5).filled(),
            )))?;
            chart.draw_series(LineSeries::new(
                outline(obstacle, *clearance),
                RGBColor(200, 80, 60).stroke_width(1),
            ))?;
        }
    }
    if let Some(base) = base {
        chart.draw_series(LineSeries::new(
            xy(base),
            RGBColor(150, 150, 150).stroke_width(1),
        ))?;
    }
    chart.draw_series(LineSeries::new(path, BLUE.stroke_width(2)))?;
    if let Some(samples) = device {
        chart.draw_series(
            samples
                .iter()
                .map(|p| Circle::new((p[0] as f64, p[1] as f64), 3, BLACK.filled())),
        )?;
    }
    for (t, x) in &problem.via {
        let _ = t;
        chart.draw_series(std::iter::once(TriangleMarker::new(
            (x[0], x.get(1).copied().unwrap_or(0.0)),
            7,
            MAGENTA.filled(),
        )))?;
    }
    chart.draw_series([&problem.start, &problem.end].iter().map(|p| {
        Cross::new(
            (p[0], p.get(1).copied().unwrap_or(0.0)),
            7,
            GREEN.stroke_width(3),
        )
    }))?;
    // Profiles: speed and acceleration norms with their norm limits.
    let (top, bottom) = right.split_vertically(280);
    for (area, k, quantity, label) in [
        (&top, 1, Quantity::Velocity, "speed"),
        (&bottom, 2, Quantity::Acceleration, "acceleration norm"),
    ] {
        let series: Vec<(f64, f64)> = times
            .iter()
            .zip(main)
            .map(|(t, j)| (*t, norm(j, k)))
            .collect();
        let limit = problem.constraints.iter().find_map(|c| match c {
            Constraint::Limit {
                quantity: q,
                limit: Limit::Norm(max),
            } if *q == quantity => Some(*max),
            _ => None,
        });
        let top_value = series
            .iter()
            .map(|p| p.1)
            .fold(limit.unwrap_or(0.0), f64::max)
            * 1.1
            + 1e-9;
        let mut b = ChartBuilder::on(area);
        b.margin(10)
            .x_label_area_size(if text { 25 } else { 0 })
            .y_label_area_size(if text { 45 } else { 0 });
        if text {
            b.caption(format!("{label} (limit dashed red)"), (plot::FONT, 16));
        }
        let mut chart = b.build_cartesian_2d(t0..t1, 0.0..top_value)?;
        if text {
            chart.configure_mesh().x_desc("t").draw()?;
        }
        chart.draw_series(LineSeries::new(series, BLUE.stroke_width(2)))?;
        if let Some(base) = base {
            chart.draw_series(LineSeries::new(
                times.iter().zip(base).map(|(t, j)| (*t, norm(j, k))),
                RGBColor(150, 150, 150).stroke_width(1),
            ))?;
        }
        if let Some(max) = limit {
            chart.draw_series(DashedLineSeries::new(
                [(t0, max), (t1, max)],
                6,
                4,
                RED.stroke_width(1),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}

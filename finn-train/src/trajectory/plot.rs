//! The plot of a two-coordinate trajectory: the path among the obstacles with their clearance
//! margins (and device samples, when given), beside the speed profile.

use super::TrajectoryProblem;
use crate::plot;
use crate::TrainError;
use plotters::prelude::*;
use std::path::Path;

/// The path, obstacles and optional device samples, with the speed profile, as a PNG.
///
/// Errors: `Core` when the trajectory cannot be evaluated; `Plot` when drawing fails.
pub fn plot_path(
    path: &Path,
    problem: &TrajectoryProblem,
    params: &[f64],
    device: Option<&[[f32; 2]]>,
) -> Result<(), TrainError> {
    draw(path, problem, params, device)
        .map_err(|e| TrainError::Plot(format!("drawing {}: {e}", path.display())))
}

fn draw(
    path: &Path,
    problem: &TrajectoryProblem,
    params: &[f64],
    device: Option<&[[f32; 2]]>,
) -> Result<(), Box<dyn std::error::Error>> {
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

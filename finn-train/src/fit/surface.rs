//! The 3-D panels of Figure 1: each learned surface f against the ground truth's wireframe,
//! drawn with plotters (painter's algorithm over projected quads and segments).

use super::figure1::Panel;
use super::targets::Gmm;
use crate::eval::Evaluator;
use crate::plot::{self, FONT};
use crate::TrainError;
use plotters::prelude::*;
use std::path::Path;

/// Grid lines per axis of the learned surface and of the wireframe.
const SURFACE: usize = 36;
const WIRE: usize = 19;

/// A colour from blue (low) through green to yellow (high), t in [0, 1].
fn colour(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let stops = [
        (0.0, (48.0, 18.0, 120.0)),
        (0.35, (33.0, 120.0, 160.0)),
        (0.7, (60.0, 190.0, 110.0)),
        (1.0, (250.0, 230.0, 40.0)),
    ];
    let mut c = stops[0].1;
    for w in stops.windows(2) {
        let ((t0, a), (t1, b)) = (w[0], w[1]);
        if t >= t0 && t <= t1 {
            let u = (t - t0) / (t1 - t0);
            c = (
                a.0 + u * (b.0 - a.0),
                a.1 + u * (b.1 - a.1),
                a.2 + u * (b.2 - a.2),
            );
        }
    }
    RGBColor(c.0 as u8, c.1 as u8, c.2 as u8)
}

/// What a panel draws, to be sorted back to front.
enum Piece {
    Quad([(f64, f64, f64); 4], RGBColor),
    Wire([(f64, f64, f64); 2]),
}

/// Draws the panels side by side into a PNG at `path`.
pub(super) fn draw(path: &Path, gmm: &Gmm, panels: &[Panel]) -> Result<(), TrainError> {
    let text = plot::has_font();
    let root = BitMapBackend::new(path, (1950, 720)).into_drawing_area();
    let result = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let root = if text {
            root.titled(
                "Learned f (surface) against the ground truth g (wireframe, volume 2); \
                 integral of f over [-3, 3]² fixed to ε",
                (FONT, 30),
            )?
        } else {
            root.clone()
        };
        let axis = |k: usize| -> Vec<f64> {
            (0..k)
                .map(|i| -3.0 + 6.0 * i as f64 / (k - 1) as f64)
                .collect()
        };
        let xs = axis(SURFACE);
        let evals = panels
            .iter()
            .map(|p| Evaluator::new(&p.outcome.model))
            .collect::<Result<Vec<_>, _>>()?;
        // One vertical range for all panels, so heights compare.
        let mut top = 0.0f64;
        for e in &evals {
            for &x in &xs {
                for &z in &xs {
                    top = top.max(e.integrand(&[x, z])?);
                }
            }
        }
        for &x in &axis(WIRE) {
            for &z in &axis(WIRE) {
                top = top.max(gmm.value(&[x, z]));
            }
        }
        let top = (top * 1.08 * 20.0).ceil() / 20.0;
        let areas = root.split_evenly((1, panels.len()));
        for ((area, p), eval) in areas.iter().zip(panels).zip(&evals) {
            let mut builder = ChartBuilder::on(area);
            builder.margin(10).margin_left(30);
            if text {
                builder.caption(
                    format!(
                        "ε = {}: ∫f = {:.15}, MSE {:.2e}",
                        p.eps, p.outcome.integral, p.outcome.mse
                    ),
                    (FONT, 22),
                );
            }
            let mut chart =
                builder.build_cartesian_3d(-3.0f64..3.0f64, 0.0f64..top, -3.0f64..3.0f64)?;
            chart.with_projection(|mut pb| {
                pb.yaw = 0.6;
                pb.pitch = 0.35;
                pb.scale = 0.8;
                pb.into_matrix()
            });
            let mut axes = chart.configure_axes();
            axes.light_grid_style(BLACK.mix(0.1)).max_light_lines(2);
            if text {
                axes.label_style((FONT, 14));
            } else {
                axes.x_labels(0).y_labels(0).z_labels(0);
            }
            axes.draw()?;

            let mut pieces: Vec<(i32, Piece)> = Vec::new();
            let coord = chart.as_coord_spec();
            let depth = |pts: &[(f64, f64, f64)]| -> i32 {
                let k = pts.len() as f64;
                let (x, y, z) = pts.iter().fold((0.0, 0.0, 0.0), |a, p| {
                    (a.0 + p.0 / k, a.1 + p.1 / k, a.2 + p.2 / k)
                });
                coord.projected_depth(&x, &y, &z)
            };
            let mut f = vec![vec![0.0; SURFACE]; SURFACE];
            for (i, &x) in xs.iter().enumerate() {
                for (j, &z) in xs.iter().enumerate() {
                    f[i][j] = eval.integrand(&[x, z])?;
                }
            }
            for i in 0..SURFACE - 1 {
                for j in 0..SURFACE - 1 {
                    let q = [
                        (xs[i], f[i][j], xs[j]),
                        (xs[i + 1], f[i + 1][j], xs[j]),
                        (xs[i + 1], f[i + 1][j + 1], xs[j + 1]),
                        (xs[i], f[i][j + 1], xs[j + 1]),
                    ];
                    let mean = q.iter().map(|p| p.1).sum::<f64>() / 4.0;
                    pieces.push((depth(&q), Piece::Quad(q, colour(mean / top))));
                }
            }
            // The ground truth as a wireframe, finely sampled along each line.
            let ws = axis(WIRE);
            let fine = axis(4 * (WIRE - 1) + 1);
            for &c in &ws {
                for w in fine.windows(2) {
                    for seg in [
                        [
                            (c, gmm.value(&[c, w[0]]), w[0]),
                            (c, gmm.value(&[c, w[1]]), w[1]),
                        ],
                        [
                            (w[0], gmm.value(&[w[0], c]), c),
                            (w[1], gmm.value(&[w[1], c]), c),
                        ],
                    ] {
                        pieces.push((depth(&seg), Piece::Wire(seg)));
                    }
                }
            }
            // Painter's algorithm: the farthest first.
            pieces.sort_by_key(|(d, _)| std::cmp::Reverse(*d));
            for (_, piece) in pieces {
                match piece {
                    Piece::Quad(q, c) => {
                        chart.draw_series(std::iter::once(Polygon::new(
                            q.to_vec(),
                            c.mix(0.85).filled(),
                        )))?;
                    }
                    Piece::Wire(seg) => {
                        chart.draw_series(std::iter::once(PathElement::new(
                            seg.to_vec(),
                            BLACK.stroke_width(1),
                        )))?;
                    }
                }
            }
        }
        root.present()?;
        Ok(())
    })();
    result.map_err(|e| TrainError::Plot(format!("drawing {}: {e}", path.display())))
}

//! Plots with `plotters` (bitmap backend, PNG): fonts and the loss curve.
//!
//! Text needs a TrueType font. plotters' pure-Rust `ab_glyph` renderer is used (no C
//! libraries at build time), with a font read from the system at run time (DejaVu Sans or
//! Liberation Sans, as Debian's `fonts-dejavu-core` installs it). Without one, plots are still
//! drawn, only without text, and a warning says so.

use crate::config::with_suffix;
use crate::solve::Report;
use crate::TrainError;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The font family name plots use.
pub const FONT: &str = "sans-serif";

/// Where fonts are looked for, first match wins.
const FONT_FILES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a system font once; whether text can be drawn.
pub fn has_font() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        for path in FONT_FILES {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps fonts for the life of the program.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        eprintln!(
            "warning: no TrueType font found (looked for {}); plots are drawn without text \
             (install Debian's fonts-dejavu-core to get labels)",
            FONT_FILES[0]
        );
        false
    })
}

/// The loss per iteration on a log scale, written as a PNG.
pub fn loss_curve(path: &Path, title: &str, losses: &[(u64, f64)]) -> Result<(), TrainError> {
    let text = has_font();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let finite: Vec<(u64, f64)> = losses
            .iter()
            .copied()
            .filter(|(_, l)| l.is_finite() && *l > 0.0)
            .collect();
        let last = finite.last().map_or(1, |(i, _)| (*i).max(1));
        let (lo, hi) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, l)| {
                (lo.min(*l), hi.max(*l))
            });
        let (lo, hi) = if lo.is_finite() && hi.is_finite() {
            (lo / 2.0, hi * 2.0)
        } else {
            (1e-16, 1.0)
        };
        let mut builder = ChartBuilder::on(&root);
        builder.margin(20);
        if text {
            builder
                .caption(title, (FONT, 24))
                .x_label_area_size(45)
                .y_label_area_size(80);
        }
        let mut chart = builder.build_cartesian_2d(0u64..last, (lo..hi).log_scale())?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("iteration")
                .y_desc("loss")
                .y_label_formatter(&|v| format!("{v:.0e}"))
                .label_style((FONT, 16));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        chart.draw_series(LineSeries::new(finite, BLUE.stroke_width(2)))?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| TrainError::Plot(format!("drawing {}: {e}", path.display())))
}

/// Writes `<stem>-loss.png`, the solver's cost per iteration, titled with the stem's file
/// name and `what` (`"{name}: {what}"`); returns its path.
pub fn loss_history(stem: &Path, what: &str, report: &Report) -> Result<PathBuf, TrainError> {
    let name = stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let curve: Vec<(u64, f64)> = report
        .history
        .iter()
        .map(|s| (s.iteration, s.loss))
        .collect();
    let path = with_suffix(stem, "-loss.png");
    loss_curve(&path, &format!("{name}: {what}"), &curve)?;
    Ok(path)
}

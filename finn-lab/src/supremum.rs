//! `cargo xtask supremum`: certified suprema of the shipped densities and positive fit models,
//! for `results/supremum.md` (`finn_train::supremum` does the work).
//!
//! For every shipped single-network density blob (the components `results/densities/*-cK`
//! of the reflection mixtures, and the reference density of the firmware), every positive
//! fit blob (`results/figure1/eps*`), and every mixture (`results/densities/*.density.json`):
//!
//! * the supremum over the domain, certified to 1e-6 relative, with the centred enclosures
//!   (boxes, seconds), and with the cheap enclosures alone to 1e-4 (boxes, seconds);
//! * the magnitude bound that loading proves (`bounds_over` over the whole domain);
//! * an independent check: the largest value on a dense grid (and, for a mixture, of its own
//!   pdf, `DensityModel::pdf`), which must not exceed the certified upper bound;
//! * "f never exceeds delta" proven at delta = the certified bound rounded up to 3
//!   significant digits, and refuted at 0.99 times the largest value found.

use crate::bench::machine::{utc_now, Machine};
use crate::workspace_root;
use anyhow::{Context, Result};
use finn_train::density::composite::DensityModel;
use finn_train::supremum::{load_file, prove_at_most, supremum, Enclose, Settings, Status};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where the report goes.
pub const REPORT: &str = "results/supremum.md";

/// Boxes the natural-only comparison may enclose per file.
const CHEAP_BUDGET: usize = 250_000;

/// Boxes each centred search may enclose in 3 or more dimensions, and the natural-only one
/// there. A 4-D box's centred enclosure of the bump-started iris components took about 6 ms
/// on this machine, and their magnitude bounds (up to 1e14) leave the search far from 1e-6
/// after 10,000 boxes: with the 2-D budgets one file ran for hours. Where a budget runs
/// out, the table says so and gives the interval proven by then.
const HIGH_DIM_BUDGET: usize = 2_000;
/// See [`HIGH_DIM_BUDGET`].
const HIGH_DIM_CHEAP_BUDGET: usize = 20_000;
/// The centred budget of a mixture (`*.density.json`) in 3 or more dimensions: each of its
/// boxes encloses every component at every reflection.
const HIGH_DIM_MIXTURE_BUDGET: usize = 200;

/// The files measured, relative to the workspace root: single-network density blobs, positive
/// fit blobs, then the mixtures.
fn files() -> Result<Vec<PathBuf>> {
    let root = workspace_root();
    let mut blobs: Vec<PathBuf> = std::fs::read_dir(root.join("results/densities"))
        .context("listing results/densities")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    blobs.sort();
    // A whole mixture's blob (`moons.postcard`) is the same model as its JSON, measured
    // below; its components (`moons-cK.postcard`) are measured here.
    let mut out: Vec<PathBuf> = blobs
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "postcard"))
        .filter(|p| !p.with_extension("density.json").exists())
        .cloned()
        .collect();
    out.push(root.join("firmware/blobs/density.postcard"));
    for eps in 1..=3 {
        out.push(root.join(format!("results/figure1/eps{eps}.postcard")));
    }
    // Mixtures on a box or on R^n (certified in u, with the map's Jacobian enclosed); on the
    // mapped domains the certificate is not offered (their components are certified above,
    // in u).
    for p in blobs
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".density.json"))
    {
        let d = finn_train::density::composite::DensityModel::load_json(p)
            .with_context(|| format!("reading {}", p.display()))?;
        if d.map.exact_boxes() {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The largest value of `f` on a grid over the box: `per_axis` points per axis.
fn grid_max(f: &dyn Fn(&[f64]) -> f64, lo: &[f64], hi: &[f64], per_axis: usize) -> f64 {
    let n = lo.len();
    let mut best = f64::NEG_INFINITY;
    for k in 0..per_axis.pow(n as u32) {
        let mut idx = k;
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let j = idx % per_axis;
                idx /= per_axis;
                (lo[i] + (hi[i] - lo[i]) * j as f64 / (per_axis - 1) as f64).min(hi[i])
            })
            .collect();
        best = best.max(f(&x));
    }
    best
}

/// `v` > 0 rounded up to 3 significant digits (the nearest f64 to that decimal).
fn round_up_3(v: f64) -> f64 {
    let e = v.log10().floor() as i32 - 2;
    let digits = (v / 10f64.powi(e)).ceil();
    format!("{digits}e{e}").parse().unwrap_or(v)
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Runs every measurement and returns the Markdown report.
pub fn measure() -> Result<String> {
    let root = workspace_root();
    let machine = Machine::current();
    let fine = Settings::default();
    let coarse = Settings {
        tolerance: 1e-4,
        ..Settings::default()
    };
    // The cheap enclosures converge linearly: on bump-started densities they can need tens
    // of millions of boxes, so they get a budget (the table marks where it ran out).
    let cheap = Settings {
        centred: false,
        max_boxes: CHEAP_BUDGET,
        ..coarse
    };
    let mut md = String::new();
    writeln!(md, "# Certified pointwise bounds: sup f over the domain\n")?;
    writeln!(
        md,
        "Produced by `cargo xtask supremum` (`finn_lab::supremum`; the per-file command is \
         `cargo xtask bound FILE [--at-most DELTA]`).\n"
    )?;
    writeln!(md, "- Date: {}", utc_now(SystemTime::now()))?;
    writeln!(
        md,
        "- Machine: nproc = {}, {}; shared with other work, so times are indicative",
        machine.cpus, machine.cpu_model
    )?;
    writeln!(md, "- Compiler: {}\n", machine.rustc)?;
    writeln!(
        md,
        "Each supremum is proven by branch and bound on rigorous enclosures of f \
         (`finn_train::supremum`, finn-core's interval jets): the upper bound holds for \
         every point of the domain, the lower bound is a value f takes. **centred**: cheap \
         (natural interval) enclosures, and where they do not settle a box, the centred \
         (mean-value) form, to 1e-6 relative and to 1e-4. **natural only**: the cheap \
         enclosures alone, to 1e-4 or until {CHEAP_BUDGET} boxes (marked budget). In 3 or \
         more dimensions every search gets a smaller budget ({HIGH_DIM_BUDGET} boxes centred, \
         {HIGH_DIM_CHEAP_BUDGET} natural; a mixture {HIGH_DIM_MIXTURE_BUDGET} centred): where \
         it runs out, the interval is what was proven by then, often far from tight. \
         **magnitude bound**: what loading a blob proves about |f| over the whole \
         domain (`Network::bounds_over`: largest |weight| per input, sums of |weights|), \
         which does not shrink with the box and cannot prove a bound near the supremum. \
         **grid max**: the largest value on a grid of 401^2 (2-D) or 25^4 (4-D) points, \
         an independent check (for a mixture, of its own pdf, `DensityModel::pdf`); the \
         command fails if it ever exceeds the certified bound. **attained**: where the \
         largest value found lies (inside the domain, on some of its faces, at a corner).\n"
    )?;
    writeln!(
        md,
        "The shipped densities are mixtures of reflected positive networks \
         (`*.density.json`); each component (`*-cK.postcard`, f32 parameters) is a \
         single-network density blob on the support. `firmware/blobs/density.postcard` is \
         the device's reference density, `results/figure1/eps*.postcard` positive fit models \
         (integral 1, 2, 3 over [-3, 3]^2).\n"
    )?;
    writeln!(
        md,
        "| file | n | widths | certified sup in (1e-6) | attained | centred boxes, s (1e-6) \
         | centred boxes, s (1e-4) | natural-only boxes, s (1e-4) | magnitude bound | \
         magnitude / sup | grid max |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    let mut proofs = Vec::new();
    for path in files()? {
        let name = relative(&root, &path);
        let started = std::time::Instant::now();
        let loaded = load_file(&path).with_context(|| format!("loading {name}"))?;
        let f = &loaded.function;
        let (lo, hi) = f.domain();
        let (fine, coarse, cheap) = if lo.len() <= 2 {
            (fine, coarse, cheap)
        } else {
            let centred = if name.ends_with(".json") {
                HIGH_DIM_MIXTURE_BUDGET
            } else {
                HIGH_DIM_BUDGET
            };
            (
                Settings {
                    max_boxes: centred,
                    ..fine
                },
                Settings {
                    max_boxes: centred,
                    ..coarse
                },
                Settings {
                    max_boxes: HIGH_DIM_CHEAP_BUDGET.min(10 * centred),
                    ..cheap
                },
            )
        };
        let s = supremum(f, &lo, &hi, &fine)?;
        let m = supremum(f, &lo, &hi, &coarse)?;
        let c = supremum(f, &lo, &hi, &cheap)?;
        let per_axis = if lo.len() <= 2 { 401 } else { 25 };
        let grid = if name.ends_with(".json") {
            let d = DensityModel::load_json(&path)?;
            // On R^n the grid is over the u-box, each point's pdf evaluated at its x.
            grid_max(
                &|u| d.pdf(&f.to_data(u)).unwrap_or(f64::NAN),
                &lo,
                &hi,
                per_axis,
            )
        } else {
            grid_max(&|x| f.value(x).unwrap_or(f64::NAN), &lo, &hi, per_axis)
        };
        anyhow::ensure!(
            grid <= s.upper,
            "{name}: a grid value {grid:e} exceeds the certified bound {:e}",
            s.upper
        );
        // Where the largest value lies: inside, or on how many faces of the domain.
        let faces =
            s.at.iter()
                .zip(lo.iter().zip(&hi))
                .filter(|(x, (a, b))| x == a || x == b)
                .count();
        let attained = match faces {
            0 => "inside".to_string(),
            k if k == lo.len() => "a corner".to_string(),
            k => format!("{k} faces"),
        };
        let widths = loaded
            .description
            .split("widths ")
            .nth(1)
            .and_then(|w| w.split(')').next())
            .unwrap_or_default()
            .to_string();
        writeln!(
            md,
            "| `{name}` | {} | {widths} | [{:.7}, {:.7}]{} | {attained} | {}, {:.3} | {}, {:.3}{} \
             | {}, {:.2}{} | {:.4} | {:.0} | {:.7} |",
            lo.len(),
            s.lower,
            s.upper,
            if s.converged { "" } else { " (budget)" },
            s.boxes,
            s.seconds,
            m.boxes,
            m.seconds,
            if m.converged { "" } else { " (budget)" },
            c.boxes,
            c.seconds,
            if c.converged { "" } else { " (budget)" },
            loaded.magnitude_bound,
            loaded.magnitude_bound / s.upper,
            grid
        )?;
        // "Never exceeds": proven just above, refuted just below.
        let delta = round_up_3(s.upper);
        let yes = prove_at_most(f, &lo, &hi, delta, &fine)?;
        let below = 0.99 * s.lower;
        let no = prove_at_most(f, &lo, &hi, below, &fine)?;
        // Progress: a run over every shipped model takes long enough to want it.
        eprintln!(
            "supremum: {name} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        proofs.push((name, delta, yes, below, no, loaded.magnitude_bound));
    }
    writeln!(
        md,
        "\n## \"f never exceeds delta\"\n\n`cargo xtask bound FILE --at-most DELTA` at delta = \
         the certified supremum rounded up to 3 significant digits (marked where the \
         magnitude bound proves it too), and at 0.99 times the largest value found (a violation, \
         with its witness).\n"
    )?;
    writeln!(
        md,
        "| file | delta | verdict | boxes | s | 0.99 x max | verdict | witness f | boxes |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|")?;
    for (name, delta, yes, below, no, magnitude) in proofs {
        let verdict = |s: &Status| match s {
            Status::Proven => "proven".to_string(),
            Status::Violated { .. } => "violated".to_string(),
            Status::Undecided => "undecided".to_string(),
        };
        let witness = match &no.status {
            Status::Violated { value, .. } => format!("{value:.7}"),
            _ => "-".into(),
        };
        writeln!(
            md,
            "| `{name}` | {delta} | {}{} | {} | {:.3} | {below:.7} | {} | {witness} | {} |",
            verdict(&yes.status),
            // A budget-bound interval can be wide enough for loading's bound to prove it.
            if magnitude <= delta {
                " (so does the magnitude bound)"
            } else {
                ""
            },
            yes.boxes,
            yes.seconds,
            verdict(&no.status),
            no.boxes
        )?;
    }
    writeln!(
        md,
        "\nRigour: the enclosures round outward at every operation; the activations' own \
         values carry an allowance of 4 times the error measured against a 25-digit \
         reference (sigma_n: 4e-12 relative in f64), so the bounds are as rigorous as that \
         measurement (`finn_core::enclosure`). They bound the exact f of the stored \
         parameters (a blob's f32 parameters widened exactly to f64).\n"
    )?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::round_up_3;

    #[test]
    fn rounds_up_to_three_digits() {
        assert_eq!(round_up_3(2.24329), 2.25);
        assert_eq!(round_up_3(0.0288944), 0.0289);
        assert_eq!(round_up_3(1.19935), 1.2);
        assert_eq!(round_up_3(0.31), 0.31);
    }
}

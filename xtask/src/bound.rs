//! `cargo xtask bound FILE [--at-most DELTA]`: a certified pointwise bound of a model or
//! density blob, or of a density mixture on a box support (`*.density.json`, or its payload-4
//! blob), over its domain
//! (`finn_train::supremum` does the work).
//!
//! ```text
//! cargo xtask bound results/densities/moons-c0.postcard --at-most 7.0
//! cargo xtask bound results/densities/moons.density.json
//! cargo xtask bound results/figure1/eps2.postcard
//! ```
//!
//! With `--at-most DELTA`: proves or refutes "f(x) <= DELTA for every x in the domain" (a
//! density: its pdf, 0 outside the support) and exits non-zero unless it is proven. Without:
//! computes the supremum to the tolerance and exits non-zero if the budget ran out first.
//! Either way it prints the bound, the boxes enclosed and the time, and the magnitude bound
//! that loading proves, for comparison.

use anyhow::{bail, Context, Result};
use finn_train::supremum::{load_file, prove_at_most, supremum, Settings, Status};
use std::path::Path;

/// Runs the certificate on the blob at `path` and prints it.
pub fn command(
    path: &Path,
    at_most: Option<f64>,
    tolerance: f64,
    max_boxes: usize,
    natural: bool,
) -> Result<()> {
    let loaded = load_file(path).with_context(|| format!("loading {}", path.display()))?;
    let f = &loaded.function;
    let (lo, hi) = f.domain();
    let settings = Settings {
        tolerance,
        max_boxes,
        centred: !natural,
    };
    println!("file:            {}", path.display());
    println!(
        "function:        {} over [{}] x [{}]",
        loaded.description,
        join(&lo),
        join(&hi)
    );
    println!(
        "magnitude bound: {:.6e} (loading's bound over the whole domain, not local)",
        loaded.magnitude_bound
    );
    match at_most {
        Some(delta) => {
            let c = prove_at_most(f, &lo, &hi, delta, &settings)?;
            let verdict = match &c.status {
                Status::Proven => format!("PROVEN: f <= {delta:e} everywhere"),
                Status::Violated { at, value } => {
                    format!(
                        "VIOLATED: f({}) = {value:.9e} > {delta:e}",
                        join(&f.to_data(at))
                    )
                }
                Status::Undecided => format!(
                    "UNDECIDED: the supremum is in [{:.9e}, {:.9e}], delta {delta:e} inside \
                     the tolerance or the budget ran out",
                    c.lower, c.upper
                ),
            };
            println!("verdict:         {verdict}");
            println!("proven bound:    sup f <= {:.9e}", c.upper);
            println!(
                "largest value:   f({}) = {:.9e}",
                join(&f.to_data(&c.at)),
                c.lower
            );
            println!("boxes:           {}", c.boxes);
            println!("time:            {:.3} s", c.seconds);
            if !c.proven() {
                bail!("f <= {delta:e} is not proven");
            }
        }
        None => {
            let s = supremum(f, &lo, &hi, &settings)?;
            println!(
                "supremum:        in [{:.9e}, {:.9e}] (proven upper bound; value at {})",
                s.lower,
                s.upper,
                join(&f.to_data(&s.at))
            );
            println!("boxes:           {}", s.boxes);
            println!("time:            {:.3} s", s.seconds);
            if !s.converged {
                bail!(
                    "the supremum did not reach the tolerance {tolerance:e} within {max_boxes} \
                     boxes (both bounds above still hold)"
                );
            }
        }
    }
    Ok(())
}

fn join(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.6}"))
        .collect::<Vec<_>>()
        .join(", ")
}

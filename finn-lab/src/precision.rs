//! `cargo xtask precision`: where f32 loses digits against f64, and how exactly the shipped
//! models' stored integrals meet their eps, measured, for `results/precision.md`.
//!
//! f64 is the yardstick (it matches the 25-digit sigma reference to <= 1e-12 and independent
//! nested-dual evaluations to ~1e-13). Every quantity is computed from the same parameters in
//! both precisions (parameters rounded to f32 first, so only the arithmetic differs).

use finn_core::jet::{Dim, JetDim};
use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};
use finn_core::{parameter_count, Activation, Antiderivative, Domain, Finn, Network};
use std::fmt::Write as _;

struct Rng(u64);
impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
    /// A value exactly representable in f32.
    fn f32_exact(&mut self, lo: f64, hi: f64) -> f64 {
        self.uniform(lo, hi) as f32 as f64
    }
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }
}

/// Median and maximum of a sample.
fn summary(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[v.len() - 1])
}

fn sigma_rows(out: &mut String) {
    writeln!(
        out,
        "| n | max rel. error of sigma_n^(j), j = 0..n+1, f32 vs f64 |"
    )
    .ok();
    writeln!(out, "|---|---|").ok();
    for n in 1..=8usize {
        let mut worst: f64 = 0.0;
        for i in 0..=2400 {
            // f32-representable, so both precisions see the same x.
            let x = (-30.0 + i as f64 * 0.025) as f32 as f64;
            let (mut d64, mut d32) = ([0.0f64; 10], [0.0f32; 10]);
            let _ = Activation::Sigma.derivatives(n, x, &mut d64[..n + 2]);
            let _ = Activation::Sigma.derivatives(n, x as f32, &mut d32[..n + 2]);
            for j in 0..n + 2 {
                // Below f32's normal range the value is 0 or subnormal by underflow.
                if d64[j].abs() >= f32::MIN_POSITIVE as f64 && d64[j].abs() <= f32::MAX as f64 {
                    worst = worst.max(rel(d32[j] as f64, d64[j]));
                }
            }
        }
        writeln!(out, "| {n} | {worst:.1e} |").ok();
    }
}

fn network_rows<const N: usize>(rng: &mut Rng, out: &mut String)
where
    Dim<N>: JetDim,
{
    for widths in [&[16][..], &[16, 16][..]] {
        let (mut ef, mut ei) = (Vec::new(), Vec::new());
        for _ in 0..40 {
            let p: Vec<f64> = (0..parameter_count(N, widths))
                .map(|_| rng.f32_exact(-1.0, 1.0) / 2.0)
                .collect();
            let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
            let n64 = Network::<f64, N, 16, 2>::positive(widths, &p).unwrap();
            let n32 = Network::<f32, N, 16, 2>::positive(widths, &p32).unwrap();
            let x: Vec<f64> = (0..N).map(|_| rng.f32_exact(-1.0, 1.0)).collect();
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            if let (Ok(a), Ok(b)) = (n64.integrand(&x), n32.integrand(&x32)) {
                ef.push(rel(b as f64, a));
            }
            let lo: Vec<f64> = (0..N).map(|_| rng.f32_exact(-1.0, 0.0)).collect();
            let hi: Vec<f64> = lo
                .iter()
                .map(|a| (a + rng.f32_exact(0.25, 1.0)) as f32 as f64)
                .collect();
            let lo32: Vec<f32> = lo.iter().map(|&v| v as f32).collect();
            let hi32: Vec<f32> = hi.iter().map(|&v| v as f32).collect();
            if let (Ok(a), Ok(b)) = (n64.integral_over(&lo, &hi), n32.integral_over(&lo32, &hi32)) {
                ei.push(rel(b as f64, a));
            }
        }
        let (fm, fx) = summary(ef);
        let (im, ix) = summary(ei);
        writeln!(
            out,
            "| {N} | {widths:?} | {fm:.1e} | {fx:.1e} | {im:.1e} | {ix:.1e} |"
        )
        .ok();
    }
}

/// Box integrals of positive models with their error bounds
/// (`Finn::integral_over_with_bound`), over boxes of side 0.25..1 and over small boxes (side
/// 1e-4..1e-3 of the domain's), in both precisions.
fn bound_rows<const N: usize>(rng: &mut Rng, out: &mut String)
where
    Dim<N>: JetDim,
{
    for (label, small) in [("0.25..1", false), ("6e-4..6e-3", true)] {
        let (mut actual, mut b32, mut b64, mut ratio) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut covered = 0;
        let mut total = 0;
        for _ in 0..40 {
            let widths = [16];
            let p: Vec<f64> = (0..parameter_count(N, &widths))
                .map(|_| rng.f32_exact(-1.0, 1.0) / 2.0)
                .collect();
            let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
            let d64 = Domain::new([-3.0; N], [3.0; N]).unwrap();
            let d32 = Domain::new([-3.0f32; N], [3.0; N]).unwrap();
            let m64 = Finn::new(
                Network::<f64, N, 16, 1>::positive(&widths, &p).unwrap(),
                d64,
                None,
            );
            let m32 = Finn::new(
                Network::<f32, N, 16, 1>::positive(&widths, &p32).unwrap(),
                d32,
                None,
            );
            let (Ok(m64), Ok(m32)) = (m64, m32) else {
                continue;
            };
            let lo: Vec<f64> = (0..N).map(|_| rng.f32_exact(-1.0, 0.0)).collect();
            let hi: Vec<f64> = lo
                .iter()
                .map(|a| {
                    let side = if small {
                        rng.f32_exact(6e-4, 6e-3)
                    } else {
                        rng.f32_exact(0.25, 1.0)
                    };
                    (a + side) as f32 as f64
                })
                .collect();
            let lo32: Vec<f32> = lo.iter().map(|&v| v as f32).collect();
            let hi32: Vec<f32> = hi.iter().map(|&v| v as f32).collect();
            if let (Ok(a), Ok(b)) = (
                m64.integral_over_with_bound(&lo, &hi),
                m32.integral_over_with_bound(&lo32, &hi32),
            ) {
                total += 1;
                let err = (b.value as f64 - a.value).abs();
                if err <= b.error as f64 + a.error {
                    covered += 1;
                }
                let scale = a.value.abs().max(f64::MIN_POSITIVE);
                actual.push(err / scale);
                b32.push(b.error as f64 / scale);
                b64.push(a.error / scale);
                if err > 0.0 {
                    ratio.push(b.error as f64 / err);
                }
            }
        }
        let (am, ax) = summary(actual);
        let (b32m, _) = summary(b32);
        let (b64m, b64x) = summary(b64);
        let (rm, _) = summary(ratio);
        writeln!(
            out,
            "| {N} | {label} | {am:.1e} | {ax:.1e} | {b32m:.1e} | {b64m:.1e} | {b64x:.1e} | {rm:.0} | {covered} of {total} |"
        )
        .ok();
    }
}

fn trajectory_rows(rng: &mut Rng, out: &mut String) {
    let (mut end, mut via, mut pos) = (0.0f64, 0.0f64, Vec::new());
    for _ in 0..50 {
        let widths = [16, 16];
        let params: Vec<Vec<f64>> = (0..3)
            .map(|_| {
                (0..parameter_count(1, &widths))
                    .map(|_| rng.f32_exact(-1.5, 1.5))
                    .collect()
            })
            .collect();
        let x0 = [0.0, 0.0, 0.0].map(|_: f64| rng.f32_exact(-5.0, 5.0));
        let x1 = [0.0, 0.0, 0.0].map(|_: f64| rng.f32_exact(-5.0, 5.0));
        let vp = [0.0, 0.0, 0.0].map(|_: f64| rng.f32_exact(-5.0, 5.0));
        let build64 = || {
            let nets = [0, 1, 2].map(|i| {
                Network::<f64, 1, 16, 2>::signed(Activation::Tanh, &widths, &params[i]).unwrap()
            });
            let v = [Via {
                time: 0.5,
                position: vp,
            }];
            Trajectory::<f64, 3, 16, 2, 1>::new(nets, 0.0, 2.0, x0, x1, &v, OutsidePolicy::Hold)
                .unwrap()
        };
        let build32 = || {
            let nets = [0, 1, 2].map(|i| {
                let p: Vec<f32> = params[i].iter().map(|&v| v as f32).collect();
                Network::<f32, 1, 16, 2>::signed(Activation::Tanh, &widths, &p).unwrap()
            });
            let v = [Via {
                time: 0.5f32,
                position: vp.map(|v| v as f32),
            }];
            Trajectory::<f32, 3, 16, 2, 1>::new(
                nets,
                0.0,
                2.0,
                x0.map(|v| v as f32),
                x1.map(|v| v as f32),
                &v,
                OutsidePolicy::Hold,
            )
            .unwrap()
        };
        let (t64, t32) = (build64(), build32());
        for i in 0..3 {
            end = end.max((t32.sample(2.0).unwrap().position[i] as f64 - x1[i]).abs());
            end = end.max((t32.sample(0.0).unwrap().position[i] as f64 - x0[i]).abs());
            via = via.max((t32.sample(0.5).unwrap().position[i] as f64 - vp[i]).abs());
        }
        for k in 1..40 {
            let t = k as f64 * 0.05;
            let (a, b) = (t64.sample(t).unwrap(), t32.sample(t as f32).unwrap());
            for i in 0..3 {
                pos.push((b.position[i] as f64 - a.position[i]).abs());
            }
        }
    }
    let (pm, px) = summary(pos);
    writeln!(
        out,
        "| endpoint error, f32 (x(t0) - x0, x(T) - xT) | {end:.1e} |"
    )
    .ok();
    writeln!(out, "| via-point error, f32 | {via:.1e} |").ok();
    writeln!(
        out,
        "| position f32 vs f64 along the path, median / max (absolute) | {pm:.1e} / {px:.1e} |"
    )
    .ok();
}

/// The shipped Figure 1 models: how exactly the stored model's integral meets eps, against
/// the independent big-integer integral ([`crate::integral_reference`]), for the constants
/// from an f64 corner sum (the former route) and from a double-double one (the current), and
/// what an f32 model attains.
fn constants_rows(out: &mut String) {
    use crate::integral_reference::Reference;
    use finn_core::domain::vertex_sum_and_magnitude;
    use finn_core::format::{decode, Scalar};
    use finn_core::Resolved;
    use finn_train::eval::Evaluator;
    use finn_train::model::TrainedModel;
    let r = Reference::default();
    writeln!(out, "| model | sum of abs(F) over corners / abs(I) | f64 corner-sum constants | double-double constants (stored) | f32 blob (f32 parameters, f64 constants) | f32 parameters and f32 constants (as a device holds them) | integral computed in f32 (device) | integral computed in f64 |").ok();
    writeln!(out, "|---|---|---|---|---|---|---|---|").ok();
    for eps in [1, 2, 3] {
        let path = crate::workspace_root().join(format!("results/figure1/eps{eps}.json"));
        let Ok(model) = TrainedModel::load(&path) else {
            writeln!(out, "| eps{eps}.json | (not readable) |").ok();
            continue;
        };
        let row = || -> anyhow::Result<String> {
            let c = model
                .constraint
                .ok_or_else(|| anyhow::anyhow!("no constraint"))?;
            let eval = Evaluator::from_parts(
                &model.architecture,
                &model.params,
                &model.domain_lower,
                &model.domain_upper,
                Resolved::scaled(1.0),
            )?;
            let (base, magnitude) =
                vertex_sum_and_magnitude(&model.domain_lower, &model.domain_upper, |v| {
                    eval.antiderivative(v)
                })?;
            let old = TrainedModel {
                constants: c.resolve(model.architecture.kind, base)?,
                ..model.clone()
            };
            let blob = model.to_blob(Scalar::F32)?;
            let f32_model = TrainedModel::from_blob(&blob)?;
            let k = f32_model.constants;
            let narrow = |v: f64| v as f32 as f64;
            let f32_constants = TrainedModel {
                constants: Resolved {
                    scale: narrow(k.scale),
                    gap: narrow(k.gap),
                    gap_low: narrow(k.gap_low),
                },
                ..f32_model.clone()
            };
            let view = decode(&blob)?;
            let device = view.to_finn::<f32, 2, 16, 2>()?;
            let computed32 = (device.integral()? as f64 - c.eps) / c.eps;
            let host = decode(&model.to_blob(Scalar::F64)?)?.to_finn::<f64, 2, 16, 2>()?;
            let computed64 = (host.integral()? - c.eps) / c.eps;
            Ok(format!(
                "| eps{eps} | {:.0} | {:.1e} | {:.1e} | {:.1e} | {:.1e} | {computed32:.1e} | {computed64:.1e} |",
                magnitude / base.abs(),
                r.relative_error(&old)?,
                r.relative_error(&model)?,
                r.relative_error(&f32_model)?,
                r.relative_error(&f32_constants)?,
            ))
        };
        match row() {
            Ok(line) => writeln!(out, "{line}").ok(),
            Err(e) => writeln!(out, "| eps{eps} | error: {e} |").ok(),
        };
    }
}

/// The report, relative to the workspace root.
pub const REPORT: &str = "results/precision.md";

/// Measures and returns the Markdown report (for [`REPORT`]). Deterministic: the random
/// networks come from a fixed seed.
pub fn measure() -> String {
    let mut out = String::new();
    writeln!(out, "# Where f32 loses digits (measured)\n").ok();
    writeln!(out, "Produced by `cargo xtask precision` (finn-lab/src/precision.rs). f64 is the yardstick; parameters and points are f32-representable so only the arithmetic differs. f32's unit roundoff is 6.0e-8.\n").ok();
    writeln!(out, "## sigma_n and its derivatives, x in [-30, 30] (step 0.025), values in f32's normal range\n").ok();
    sigma_rows(&mut out);
    let mut rng = Rng(2026);
    writeln!(out, "\n## Positive networks, 40 random networks each (weights in +-0.5, points in [-1, 1]^n, boxes of side 0.25..1)\n").ok();
    writeln!(out, "| n | widths | f: median rel. err | f: max | box integral: median rel. err | box integral: max |").ok();
    writeln!(out, "|---|---|---|---|---|---|").ok();
    network_rows::<1>(&mut rng, &mut out);
    network_rows::<2>(&mut rng, &mut out);
    network_rows::<3>(&mut rng, &mut out);
    network_rows::<4>(&mut rng, &mut out);
    network_rows::<5>(&mut rng, &mut out);
    network_rows::<6>(&mut rng, &mut out);
    writeln!(out, "\n## Box integrals with their error bounds (`Finn::integral_over_with_bound`), positive networks of 16 sigma_n units on [-3, 3]^n, 40 random each\n").ok();
    writeln!(out, "All figures relative to |integral|. The bound is a running error analysis of every corner's forward pass with the activation's measured error (sigma_n: 1e-12 in f64, 1e-5 in f32), the compensated sum and the constants: conservative (median bound/actual f32 error in the ratio column), and it says when a small box's corner sum has lost every digit (a bound above 1).\n").ok();
    writeln!(out, "| n | box side | f32: median actual error | f32: max | f32 bound: median | f64 bound: median | f64 bound: max | f32 bound / actual (median) | f32 bound covers the error |").ok();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|").ok();
    bound_rows::<1>(&mut rng, &mut out);
    bound_rows::<2>(&mut rng, &mut out);
    bound_rows::<3>(&mut rng, &mut out);
    bound_rows::<4>(&mut rng, &mut out);
    bound_rows::<6>(&mut rng, &mut out);
    writeln!(out, "\n## Trajectories (3-D, two hidden layers of 16 tanh units per coordinate, one via-point, 50 random)\n").ok();
    writeln!(out, "| quantity | value |\n|---|---|").ok();
    trajectory_rows(&mut rng, &mut out);
    writeln!(out, "\n## Constraint constants: the stored model's true integral against eps (shipped Figure 1 models)\n").ok();
    writeln!(out, "Signed relative error (integral - eps)/eps of the *true* integral of the model as stored (its parameters and constants taken as exact), computed by an independent big-integer evaluation (`finn_lab::integral_reference`, 320 fractional bits; no floating point, libm or finn-core code). The constants are resolved from the corner sum of F; in f64 that sum cancels (second column), so constants from it inherit about ulp times that ratio; from a double-double corner sum (what `Finn::new`, training and `TrainedModel::resolve_constants` do now) only the rounding of the constant to f64 remains (at most 1.1e-16 for a scale). An f32 blob stores f32 parameters and f64 constants resolved for those parameters; a device that converts the constants to f32 holds a model whose integral is eps only to the rounding of the scale to f32 (up to 6e-8). The last two columns are the integral as the model computes it in f32 and f64 (its own corner sum), whose errors are bounded by `Finn::integral_over_with_bound`.\n").ok();
    constants_rows(&mut out);
    out
}

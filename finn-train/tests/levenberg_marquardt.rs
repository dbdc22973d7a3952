//! Levenberg-Marquardt on the fit loss: the residuals' Jacobian (constraint constants
//! included) against central differences, a fit it finishes where BFGS is still far off, and
//! the errors for problems and applications that are not least squares.

use finn_core::{Activation, Bound, Constraint, Kind, Method};
use finn_train::config::Job;
use finn_train::fit::loss::{Data, Fit, Objective};
use finn_train::model::Architecture;
use finn_train::solve::{self, LeastSquares};
use ndarray::{Array1, Array2};

fn grid_data(n: usize, per_axis: usize) -> Data {
    let m = per_axis.pow(n as u32);
    let pts = Array2::from_shape_fn((m, n), |(i, j)| {
        let k = i / per_axis.pow(j as u32) % per_axis;
        -1.0 + 2.0 * k as f64 / (per_axis - 1) as f64
    });
    let y = Array1::from_iter(pts.rows().into_iter().map(|r| {
        let a = (-2.0 * (&r - 0.3).mapv(|v| v * v).sum()).exp();
        let b = (-3.0 * (&r + 0.4).mapv(|v| v * v).sum()).exp();
        a + 0.5 * b
    }));
    Data::new(pts, y).unwrap()
}

/// The integral of [`grid_data`]'s target over [-1, 1]^2 (a product of erf differences per
/// bump).
fn target_integral() -> f64 {
    let bump = |c: f64, m: f64| {
        let axis = (std::f64::consts::PI / c).sqrt() / 2.0
            * (libm::erf(c.sqrt() * (1.0 - m)) - libm::erf(c.sqrt() * (-1.0 - m)));
        axis * axis
    };
    bump(2.0, 0.3) + 0.5 * bump(3.0, -0.4)
}

fn arch(n: usize, kind: Kind, widths: &[usize]) -> Architecture {
    Architecture {
        n,
        kind,
        activation: if kind == Kind::Positive {
            Activation::Sigma
        } else {
            Activation::Tanh
        },
        widths: widths.to_vec(),
    }
}

/// Every combination the fit application trains: positive/signed, one or two layers, f or F,
/// no constraint, scale, shift.
fn objectives() -> Vec<Objective> {
    let mut v = Vec::new();
    for n in [1usize, 2] {
        for kind in [Kind::Positive, Kind::Signed] {
            for widths in [&[3][..], &[3, 2][..]] {
                for fit in [Fit::Integrand, Fit::Antiderivative] {
                    let constraints = match kind {
                        Kind::Positive => [
                            None,
                            Some(Constraint::new(Bound::Equal, Method::Scale, 0.7)),
                            Some(Constraint::new(Bound::AtLeast, Method::Shift, 5.0)),
                        ],
                        Kind::Signed => [
                            None,
                            Some(Constraint::new(Bound::Equal, Method::Shift, 0.7)),
                            Some(Constraint::new(Bound::AtMost, Method::Shift, -2.0)),
                        ],
                    };
                    for c in constraints {
                        let a = arch(n, kind, widths);
                        let mut o = Objective::new(a, grid_data(n, 4), fit).unwrap();
                        if let Some(c) = c {
                            o = o.with_constraint(&vec![-1.0; n], &vec![1.2; n], c).unwrap();
                        }
                        v.push(o.with_weight_decay(1e-3));
                    }
                }
            }
        }
    }
    v
}

#[test]
fn jacobian_matches_central_differences() {
    for (case, o) in objectives().into_iter().enumerate() {
        let p = o.architecture.parameter_count();
        let m = o.residual_count();
        // Away from zero so |w| is smooth within the difference step.
        let theta: Vec<f64> = solve::initial_parameters(&o.architecture, case as u64)
            .iter()
            .map(|t| if t.abs() < 0.05 { t + 0.1 } else { *t })
            .collect();
        let mut r = vec![0.0; m];
        let mut jac = vec![0.0; m * p];
        o.residuals_and_jacobian(&theta, &mut r, &mut jac).unwrap();
        // The residuals agree with the loss: |r|^2 + ridge |theta|^2.
        let mut r2 = vec![0.0; m];
        o.residuals(&theta, &mut r2).unwrap();
        let loss = r.iter().map(|v| v * v).sum::<f64>()
            + o.ridge() * theta.iter().map(|v| v * v).sum::<f64>();
        let direct = o.loss(&theta).unwrap();
        assert!(
            (loss - direct).abs() <= 1e-12 * direct.abs(),
            "case {case}: {loss} vs {direct}"
        );
        for (a, b) in r.iter().zip(&r2) {
            assert!(
                (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
                "case {case}: {a} vs {b}"
            );
        }
        let h = 1e-6;
        let (mut rp, mut rm) = (vec![0.0; m], vec![0.0; m]);
        for j in 0..p {
            let mut t = theta.clone();
            t[j] += h;
            o.residuals(&t, &mut rp).unwrap();
            t[j] -= 2.0 * h;
            o.residuals(&t, &mut rm).unwrap();
            for i in 0..m {
                let numeric = (rp[i] - rm[i]) / (2.0 * h);
                let exact = jac[i * p + j];
                assert!(
                    (numeric - exact).abs() <= 1e-6 * (1.0 + exact.abs()),
                    "case {case}, residual {i}, parameter {j}: exact {exact}, numeric {numeric}"
                );
            }
        }
    }
}

/// The shipped config at `relative` (to the workspace root) with `[solver]` asking for
/// Levenberg-Marquardt.
fn with_lm(relative: &str) -> (String, std::path::PathBuf) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !["lbfgs", "bfgs", "levenberg-marquardt"]
                .iter()
                .any(|m| l.starts_with(&format!("method = \"{m}\"")))
        })
        .map(|l| {
            if l.trim() == "[solver]" {
                "[solver]\nmethod = \"levenberg-marquardt\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    (text, path)
}

#[test]
fn other_applications_refuse_levenberg_marquardt_by_name() {
    for (config, application) in [
        ("configs/density-moons.toml", "density"),
        ("configs/trajectory-point-mass.toml", "trajectory"),
        ("configs/figure2.toml", "deviation"),
    ] {
        let (text, path) = with_lm(config);
        let e = Job::from_toml_str(text, &path).unwrap_err().to_string();
        assert!(
            e.contains("levenberg-marquardt")
                && e.contains(&format!("application = \"{application}\"")),
            "{config}: {e}"
        );
    }
    // A fit config takes it.
    let (text, path) = with_lm("configs/figure1-eps2.toml");
    assert!(Job::from_toml_str(text, &path).is_ok());
}

#[test]
fn a_problem_without_residuals_refuses_levenberg_marquardt() {
    // fit_problem sees only a loss and its gradient.
    let o = objectives().remove(0);
    let init = solve::initial_parameters(&o.architecture, 1);
    let settings = solve::Settings {
        method: solve::Method::LevenbergMarquardt,
        ..Default::default()
    };
    let e = solve::fit_problem(o, init, &settings, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("levenberg-marquardt") && e.contains("least-squares"),
        "{e}"
    );
}

/// A small Figure 1 look-alike: a positive network with the integral fixed by scale, fitted to
/// a two-bump target. In the same number of iterations Levenberg-Marquardt gets far lower than
/// BFGS (which the Figure 1 configs used before), and keeps every weight >= 0.
#[test]
fn levenberg_marquardt_outpaces_bfgs_on_a_constrained_fit() {
    let a = arch(2, Kind::Positive, &[6, 6]);
    let data = grid_data(2, 12);
    // The target's own integral, so a perfect fit is possible.
    let constraint = Constraint::new(Bound::Equal, Method::Scale, target_integral());
    let objective = Objective::new(a.clone(), data, Fit::Integrand)
        .unwrap()
        .with_constraint(&[-1.0, -1.0], &[1.0, 1.0], constraint)
        .unwrap();
    let init = solve::initial_parameters(&a, 3);
    // At 60 iterations: LM 2.8e-4, BFGS 2.8e-3 (at 100: 2.1e-4 and 7.2e-4).
    let iterations = 60;
    let run = |method| {
        let settings = solve::Settings {
            method,
            max_iters: iterations,
            tol_grad: 1e-10,
            tol_cost: 0.0,
        };
        solve::fit(objective.clone(), init.clone(), &settings, |_| {}).unwrap()
    };
    let lm = run(solve::Method::LevenbergMarquardt);
    let bfgs = run(solve::Method::Bfgs);
    assert!(
        lm.loss < 1e-3 && lm.loss < bfgs.loss / 5.0,
        "LM {:.3e} ({} it.) vs BFGS {:.3e} ({} it.)",
        lm.loss,
        lm.iterations,
        bfgs.loss,
        bfgs.iterations
    );
    // The reported loss is the objective's own at the returned parameters.
    assert!((objective.loss(&lm.params).unwrap() - lm.loss).abs() <= 1e-12 * lm.loss);
    let mask = a.weight_mask();
    assert!(lm.params.iter().zip(&mask).all(|(t, w)| !w || *t >= 0.0));
}

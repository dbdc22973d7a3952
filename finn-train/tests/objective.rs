//! The training objective: its exact gradient (constraints included) against central finite
//! differences, its predictions against finn-core's constrained model, and an L-BFGS fit.

use finn_core::{
    Activation, Antiderivative, Bound, Constraint, Domain, Error, Finn, Kind, Method, Network,
};
use finn_train::fit::loss::{Data, Fit, Objective};
use finn_train::model::Architecture;
use finn_train::solve::{self, Settings};
use finn_train::TrainError;
use ndarray::{Array1, Array2};

fn data(n: usize, m: usize, seed: u64) -> Data {
    let mut s = seed;
    let mut u = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let pts = Array2::from_shape_fn((m, n), |_| u() * 2.0 - 1.0);
    let y = Array1::from_iter(pts.rows().into_iter().map(|r| (-r.dot(&r)).exp()));
    Data::new(pts, y).unwrap()
}

fn arch(n: usize, kind: Kind, widths: &[usize]) -> Architecture {
    let activation = if kind == Kind::Positive {
        Activation::Sigma
    } else {
        Activation::Tanh
    };
    Architecture {
        n,
        kind,
        activation,
        widths: widths.to_vec(),
    }
}

fn all_constraints(kind: Kind) -> Vec<Option<Constraint<f64>>> {
    let mut v = vec![None];
    for bound in [Bound::Equal, Bound::AtMost, Bound::AtLeast] {
        for eps in [0.3, 5.0] {
            // A positive network takes a shift only with AtLeast.
            if kind == Kind::Signed || bound == Bound::AtLeast {
                v.push(Some(Constraint::new(bound, Method::Shift, eps)));
            }
            if kind == Kind::Positive {
                v.push(Some(Constraint::new(bound, Method::Scale, eps)));
            }
        }
    }
    v
}

#[test]
fn objective_gradient_matches_central_differences() {
    for n in [1usize, 2] {
        for kind in [Kind::Positive, Kind::Signed] {
            for widths in [&[3][..], &[3, 2][..]] {
                for fit in [Fit::Integrand, Fit::Antiderivative] {
                    for c in all_constraints(kind) {
                        let a = arch(n, kind, widths);
                        let mut obj = Objective::new(a.clone(), data(n, 12, 5), fit)
                            .unwrap()
                            .with_weight_decay(1e-3);
                        if let Some(c) = c {
                            obj = obj
                                .with_constraint(&vec![-1.0; n], &vec![1.5; n], c)
                                .unwrap();
                        }
                        let p: Vec<f64> = solve::initial_parameters(&a, 3)
                            .into_iter()
                            .map(|v| if v.abs() < 0.05 { 0.1 } else { v })
                            .collect();
                        let mut g = vec![0.0; p.len()];
                        let l = obj.loss_and_gradient(&p, &mut g).unwrap();
                        assert_eq!(l, obj.loss(&p).unwrap());
                        let h = 1e-6;
                        let scale = g.iter().map(|v| v.abs()).fold(1e-9, f64::max);
                        for i in 0..p.len() {
                            let (mut up, mut dn) = (p.clone(), p.clone());
                            up[i] += h;
                            dn[i] -= h;
                            let fd = (obj.loss(&up).unwrap() - obj.loss(&dn).unwrap()) / (2.0 * h);
                            assert!(
                                (g[i] - fd).abs() <= 1e-6 * scale,
                                "n={n} {kind:?} {widths:?} {fit:?} {c:?} p[{i}]: {} vs {fd}",
                                g[i]
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The objective's constrained predictions are finn-core's `Finn` predictions.
#[test]
fn predictions_match_finn_core() {
    let a = arch(2, Kind::Positive, &[4, 3]);
    let p = solve::initial_parameters(&a, 9);
    let c = Constraint::new(Bound::Equal, Method::Scale, 2.0);
    let d = data(2, 20, 1);
    let obj = Objective::new(a.clone(), d.clone(), Fit::Integrand)
        .unwrap()
        .with_constraint(&[-1.0, -1.0], &[1.0, 1.0], c)
        .unwrap();
    let net = Network::<f64, 2, 4, 2>::positive(&a.widths, &p).unwrap();
    let model = Finn::new(net, Domain::new([-1.0, -1.0], [1.0, 1.0]).unwrap(), Some(c)).unwrap();
    let mse: f64 = d
        .points
        .rows()
        .into_iter()
        .zip(d.targets.iter())
        .map(|(x, y)| (model.integrand(x.as_slice().unwrap()).unwrap() - y).powi(2))
        .sum::<f64>()
        / 20.0;
    assert!((obj.loss(&p).unwrap() - mse).abs() <= 1e-13 * mse);
    assert_eq!(obj.constants(&p).unwrap(), model.constants());
}

/// L-BFGS reduces the loss of a constrained positive fit by orders of magnitude, and the
/// result integrates to eps exactly.
#[test]
fn lbfgs_fits_a_constrained_density() {
    let a = arch(1, Kind::Positive, &[6]);
    // Target: a Gaussian bump on [-3, 3] whose integral is ~sqrt(pi).
    let xs = Array2::from_shape_fn((40, 1), |(i, _)| -3.0 + 6.0 * i as f64 / 39.0);
    let ys = Array1::from_iter(xs.column(0).iter().map(|x| (-x * x).exp()));
    let eps = std::f64::consts::PI.sqrt();
    let c = Constraint::new(Bound::Equal, Method::Scale, eps);
    let obj = Objective::new(a.clone(), Data::new(xs, ys).unwrap(), Fit::Integrand)
        .unwrap()
        .with_constraint(&[-3.0], &[3.0], c)
        .unwrap();
    let init = solve::initial_parameters(&a, 2);
    let start = obj.loss(&init).unwrap();
    let settings = Settings {
        max_iters: 300,
        ..Settings::default()
    };
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let report = solve::fit(obj, init, &settings, move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert!(report.loss < start * 1e-3, "{} -> {}", start, report.loss);
    // The progress callback saw every iteration the history recorded.
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::Relaxed),
        report.history.len()
    );
    assert!(!report.history.is_empty());
    let net = Network::<f64, 1, 6, 1>::positive(&a.widths, &report.params).unwrap();
    let model = Finn::new(net, Domain::new([-3.0], [3.0]).unwrap(), Some(c)).unwrap();
    assert!((model.integral().unwrap() - eps).abs() <= 1e-12 * eps);
}

#[test]
fn bad_inputs_are_errors() {
    let a = arch(2, Kind::Signed, &[3]);
    assert!(Objective::new(a.clone(), data(3, 5, 1), Fit::Integrand).is_err());
    let obj = Objective::new(a.clone(), data(2, 5, 1), Fit::Integrand).unwrap();
    assert!(obj.loss(&[0.0; 3]).is_err());
    let scale = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    assert!(obj
        .clone()
        .with_constraint(&[0.0, 0.0], &[1.0, 1.0], scale)
        .is_err());
    let shift = Constraint::new(Bound::Equal, Method::Shift, 1.0);
    assert!(obj
        .clone()
        .with_constraint(&[0.0, 1.0], &[1.0, 1.0], shift)
        .is_err());
    assert!(obj
        .with_constraint(&[0.0, f64::NAN], &[1.0, 1.0], shift)
        .is_err());
    let nan = Data::new(Array2::from_elem((1, 2), f64::NAN), Array1::from(vec![1.0]));
    assert!(nan.is_err());
    // A positive network refuses a shift that could be negative (f < 0), takes AtLeast.
    let p = arch(2, Kind::Positive, &[3]);
    let positive = Objective::new(p, data(2, 5, 1), Fit::Integrand).unwrap();
    let err = positive
        .clone()
        .with_constraint(&[0.0, 0.0], &[1.0, 1.0], shift)
        .unwrap_err();
    assert!(
        matches!(err, TrainError::Core(Error::ShiftBreaksPositivity)),
        "{err}"
    );
    let at_least = Constraint::new(Bound::AtLeast, Method::Shift, 1.0);
    assert!(positive
        .with_constraint(&[0.0, 0.0], &[1.0, 1.0], at_least)
        .is_ok());
}

/// BFGS (dense inverse Hessian) runs the same objective to a comparable fit.
#[test]
fn bfgs_fits_too() {
    let a = arch(1, Kind::Signed, &[3]);
    let xs = Array2::from_shape_fn((20, 1), |(i, _)| -1.0 + 2.0 * i as f64 / 19.0);
    let ys = Array1::from_iter(xs.column(0).iter().map(|x| 1.0 / (1.0 + x * x)));
    let obj = Objective::new(a.clone(), Data::new(xs, ys).unwrap(), Fit::Integrand).unwrap();
    let init = solve::initial_parameters(&a, 4);
    let start = obj.loss(&init).unwrap();
    let settings = Settings {
        method: solve::Method::Bfgs,
        max_iters: 200,
        ..Settings::default()
    };
    let report = solve::fit(obj, init, &settings, |_| {}).unwrap();
    assert!(report.loss < start * 1e-3, "{start} -> {}", report.loss);
    assert!(report.iterations > 0);
}

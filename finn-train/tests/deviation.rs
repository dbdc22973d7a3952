//! The `deviation` application end to end from a TOML string: files, the budget against an
//! independent quadrature of the model read back from its JSON (one and two inputs, two
//! outputs), the finn-core model built from the same parameters, and config and data errors
//! that name what is wrong.

use finn_core::deviation::{Base, BoundedDeviation, NetworkDirection, Polynomial};
use finn_core::{Activation, Bound, Constraint, Domain, Finn, Kind, Method, Network, Resolved};
use finn_train::config::{with_suffix, Job, Outcome};
use finn_train::deviation::{study, DeviationModel};
use finn_train::observer::Silent;
use std::fmt::Write as _;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("finn-deviation-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(csv: &str, inputs: usize, domain: (&str, &str), eps: f64, extra: &str) -> String {
    format!(
        "application = \"deviation\"\nseed = 3\noutput = \"out/m\"\n\
         [data]\ncsv = \"{csv}\"\ninputs = {inputs}\n\
         [domain]\nlower = {}\nupper = {}\n\
         [deviation]\neps = {eps}\n\
         [network]\nwidths = [6]\ndirection_widths = [4]\n\
         [baselines]\nweight_decays = [1e-4]\n\
         [solver]\nmax_iters = 150\n{extra}",
        domain.0, domain.1
    )
}

/// One input, one output: the report, plot, loss curve and JSON are written; the budget
/// holds by an independent quadrature of the model read back; the base-only and baseline
/// rows are there; the magnitude is the finn-core model's.
#[test]
fn one_input_run_keeps_its_budget() {
    let dir = scratch("one");
    let rows = study::noisy_samples(120, 9);
    let mut csv = String::from("x,y\n");
    for r in rows.rows() {
        let _ = writeln!(csv, "{},{}", r[0], r[1]);
    }
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    let text = config("d.csv", 1, ("[0.0]", "[1.0]"), 0.03, "");
    let job = Job::from_toml_str(text, dir.join("c.toml")).unwrap();
    let a = job.run(&mut Silent).unwrap();
    a.ensure_proven().unwrap();
    for suffix in [".deviation.json", "-report.md", ".png", "-loss.png"] {
        assert!(with_suffix(&a.stem, suffix).exists(), "{suffix} missing");
    }
    let Outcome::Deviation(o) = &a.outcome else {
        panic!("not a deviation outcome")
    };
    assert!(o.unconstrained.is_some() && o.tuned.is_some() && o.ablation.is_some());
    let text = std::fs::read_to_string(with_suffix(&a.stem, ".deviation.json")).unwrap();
    let m = DeviationModel::from_json(&text).unwrap();
    assert_eq!(&m, &o.model);
    // An independent J: midpoint rule on 200,000 cells of |phi - psi|.
    let cells = 200_000;
    let mut j = 0.0;
    for k in 0..cells {
        let x = (k as f64 + 0.5) / cells as f64;
        j += (m.value(&[x]).unwrap()[0] - m.base.value(&[x])[0]).abs() / cells as f64;
    }
    assert!(j <= 0.03 * (1.0 + 1e-6), "J = {j}");
    assert!(o.deviation_bound <= 0.03 * (1.0 + 1e-12));
    // With 120 noisy points and two bumps the budget binds.
    assert!(
        m.scale < 1.0 && (o.deviation_bound - 0.03).abs() < 1e-12,
        "{}",
        o.deviation_bound
    );
    assert!(
        o.phi.test.unwrap() < o.base.test.unwrap(),
        "phi does not improve on the base"
    );
    // The finn-core model from the same numbers agrees with the host's.
    let net = Network::<f64, 1, 8, 1>::new(
        Kind::Positive,
        Activation::Sigma,
        &m.magnitude.widths,
        &m.magnitude_params,
    )
    .unwrap();
    let c = Constraint::new(Bound::AtMost, Method::Scale, m.eps);
    let magnitude = Finn::with_constants(
        net,
        Domain::new([0.0], [1.0]).unwrap(),
        Some(c),
        Resolved::scaled(m.scale),
    )
    .unwrap();
    let nu = Network::<f64, 1, 8, 1>::new(
        Kind::Signed,
        Activation::Tanh,
        &m.direction.widths,
        &m.direction_params[0],
    )
    .unwrap();
    let base = Polynomial::<f64, 1, 1, 2>::new(m.base.degree, &m.base.coefficients).unwrap();
    let core = BoundedDeviation::new(
        base,
        NetworkDirection::new([nu], m.softness).unwrap(),
        magnitude,
    )
    .unwrap();
    for k in 0..=50 {
        let x = k as f64 / 50.0;
        let (a, b) = (core.value(&[x]).unwrap()[0], m.value(&[x]).unwrap()[0]);
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
            "x = {x}: {a} vs {b}"
        );
        assert!((core.base().value(&[x]).unwrap()[0] - m.base.value(&[x])[0]).abs() < 1e-14);
    }
}

/// Two inputs, two outputs, a fixed quadratic base: J of the model read back by tensor
/// quadrature is within eps.
#[test]
fn two_inputs_two_outputs() {
    let dir = scratch("two");
    let mut csv = String::new();
    for k in 0..150 {
        let (x, y) = (
            ((k * 37) % 101) as f64 / 100.0,
            ((k * 59) % 97) as f64 / 96.0,
        );
        let bump = (-((x - 0.4).powi(2) + (y - 0.6).powi(2)) / 0.02).exp();
        let _ = writeln!(csv, "{x},{y},{},{}", 1.0 + x + 0.3 * bump, y - 0.2 * bump);
    }
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    // psi_1 = 1 + x, psi_2 = y: degree 1 in the order 1, x, y.
    let text = config(
        "d.csv",
        2,
        ("[0.0, 0.0]", "[1.0, 1.0]"),
        0.01,
        "[base]\ncoefficients = [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]\n",
    )
    .replace("weight_decays = [1e-4]", "unconstrained = false");
    let a = Job::from_toml_str(text, dir.join("c.toml"))
        .unwrap()
        .run(&mut Silent)
        .unwrap();
    let Outcome::Deviation(o) = &a.outcome else {
        panic!()
    };
    assert_eq!(
        o.model.base.coefficients,
        vec![1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    );
    let j = o.model.total_deviation(24).unwrap();
    assert!(j <= 0.01 * (1.0 + 1e-6) && j > 0.0, "J = {j}");
    assert!(o.phi.train < o.base.train);
}

#[test]
fn errors_name_the_problem() {
    let dir = scratch("errors");
    std::fs::write(dir.join("d.csv"), "0.5,1.0\n1.5,2.0\n0.2,0.3\n").unwrap();
    let cases = [
        (
            config("d.csv", 1, ("[0.0]", "[1.0]"), -1.0, ""),
            "deviation.eps",
        ),
        (
            config("d.csv", 1, ("[0.0]", "[1.0]"), 0.1, "[deviation.x]\n"),
            "unknown field",
        ),
        (
            config("d.csv", 2, ("[0.0]", "[1.0]"), 0.1, ""),
            "domain.lower",
        ),
        (
            config("d.csv", 1, ("[1.0]", "[0.0]"), 0.1, ""),
            "domain axis 1",
        ),
        (
            config(
                "d.csv",
                1,
                ("[0.0]", "[1.0]"),
                0.1,
                "[base]\ndegree = 1\ncoefficients = [1.0, 2.0]\n",
            ),
            "not both",
        ),
    ];
    for (text, needle) in cases {
        let e = Job::from_toml_str(text.clone(), dir.join("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e} lacks {needle}\n{text}");
    }
    // A point outside the domain names its row.
    let text = config("d.csv", 1, ("[0.0]", "[1.0]"), 0.1, "");
    let e = Job::from_toml_str(text, dir.join("c.toml"))
        .unwrap()
        .run(&mut Silent)
        .unwrap_err();
    assert!(e.to_string().contains("data row 2"), "{e}");
    // Fixed coefficients of a count no polynomial has name the counts there are.
    std::fs::write(
        dir.join("d.csv"),
        "0.5,0.5,1.0\n0.7,0.1,2.0\n0.2,0.3,0.3\n0.1,0.9,0.1\n0.9,0.2,0.2\n0.4,0.4,0.4\n",
    )
    .unwrap();
    let text = config(
        "d.csv",
        2,
        ("[0.0, 0.0]", "[1.0, 1.0]"),
        0.1,
        "[base]\ncoefficients = [1.0, 2.0, 3.0, 4.0]\n",
    );
    let e = Job::from_toml_str(text, dir.join("c.toml"))
        .unwrap()
        .run(&mut Silent)
        .unwrap_err();
    assert!(e.to_string().contains("[1, 3, 6, 10"), "{e}");
    assert!(e.to_string().contains("base.coefficients"), "{e}");
}

/// A pointwise ceiling: the report says proven, and a dense grid plus local refinement
/// around the largest samples never finds |phi - psi| above delta. The ceiling is chosen
/// below what the unconstrained magnitude reaches, so the certificate has work to do.
#[test]
fn ceiling_is_proven_and_holds_between_samples() {
    let dir = scratch("ceiling");
    let rows = study::noisy_samples(150, 4);
    let mut csv = String::new();
    for r in rows.rows() {
        let _ = writeln!(csv, "{},{}", r[0], r[1]);
    }
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    let delta = 0.12;
    let text = config("d.csv", 1, ("[0.0]", "[1.0]"), 0.08, "")
        .replace(
            "eps = 0.08",
            &format!("eps = 0.08\nceiling = {delta}\nceiling_weight = 10.0"),
        )
        .replace("weight_decays = [1e-4]", "unconstrained = false");
    let a = Job::from_toml_str(text, dir.join("c.toml"))
        .unwrap()
        .run(&mut Silent)
        .unwrap();
    a.ensure_proven().unwrap();
    let Outcome::Deviation(o) = &a.outcome else {
        panic!()
    };
    let k = o.ceiling.as_ref().expect("a ceiling was asked for");
    assert!(k.proven && k.upper <= delta, "{k:?}");
    let m = &o.model;
    let gap = |x: f64| (m.value(&[x]).unwrap()[0] - m.base.value(&[x])[0]).abs();
    let mut best = (0.0f64, 0.0f64);
    for i in 0..=100_000 {
        let x = i as f64 / 100_000.0;
        let g = gap(x);
        assert!(g <= delta, "|phi - psi| = {g} > {delta} at x = {x}");
        if g > best.0 {
            best = (g, x);
        }
    }
    // Golden-section refinement around the largest sample.
    let (mut a_, mut b_) = ((best.1 - 1e-5).max(0.0), (best.1 + 1e-5).min(1.0));
    for _ in 0..80 {
        let (c, d) = (b_ - 0.618 * (b_ - a_), a_ + 0.618 * (b_ - a_));
        if gap(c) > gap(d) {
            b_ = d;
        } else {
            a_ = c;
        }
        assert!(gap(c) <= delta && gap(d) <= delta);
    }
    // The ceiling binds somewhere near delta (the training penalty plus the rescaling).
    assert!(
        best.0 > 0.5 * delta,
        "largest gap {} far below the ceiling",
        best.0
    );
    let report = std::fs::read_to_string(with_suffix(&a.stem, "-report.md")).unwrap();
    assert!(report.contains("**proven**"), "{report}");
}

//! The softq application: the host model agrees with finn-core's, its gradient with central
//! differences (Q and the gauge penalty), the sampled estimators' known biases, and the
//! pendulum against Gym's equations.

use finn_core::softq::SoftQ;
use finn_core::{Antiderivative, Domain};
use finn_train::softq::learn::{core_model, estimate_v, estimator_stats, Estimator, Settings};
use finn_train::softq::model::{
    initial_parameters, q_and_gradient, residual_gradient, Scratch, Shape,
};
use finn_train::softq::pendulum::{angle_normalize, Pendulum};

fn params(shape: &Shape, seed: u64) -> Vec<f64> {
    // Initial parameters plus a deterministic perturbation, so every entry matters.
    let mut p = initial_parameters(shape, seed);
    for (i, v) in p.iter_mut().enumerate() {
        *v += 0.3 * ((i as f64 * 0.731 + seed as f64).sin());
    }
    p
}

type Two = SoftQ<f64, 3, 8, 32, 2, 6, 2>;

#[test]
fn host_q_equals_finn_core_q() {
    for (widths, action) in [(vec![8], vec![4]), (vec![6, 5], vec![3, 2])] {
        let shape = Shape {
            state_dim: 3,
            state_widths: widths.clone(),
            action_widths: action.clone(),
            action_lower: vec![-1.0, 0.0],
            action_upper: vec![1.0, 2.0],
            beta: 1.5,
            log_scale: 30.0,
        };
        let p = params(&shape, 4);
        let d = Domain::new([-1.0, 0.0], [1.0, 2.0]).unwrap();
        let core = Two::new(&widths, &action, d, 1.5, 30.0, &p).unwrap();
        let mut scratch = Scratch::default();
        for k in 0..10 {
            let t = k as f64;
            let s = [(t * 0.7).cos(), (t * 0.7).sin(), 0.3 * t - 1.0];
            let a = [(t * 0.37).sin(), 1.0 + (t * 0.91).cos()];
            let host = q_and_gradient(&shape, &p, &s, &a, None, &mut scratch).unwrap();
            let want = core.q(&s, &a).unwrap();
            assert!(
                (host - want).abs() < 1e-12 * (1.0 + want.abs()),
                "{host} vs {want}"
            );
        }
    }
}

#[test]
fn gradient_matches_central_differences() {
    let shape = Shape::pendulum(&[5, 4], 3, 2.0, 20.0);
    let p = params(&shape, 7);
    let (s, a) = ([0.6, -0.8, 0.4], [0.7]);
    let gauge = 0.5;
    let y = -3.0;
    // Loss (Q - y)^2 / 2 + gauge / 2 (ln Z)^2.
    let ln_z = |p: &[f64]| {
        let d = Domain::new([-2.0], [2.0]).unwrap();
        let core = SoftQ::<f64, 3, 8, 16, 1, 4, 1>::new(&[5, 4], &[3], d, 2.0, 20.0, p).unwrap();
        let (net, _) = core.action_network(&s).unwrap();
        net.integral_over(&[-2.0], &[2.0]).unwrap().ln()
    };
    let loss = |p: &[f64]| {
        let q = q_and_gradient(&shape, p, &s, &a, None, &mut Scratch::default()).unwrap();
        0.5 * (q - y).powi(2) + 0.5 * gauge * ln_z(p).powi(2)
    };
    let mut g = vec![0.0; p.len()];
    let w = |q: f64| q - y;
    residual_gradient(
        &shape,
        &p,
        &s,
        &a,
        &w,
        gauge,
        &mut g,
        &mut Scratch::default(),
    )
    .unwrap();
    let mut worst: f64 = 0.0;
    for i in 0..p.len() {
        let h = 1e-6 * (1.0 + p[i].abs());
        let (mut up, mut down) = (p.clone(), p.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&up) - loss(&down)) / (2.0 * h);
        let err = (fd - g[i]).abs() / (1.0 + fd.abs());
        worst = worst.max(err);
        assert!(
            err < 1e-6,
            "parameter {i}: exact {} vs differences {fd}",
            g[i]
        );
    }
    assert!(g.iter().filter(|v| **v != 0.0).count() > p.len() / 2);
    println!("worst relative gradient error {worst:.2e}");
}

#[test]
fn sampled_estimators_are_biased_low_and_noisy_exact_is_not() {
    let settings = Settings {
        state_widths: vec![8],
        beta: 4.0,
        ..Settings::default()
    };
    let p = params(&settings.shape(), 9);
    let q = core_model(&settings, &p).unwrap();
    let states: Vec<[f64; 3]> = (0..20)
        .map(|k| {
            let t = k as f64 * 0.3;
            [t.cos(), t.sin(), (t * 1.7).sin()]
        })
        .collect();
    let exact = estimator_stats(&q, &states, Estimator::Exact, 4, 1).unwrap();
    assert_eq!((exact.bias, exact.variance), (0.0, 0.0));
    let one = estimator_stats(&q, &states, Estimator::Uniform(1), 400, 2).unwrap();
    let sixteen = estimator_stats(&q, &states, Estimator::Uniform(16), 400, 3).unwrap();
    // Jensen: E ln(mean of exp) <= ln E(exp), strictly for a non-constant Q; more samples,
    // less bias and less variance.
    assert!(
        one.bias < sixteen.bias && sixteen.bias < 0.0,
        "{one:?} {sixteen:?}"
    );
    assert!(one.variance > sixteen.variance && sixteen.variance > 0.0);
    // The estimator itself: with every uniform at 0.5 it is Q at a = 0 plus ln|A| / beta.
    let s = states[3];
    let v1 = estimate_v(&q, &s, Estimator::Uniform(1), &mut || 0.5).unwrap();
    let want = q.q(&s, &[0.0]).unwrap() + 4.0f64.ln() / 4.0;
    assert!((v1 - want).abs() < 1e-12);
}

#[test]
fn pendulum_follows_gyms_equations() {
    let mut p = Pendulum::reset(0.2, 0.9);
    for k in 0..300 {
        let u = 3.0 * ((k as f64) * 0.37).sin();
        let (th, thdot) = (p.theta, p.theta_dot);
        let uc = u.clamp(-2.0, 2.0);
        let cost = angle_normalize(th).powi(2) + 0.1 * thdot * thdot + 0.001 * uc * uc;
        let nthdot = (thdot + (15.0 * th.sin() + 3.0 * uc) * 0.05).clamp(-8.0, 8.0);
        let r = p.step(u);
        assert_eq!(r, -cost);
        assert_eq!(p.theta_dot, nthdot);
        assert_eq!(p.theta, th + nthdot * 0.05);
        assert!(p.theta_dot.abs() <= 8.0);
    }
    assert!(angle_normalize(7.0).abs() <= std::f64::consts::PI);
}

/// A tiny run through the config path: every file is written, the model JSON rebuilds the
/// same finn-core model, the report has every variant, and a goal that is not met is reported
/// (the files are written all the same).
#[test]
fn a_small_run_writes_its_files_and_reports_an_unmet_goal() {
    use finn_train::config::{Job, Outcome};
    use finn_train::observer::Silent;
    use finn_train::softq::run::SoftQFile;
    let dir = std::env::temp_dir().join(format!("finn-softq-{}", std::process::id()));
    let text = r#"
        application = "softq"
        output = "out/tiny"
        report = "out/tiny.md"
        [training]
        episodes = 4
        warmup_episodes = 2
        updates_per_episode = 10
        batch = 16
        state_widths = [8]
        bumps = 3
        [evaluation]
        episodes = 3
        states = 10
        draws = 20
        goal = 0.0
    "#;
    let job = Job::from_toml_str(text.to_string(), dir.join("config.toml")).unwrap();
    let a = job.run(&mut Silent).unwrap();
    assert_eq!(a.unproven.len(), 1, "{:?}", a.unproven);
    assert!(a.ensure_proven().is_err());
    let Outcome::SoftQ(o) = &a.outcome else {
        panic!("not a softq outcome")
    };
    let names: Vec<&str> = o.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        ["exact", "16 uniform samples", "1 uniform sample", "random"]
    );
    assert!(o
        .variants
        .iter()
        .all(|v| v.mean.is_finite() && v.mean < 0.0));
    assert!(o.one.variance > o.sixteen.variance);
    let json = std::fs::read_to_string(dir.join("out/tiny.json")).unwrap();
    let file: SoftQFile = serde_json::from_str(&json).unwrap();
    let q = core_model(&file.settings, &file.params).unwrap();
    let s = [0.0, 1.0, 0.1];
    assert!(q.v(&s).unwrap().is_finite());
    // The f64 blob beside it holds the same model.
    let blob = std::fs::read(dir.join("out/tiny.postcard")).unwrap();
    let (shape, params) = finn_train::softq::blob::from_blob(&blob).unwrap();
    assert_eq!((shape, params), (file.shape.clone(), file.params.clone()));
    let report = std::fs::read_to_string(dir.join("out/tiny.md")).unwrap();
    for v in &o.variants {
        assert!(report.contains(&format!("| {} |", v.name)), "{report}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

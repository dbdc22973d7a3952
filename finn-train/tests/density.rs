//! The `density` application: the NLL's exact gradient against central differences, config
//! errors that name the key, a small run from a TOML string end to end (files, exact
//! normalisation of the blob read back, baselines), and the host sampler.

use finn_core::format::Scalar;
use finn_core::{Activation, Kind};
use finn_train::config::{with_suffix, Job, Outcome};
use finn_train::density::{datasets, loss::Nll, sample};
use finn_train::eval::Evaluator;
use finn_train::model::{Architecture, TrainedModel};
use finn_train::observer::Silent;
use finn_train::supremum::{prove_at_most, supremum, Enclose, Mixture, Settings, Status};
use ndarray::Array2;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("finn-density-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The loss's gradient equals central differences of the loss, for sigma positive networks
/// of one and two hidden layers in n = 1, 2, 3, with negative raw weights (the |w| map) and
/// weight decay.
#[test]
fn nll_gradient_matches_central_differences() {
    for n in 1..=3usize {
        for widths in [vec![3], vec![3, 2]] {
            let arch = Architecture {
                n,
                kind: Kind::Positive,
                activation: Activation::Sigma,
                widths: widths.clone(),
            };
            let points =
                Array2::from_shape_fn((7, n), |(k, i)| ((k * 7 + i * 3) % 11) as f64 / 5.0 - 1.0);
            let lower = vec![-1.5; n];
            let upper: Vec<f64> = (0..n).map(|i| 1.2 + 0.3 * i as f64).collect();
            let nll = Nll::new(arch.clone(), points, lower, upper)
                .unwrap()
                .with_weight_decay(1e-3);
            let params = finn_train::solve::initial_parameters(&arch, 5 + n as u64);
            assert!(
                params.iter().any(|p| *p < 0.0),
                "no negative raw weight tested"
            );
            let mut g = vec![0.0; params.len()];
            let loss = nll.loss_and_gradient(&params, &mut g).unwrap();
            assert!((loss - nll.loss(&params).unwrap()).abs() < 1e-14);
            for k in 0..params.len() {
                let h = 1e-6 * params[k].abs().max(1.0);
                let mut p = params.clone();
                p[k] += h;
                let up = nll.loss(&p).unwrap();
                p[k] -= 2.0 * h;
                let down = nll.loss(&p).unwrap();
                let fd = (up - down) / (2.0 * h);
                assert!(
                    (fd - g[k]).abs() <= 1e-6 * (1.0 + g[k].abs()),
                    "n = {n}, widths {widths:?}, parameter {k}: exact {} vs differences {fd}",
                    g[k]
                );
            }
        }
    }
}

const CONFIG: &str = r#"
    application = "density"
    seed = 2
    output = "out/tiny"
    [network]
    widths = [4]
    [support]
    lower = [-5.0]
    upper = [5.0]
    [data]
    csv = "points.csv"
    validation = 0.2
    test = 0.2
    [early_stopping]
    patience = 2
    every = 10
    [baselines]
    gmm_components = 3
    [solver]
    max_iters = 40
"#;

fn parse(text: &str) -> Result<Job, finn_train::TrainError> {
    Job::from_toml_str(text.to_string(), "/tmp/x/config.toml")
}

/// Every checkable mistake is an error that names its key.
#[test]
fn config_errors_name_the_key() {
    assert!(parse(CONFIG).is_ok());
    let cases = [
        (
            "widths = [4]",
            "widths = [4]\nkind = \"signed\"",
            "network.kind",
        ),
        (
            "widths = [4]",
            "widths = [4]\nactivation = \"tanh\"",
            "network.activation",
        ),
        ("widths = [4]", "widths = []", "network.widths"),
        (
            "upper = [5.0]",
            "upper = [5.0, 1.0]",
            "support.lower and support.upper",
        ),
        ("upper = [5.0]", "upper = [-6.0]", "support axis 1"),
        ("upper = [5.0]", "upper = [5.0]\nauto = true", "support"),
        ("lower = [-5.0]\n", "", "support"),
        (
            "upper = [5.0]",
            "upper = [5.0]\nmargin = -1.0",
            "support.margin",
        ),
        (
            "upper = [5.0]",
            "upper = [5.0]\noutside = \"wrap\"",
            "outside",
        ),
        ("validation = 0.2", "validation = 0.0", "data.validation"),
        ("test = 0.2", "test = 0.9", "data.test"),
        ("patience = 2", "patience = 0", "early_stopping.patience"),
        ("every = 10", "every = 0", "early_stopping.every"),
        (
            "gmm_components = 3",
            "gmm_components = 100",
            "baselines.gmm_components",
        ),
        ("max_iters = 40", "max_iters = 0", "solver.max_iters"),
        (
            "csv = \"points.csv\"",
            "csv = \"points.csv\"\ntarget = \"x\"",
            "target",
        ),
        ("csv = \"points.csv\"\n", "", "csv"),
        (
            "upper = [5.0]",
            "upper = [5.0]\nmap = \"real-space\"",
            "support.map",
        ),
        ("upper = [5.0]", "upper = [5.0]\nmap = \"disk\"", "map"),
        (
            "upper = [5.0]",
            "upper = [5.0]\nspread = 2.0",
            "support.spread",
        ),
        (
            "lower = [-5.0]\n    upper = [5.0]",
            "map = \"real-space\"\nspread = 0.0",
            "support.spread",
        ),
        (
            "widths = [4]",
            "widths = [4]\nreflections = 2",
            "reflections",
        ),
        ("widths = [4]", "widths = [4]\nstarts = 0", "network.starts"),
        (
            "widths = [4]",
            "widths = [4]\ncoupling = -0.1",
            "network.coupling",
        ),
        (
            "widths = [4]",
            "widths = [4]\nstarts = 65",
            "network.starts",
        ),
        (
            "max_iters = 40",
            "max_iters = 40\n[sampling]\nsamples = 10\ngrid = 1",
            "sampling.grid",
        ),
        (
            "max_iters = 40",
            "max_iters = 40\n[sampling]\ncount = 10",
            "count",
        ),
    ];
    for (from, to, key) in cases {
        let text = CONFIG.replacen(from, to, 1);
        assert_ne!(text, CONFIG, "case {to:?} did not change the config");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(key), "{to:?}: {e}");
        assert!(e.contains("/tmp/x/config.toml"), "{e}");
    }
    let e = parse(&CONFIG.replace("[loss]", "")).map(|_| ());
    assert!(e.is_ok());
    let e = parse(&format!("{CONFIG}\n[loss]\nweight_decay = -1.0"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("loss.weight_decay"), "{e}");
}

/// A small run end to end: the files, the blob read back integrates to 1 to rounding (f64
/// and f32 blobs), the report's NLL table, the baselines, and a point outside the support is
/// an error naming it unless clipped.
#[test]
fn small_run_from_toml_is_normalised_exactly() {
    let dir = scratch("run");
    std::fs::write(
        dir.join("points.csv"),
        datasets::to_csv(&datasets::bimodal(200, 3), "test data"),
    )
    .unwrap();
    let job = Job::from_toml_str(CONFIG.to_string(), dir.join("tiny.toml")).unwrap();
    let artefacts = job.run(&mut Silent).unwrap();
    let Outcome::Density(o) = &artefacts.outcome else {
        panic!("not a density")
    };
    assert!(o.training.report.iterations <= 40);
    assert_eq!(
        (
            o.split.train.nrows(),
            o.split.validation.nrows(),
            o.split.test.nrows()
        ),
        (120, 40, 40)
    );
    let stem = dir.join("out/tiny");
    for suffix in [
        ".postcard",
        ".json",
        "-loss.png",
        "-density.png",
        "-report.md",
    ] {
        assert!(with_suffix(&stem, suffix).is_file(), "missing {suffix}");
    }
    // The blob is a density (payload 2), which the device's DensityPlayer loads.
    let bytes = std::fs::read(with_suffix(&stem, ".postcard")).unwrap();
    assert!(finn_core::format::decode_density(&bytes).is_ok());
    for file in [".postcard", ".json"] {
        let model = TrainedModel::load(with_suffix(&stem, file)).unwrap();
        let eval = Evaluator::new(&model).unwrap();
        assert!((eval.integral().unwrap() - 1.0).abs() < 1e-14, "{file}");
    }
    assert!(o.normalisation_error.abs() < 1e-14);
    // An f32 blob's constants are resolved again for its rounded parameters.
    let f32_blob = o.model.to_blob(Scalar::F32).unwrap();
    let back = TrainedModel::from_blob(&f32_blob).unwrap();
    assert!((Evaluator::new(&back).unwrap().integral().unwrap() - 1.0).abs() < 1e-14);
    // Training improved on the start and the NLLs are the model's own.
    let checks = &o.training.checks;
    assert!(checks.last().unwrap().validation < checks[0].validation + 1.0);
    let eval = Evaluator::new(&o.model).unwrap();
    let mine = finn_train::density::mean_nll(&eval, &o.split.test).unwrap();
    assert_eq!(Some(mine), o.finn.test);
    // A uniform density on [-5, 5] has NLL log 10 = 2.30; the bimodal data is far tighter.
    assert!(o.finn.test.unwrap() < 2.2, "{:?}", o.finn.test);
    assert!(o.gmm.as_ref().unwrap().test.unwrap() < 2.2);
    assert!(o.kde.as_ref().unwrap().test.unwrap() < 2.2);
    let report = std::fs::read_to_string(with_suffix(&stem, "-report.md")).unwrap();
    assert!(report.contains("| FINN |") && report.contains("| Gaussian mixture (EM) |"));

    // A point outside the support.
    let mut text = std::fs::read_to_string(dir.join("points.csv")).unwrap();
    text.push_str("7.5\n");
    std::fs::write(dir.join("points.csv"), &text).unwrap();
    let e = job.run(&mut Silent).unwrap_err().to_string();
    assert!(
        e.contains("point 201") && e.contains("outside the support"),
        "{e}"
    );
    let clip = CONFIG.replace("upper = [5.0]", "upper = [5.0]\noutside = \"clip\"");
    let clip = clip.replace("max_iters = 40", "max_iters = 5");
    let job = Job::from_toml_str(clip, dir.join("tiny.toml")).unwrap();
    let a = job.run(&mut Silent).unwrap();
    let Outcome::Density(o) = &a.outcome else {
        panic!("not a density")
    };
    assert_eq!(o.clipped, 1);
}

/// The automatic support box is drawn around the training and validation points only: a
/// test point far outside stays outside (density 0, charged -ln 1e-300 nats) instead of
/// stretching the box. Before, the box covered every point, the test points included.
#[test]
fn the_automatic_box_ignores_the_test_points() {
    let dir = scratch("auto-box");
    let mut points = datasets::bimodal(200, 3);
    // The split depends only on the number of points and the seed: find a test row.
    let ids = Array2::from_shape_fn((200, 1), |(r, _)| r as f64);
    let split = finn_train::density::data::split(&ids, 0.2, 0.2, 2).unwrap();
    let row = split.test[[0, 0]] as usize;
    points[[row, 0]] = 40.0;
    std::fs::write(dir.join("points.csv"), datasets::to_csv(&points, "outlier")).unwrap();
    let config = CONFIG
        .replace("lower = [-5.0]\n    upper = [5.0]", "auto = true")
        .replace("max_iters = 40", "max_iters = 5");
    assert!(config.contains("auto = true"));
    let job = Job::from_toml_str(config, dir.join("auto.toml")).unwrap();
    let a = job.run(&mut Silent).unwrap();
    let Outcome::Density(o) = &a.outcome else {
        panic!("not a density")
    };
    assert_eq!(o.test_outside, 1);
    assert!(o.model.domain_upper[0] < 10.0, "{:?}", o.model.domain_upper);
    let charged = -finn_train::density::loss::FLOOR.ln() / o.split.test.nrows() as f64;
    assert!(o.finn.test.unwrap() > charged, "{:?}", o.finn.test);
}

/// Writes `two_moons(300, seed)` as `points.csv` in a scratch directory `name` and parses
/// `text` as the config `<name>.toml` there.
fn moons_job(name: &str, seed: u64, text: String) -> (PathBuf, Job) {
    let dir = scratch(name);
    std::fs::write(
        dir.join("points.csv"),
        datasets::to_csv(&datasets::two_moons(300, seed), "test data"),
    )
    .unwrap();
    let job = Job::from_toml_str(text, dir.join(format!("{name}.toml"))).unwrap();
    (dir, job)
}

/// A first hidden layer narrower than n leaves a two-layer start without a single bump (every
/// weight random: a 6-D density trained to 9.95 nats against the mixture's 5.36): an error
/// that names the key, n and the data file. Before, it trained silently. One hidden layer
/// takes any width.
#[test]
fn a_first_layer_narrower_than_n_is_refused() {
    let text = CONFIG
        .replace("widths = [4]", "widths = [1, 2]")
        .replace("lower = [-5.0]\n    upper = [5.0]", "auto = true")
        .replace("max_iters = 40", "max_iters = 2");
    let (_, job) = moons_job("narrow-first-layer", 3, text.clone());
    let e = job.run(&mut Silent).unwrap_err().to_string();
    assert!(
        e.contains("network.widths[0] = 1")
            && e.contains("n = 2")
            && e.contains("[4, 2]")
            && e.contains("points.csv has 2 columns"),
        "{e}"
    );
    let (_, job) = moons_job("one-narrow-layer", 3, text.replace("[1, 2]", "[1]"));
    assert!(job.run(&mut Silent).is_ok());
}

/// `network.starts = 2`: two mixtures trained from different starts and averaged. The
/// written model has both starts' networks with halved weights, is exactly normalised, and
/// scores no worse than the mean of its two halves (-ln of a mean of densities is at most the
/// mean of their -ln, point by point), and the second start really differs from the first.
#[test]
fn averaged_starts_are_one_normalised_mixture() {
    use finn_train::density::composite::DensityModel;
    let text = CONFIG
        .replace(
            "widths = [4]",
            "widths = [4, 2]\nreflections = true\ncomponents = 2\nstarts = 2",
        )
        .replace("lower = [-5.0]\n    upper = [5.0]", "auto = true")
        .replace("max_iters = 40", "max_iters = 30");
    // More starts than the mixture may hold (40 x 2 networks > 64): an error naming the key.
    let (_, too_many) = moons_job("starts-many", 5, text.replace("starts = 2", "starts = 40"));
    let e = too_many.run(&mut Silent).unwrap_err().to_string();
    assert!(e.contains("network.starts"), "{e}");
    let (dir, job) = moons_job("starts", 5, text);
    let a = job.run(&mut Silent).unwrap();
    let Outcome::Density(o) = &a.outcome else {
        panic!("not a density")
    };
    assert_eq!(o.density.components.len(), 4);
    assert_eq!(o.other_starts.len(), 1);
    assert!(
        o.normalisation_error.abs() < 1e-14,
        "{}",
        o.normalisation_error
    );
    let half = |range: std::ops::Range<usize>| {
        let mut parts = o.density.components[range].to_vec();
        parts.iter_mut().for_each(|c| c.weight *= 2.0);
        DensityModel::new(o.density.map.clone(), parts).unwrap()
    };
    let (first, second) = (half(0..2), half(2..4));
    assert!((first.integral().unwrap() - 1.0).abs() < 1e-12);
    assert!((second.integral().unwrap() - 1.0).abs() < 1e-12);
    let points = &o.split.train;
    let (both, _) = o.density.nll_each(points).unwrap();
    let (one, _) = first.nll_each(points).unwrap();
    let (two, _) = second.nll_each(points).unwrap();
    for i in 0..both.len() {
        assert!(both[i] <= 0.5 * (one[i] + two[i]) + 1e-12, "point {i}");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        (mean(&one) - mean(&two)).abs() > 1e-6,
        "the two starts are the same"
    );
    let report = std::fs::read_to_string(with_suffix(&dir.join("out/tiny"), "-report.md")).unwrap();
    assert!(report.contains("start 2:"), "{report}");
}

/// Bisection on the exact CDF returns points whose CDF is the uniform, within the tolerance
/// times the pdf.
#[test]
fn inverse_cdf_inverts_the_exact_cdf() {
    let arch = Architecture {
        n: 1,
        kind: Kind::Positive,
        activation: Activation::Sigma,
        widths: vec![3, 2],
    };
    let params = finn_train::solve::initial_parameters(&arch, 9);
    let raw = Evaluator::from_parts(
        &arch,
        &params,
        &[-3.0],
        &[2.0],
        finn_core::Resolved::scaled(1.0),
    )
    .unwrap();
    let z = raw.integral().unwrap();
    let e = Evaluator::from_parts(
        &arch,
        &params,
        &[-3.0],
        &[2.0],
        finn_core::Resolved::scaled(1.0 / z),
    )
    .unwrap();
    for u in [0.0, 1e-6, 0.1, 0.5, 0.9, 1.0 - 1e-9] {
        let x = sample::inverse_cdf(&e, u, 1e-12).unwrap();
        assert!((-3.0..=2.0).contains(&x));
        assert!((sample::cdf(&e, x).unwrap() - u).abs() < 1e-9, "u = {u}");
    }
    let s = sample::sample(&e, 100, 1, 1e-9).unwrap();
    assert_eq!(s, sample::sample(&e, 100, 1, 1e-9).unwrap());
}

/// A 2-D mixture of reflections on all of R^2: exactly normalised, read back from its JSON,
/// finite NLL for every point (no support to fall out of), samples tested.
#[test]
fn reflected_mixture_on_real_space_runs_and_is_normalised() {
    use finn_train::density::composite::{DensityModel, SupportMap};
    let text = CONFIG
        .replace(
            "widths = [4]",
            "widths = [4]\nreflections = true\ncomponents = 2",
        )
        .replace("lower = [-5.0]\n    upper = [5.0]", "map = \"real-space\"")
        .replace(
            "max_iters = 40",
            "max_iters = 30\n[sampling]\nsamples = 4000\ngrid = 4",
        );
    let (dir, job) = moons_job("mixture", 4, text);
    let a = job.run(&mut Silent).unwrap();
    let Outcome::Density(o) = &a.outcome else {
        panic!("not a density")
    };
    assert_eq!(o.density.components.len(), 2);
    assert!(matches!(o.density.map, SupportMap::RealSpace { .. }));
    assert!(o.normalisation_error.abs() < 1e-14);
    let stem = dir.join("out/tiny");
    let back = DensityModel::load_json(&with_suffix(&stem, ".density.json")).unwrap();
    assert_eq!(back, o.density);
    for k in 0..2 {
        let m = TrainedModel::load(with_suffix(&stem, &format!("-c{k}.postcard"))).unwrap();
        assert!((Evaluator::new(&m).unwrap().integral().unwrap() - 1.0).abs() < 1e-14);
    }
    // The whole mixture as one blob (payload 4): the model of the JSON, and what finn-core's
    // DensityMixture plays agrees with the host.
    let bytes = std::fs::read(with_suffix(&stem, ".postcard")).unwrap();
    assert_eq!(DensityModel::from_blob(&bytes).unwrap(), back);
    let device = finn_core::format::decode_density_mixture(&bytes)
        .unwrap()
        .to_density_mixture::<f64, 2, 4, 1, 2>()
        .unwrap();
    for x in [[0.0, 0.5], [1.0, -0.3], [-2.0, 2.0]] {
        let (d, h) = (device.pdf(&x).unwrap(), back.pdf(&x).unwrap());
        assert!((d - h).abs() <= 1e-12 * h, "{d} vs {h}");
    }
    // Far outside the data the density is small but positive, and the NLL finite.
    assert!(back.pdf(&[40.0, -40.0]).unwrap() > 0.0);
    // Its peak over all of R^2 is certified in u, and the pdf at points of x (a grid out to
    // 6 scales, the data's range) never exceeds the proven bound.
    let p = Mixture::new(&back).unwrap();
    let (lo, hi) = p.domain();
    let s = supremum(&p, &lo, &hi, &Settings::default()).unwrap();
    assert!(s.converged, "{s:?}");
    let top = back.pdf(&p.to_data(&s.at)).unwrap();
    assert!(
        (top - s.lower).abs() <= 1e-9 * s.lower,
        "{top} vs {}",
        s.lower
    );
    let mut largest = 0.0f64;
    for i in 0..=200 {
        for j in 0..=200 {
            let x = [-3.0 + 0.03 * i as f64, -3.0 + 0.03 * j as f64];
            largest = largest.max(back.pdf(&x).unwrap());
        }
    }
    assert!(
        largest <= s.upper && largest >= 0.9 * s.lower,
        "{largest} vs {s:?}"
    );
    assert!(s.upper <= p.magnitude_bound());
    let low = prove_at_most(&p, &lo, &hi, 0.99 * s.lower, &Settings::default()).unwrap();
    assert!(matches!(low.status, Status::Violated { .. }), "{low:?}");
    assert_eq!(o.test_outside, 0);
    assert!(o.finn.test.unwrap().is_finite() && o.finn.test.unwrap() < 4.0);
    let sc = o.sampling.as_ref().unwrap();
    assert_eq!(sc.samples.len(), 4000);
    assert!(
        sc.z < 3.0 && sc.max_residual < 1e-9 && sc.uncertified == 0,
        "{} {} {}",
        sc.z,
        sc.max_residual,
        sc.uncertified
    );
    assert!(with_suffix(&stem, "-samples.png").is_file());
}

/// A positive sigma_2 network of 2 inputs with these hidden widths.
fn positive_sigma(widths: Vec<usize>) -> Architecture {
    Architecture {
        n: 2,
        kind: Kind::Positive,
        activation: Activation::Sigma,
        widths,
    }
}

/// The network on the learning box [-2, 2]^2 with its integral scaled to 1.
fn on_learning_box<'a>(
    arch: &'a Architecture,
    params: &'a [f64],
) -> finn_train::eval::Evaluator<'a> {
    let (lo, hi) = (vec![-2.0; 2], vec![2.0; 2]);
    finn_train::eval::Evaluator::from_parts(
        arch,
        params,
        &lo,
        &hi,
        finn_core::Resolved::scaled(1.0),
    )
    .unwrap()
}

/// The bump start puts the mass where its centres are: a ridge start (a first layer acting
/// alone) spreads it along whole lines of the box, which is the local minimum that kept the
/// trained densities far behind a Gaussian mixture.
#[test]
fn bump_start_is_localised_on_its_centres() {
    use finn_train::density::train::{bump_parameters, bumps_per_network, Bumps};
    let arch = positive_sigma(vec![4, 2]);
    assert_eq!(bumps_per_network(&arch), 2);
    // Points spread around two centres in opposite quadrants of [-2, 2]^2.
    let points = Array2::from_shape_fn((200, 2), |(r, c)| {
        let centre = if r % 2 == 0 { -1.0 } else { 1.0 };
        centre + 0.3 * (((r * 7 + c * 13) % 17) as f64 / 17.0 - 0.5)
    });
    let sites = Bumps {
        centres: ndarray::array![[-1.0, -1.0], [1.0, 1.0]],
        widths: ndarray::array![[0.2, 0.2], [0.2, 0.2]],
        shapes: vec![ndarray::array![[5.0, 0.0], [0.0, 5.0]]; 2],
    };
    let params = bump_parameters(&arch, &points, &sites, 0.0, 3);
    let e = on_learning_box(&arch, &params);
    let total = e.integral().unwrap();
    let near = |c: f64| {
        e.integral_over(&[c - 0.75, c - 0.75], &[c + 0.75, c + 0.75])
            .unwrap()
            / total
    };
    let (a, b) = (near(-1.0), near(1.0));
    assert!(a > 0.3 && b > 0.3, "mass near the centres: {a}, {b}");
    assert!(a + b > 0.85, "mass near the centres: {}", a + b);
    // The other two quadrants hold almost nothing.
    let off = e.integral_over(&[-2.0, 0.0], &[0.0, 2.0]).unwrap()
        + e.integral_over(&[0.0, -2.0], &[2.0, 0.0]).unwrap();
    assert!(off / total < 0.05, "mass off the centres: {}", off / total);
}

/// A bump starts tilted and stretched like its cluster: on points along the anti-diagonal
/// its mass lies along the anti-diagonal, where an axis-aligned bump of the same cluster
/// (the start before tilting) puts as much on the diagonal.
#[test]
fn bump_start_follows_its_clusters_tilt() {
    use finn_train::density::train::{bump_parameters, bumps};
    let arch = positive_sigma(vec![2, 1]);
    // x2 = -x1 + small noise, x1 spread over [-1.5, 1.5].
    let points = Array2::from_shape_fn((300, 2), |(r, c)| {
        let t = 3.0 * (r as f64 / 299.0 - 0.5);
        let noise = 0.1 * (((r * 37) % 11) as f64 / 11.0 - 0.5);
        if c == 0 {
            t
        } else {
            -t + noise
        }
    });
    let mass = |sites: &finn_train::density::train::Bumps| {
        let params = bump_parameters(&arch, &points, sites, 0.0, 1);
        let e = on_learning_box(&arch, &params);
        let total = e.integral().unwrap();
        let corner = |a: [f64; 2], b: [f64; 2]| e.integral_over(&a, &b).unwrap() / total;
        let along = corner([0.5, -1.5], [1.5, -0.5]) + corner([-1.5, 0.5], [-0.5, 1.5]);
        let across = corner([0.5, 0.5], [1.5, 1.5]) + corner([-1.5, -1.5], [-0.5, -0.5]);
        (along, across)
    };
    let tilted = bumps(&points, 1).unwrap();
    let w = &tilted.shapes[0];
    assert!(w.iter().all(|v| *v >= 0.0) && w[[0, 1]] > 0.0, "shape {w}");
    let (along, across) = mass(&tilted);
    assert!(
        along > 0.2 && along > 20.0 * across,
        "tilted: {along} along, {across} across"
    );
    // The same cluster, axis-aligned.
    let mut upright = tilted.clone();
    upright.shapes[0] = ndarray::Array2::from_diag(&tilted.widths.row(0).mapv(|s| 1.0 / s));
    let (along, across) = mass(&upright);
    assert!(
        across > 0.5 * along,
        "upright: {along} along, {across} across"
    );
}

/// The loss is summed over fixed blocks of rows added in order, so its value and gradient
/// are the same bits on one thread as on many (training is reproducible on any machine).
#[test]
fn mixture_loss_is_the_same_bits_on_one_thread_and_many() {
    use finn_train::density::mixture::{components, MixtureNll};
    let arch = Architecture {
        n: 2,
        kind: Kind::Positive,
        activation: Activation::Sigma,
        widths: vec![4, 2],
    };
    let points = Array2::from_shape_fn((301, 2), |(r, c)| {
        (((r * 31 + c * 17) % 101) as f64 / 101.0) * 3.6 - 1.8
    });
    let nll = MixtureNll::new(arch, points, 2.0, components(2, true, Some(3)).unwrap())
        .unwrap()
        .with_weight_decay(1e-4);
    let p = nll.initial_parameters(5).unwrap();
    let run = || {
        let mut g = vec![0.0; p.len()];
        let loss = nll.loss_and_gradient(&p, &mut g).unwrap();
        (
            loss.to_bits(),
            g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        )
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(run);
    assert_eq!(one, many);
}

/// A run on a generated disk dataset (`datasets::disk`, 300 points) in a scratch directory,
/// a small mixture and few iterations; `seam` is `loss.seam`.
fn disk_run(name: &str, seam: f64) -> Box<finn_train::density::DensityOutcome> {
    let dir = scratch(name);
    let points = datasets::disk(300, 4);
    std::fs::write(dir.join("disk.csv"), datasets::to_csv(&points, "disk")).unwrap();
    let text = format!(
        r#"
        application = "density"
        seed = 3
        output = "out/disk"
        [network]
        widths = [5]
        components = 2
        reflections = true
        [support]
        map = "disk"
        [data]
        csv = "disk.csv"
        [loss]
        seam = {seam}
        [early_stopping]
        patience = 10
        every = 20
        [baselines]
        gmm_components = 0
        kde = false
        [solver]
        max_iters = 60
        [sampling]
        samples = 4000
        grid = 5
        "#
    );
    let job = Job::from_toml_str(text, dir.join("config.toml")).unwrap();
    let artefacts = job.run(&mut Silent).unwrap();
    let Outcome::Density(d) = artefacts.outcome else {
        panic!("not a density outcome")
    };
    // No payload-4 blob on a mapped domain; the JSON model and the report are there.
    assert!(!dir.join("out/disk.postcard").exists());
    assert!(dir.join("out/disk.density.json").exists());
    let report = std::fs::read_to_string(dir.join("out/disk-report.md")).unwrap();
    assert!(report.contains("across the seam"), "{report}");
    assert!(report.contains("device player"), "{report}");
    assert!(report.contains("marginal plots are skipped"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
    d
}

/// On a disk: the run trains on u = r^-1(x), the density integrates to 1, the samples pass
/// the u-cell chi-square test, and `loss.seam` > 0 makes the measured seam jump smaller.
#[test]
fn the_seam_penalty_shrinks_the_jump_on_a_disk() {
    let plain = disk_run("seam0", 0.0);
    let damped = disk_run("seam1", 1.0);
    for d in [&plain, &damped] {
        assert!(
            d.normalisation_error.abs() < 1e-9,
            "{}",
            d.normalisation_error
        );
        assert!(d.finn.test.unwrap().is_finite());
        let s = d.sampling.as_ref().unwrap();
        assert!(s.z < 4.0, "chi-square {} at {} dof", s.chi_square, s.dof);
        assert!(s.samples.iter().all(|x| x[0].hypot(x[1]) <= 1.0 + 1e-12));
        // An x-box has no exact probability here; the image of a u-box has.
        let e = d.density.box_probability(&[0.0, 0.0], &[0.5, 0.5]);
        assert!(
            matches!(e, Err(finn_train::TrainError::Inexact(_))),
            "{e:?}"
        );
        let all = d
            .density
            .image_probability(&[0.0, 0.0], &[1.0, 1.0])
            .unwrap();
        assert!((all - 1.0).abs() < 1e-12, "{all}");
    }
    let (a, b) = (plain.seam.clone().unwrap(), damped.seam.clone().unwrap());
    eprintln!(
        "seam jump without the penalty {:.4e} ({:.2} %), with loss.seam = 1: {:.4e} ({:.2} %)",
        a.absolute,
        100.0 * a.relative,
        b.absolute,
        100.0 * b.relative
    );
    assert_eq!(a.points, 64);
    assert!(b.absolute < a.absolute, "{b:?} vs {a:?}");
}

/// Mapped-domain keys: errors name the key; points outside are an error naming the row, or
/// clipped and counted.
#[test]
fn mapped_domain_config_errors_name_the_key() {
    let base = CONFIG.replace("lower = [-5.0]\n    upper = [5.0]", "map = \"disk\"");
    assert!(parse(&base).is_ok());
    let cases = [
        (
            "map = \"disk\"",
            "map = \"disk\"\nradius = -1.0",
            "support.radius",
        ),
        (
            "map = \"disk\"",
            "map = \"disk\"\nspan = 90.0",
            "support.span",
        ),
        (
            "map = \"disk\"",
            "map = \"disk\"\ncentre = [0.0]",
            "support.centre",
        ),
        ("map = \"disk\"", "map = \"annulus\"", "support.inner"),
        (
            "map = \"disk\"",
            "map = \"annulus\"\ninner = 2.0",
            "support.inner",
        ),
        ("map = \"disk\"", "map = \"sector\"", "support.span"),
        (
            "map = \"disk\"",
            "map = \"sector\"\nspan = 400.0",
            "support.span",
        ),
        (
            "map = \"disk\"",
            "map = \"simplex\"\nradius = 1.0",
            "support.radius",
        ),
        (
            "map = \"disk\"",
            "map = \"disk\"\nauto = true",
            "support.auto",
        ),
        (
            "map = \"disk\"",
            "map = \"box\"\ncentre = [0.0, 0.0]\nauto = true",
            "support.centre",
        ),
        (
            "[early_stopping]",
            "[loss]\nseam = -1.0\n[early_stopping]",
            "loss.seam",
        ),
    ];
    for (from, to, key) in cases {
        let text = base.replace(from, to);
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(key), "{to}: {e}");
    }
    // loss.seam needs a periodic coordinate: a sector of 90 degrees has none.
    let text = base
        .replace("map = \"disk\"", "map = \"sector\"\nspan = 90.0")
        .replace("[early_stopping]", "[loss]\nseam = 1.0\n[early_stopping]");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("loss.seam"), "{e}");

    // A point outside the disk: an error naming its row, or clipped and counted.
    let dir = scratch("outside");
    let mut points = datasets::disk(120, 9);
    points[[6, 0]] = 1.5;
    std::fs::write(dir.join("points.csv"), datasets::to_csv(&points, "disk")).unwrap();
    let text = base
        .replace("widths = [4]", "widths = [3]")
        .replace("gmm_components = 3", "gmm_components = 0\n    kde = false");
    let job = Job::from_toml_str(text.clone(), dir.join("config.toml")).unwrap();
    let e = job.run(&mut Silent).unwrap_err().to_string();
    assert!(e.contains("point 7"), "{e}");
    let text = text.replace("map = \"disk\"", "map = \"disk\"\n    outside = \"clip\"");
    let job = Job::from_toml_str(text, dir.join("config.toml")).unwrap();
    let artefacts = job.run(&mut Silent).unwrap();
    let Outcome::Density(d) = artefacts.outcome else {
        panic!("not a density outcome")
    };
    assert_eq!(d.clipped, 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// At the tilted bump start on the 4-D iris (the shipped network), -g is a descent
/// direction: a short step along it lowers the loss by about h |g|^2. Failed before: the
/// whitening left shape entries of 1e-31 where the exact ones are 0, so -g moved them across
/// the kink of abs(w) (|g|^2 was 8e14 and every step from 1e-10 to 1e-2 raised the loss), and
/// the iris's tilted starts stopped at iteration 0.
#[test]
fn the_tilted_iris_start_descends_along_minus_the_gradient() {
    use finn_train::density::mixture::{sign_patterns, MixtureNll};
    let points = datasets::iris();
    let (m, n) = points.dim();
    let lo: Vec<f64> = (0..n)
        .map(|j| points.column(j).fold(f64::INFINITY, |a, v| a.min(*v)) - 0.5)
        .collect();
    let hi: Vec<f64> = (0..n)
        .map(|j| points.column(j).fold(f64::NEG_INFINITY, |a, v| a.max(*v)) + 0.5)
        .collect();
    let s = finn_train::density::train::Standardise::new(&lo, &hi);
    let train = s.apply_rows(&points.slice(ndarray::s![..m * 6 / 10, ..]).to_owned());
    let arch = positive_sigma_n(n, vec![32, 8]);
    for floor in [0.6, 0.96, 1.54] {
        let nll = MixtureNll::new(arch.clone(), train.clone(), 2.0, sign_patterns(n, true))
            .unwrap()
            .with_weight_decay(1e-4)
            .with_tilt(true)
            .with_coupling(0.0)
            .with_width_floor(floor);
        let p = nll.initial_parameters(1).unwrap();
        // First-layer weights (a positive network sees |w|): none next to the kink.
        let per = arch.parameter_count();
        let first = nll.components();
        let tiny: Vec<f64> = (first..p.len())
            .filter(|i| (i - first) % per < 32 * n)
            .map(|i| p[i])
            .filter(|w| *w != 0.0 && w.abs() <= 1e-12)
            .collect();
        assert!(tiny.is_empty(), "floor {floor}: {tiny:?}");
        let mut g = vec![0.0; p.len()];
        let l0 = nll.loss_and_gradient(&p, &mut g).unwrap();
        let gg: f64 = g.iter().map(|v| v * v).sum();
        let h = 1e-6 / gg.sqrt();
        let q: Vec<f64> = p.iter().zip(&g).map(|(x, d)| x - h * d).collect();
        let drop = l0 - nll.loss(&q).unwrap();
        assert!(
            drop > 0.5 * h * gg,
            "floor {floor}: step {h:e} lowered the loss by {drop:e}, expected about {:e}",
            h * gg
        );
    }
}

/// A positive sigma network of `n` inputs with these hidden widths.
fn positive_sigma_n(n: usize, widths: Vec<usize>) -> Architecture {
    Architecture {
        n,
        ..positive_sigma(widths)
    }
}

//! Training from configs: parsing, checks with errors that name the key, and whole runs of
//! each application through `Job::run`.

use finn_core::format::{decode_any, decode_trajectory};
use finn_train::config::{with_suffix, Application, Job, Outcome, Spec};
use finn_train::eval::Evaluator;
use finn_train::model::TrainedModel;
use finn_train::observer::{Observer, Silent};
use finn_train::solve::{Report, Step};
use std::path::{Path, PathBuf};

fn parse(text: &str) -> Result<Job, finn_train::TrainError> {
    Job::from_toml_str(text.to_string(), "/tmp/x/config.toml")
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("finn-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const FIT: &str = r#"
    application = "fit"
    output = "out/tiny"
    [network]
    kind = "positive"
    activation = "sigma"
    n = 1
    widths = [3]
    [domain]
    lower = [-2.0]
    upper = [2.0]
    [constraint]
    bound = "equal"
    method = "scale"
    eps = 0.9
    [data]
    target = "gaussian"
    grid = 9
"#;

const TRAJECTORY: &str = r#"
    application = "trajectory"
    seed = 3
    output = "out/path"
    [network]
    widths = [4]
    [trajectory]
    interval = [0.0, 1.0]
    start = [0.0, 0.0]
    end = [1.0, 2.0]
    via = [{ time = 0.5, position = [0.2, 1.5] }]
    clearance = 0.05
    dynamics = { model = "point-mass", weight = 1e-3 }
    nodes = 12
    [[trajectory.obstacles]]
    center = [0.8, 0.5]
    radius = 0.2
    [[trajectory.obstacles]]
    lower = [0.6, 1.6]
    upper = [0.9, 1.9]
    [trajectory.limits]
    speed = 20.0
    acceleration_axis = [300.0, 200.0]
    [trajectory.enforce]
    rounds = 3
    [baseline]
    endpoint_penalty = 50.0
    [solver]
    max_iters = 15
"#;

#[test]
fn parses_and_defaults() {
    let job = parse(FIT).unwrap();
    assert_eq!(job.application(), Application::Fit);
    assert_eq!(job.stem(), PathBuf::from("/tmp/x/out/tiny"));
    let Spec::Fit(c) = &job.spec else {
        panic!("not a fit")
    };
    assert_eq!(c.solver.max_iters, 500);
    assert_eq!(c.seed, 0);
    let job = parse(TRAJECTORY).unwrap();
    assert_eq!(job.application(), Application::Trajectory);
    let Spec::Trajectory(c) = &job.spec else {
        panic!("not a trajectory")
    };
    assert_eq!(c.network.initial_scale, 0.3);
    assert_eq!(c.trajectory.energy_weight, 1.0);
    let p = c.problem(
        finn_train::trajectory::Endpoints::Exact,
        finn_train::trajectory::Enforcement::Penalty { weight: 0.0 },
    );
    // Two clearances, the speed and the per-axis acceleration.
    assert_eq!((p.dims(), p.via.len(), p.constraints.len()), (2, 1, 4));
}

/// Every bad config is an error that names the key (and never a panic).
#[test]
fn bad_configs_name_the_key() {
    let fit_cases = [
        (FIT.replace("n = 1", "n = 0"), "network.n"),
        (FIT.replace("\"sigma\"", "\"tanh\""), "positive network"),
        (FIT.replace("[2.0]", "[-3.0]"), "domain axis 1"),
        (
            FIT.replace("grid = 9", "grid = 9\nsamples = 3"),
            "exactly one",
        ),
        (FIT.replace("\"gaussian\"", "\"nope\""), "unknown target"),
        (FIT.replace("eps = 0.9", "eps = -1.0"), "eps > 0"),
        (
            FIT.replace("kind = \"positive\"", "kind = \"round\""),
            "unknown variant",
        ),
        (FIT.replace("widths", "widht"), "unknown field"),
        // Refused before any work (it used to fail only after training).
        (
            FIT.replace("widths = [3]", "widths = [70000]"),
            "network.widths[0] = 70000",
        ),
        (
            FIT.replace("widths = [3]", "widths = [5000, 5000]"),
            "parameters; at most",
        ),
        (
            FIT.replace("application = \"fit\"", ""),
            "missing key `application`",
        ),
        (
            FIT.replace("\"fit\"", "\"densities\""),
            "`application` must be one of",
        ),
        (
            FIT.replace("[loss]", "") + "[loss]\nweight_decay = -1.0\n",
            "weight_decay",
        ),
        (FIT.to_string() + "[solver]\nmemory = 0\n", "solver.memory"),
        (
            FIT.replace("\"scale\"", "\"shift\""),
            "only with bound = \"at-least\"",
        ),
        (
            FIT.replace("output = \"out/tiny\"", "output = \"\""),
            "output",
        ),
    ];
    let trajectory_cases = [
        (
            TRAJECTORY.replace("end = [1.0, 2.0]", "end = [1.0]"),
            "trajectory.end",
        ),
        (
            TRAJECTORY.replace("[0.0, 1.0]", "[1.0, 0.0]"),
            "trajectory.interval",
        ),
        (
            TRAJECTORY.replace("time = 0.5", "time = 1.5"),
            "trajectory.via[0].time",
        ),
        (
            TRAJECTORY.replace("radius = 0.2", "radius = -0.2"),
            "obstacles[0].radius",
        ),
        (
            TRAJECTORY.replace("speed = 20.0", "speed = 0.0"),
            "trajectory.limits.speed",
        ),
        (
            TRAJECTORY.replace("[300.0, 200.0]", "[300.0]"),
            "trajectory.limits.acceleration_axis",
        ),
        (
            TRAJECTORY.replace("upper = [0.9, 1.9]", "upper = [0.5, 1.9]"),
            "trajectory.obstacles[1]: lower[0]",
        ),
        (
            TRAJECTORY.replace("upper = [0.9, 1.9]", "radius = 1.0"),
            "either center and radius",
        ),
        (
            TRAJECTORY.replace("rounds = 3", "margin = 0.0"),
            "trajectory.enforce.margin",
        ),
        (
            TRAJECTORY.replace("widths = [4]", "widths = [65]"),
            "at most 3 layers of 64",
        ),
        (
            TRAJECTORY.replace("\"point-mass\"", "\"two-link-arm\", length = [1.0]"),
            "length",
        ),
        (
            TRAJECTORY.replace("nodes = 12", "nodes = 1"),
            "trajectory.nodes",
        ),
        (
            TRAJECTORY.replace("endpoint_penalty = 50.0", "endpoint_penalty = 0.0"),
            "baseline.endpoint_penalty",
        ),
        (
            TRAJECTORY.replace("widths = [4]", "widths = []"),
            "network.widths",
        ),
        (
            TRAJECTORY.replace("clearance", "clearence"),
            "unknown field",
        ),
        (
            TRAJECTORY.replace("\"point-mass\"", "\"rocket\""),
            "unknown variant",
        ),
        (
            TRAJECTORY.replace("weight = 1e-3 }", "weight = 1e-3, mas = 2.0 }"),
            "unknown field",
        ),
    ];
    for (text, needle) in fit_cases.iter().chain(&trajectory_cases) {
        let err = parse(text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {needle}"));
        let msg = err.to_string();
        assert!(msg.contains(needle), "{needle}: {msg}");
        assert!(msg.contains("/tmp/x/config.toml"), "names the file: {msg}");
    }
    let arm_needs_two = TRAJECTORY
        .replace("start = [0.0, 0.0]", "start = [0.0, 0.0, 0.0]")
        .replace("end = [1.0, 2.0]", "end = [1.0, 2.0, 0.0]")
        .replace("\"point-mass\"", "\"two-link-arm\"");
    let msg = parse(&arm_needs_two)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("position needs 3"), "{msg}");
    let missing = FIT.replace("target = \"gaussian\"\n    grid = 9", "csv = \"no.csv\"");
    let err = parse(&missing).unwrap().run(&mut Silent).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = Job::from_toml_file("/nonexistent/finn.toml").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/finn.toml"), "{err}");
}

/// Counts what the observer was told.
#[derive(Default)]
struct Counter {
    starts: Vec<(String, u64)>,
    iterations: usize,
    finishes: usize,
}

impl Observer for Counter {
    fn start(&mut self, label: &str, max_iters: u64) {
        self.starts.push((label.to_string(), max_iters));
    }
    fn iteration(&mut self, _step: &Step) {
        self.iterations += 1;
    }
    fn finish(&mut self, _label: &str, _report: &Report) {
        self.finishes += 1;
    }
}

/// The fit path end to end on a tiny problem: files exist, the observer saw every iteration,
/// the JSON and the blob evaluate to the constrained integral.
#[test]
fn fit_runs_and_writes_its_files() {
    let dir = scratch("fit");
    let text = FIT.replace("grid = 9", "grid = 9\n[solver]\nmax_iters = 5");
    let job = Job::from_toml_str(text, dir.join("tiny.toml")).unwrap();
    let mut counter = Counter::default();
    let artefacts = job.run(&mut counter).unwrap();
    let Outcome::Fit(o) = &artefacts.outcome else {
        panic!("not a fit")
    };
    assert!(o.report.iterations <= 5);
    assert_eq!(counter.starts, vec![("fit".to_string(), 5)]);
    assert_eq!(counter.iterations as u64, o.report.history.len() as u64);
    assert_eq!(counter.finishes, 1);
    assert!((o.integral - 0.9).abs() < 1e-14);
    let stem = dir.join("out/tiny");
    for suffix in [".postcard", ".json", "-loss.png", "-report.md"] {
        let p = with_suffix(&stem, suffix);
        assert!(p.is_file(), "missing {}", p.display());
        assert!(artefacts
            .files
            .iter()
            .any(|f| f.ends_with(p.file_name().unwrap())));
    }
    let json = std::fs::read_to_string(with_suffix(&stem, ".json")).unwrap();
    let model = TrainedModel::from_json(&json).unwrap();
    let e = Evaluator::new(&model).unwrap();
    assert!((e.integral().unwrap() - 0.9).abs() < 1e-14);
    assert!(e.integrand(&[0.0]).unwrap() >= 0.0);
    let blob = std::fs::read(with_suffix(&stem, ".postcard")).unwrap();
    assert!(decode_any(&blob).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

/// A CSV of F values, a signed network and a shift constraint.
#[test]
fn fit_from_csv_of_antiderivative_values() {
    let dir = scratch("csv");
    let mut csv = String::from("x,F\n");
    for i in 0..21 {
        let x = -2.0 + 0.2 * i as f64;
        csv.push_str(&format!(
            "{x},{}\n",
            0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
        ));
    }
    std::fs::write(dir.join("cdf.csv"), csv).unwrap();
    let text = r#"
        application = "fit"
        output = "cdf"
        blob_scalar = "f32"
        [network]
        kind = "signed"
        activation = "tanh"
        n = 1
        widths = [4]
        [domain]
        lower = [-2.0]
        upper = [2.0]
        [constraint]
        bound = "at-least"
        method = "shift"
        eps = 0.5
        [data]
        csv = "cdf.csv"
        [loss]
        fit = "antiderivative"
        [solver]
        method = "bfgs"
        max_iters = 30
    "#;
    let job = Job::from_toml_str(text.to_string(), dir.join("c.toml")).unwrap();
    let artefacts = job.run(&mut Silent).unwrap();
    let Outcome::Fit(o) = &artefacts.outcome else {
        panic!("not a fit")
    };
    assert_eq!(o.data.targets.len(), 21);
    assert!(o.integral >= 0.5 - 1e-15, "{}", o.integral);
    assert!(o.mse < 1e-2, "{}", o.mse);
    assert!(o.target_integral.is_none());
    let report = std::fs::read_to_string(dir.join("cdf-report.md")).unwrap();
    assert!(report.contains("MSE of F"), "{report}");
    // blob_scalar = "f32": 4 bytes a parameter.
    let blob = std::fs::read(dir.join("cdf.postcard")).unwrap();
    assert_eq!(decode_any(&blob).map(|_| ()), Ok(()));
    let f64_len = TrainedModel::from_blob(&blob)
        .unwrap()
        .to_blob(finn_core::format::Scalar::F64);
    assert!(blob.len() < f64_len.unwrap().len());
    std::fs::remove_dir_all(&dir).ok();
}

/// The trajectory path end to end: the rounds and the baselines reported, exact ends in the
/// blob (f64 and f32), every constraint proven, the endpoint-penalty baseline misses its end,
/// the via-point is met, files written.
#[test]
fn trajectory_runs_and_writes_its_files() {
    let dir = scratch("trajectory");
    let job = Job::from_toml_str(TRAJECTORY.to_string(), dir.join("t.toml")).unwrap();
    let mut counter = Counter::default();
    let artefacts = job.run(&mut counter).unwrap();
    let Outcome::Trajectory(o) = &artefacts.outcome else {
        panic!("not a trajectory")
    };
    let labels: Vec<&str> = counter.starts.iter().map(|(l, _)| l.as_str()).collect();
    assert!(labels[0].starts_with("round 1"), "{labels:?}");
    assert_eq!(
        &labels[labels.len() - 2..],
        ["baseline: soft penalties", "baseline: endpoint penalty"]
    );
    assert_eq!(counter.finishes, labels.len());
    assert_eq!(o.endpoint_errors.f64, 0.0);
    assert_eq!(o.endpoint_errors.f32, 0.0);
    assert!(o.certificate.proven(), "{:?}", o.certificate);
    assert!(artefacts.unproven.is_empty() && artefacts.ensure_proven().is_ok());
    // Result, soft penalties, endpoint penalty, quintic.
    assert_eq!(o.comparison.len(), 4);
    assert!(o.comparison[2].endpoint_error > 0.0);
    assert!(o.comparison[3].via_error > 0.1);
    let view = decode_trajectory(&o.blob).unwrap();
    assert_eq!(view.coordinates(), 2);
    assert_eq!(view.via_point(0), Some((0.5, &[0.2, 1.5][..])));
    let Spec::Trajectory(c) = &job.spec else {
        panic!()
    };
    let p = c.problem(
        finn_train::trajectory::Endpoints::Exact,
        finn_train::trajectory::Enforcement::Penalty { weight: 0.0 },
    );
    let mid = p.states(&o.exact.params, &[0.5]).unwrap();
    assert!((mid[0].position[0] - 0.2).abs() < 1e-12 && (mid[0].position[1] - 1.5).abs() < 1e-12);
    for suffix in [".postcard", ".json", ".png", "-loss.png", "-report.md"] {
        let p = with_suffix(&dir.join("out/path"), suffix);
        assert!(p.is_file(), "missing {}", p.display());
    }
    // The JSON holds the same trajectory: it turns back into the blob byte for byte.
    let text = std::fs::read_to_string(dir.join("out/path.json")).unwrap();
    assert_eq!(
        finn_train::trajectory::json::to_blob(&text).unwrap(),
        o.blob
    );
    assert_eq!(text.matches("\"proven\"").count(), 4, "{text}");
    let report = std::fs::read_to_string(dir.join("out/path-report.md")).unwrap();
    assert!(report.contains("endpoint penalty 50"), "{report}");
    assert!(report.contains("Every constraint is proven"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A problem that cannot be met (the start lies inside an obstacle) is not reported as met:
/// the run writes its files, lists the violation with its worst slack and time, and
/// `ensure_proven` (what `cargo xtask train` calls) is an error.
#[test]
fn an_unsatisfiable_trajectory_is_reported_as_not_met() {
    let dir = scratch("unsatisfiable");
    let text = TRAJECTORY.replace("center = [0.8, 0.5]", "center = [0.1, 0.0]");
    let job = Job::from_toml_str(text, dir.join("t.toml")).unwrap();
    let artefacts = job.run(&mut finn_train::observer::Silent).unwrap();
    assert_eq!(artefacts.unproven.len(), 1, "{:?}", artefacts.unproven);
    let line = &artefacts.unproven[0];
    assert!(
        line.contains("violated") && line.contains("at t = 0.0"),
        "{line}"
    );
    let err = artefacts.ensure_proven().unwrap_err().to_string();
    assert!(err.contains("ball at [0.1, 0.0]"), "{err}");
    let report = std::fs::read_to_string(dir.join("out/path-report.md")).unwrap();
    assert!(report.contains("NOT MET"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The shipped configs all parse, and each is the application its name says.
#[test]
fn shipped_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let job = Job::from_toml_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let expected = if name.starts_with("figure1") {
                Application::Fit
            } else if name.starts_with("density") || name.starts_with("figure4") {
                Application::Density
            } else if name.starts_with("figure2") || name.starts_with("deviation") {
                Application::Deviation
            } else if name.starts_with("softq") {
                Application::SoftQ
            } else {
                Application::Trajectory
            };
            assert_eq!(job.application(), expected, "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 6, "{seen} configs");
}

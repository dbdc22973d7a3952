//! The shipped soft-Q model (`results/softq/pendulum.json`) as a blob: the f64 blob plays
//! exactly as the JSON model (Q, V and sampled actions, to 1e-12 and in fact bit for bit);
//! the f32 blob played in f32 stays close, with its differences printed (`--nocapture`).

use finn_core::format::{decode_softq, Scalar};
use finn_core::softq::SoftQ;
use finn_train::softq::blob::{device_blob, from_blob, read_json, to_blob};
use finn_train::softq::learn::core_model;
use finn_train::softq::pendulum::Pendulum;
use std::path::PathBuf;

fn json() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results/softq/pendulum.json")
}

/// Features of a spread of pendulum states.
fn states() -> Vec<[f64; 3]> {
    let mut out = Vec::new();
    for i in 0..24 {
        for j in 0..9 {
            let p = Pendulum {
                theta: -std::f64::consts::PI + i as f64 * 0.27,
                theta_dot: -8.0 + j as f64 * 2.0,
            };
            out.push(p.features());
        }
    }
    out
}

#[test]
fn f64_blob_plays_as_the_json_model() {
    let file = read_json(&json()).unwrap();
    let host = core_model(&file.settings, &file.params).unwrap();
    let bytes = to_blob(&file.shape, &file.params, Scalar::F64).unwrap();
    let (shape, params) = from_blob(&bytes).unwrap();
    assert_eq!(shape, file.shape);
    assert_eq!(params, file.params);
    let q: SoftQ<f64, 3, 64, 64, 1, 16, 2> = decode_softq(&bytes).unwrap().to_softq().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
    for s in states() {
        let (v, hv) = (q.v(&s).unwrap(), host.v(&s).unwrap());
        assert!(close(v, hv) && v.to_bits() == hv.to_bits(), "V {v} {hv}");
        for a in [-2.0, -0.7, 0.0, 1.3, 2.0] {
            let (x, y) = (q.q(&s, &[a]).unwrap(), host.q(&s, &[a]).unwrap());
            assert!(close(x, y) && x.to_bits() == y.to_bits(), "Q {x} {y}");
        }
        for u in [0.01, 0.5, 0.93] {
            let x = q.sample_action(&s, &[u]).unwrap()[0];
            let y = host.sample_action(&s, &[u]).unwrap()[0];
            assert!(close(x, y) && x.to_bits() == y.to_bits(), "a {x} {y}");
        }
    }
}

#[test]
fn f32_blob_in_f32_against_f64() {
    let file = read_json(&json()).unwrap();
    let host = core_model(&file.settings, &file.params).unwrap();
    let bytes = device_blob(&json()).unwrap();
    let q: SoftQ<f32, 3, 64, 64, 1, 16, 2> = decode_softq(&bytes).unwrap().to_softq().unwrap();
    let (mut dv, mut dq) = (0.0f64, 0.0f64);
    let mut da = Vec::new();
    for s in states() {
        let sf = s.map(|x| x as f32);
        dv = dv.max((f64::from(q.v(&sf).unwrap()) - host.v(&s).unwrap()).abs());
        for a in [-2.0f32, -0.7, 0.0, 1.3, 2.0] {
            let x = f64::from(q.q(&sf, &[a]).unwrap());
            dq = dq.max((x - host.q(&s, &[f64::from(a)]).unwrap()).abs());
        }
        for u in [0.01f32, 0.5, 0.93] {
            let x = f64::from(q.sample_action(&sf, &[u]).unwrap()[0]);
            da.push((x - host.sample_action(&s, &[f64::from(u)]).unwrap()[0]).abs());
        }
    }
    da.sort_by(f64::total_cmp);
    let at = |q: f64| da[((da.len() - 1) as f64 * q) as usize];
    let far = da.iter().filter(|&&d| d > 1e-3).count();
    println!(
        "f32 blob in f32 against f64 ({} states): max |dV| {dv:.3e}, max |dQ| {dq:.3e}; \
         sampled action |da| median {:.3e}, 99% {:.3e}, max {:.3e}, {far} of {} above 1e-3",
        da.len() / 3,
        at(0.5),
        at(0.99),
        at(1.0),
        da.len()
    );
    // Q and V are O(100) here (returns of -1 to -10 per step over a discounted horizon).
    assert!(dv < 1e-3 && dq < 1e-3, "{dv} {dq}");
    // The inverse CDF is steep where pi has almost no mass between two modes: there an
    // f32 rounding of the CDF can move the action far. Most actions agree closely.
    assert!(at(0.5) < 1e-4 && far * 20 < da.len(), "{:?}", at(0.99));
}

/// finn-core's no_std pendulum (the device's) against the host's over closed-loop episodes
/// of the shipped policy: the same states to 1e-12 (the sines are different libraries).
#[test]
fn core_pendulum_follows_the_host_pendulum() {
    use finn_core::softq::pendulum::Pendulum as CorePendulum;
    let file = read_json(&json()).unwrap();
    let q = core_model(&file.settings, &file.params).unwrap();
    let (mut worst, mut differing, mut steps) = (0.0f64, 0usize, 0usize);
    for start in 0..5 {
        let mut host = Pendulum::reset(0.1 + 0.2 * start as f64, 0.7);
        let mut core = CorePendulum {
            theta: host.theta,
            theta_dot: host.theta_dot,
        };
        for k in 0..200 {
            let a = q
                .sample_action(&host.features(), &[(k as f64 * 0.618).fract()])
                .unwrap()[0];
            let (rh, rc) = (host.step(a), core.step(a));
            worst = worst
                .max((rh - rc).abs())
                .max((host.theta - core.theta).abs())
                .max((host.theta_dot - core.theta_dot).abs());
            differing += usize::from(host.theta.to_bits() != core.theta.to_bits());
            steps += 1;
            // Follow the host, so that one last-bit difference does not grow.
            core = CorePendulum {
                theta: host.theta,
                theta_dot: host.theta_dot,
            };
        }
    }
    println!("core pendulum against host: worst {worst:.3e}, {differing} of {steps} angles differ in bits");
    assert!(worst < 1e-12, "{worst}");
}

/// Checks `path` holds `bytes`; `FINN_BLESS=1` rewrites it.
fn blessed(path: &std::path::Path, bytes: &[u8]) {
    if std::env::var_os("FINN_BLESS").is_some() {
        std::fs::write(path, bytes).unwrap();
    }
    let stored = std::fs::read(path).unwrap_or_default();
    assert!(
        stored == bytes,
        "{} is not its generator's output: rerun with FINN_BLESS=1 to rewrite it",
        path.display()
    );
}

/// `firmware/blobs/softq-pendulum.postcard` is the shipped model's f32 blob.
#[test]
fn firmware_softq_blob_is_the_shipped_model() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    blessed(
        &root.join("firmware/blobs/softq-pendulum.postcard"),
        &device_blob(&json()).unwrap(),
    );
}

/// `finn-embedded/tests/data/softq.postcard`, the small blob of finn-embedded's examples:
/// 3 features, one hypernetwork layer of 4, an action network of 2 bumps on [-2, 2], beta 2,
/// log-scale 10, untrained parameters (`initial_parameters(.., 7)`), f32.
#[test]
fn finn_embedded_example_blob_is_current() {
    use finn_train::softq::model::{initial_parameters, Shape};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let shape = Shape::pendulum(&[4], 2, 2.0, 10.0);
    let params = initial_parameters(&shape, 7);
    blessed(
        &root.join("finn-embedded/tests/data/softq.postcard"),
        &to_blob(&shape, &params, Scalar::F32).unwrap(),
    );
}

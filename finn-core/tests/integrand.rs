//! f from finn-core's jets against an independent nested-dual evaluation (num-dual), n = 1..6,
//! depths 1..3, both network kinds, f64: agreement to 1e-10 relative.

mod common;
use common::*;
use finn_core::{parameter_count, Activation, Antiderivative, Kind, Network};

fn params(rng: &mut Lcg, n: usize, widths: &[usize], scale: f64) -> Vec<f64> {
    // Weights scaled by fan-in keep pre-activations in the range where the reference's
    // forward recurrence is itself accurate.
    let mut p = Vec::new();
    let mut fan_in = n;
    for &w in widths {
        for _ in 0..w * fan_in {
            p.push(rng.uniform(-scale, scale) / (fan_in as f64).sqrt());
        }
        for _ in 0..w {
            p.push(rng.uniform(-0.5, 1.0));
        }
        fan_in = w;
    }
    for _ in 0..fan_in {
        p.push(rng.uniform(-1.0, 1.0));
    }
    assert_eq!(p.len(), parameter_count(n, widths));
    p
}

fn check<const N: usize, D: Nested>()
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let mut rng = Lcg(0x5eed + N as u64);
    let mut worst: f64 = 0.0;
    for widths in [&[5][..], &[4, 3][..], &[3, 4, 2][..]] {
        for (kind, refkind, act) in [
            (Kind::Positive, RefKind::Positive, Activation::Sigma),
            (Kind::Signed, RefKind::SignedTanh, Activation::Tanh),
            (Kind::Signed, RefKind::SignedSigma, Activation::Sigma),
        ] {
            for _ in 0..4 {
                let p = params(&mut rng, N, widths, 1.0);
                let net = Network::<f64, N, 5, 3>::new(kind, act, widths, &p).unwrap();
                let x: Vec<f64> = (0..N).map(|_| rng.uniform(-0.5, 0.5)).collect();
                let got = net.integrand(&x).unwrap();
                let want = reference_integrand::<D>(refkind, widths, &p, &x);
                // Relative to the magnitude of f, with a floor for signed f near a zero.
                let err = (got - want).abs() / want.abs().max(1e-6);
                worst = worst.max(err);
                assert!(
                    err <= 1e-10,
                    "n={N} widths={widths:?} {kind:?}/{act:?}: jets {got:e} vs nested duals {want:e}"
                );
                let f_ref = reference_f::<f64>(refkind, N, widths, &p, &x);
                let f_got = net.antiderivative(&x).unwrap();
                assert!((f_got - f_ref).abs() <= 1e-12 * f_ref.abs().max(1.0));
            }
        }
    }
    eprintln!("n={N}: worst relative error against nested duals {worst:.1e}");
}

#[test]
fn n1() {
    check::<1, D1>();
}
#[test]
fn n2() {
    check::<2, D2>();
}
#[test]
fn n3() {
    check::<3, D3>();
}
#[test]
fn n4() {
    check::<4, D4>();
}
#[test]
fn n5() {
    check::<5, D5>();
}
#[test]
fn n6() {
    check::<6, D6>();
}

/// Central finite differences of F give f to the accuracy the step allows: an independent check
/// that does not share the reference's dual arithmetic.
#[test]
fn finite_differences_agree_for_small_n() {
    let mut rng = Lcg(99);
    let widths = [6, 5];
    let p = params(&mut rng, 2, &widths, 1.0);
    let net = Network::<f64, 2, 6, 2>::positive(&widths, &p).unwrap();
    for _ in 0..10 {
        let x = [rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)];
        let h = 1e-4;
        let fd = (net.antiderivative(&[x[0] + h, x[1] + h]).unwrap()
            - net.antiderivative(&[x[0] + h, x[1] - h]).unwrap()
            - net.antiderivative(&[x[0] - h, x[1] + h]).unwrap()
            + net.antiderivative(&[x[0] - h, x[1] - h]).unwrap())
            / (4.0 * h * h);
        let f = net.integrand(&x).unwrap();
        assert!((f - fd).abs() <= 1e-6 * f.abs().max(1e-3), "{f} vs {fd}");
    }
}
